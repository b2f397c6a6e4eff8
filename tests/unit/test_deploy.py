"""The scale-out deployment files: Helm values for the Dagster chart, the GPU run tag, the Ollama
fleet behind nginx, and the promise that loading the code location does no work.

Nothing here talks to Kubernetes, Docker or a model server: the files are checked as data
(yaml.safe_load, a small tokenizer for the nginx configuration) against what the chart, dagster-k8s,
compose and nginx read from them. Where an nginx binary is installed, `nginx -t` checks the
configuration for real as well.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from kg_pipeline.store.config import ModelOptions
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE = REPO / "compose"
FLEET = COMPOSE / "docker-compose.fleet.yml"
NGINX_CONF = COMPOSE / "nginx" / "ollama-least-conn.conf"
# The chart's default DAGSTER_HOME (global.dagsterHome); the filesystem IO manager writes under it.
CHART_DAGSTER_HOME = "/opt/dagster/dagster_home"
# ${NAME}, ${NAME:-default}, ${NAME:?message}; `$${...}` is compose's escape for a literal `$`.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|DATABASE_URL")


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def helm_values() -> dict[str, Any]:
    return load_yaml(DEPLOY / "helm" / "values.yaml")


def user_deployment() -> dict[str, Any]:
    (deployment,) = helm_values()["dagster-user-deployments"]["deployments"]
    assert isinstance(deployment, dict)
    return deployment


def fleet_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = load_yaml(FLEET)["services"]
    return services


def ollama_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in fleet_services().items() if name.startswith("ollama-")}


def option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def pinned(requirement: str) -> str:
    """The version pinned for `requirement` in pyproject.toml's dependencies."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (version,) = [
        dep.split("==", 1)[1].strip()
        for dep in project["dependencies"]
        if dep.split("==", 1)[0].strip() == requirement
    ]
    return version


# --- Helm values for dagster/dagster ----------------------------------------------------------


def test_code_location_is_served_over_grpc_from_kg_pipeline_definitions() -> None:
    values = helm_values()
    assert values["dagster-user-deployments"]["enabled"] is True
    deployment = user_deployment()
    assert deployment["name"] == "kg-pipeline"
    # codeServerArgs → `dagster code-server start -h 0.0.0.0 -p PORT <args>` in the chart.
    args = deployment.get("codeServerArgs") or deployment.get("dagsterApiGrpcArgs")
    assert args == ["-m", "kg_pipeline.definitions"]
    assert deployment["port"] == 3030
    image = deployment["image"]
    assert image["repository"]
    # A unique tag per build: run pods start from the tag the code server reports.
    assert str(image["tag"]) not in {"", "latest", "None"}
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}


def test_code_location_reads_secrets_by_reference_and_sets_the_metrics_port() -> None:
    deployment = user_deployment()
    env = {entry["name"]: entry for entry in deployment["env"]}
    assert env["KG_METRICS_PORT"]["value"] == "9464"
    assert env["KG_METRICS_HOST"]["value"] == "0.0.0.0"
    # KG_DATABASE_URL and the API keys come from the secret, never as values in this file.
    assert [secret["name"] for secret in deployment["envSecrets"]] == ["kg-pipeline-env"]
    assert not [name for name in env if SECRET_NAME.search(name)]
    launcher = helm_values()["runLauncher"]["config"]["k8sRunLauncher"]
    annotations = launcher["runK8sConfig"]["podTemplateSpecMetadata"]["annotations"]
    assert annotations["prometheus.io/port"] == env["KG_METRICS_PORT"]["value"]


def test_runs_are_kubernetes_jobs_with_default_run_pod_config() -> None:
    run_launcher = helm_values()["runLauncher"]
    assert run_launcher["type"] == "K8sRunLauncher"
    config = run_launcher["config"]
    assert set(config) == {"k8sRunLauncher"}
    run_k8s = config["k8sRunLauncher"]["runK8sConfig"]
    # The chart's RunK8sConfig schema forbids any other key.
    assert set(run_k8s) <= {
        "containerConfig",
        "podSpecConfig",
        "podTemplateSpecMetadata",
        "jobSpecConfig",
        "jobMetadata",
    }
    assert run_k8s["containerConfig"]["resources"]["requests"]["memory"]
    # Dagster retries runs (dagsterDaemon.runRetries); a Kubernetes retry would duplicate one.
    assert run_k8s["jobSpecConfig"]["backoffLimit"] == 0
    assert helm_values()["dagsterDaemon"]["runRetries"]["enabled"] is True


