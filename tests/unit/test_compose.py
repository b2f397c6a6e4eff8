"""The production compose files, their Dockerfile, and the Ollama start/stop scripts.

The compose files are checked as data: yaml.safe_load resolves the anchors and merge keys they
use, so each service is seen as compose sees it. Where the compose plugin is installed,
`docker compose config` validates them for real as well.

The scripts run in subprocesses whose PATH holds only what a test puts there (fake
``nvidia-smi``, ``docker``, ``kg``; the real ``curl``) and whose KG_DEV_ROOT is an empty folder,
so the GPUs and tools of the host running the tests never decide a result.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose"
COMPOSE_FILES = ("docker-compose.ollama.yml", "docker-compose.vllm.yml", "docker-compose.yml")
OLLAMA_PROFILES = {"nvidia", "amd", "intel", "cpu"}
DAGSTER_SERVICES = ("dagster-code", "dagster-webserver", "dagster-daemon")
# ${NAME}, ${NAME:-default}, ${NAME:?message}; `$${...}` is compose's escape for a literal `$`.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY")


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((COMPOSE / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services(name: str) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = load(name)["services"]
    return result


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    """A service's environment as a mapping; list entries without `=` pass a host variable."""
    env = service.get("environment", {})
    if isinstance(env, dict):
        return {key: None if value is None else str(value) for key, value in env.items()}
    return {entry.partition("=")[0]: entry.partition("=")[2] or None for entry in env}


def option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


# --- Ollama ---------------------------------------------------------------------------------


def test_ollama_has_exactly_one_service_for_each_accelerator_profile() -> None:
    profiles = [service["profiles"] for service in services("docker-compose.ollama.yml").values()]
    assert sorted(p for ps in profiles for p in ps) == sorted(OLLAMA_PROFILES)
    assert all(len(ps) == 1 for ps in profiles)


def test_every_ollama_service_shares_port_models_volume_healthcheck_and_tuning() -> None:
    text = (COMPOSE / "docker-compose.ollama.yml").read_text(encoding="utf-8")
    assert "x-ollama-common: &ollama-common" in text
    assert text.count("<<: *ollama-common") == len(OLLAMA_PROFILES)
    for name, service in services("docker-compose.ollama.yml").items():
        assert service["ports"] == ["${OLLAMA_PORT:-11434}:11434"], name
        assert "ollama-models:/root/.ollama" in service["volumes"], name
        assert service["healthcheck"]["test"][0] == "CMD", name
        env = environment(service)
        assert env["OLLAMA_KEEP_ALIVE"] == "${OLLAMA_KEEP_ALIVE:-10m}", name
        assert env["OLLAMA_NUM_PARALLEL"] == "${OLLAMA_NUM_PARALLEL:-4}", name


def ollama_service(profile: str) -> dict[str, Any]:
    (service,) = [
        s for s in services("docker-compose.ollama.yml").values() if s["profiles"] == [profile]
    ]
    return service