def test_dagster_storage_is_an_external_postgres_whose_password_is_a_secret() -> None:
    values = helm_values()
    postgresql = values["postgresql"]
    assert postgresql["enabled"] is False
    assert postgresql["postgresqlHost"]
    assert postgresql["service"]["port"] == 5432
    # SQLAlchemy 2.1 would pick psycopg 3 for a bare "postgresql" scheme.
    assert postgresql["postgresqlScheme"] == "postgresql+psycopg2"
    assert "postgresqlPassword" not in postgresql
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]


def test_daemon_queues_runs_with_a_limit_per_model_and_tag_limits_the_chart_accepts() -> None:
    values = helm_values()
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert values["dagsterDaemon"]["enabled"] is True
    assert coordinator["enabled"] is True
    assert coordinator["type"] == "QueuedRunCoordinator"
    queued = coordinator["config"]["queuedRunCoordinator"]
    assert isinstance(queued["maxConcurrentRuns"], int) and queued["maxConcurrentRuns"] > 0
    limits = queued["tagConcurrencyLimits"]
    for limit in limits:
        assert set(limit) <= {"key", "value", "limit"}, limit
        assert isinstance(limit["limit"], int), limit
    per_model = [limit for limit in limits if limit["key"] == "dagster/partition"]
    assert per_model == [
        {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]
    # The chart fails to render when run limits are set in both places.
    runs = values.get("concurrency", {}).get("runs", {})
    assert not runs.get("tagConcurrencyLimits") and "maxConcurrentRuns" not in runs
    assert values["concurrency"]["pools"]["defaultLimit"] == 1


def test_every_pod_mounts_the_shared_claim_over_dagster_storage_and_results() -> None:
    deployment = user_deployment()
    claim = load_yaml(DEPLOY / "k8s" / "storage-pvc.yaml")
    assert claim["kind"] == "PersistentVolumeClaim"
    # Run and step pods on different nodes write at the same time.
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    (volume,) = deployment["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    mounts = {mount["mountPath"]: mount for mount in deployment["volumeMounts"]}
    assert set(mounts) == {f"{CHART_DAGSTER_HOME}/storage", "/opt/kg/results"}
    assert {mount["name"] for mount in mounts.values()} == {volume["name"]}
    results = {entry["name"]: entry["value"] for entry in deployment["env"]}["KG_RESULTS_DIR"]
    assert results in mounts


def test_chart_image_and_dagster_k8s_versions_follow_the_pinned_dagster() -> None:
    dagster = pinned("dagster")  # e.g. 1.13.27
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    assert set(re.findall(r"dagster/dagster --version (\S+)", readme)) == {dagster}
    assert f"--version {dagster}" in (DEPLOY / "helm" / "values.yaml").read_text(encoding="utf-8")
    # Integrations are released in lockstep: dagster 1.13.27 <-> dagster-postgres 0.29.27.
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.findall(r"dagster-k8s==(\S+)", dockerfile) == [pinned("dagster-postgres")]
    # Not a dependency of the project: only the Kubernetes image installs it.
    assert "dagster-k8s" not in (REPO / "pyproject.toml").read_text(encoding="utf-8")


# --- dagster-k8s/config tag with a GPU --------------------------------------------------------


def test_gpu_run_tag_requests_one_nvidia_gpu_and_a_gpu_node() -> None:
    tag = load_yaml(DEPLOY / "k8s" / "run-tags-gpu.yaml")
    # dagster-k8s validates the tag against these keys (USER_DEFINED_K8S_JOB_CONFIG_SCHEMA).
    assert set(tag) <= {
        "container_config",
        "pod_template_spec_metadata",
        "pod_spec_config",
        "job_config",
        "job_metadata",
        "job_spec_config",
        "merge_behavior",
    }
    assert tag["container_config"]["resources"]["limits"]["nvidia.com/gpu"] == 1
    pod = tag["pod_spec_config"]
    assert pod["node_selector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    # A run tag travels as a JSON string; dagster-k8s json.loads it back.
    assert json.loads(json.dumps({"dagster-k8s/config": tag}))["dagster-k8s/config"] == tag


# --- Ollama fleet and vLLM tensor parallelism (compose) ---------------------------------------


def test_fleet_profiles_are_ollama_behind_nginx_or_one_vllm_over_several_gpus() -> None:
    profiles = {name: service["profiles"] for name, service in fleet_services().items()}
    assert profiles.pop("vllm-tp") == ["vllm-tp"]
    assert profiles.pop("nginx") == ["ollama"]
    assert set(profiles) == set(ollama_services())
    assert len(profiles) >= 2
    assert all(p == ["ollama"] for p in profiles.values())


def test_each_ollama_instance_reserves_exactly_one_gpu_of_its_own() -> None:
    pinned_ids: list[str] = []
    for name, service in ollama_services().items():
        (device,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia", name
        assert "count" not in device, name  # count and device_ids exclude each other
        (gpu,) = device["device_ids"]
        pinned_ids.append(gpu)
        # Only nginx is published; the instances are reached over the project network.
        assert "ports" not in service, name
        assert service["environment"]["OLLAMA_HOST"] == "0.0.0.0:11434", name
        assert service["healthcheck"]["test"][0] == "CMD", name
    assert len(set(pinned_ids)) == len(pinned_ids)


def test_nginx_publishes_the_ollama_port_and_waits_for_every_instance() -> None:
    nginx = fleet_services()["nginx"]
    assert nginx["image"] == "nginx:1.27-alpine"
    assert nginx["ports"] == ["${OLLAMA_PORT:-11434}:11434"]
    assert nginx["depends_on"] == {
        name: {"condition": "service_healthy"} for name in ollama_services()
    }
    (mount,) = nginx["volumes"]
    source, target, mode = mount.split(":")
    assert (FLEET.parent / source).resolve() == NGINX_CONF
    assert (target, mode) == ("/etc/nginx/conf.d/default.conf", "ro")
    assert "http://127.0.0.1:11434/healthz" in nginx["healthcheck"]["test"]


def test_vllm_tp_reserves_as_many_gpus_as_its_tensor_parallel_size() -> None:
    vllm = fleet_services()["vllm-tp"]
    assert vllm["image"] == "vllm/vllm-openai:${VLLM_VERSION:-v0.11.0}"
    size = option(vllm["command"], "--tensor-parallel-size")
    assert size == "${VLLM_TENSOR_PARALLEL_SIZE:-2}"
    (device,) = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert (device["driver"], device["count"]) == ("nvidia", size)
    assert vllm["ipc"] == "host"  # NCCL between the tensor-parallel workers
    assert vllm["environment"] == ["HF_TOKEN"]  # passed through, never written here


def test_fleet_variables_are_all_documented_in_env_example() -> None:
    documented = set(
        re.findall(
            r"^#?\s*([A-Z_][A-Z0-9_]*)=",
            (COMPOSE / ".env.example").read_text(encoding="utf-8"),
            re.MULTILINE,
        )
    )
    used = set(VARIABLE.findall(FLEET.read_text(encoding="utf-8")))
    assert {"OLLAMA_PORT", "VLLM_TENSOR_PARALLEL_SIZE"} <= used  # the pattern found real uses
    assert used <= documented, sorted(used - documented)


# --- nginx configuration ----------------------------------------------------------------------

Directive = tuple[str, list[str], list[Any] | None]  # name, arguments, block (None: no block)


def parse_nginx(text: str) -> list[Directive]:
    """nginx's configuration as nested directives: enough to read the values, not a validator."""
    text = re.sub(r"#[^\n]*", "", text)
    tokens = re.findall(r'"[^"]*"|[{};]|[^\s{};"]+', text)
    position = 0

    def block() -> list[Directive]:
        nonlocal position
        directives: list[Directive] = []
        words: list[str] = []
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if token == ";":
                directives.append((words[0], words[1:], None))
                words = []
            elif token == "{":
                directives.append((words[0], words[1:], block()))
                words = []
            elif token == "}":
                assert not words, f"unterminated directive {words}"
                return directives
            else:
                words.append(token)
        assert not words, f"unterminated directive {words}"
        return directives

    return block()


def find(directives: list[Directive], name: str, *args: str) -> list[Directive]:
    return [d for d in directives if d[0] == name and tuple(d[1][: len(args)]) == args]


def arguments(directives: list[Directive], name: str) -> list[str]:
    (directive,) = find(directives, name)
    return directive[1]


def seconds(duration: str) -> float:
    """An nginx time (`900s`, `15m`, `1h`, `500ms`, bare seconds) in seconds."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", duration)
    assert match, duration
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2] or "s"]
    return int(match[1]) * factor


def nginx_conf() -> list[Directive]:
    return parse_nginx(NGINX_CONF.read_text(encoding="utf-8"))


def test_seconds_reads_nginx_time_units() -> None:
    assert [seconds(d) for d in ("900s", "15m", "1h", "600", "500ms")] == [900, 900, 3600, 600, 0.5]


def test_nginx_upstream_is_least_conn_over_exactly_the_fleets_ollama_services() -> None:
    ((_, _, upstream),) = find(nginx_conf(), "upstream", "ollama")
    assert upstream is not None
    assert find(upstream, "least_conn") == [("least_conn", [], None)]
    servers = [args for name, args, _ in upstream if name == "server"]
    hosts = {args[0].rsplit(":", 1)[0] for args in servers}
    assert hosts == set(ollama_services())  # compose's DNS resolves service names
    assert {args[0].rsplit(":", 1)[1] for args in servers} == {"11434"}
    assert all(any(a.startswith("max_fails=") for a in args) for args in servers)
    assert int(arguments(upstream, "keepalive")[0]) > 0


def test_nginx_proxies_long_generations_unbuffered_over_keepalive() -> None:
    ((_, _, server),) = find(nginx_conf(), "server")
    assert server is not None
    assert arguments(server, "listen") == ["11434"]
    ((_, _, location),) = find(server, "location", "/")
    assert location is not None
    assert arguments(location, "proxy_pass") == ["http://ollama"]
    read_timeout = seconds(arguments(location, "proxy_read_timeout")[0])
    assert read_timeout >= 600
    assert seconds(arguments(location, "proxy_send_timeout")[0]) >= 600
    # The pipeline's own read timeout must expire first, so that the client decides.
    assert ModelOptions().timeout_seconds < read_timeout
    assert arguments(location, "proxy_buffering") == ["off"]
    assert arguments(location, "proxy_request_buffering") == ["off"]
    # Upstream keepalive needs HTTP/1.1 and an empty Connection header.
    assert arguments(location, "proxy_http_version") == ["1.1"]
    assert find(location, "proxy_set_header", "Connection") == [
        ("proxy_set_header", ["Connection", '""'], None)
    ]
    # No silent re-run of a generation that failed half-way.
    assert arguments(location, "proxy_next_upstream") == ["error"]


def test_nginx_answers_healthz_itself() -> None:
    ((_, _, server),) = find(nginx_conf(), "server")
    assert server is not None
    ((_, _, healthz),) = find(server, "location", "=", "/healthz")
    assert healthz is not None
    assert arguments(healthz, "return")[0] == "200"
    assert not find(healthz, "proxy_pass")


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    nginx = shutil.which("nginx")
    if nginx is None:
        pytest.skip("no nginx binary here; the parsed checks above still ran")
    # The upstream names exist only on compose's network; nginx -t resolves them, so the copy
    # tested points them at the loopback address. Everything else is the file as shipped.
    site = tmp_path / "site.conf"
    site.write_text(
        re.sub(r"server ollama-\d+:", "server 127.0.0.1:", NGINX_CONF.read_text(encoding="utf-8")),
        encoding="utf-8",
    )
    temp = {kind: tmp_path / kind for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\nevents {{}}\n"
        "http {\n  access_log off;\n"
        + "".join(f"  {kind}_temp_path {path};\n" for kind, path in temp.items())
        + f"  include {site};\n}}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(main), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


# --- No work at import time -------------------------------------------------------------------

IMPORT_PROBE = """
import json, sys
events = []
WATCHED = {"socket.connect", "socket.getaddrinfo", "sqlite3.connect"}
sys.addaudithook(lambda event, args: events.append([event, repr(args)[:200]]) if event in WATCHED else None)
import kg_pipeline.definitions
print(json.dumps({"events": events, "psycopg2": "psycopg2" in sys.modules}))
"""


def test_importing_definitions_opens_no_database_and_no_connection(tmp_path: Path) -> None:
    """The code server imports this module at start and on every reload: it must come up while
    the database is down, and must not create a local SQLite store next to the real one."""
    state = tmp_path / "state"
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        # matplotlib writes its font cache under HOME on first import: not the state we watch.
        "HOME": str(tmp_path / "home"),
        "MPLCONFIGDIR": str(tmp_path / "home" / "matplotlib"),
        "KG_STATE_DIR": str(state),
        # Nothing listens there: a connection attempt would fail the import at once.
        "KG_DATABASE_URL": f"postgresql+psycopg2://kg:secret@127.0.0.1:{free_port()}/kg",
    }
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=workdir,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["events"] == []
    # SQLAlchemy imports the driver when an engine is created, before any connection.
    assert probe["psycopg2"] is False
    assert not state.exists()  # the SQLite fallback would create state/kg.sqlite3
    assert list(workdir.iterdir()) == []