def test_ollama_nvidia_reserves_nvidia_gpus_counted_by_a_variable() -> None:
    service = ollama_service("nvidia")
    assert service["image"].startswith("ollama/ollama:")
    (device,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert device == {
        "driver": "nvidia",
        "count": "${OLLAMA_GPU_COUNT:-all}",
        "capabilities": ["gpu"],
    }


def test_ollama_cpu_is_limited_in_cores_and_memory_by_variables() -> None:
    service = ollama_service("cpu")
    assert service["image"].startswith("ollama/ollama:")
    assert service["deploy"]["resources"]["limits"] == {
        "cpus": "${OLLAMA_CPUS:-4}",
        "memory": "${OLLAMA_MEMORY:-16g}",
    }
    assert "reservations" not in service["deploy"]["resources"]


def test_ollama_amd_runs_the_rocm_image_with_kfd_and_dri() -> None:
    service = ollama_service("amd")
    assert service["image"] == "ollama/ollama:${OLLAMA_ROCM_TAG:-rocm}"
    assert service["devices"] == ["/dev/kfd", "/dev/dri"]
    assert service["group_add"][0] == "video"
    assert "render" in service["group_add"][1]


def test_ollama_intel_runs_the_ipex_llm_image_with_dri_and_full_offload() -> None:
    service = ollama_service("intel")
    assert service["image"].startswith("intelanalytics/ipex-llm-inference-cpp-xpu:")
    assert service["devices"] == ["/dev/dri"]
    env = environment(service)
    assert env["OLLAMA_NUM_GPU"] == "${OLLAMA_NUM_GPU:-999}"
    # The merge keeps the shared settings beside the Intel-specific ones.
    assert env["OLLAMA_NUM_PARALLEL"] == "${OLLAMA_NUM_PARALLEL:-4}"


# --- vLLM -----------------------------------------------------------------------------------


def test_vllm_takes_model_parallelism_gpus_and_limits_from_variables() -> None:
    vllm = services("docker-compose.vllm.yml")["vllm"]
    assert vllm["image"] == "vllm/vllm-openai:${VLLM_VERSION:-v0.11.0}"
    command = vllm["command"]
    assert option(command, "--model") == "${VLLM_MODEL:-Qwen/Qwen2.5-7B-Instruct}"
    assert option(command, "--tensor-parallel-size") == "${VLLM_TENSOR_PARALLEL_SIZE:-1}"
    assert VARIABLE.search(option(command, "--max-num-seqs"))
    assert VARIABLE.search(option(command, "--gpu-memory-utilization"))
    (device,) = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert (device["driver"], device["count"]) == ("nvidia", "${VLLM_GPU_COUNT:-1}")
    assert vllm["ports"] == ["${VLLM_PORT:-8000}:8000"]
    assert vllm["ipc"] == "host"
    assert "/health" in " ".join(vllm["healthcheck"]["test"])
    assert any(volume.endswith(":/root/.cache/huggingface") for volume in vllm["volumes"])
    # Passed through from the host: no value of any kind in the file.
    assert environment(vllm) == {"HF_TOKEN": None}


# --- Platform -------------------------------------------------------------------------------


def dagster_yaml_env_names() -> set[str]:
    """Every `{env: NAME}` that compose/dagster.yaml reads."""
    names: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if set(node) == {"env"}:
                names.add(node["env"])
            for value in node.values():
                walk(value)

    walk(yaml.safe_load((COMPOSE / "dagster.yaml").read_text(encoding="utf-8")))
    return names


def test_platform_services_pass_every_setting_that_dagster_yaml_reads() -> None:
    read = dagster_yaml_env_names()
    assert {"DAGSTER_PG_HOST", "DAGSTER_PG_PASSWORD"} <= read  # the walk found the real names
    platform = services("docker-compose.yml")
    for name in DAGSTER_SERVICES:
        env = environment(platform[name])
        assert read <= set(env), name
        assert env["DAGSTER_PG_HOST"] == "postgres"
        assert env["DAGSTER_HOME"] == "/opt/dagster/home"
        url = env["KG_DATABASE_URL"] or ""
        assert url.startswith("postgresql+psycopg2://")
        assert "@postgres:5432/" in url
        # Cloud keys pass through from the host, never written in the file.
        assert env["OPENAI_API_KEY"] is None


def test_platform_runs_code_server_webserver_and_daemon_from_one_build() -> None:
    platform = services("docker-compose.yml")
    assert platform["postgres"]["image"] == "postgres:16"
    assert "pg_isready" in " ".join(platform["postgres"]["healthcheck"]["test"])
    commands = {name: " ".join(platform[name]["command"]) for name in DAGSTER_SERVICES}
    assert commands["dagster-code"] == (
        "dagster code-server start -h 0.0.0.0 -p 4000 -m kg_pipeline.definitions"
    )
    assert commands["dagster-webserver"].startswith("dagster-webserver -h 0.0.0.0 -p 3000")
    assert commands["dagster-daemon"].startswith("dagster-daemon run")
    for name in DAGSTER_SERVICES:
        assert platform[name]["build"] == {"context": "..", "dockerfile": "compose/Dockerfile"}
        assert platform[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for name in ("dagster-webserver", "dagster-daemon"):
        assert option(platform[name]["command"], "-w") == "/opt/dagster/workspace.yaml"


def test_platform_publishes_the_ui_on_loopback_only() -> None:
    platform = services("docker-compose.yml")
    assert platform["dagster-webserver"]["ports"] == ["127.0.0.1:${DAGSTER_PORT:-3000}:3000"]
    published = [name for name, service in platform.items() if "ports" in service]
    assert published == ["dagster-webserver"]


def test_workspace_points_at_the_code_server_service() -> None:
    workspace = yaml.safe_load((COMPOSE / "workspace.yaml").read_text(encoding="utf-8"))
    (location,) = workspace["load_from"]
    assert location == {
        "grpc_server": {"host": "dagster-code", "port": 4000, "location_name": "kg_pipeline"}
    }


def test_dockerfile_installs_without_local_extra_and_copies_instance_and_workspace() -> None:
    dockerfile = (COMPOSE / "Dockerfile").read_text(encoding="utf-8")
    instructions = [line for line in dockerfile.splitlines() if not line.startswith("#")]
    assert instructions[0] == "FROM python:3.11-slim"
    assert "RUN pip install -e ." in instructions
    assert "[local]" not in dockerfile
    assert "COPY compose/dagster.yaml ${DAGSTER_HOME}/dagster.yaml" in instructions
    assert "COPY compose/workspace.yaml /opt/dagster/workspace.yaml" in instructions
    assert "DAGSTER_HOME=/opt/dagster/home" in dockerfile
    # compose/.env holds the database password: the build must name what it copies.
    assert "COPY . ." not in instructions


# --- Variables and secrets ------------------------------------------------------------------


def env_example() -> dict[str, str]:
    """Names in compose/.env.example, set (`NAME=value`) or documented (`# NAME=value`)."""
    entries: dict[str, str] = {}
    for line in (COMPOSE / ".env.example").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^#?\s*([A-Z_][A-Z0-9_]*)=(.*)$", line)
        if match:
            entries[match[1]] = match[2]
    return entries


def test_every_variable_the_compose_files_use_is_in_env_example() -> None:
    documented = env_example()
    for name in COMPOSE_FILES:
        used = set(VARIABLE.findall((COMPOSE / name).read_text(encoding="utf-8")))
        assert used, name
        assert used <= set(documented), f"{name}: {sorted(used - set(documented))}"


def test_secrets_reach_containers_only_through_required_or_passed_through_variables() -> None:
    for name in COMPOSE_FILES:
        for service_name, service in services(name).items():
            for key, value in environment(service).items():
                if not SECRET_NAME.search(key):
                    continue
                # No `:-default`: a default would be a password written in the file.
                assert value is None or re.fullmatch(r"\$\{\w+(:\?[^}]*)?\}", value), (
                    f"{name}: {service_name}.{key} = {value!r}"
                )
        text = (COMPOSE / name).read_text(encoding="utf-8")
        for use in re.findall(r"\$\{POSTGRES_PASSWORD[^}]*\}", text):
            assert use.startswith("${POSTGRES_PASSWORD:?"), use
    url = environment(services("docker-compose.yml")["dagster-code"])["KG_DATABASE_URL"]
    assert url is not None and "${POSTGRES_PASSWORD:?" in url
    assert env_example()["POSTGRES_PASSWORD"] == "change-me"


def test_compose_files_pass_docker_compose_config() -> None:
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run([docker, "compose", "version"], capture_output=True).returncode
    ):
        pytest.skip("`docker compose` is not installed here; the structural tests above still ran")
    profiles = [arg for profile in sorted(OLLAMA_PROFILES) for arg in ("--profile", profile)]
    for name in COMPOSE_FILES:
        result = subprocess.run(
            [
                docker,
                "compose",
                "--env-file",
                str(COMPOSE / ".env.example"),
                "-f",
                str(COMPOSE / name),
                *profiles,
                "config",
                "-q",
            ],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"{name}: {result.stderr}"
    env = {key: value for key, value in os.environ.items() if key != "POSTGRES_PASSWORD"}
    refused = subprocess.run(
        [
            docker,
            "compose",
            "--env-file",
            os.devnull,
            "-f",
            str(COMPOSE / "docker-compose.yml"),
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert refused.returncode != 0
    assert "POSTGRES_PASSWORD" in refused.stderr


# --- scripts/start-ollama.sh and scripts/stop-ollama.sh -------------------------------------


@dataclass
class Machine:
    """A staged host: PATH holds only `bin`, and the scripts look for /dev and /sys under `root`."""

    tmp: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bin = self.tmp / "bin"
        self.root = self.tmp / "root"
        self.bin.mkdir()
        self.root.mkdir()
        self.env = {"PATH": str(self.bin), "KG_DEV_ROOT": str(self.root), "HOME": str(self.tmp)}

    def fake(self, name: str, body: str) -> None:
        tool = self.bin / name
        tool.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
        tool.chmod(0o755)

    def real(self, *names: str) -> None:
        for name in names:
            found = shutil.which(name)
            assert found, f"{name} is needed on the machine running the tests"
            (self.bin / name).symlink_to(found)

    def run(self, script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        bash = shutil.which("bash")
        assert bash
        return subprocess.run(
            [bash, str(REPO / "scripts" / script), *args],
            capture_output=True,
            text=True,
            env={**self.env, **env},
            stdin=subprocess.DEVNULL,
            timeout=60,
        )


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


def detected(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    match = re.search(r"^profile: (\w+)", result.stdout, re.MULTILINE)
    assert match, result.stdout
    return match[1]


def test_start_detects_nvidia_when_nvidia_smi_lists_a_gpu(machine: Machine) -> None:
    machine.fake("nvidia-smi", 'echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)"')
    assert detected(machine.run("start-ollama.sh", "--dry-run")) == "nvidia"


def test_start_falls_back_to_cpu_when_nvidia_smi_cannot_reach_the_driver(machine: Machine) -> None:
    machine.fake(
        "nvidia-smi",
        "echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'; exit 9",
    )
    assert detected(machine.run("start-ollama.sh", "--dry-run")) == "cpu"


def test_start_detects_cpu_when_no_gpu_tool_or_device_is_present(machine: Machine) -> None:
    result = machine.run("start-ollama.sh", "--dry-run")
    assert detected(result) == "cpu"
    assert "--profile cpu up -d" in result.stdout


def test_start_detects_amd_from_dev_kfd(machine: Machine) -> None:
    (machine.root / "dev").mkdir()
    (machine.root / "dev" / "kfd").touch()
    assert detected(machine.run("start-ollama.sh", "--dry-run")) == "amd"


def test_start_detects_intel_from_an_intel_drm_card_with_dev_dri(machine: Machine) -> None:
    (machine.root / "dev" / "dri").mkdir(parents=True)
    card = machine.root / "sys" / "class" / "drm" / "card0" / "device"
    card.mkdir(parents=True)
    (card / "vendor").write_text("0x8086\n", encoding="utf-8")
    assert detected(machine.run("start-ollama.sh", "--dry-run")) == "intel"
    (card / "vendor").write_text("0x1af4\n", encoding="utf-8")  # a virtual GPU: not Intel
    assert detected(machine.run("start-ollama.sh", "--dry-run")) == "cpu"


def test_profile_option_and_variable_override_detection(machine: Machine) -> None:
    machine.fake("nvidia-smi", 'echo "GPU 0: NVIDIA L4"')
    result = machine.run("start-ollama.sh", "--dry-run", "--profile", "cpu")
    assert detected(result) == "cpu"
    assert "--profile cpu up -d" in result.stdout
    assert (
        detected(machine.run("start-ollama.sh", "--dry-run", KG_OLLAMA_PROFILE="intel")) == "intel"
    )
    # The option beats the variable.
    both = machine.run("start-ollama.sh", "--dry-run", "--profile=amd", KG_OLLAMA_PROFILE="intel")
    assert detected(both) == "amd"


def test_unknown_profile_exits_non_zero_with_a_one_line_error(machine: Machine) -> None:
    result = machine.run("start-ollama.sh", "--dry-run", "--profile", "gpu")
    assert result.returncode != 0
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "unknown profile 'gpu'" in line
    assert "nvidia amd intel cpu" in line


def pulled_model(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    match = re.search(r"^model: (\S+)", result.stdout, re.MULTILINE)
    assert match, result.stdout
    return match[1]


def fake_kg(machine: Machine, provider: str, model: str) -> None:
    """A kg whose active configuration is `model` served by `provider`; it answers only the
    questions the script is meant to ask."""
    machine.fake(
        "kg",
        'case "$*" in\n'
        f'  "admin extraction show --field provider") echo {provider} ;;\n'
        f'  "admin extraction show --field model_name") echo {model} ;;\n'
        "  *) exit 2 ;;\n"
        "esac",
    )


def test_model_comes_from_option_then_variable_then_active_configuration_then_default(
    machine: Machine,
) -> None:
    assert pulled_model(machine.run("start-ollama.sh", "--dry-run")) == "qwen2.5:7b-instruct"
    fake_kg(machine, provider="ollama", model="llama3.1:8b")
    assert pulled_model(machine.run("start-ollama.sh", "--dry-run")) == "llama3.1:8b"
    by_variable = machine.run("start-ollama.sh", "--dry-run", KG_OLLAMA_MODEL="gemma3:4b")
    assert pulled_model(by_variable) == "gemma3:4b"
    by_option = machine.run(
        "start-ollama.sh", "--dry-run", "--model", "phi4:14b", KG_OLLAMA_MODEL="gemma3:4b"
    )
    assert pulled_model(by_option) == "phi4:14b"
    assert """-d '{"model":"phi4:14b","stream":false}'""" in by_option.stdout


def test_model_of_an_active_configuration_not_served_by_ollama_is_not_pulled(
    machine: Machine,
) -> None:
    fake_kg(machine, provider="openai_compatible", model="Qwen/Qwen2.5-7B-Instruct")
    assert pulled_model(machine.run("start-ollama.sh", "--dry-run")) == "qwen2.5:7b-instruct"


def test_model_falls_back_to_the_default_when_kg_fails(machine: Machine) -> None:
    machine.fake("kg", "echo 'no active configuration' >&2; exit 1")
    assert pulled_model(machine.run("start-ollama.sh", "--dry-run")) == "qwen2.5:7b-instruct"


def test_start_without_docker_says_how_to_install_it_or_use_the_embedded_model(
    machine: Machine,
) -> None:
    result = machine.run("start-ollama.sh", "--profile", "cpu")
    assert result.returncode != 0
    (line,) = result.stderr.splitlines()
    assert "docker not found" in line
    assert "kg local start" in line


@dataclass
class OllamaStandIn:
    """A real HTTP server answering /api/tags and /api/pull as Ollama does, recording requests."""

    pull_status: int = 200
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    port: int = 0


@pytest.fixture
def ollama() -> Iterator[OllamaStandIn]:
    stand_in = OllamaStandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            stand_in.requests.append(("GET", self.path, ""))
            self.reply(200, {"models": []})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            stand_in.requests.append(("POST", self.path, body))
            if stand_in.pull_status == 200:
                self.reply(200, {"status": "success"})
            else:
                self.reply(
                    stand_in.pull_status, {"error": "pull model manifest: file does not exist"}
                )

        def reply(self, status: int, payload: object) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stand_in.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()


def stage_docker(machine: Machine) -> Path:
    """A docker whose compose works and which records every call."""
    calls = machine.tmp / "docker-calls"
    machine.fake("docker", f'echo "$*" >> "{calls}"')
    machine.real("curl", "sleep")
    return calls


def test_start_brings_up_compose_waits_and_pulls_through_the_http_api(
    machine: Machine, ollama: OllamaStandIn
) -> None:
    calls = stage_docker(machine)
    result = machine.run(
        "start-ollama.sh",
        "--profile",
        "cpu",
        "--model",
        "qwen2.5:0.5b",
        OLLAMA_PORT=str(ollama.port),
    )
    assert result.returncode == 0, result.stderr
    compose_file = COMPOSE / "docker-compose.ollama.yml"
    assert calls.read_text().splitlines() == [
        "compose version",
        f"compose -f {compose_file} --profile cpu up -d",
    ]
    assert ollama.requests[0][:2] == ("GET", "/api/tags")
    assert ollama.requests[-1][:2] == ("POST", "/api/pull")
    assert json.loads(ollama.requests[-1][2]) == {"model": "qwen2.5:0.5b", "stream": False}
    assert "ready: qwen2.5:0.5b" in result.stdout


def test_failed_pull_reports_the_servers_error(machine: Machine, ollama: OllamaStandIn) -> None:
    stage_docker(machine)
    ollama.pull_status = 500
    result = machine.run(
        "start-ollama.sh",
        "--profile",
        "cpu",
        "--model",
        "no-such:model",
        OLLAMA_PORT=str(ollama.port),
    )
    assert result.returncode != 0
    (line,) = result.stderr.splitlines()
    assert "pull of 'no-such:model' failed" in line
    assert "file does not exist" in line


def test_start_gives_up_on_a_silent_server_with_a_clear_message(machine: Machine) -> None:
    stage_docker(machine)
    closed = free_port()  # nothing listens there any more
    result = machine.run(
        "start-ollama.sh", "--profile", "cpu", OLLAMA_PORT=str(closed), KG_OLLAMA_WAIT_SECONDS="0"
    )
    assert result.returncode != 0
    (line,) = result.stderr.splitlines()
    assert f"did not answer at http://127.0.0.1:{closed}/api/tags within 0s" in line
    assert "logs" in line


def test_stop_takes_down_every_profile_with_a_timeout(machine: Machine) -> None:
    result = machine.run("stop-ollama.sh", "--dry-run", KG_OLLAMA_STOP_TIMEOUT="45")
    assert result.returncode == 0, result.stderr
    (command,) = [line for line in result.stdout.splitlines() if line.startswith("+ ")]
    words = command.split()
    assert [words[i + 1] for i, w in enumerate(words) if w == "--profile"] == [
        "nvidia",
        "amd",
        "intel",
        "cpu",
    ]
    assert words[-3:] == ["down", "--timeout", "45"]


def test_stop_removes_the_models_volume_only_with_cleanup(machine: Machine) -> None:
    plain = machine.run("stop-ollama.sh", "--dry-run")
    assert "--volumes" not in plain.stdout
    cleanup = machine.run("stop-ollama.sh", "--dry-run", "--cleanup", "--yes")
    assert cleanup.stdout.rstrip().endswith("down --timeout 30 --volumes")
    assert "would ask" not in cleanup.stdout


def test_stop_cleanup_without_a_terminal_needs_yes_and_stops_nothing(machine: Machine) -> None:
    calls = stage_docker(machine)
    result = machine.run("stop-ollama.sh", "--cleanup")
    assert result.returncode != 0
    assert "--yes" in result.stderr
    assert not calls.exists()
    confirmed = machine.run("stop-ollama.sh", "--cleanup", "--yes")
    assert confirmed.returncode == 0, confirmed.stderr
    assert calls.read_text().rstrip().endswith("down --timeout 30 --volumes")


def test_stop_rejects_an_unknown_option_in_one_line(machine: Machine) -> None:
    result = machine.run("stop-ollama.sh", "--purge")
    assert result.returncode != 0
    (line,) = result.stderr.splitlines()
    assert "unknown option '--purge'" in line
