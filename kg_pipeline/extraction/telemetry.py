"""Prometheus metrics for extraction runs: latency, throughput, errors, fallbacks, tokens, VRAM,
model events and the cloud spend a local model saved.

The metrics live in a registry of their own (``REGISTRY``), not prometheus_client's global one:
tests and a process that already exports other metrics see only these, and nothing Dagster or a
library registers leaks into them. Counters are updated whether or not the exporter runs (an
increment is a lock and an addition, nothing next to a seconds-long model call), so an exporter
started late still reports the whole run; only the HTTP server is opt-in, with
``KG_METRICS_PORT``. Alert rules over these names: compose/prometheus/alerts.yml.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kg_pipeline.contract.pricing import cost_usd
from kg_pipeline.errors import KgError
from kg_pipeline.extraction.records import ChunkExtraction
from kg_pipeline.providers import (
    EndpointSettings,
    ProviderError,
    ProviderUnavailable,
    create_provider,
)
from kg_pipeline.settings import BASELINE_MODEL, METRICS_HOST, METRICS_PORT

log = logging.getLogger(__name__)

DEFAULT_BASELINE_MODEL = BASELINE_MODEL.default
CHUNK_STATUSES = ("valid", "malformed", "truncated", "unavailable")
FALLBACK_REASONS = ("error", "timeout")  # middleware/fallback.py failure_kind

# Local LLM calls take from half a second (a short chunk on a big GPU) to minutes (a 70B model on
# CPU offload). 60 is a bucket edge so that the p95 > 60 s alert compares against a boundary
# rather than a value interpolated inside a wide bucket.
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600)

REGISTRY = CollectorRegistry(auto_describe=True)

EXTRACTION_SECONDS = Histogram(
    "kg_extraction_seconds",
    "Seconds one chunk's model call took, the failed attempt before a fallback included; "
    "cached answers are not calls and are left out.",
    ["endpoint", "model", "provider"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
CHUNKS = Counter(
    "kg_chunks",
    "Chunks extracted, by outcome (valid, malformed, truncated, unavailable); cached included.",
    ["endpoint", "model", "status"],
    registry=REGISTRY,
)
FALLBACKS = Counter(
    "kg_fallbacks",
    "Chunks the endpoint failed on and its fallback endpoint answered, by why (error, timeout).",
    ["endpoint", "model", "reason"],
    registry=REGISTRY,
)
INPUT_TOKENS = Counter(
    "kg_input_tokens",
    "Prompt tokens the endpoint's own model processed (not cached, not answered by a fallback).",
    ["endpoint", "model"],
    registry=REGISTRY,
)
OUTPUT_TOKENS = Counter(
    "kg_output_tokens",
    "Completion tokens the endpoint's own model generated (not cached, not a fallback's).",
    ["endpoint", "model"],
    registry=REGISTRY,
)
COST_SAVED = Counter(
    "kg_cost_saved_usd",
    "What the cloud baseline model would have charged for the valid answers a local (unpriced) "
    "model gave, at the price table's rates.",
    ["endpoint", "model", "baseline_model"],
    registry=REGISTRY,
)
ENDPOINT_UP = Gauge(
    "kg_endpoint_up",
    "1 when the endpoint's server listed its models at the last probe, 0 when it did not.",
    ["endpoint"],
    registry=REGISTRY,
)
MODEL_EVENTS = Counter(
    "kg_model_events",
    "Models loaded, unloaded, or switched to mid-run.",
    ["endpoint", "model", "event"],
    registry=REGISTRY,
)

ModelEvent = Literal["load", "unload", "switch"]


class MetricsConfigError(KgError, ValueError):
    """``KG_METRICS_PORT`` is not a port, a range of ports, or 0."""


class ExporterPortsBusy(KgError, OSError):
    """Every port the exporter may use is taken (by another run worker, usually)."""


# ---- extraction records ----------------------------------------------------------------------


def baseline_model() -> str:
    return BASELINE_MODEL.get()


def _cost(model: str, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
    """A broken price file must not fail an extraction through its metrics: here it is logged and
    the saving skipped; it fails loudly where cloud calls are actually costed."""
    try:
        return cost_usd(model, prompt_tokens, completion_tokens)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("cost saved not counted: the price table cannot be read (%s)", exc)
        return None


def _saved_usd(record: ChunkExtraction) -> float | None:
    """A priced model is a cloud model: it saved nothing."""
    stats = record.stats
    if stats is None or _cost(record.model, 0, 0) is not None:
        return None
    return _cost(baseline_model(), stats.prompt_tokens, stats.completion_tokens)


def observe_record(record: ChunkExtraction) -> None:
    """Count one finished chunk. A cached record is a chunk but no call: it adds no latency,
    tokens, fallback or savings (those were counted when the answer was first made)."""
    # Every status and fallback reason exists from a model's first chunk, at zero: rate() over a
    # series that appears at 1 misses that first increment, and a ratio over a series that does
    # not exist has no value.
    for status in CHUNK_STATUSES:
        CHUNKS.labels(record.endpoint, record.model, status)
    for reason in FALLBACK_REASONS:
        FALLBACKS.labels(record.endpoint, record.model, reason)
    CHUNKS.labels(record.endpoint, record.model, record.status.value).inc()
    stats = record.stats
    if stats is None or stats.cached:
        return
    if record.status.value != "unavailable" and stats.fallback_from is None:
        _last_answer[record.endpoint] = time.monotonic()  # it answered: it is up
        ENDPOINT_UP.labels(record.endpoint).set(1)
    EXTRACTION_SECONDS.labels(record.endpoint, record.model, record.provider).observe(
        stats.wall_seconds + stats.fallback_added_seconds
    )
    if stats.fallback_from is not None:
        # The tokens were the fallback model's, and its cost is on the record already.
        FALLBACKS.labels(record.endpoint, record.model, stats.fallback_reason or "error").inc()
        return
    if stats.prompt_tokens is not None:
        INPUT_TOKENS.labels(record.endpoint, record.model).inc(stats.prompt_tokens)
    if stats.completion_tokens is not None:
        OUTPUT_TOKENS.labels(record.endpoint, record.model).inc(stats.completion_tokens)
    if record.status.value == "valid":
        saved = _saved_usd(record)
        if saved is not None:
            COST_SAVED.labels(record.endpoint, record.model, baseline_model()).inc(saved)


def observe_model_event(endpoint: str, model: str, event: ModelEvent) -> None:
    MODEL_EVENTS.labels(endpoint, model, event).inc()


def observe_switch(endpoint: str, model: str) -> None:
    """For ``LiveProvider(on_switch=lambda s: observe_switch(s.name, s.model))``."""
    observe_model_event(endpoint, model, "switch")


# ---- endpoint probes -------------------------------------------------------------------------


# How long after its last answer a server that does not answer a probe in time counts as busy.
BUSY_GRACE_S = 900.0
_last_answer: dict[str, float] = {}


async def probe_endpoint(settings: EndpointSettings, timeout_s: float = 5.0) -> bool:
    """Ask the server for its models (the cheapest call every provider has) and set
    ``kg_endpoint_up``. The probe gets a short timeout of its own: an endpoint configured to wait
    minutes for a 70B model's answer must not hold a probe that long."""
    quick = settings.model_copy(
        update={
            "timeout_seconds": timeout_s,
            "connect_timeout_seconds": timeout_s,
            "total_timeout_seconds": timeout_s,
        }
    )
    provider = create_provider(quick)
    try:
        await provider.list_models()
        up = True
    except ProviderError as exc:
        # A server that decodes one request at a time (llama-cpp-python) does not answer a probe
        # while it works: a timeout soon after it last answered a chunk is busy, not down.
        timed_out = isinstance(exc, ProviderUnavailable) and exc.timed_out
        answered = _last_answer.get(settings.name)
        up = timed_out and answered is not None and time.monotonic() - answered < BUSY_GRACE_S
        if not up:
            log.warning("endpoint %s is down: %s", settings.name, exc)
    finally:
        await provider.aclose()
    ENDPOINT_UP.labels(settings.name).set(1 if up else 0)
    return up


def start_endpoint_probes(
    endpoints: Sequence[EndpointSettings], interval_s: float = 30.0
) -> threading.Event:
    """Probe every endpoint now and then every ``interval_s`` in a daemon thread, until the
    returned event is set."""
    stop = threading.Event()

    async def probe_all() -> None:
        await asyncio.gather(*(probe_endpoint(e) for e in endpoints))

    def loop() -> None:
        while True:
            asyncio.run(probe_all())
            if stop.wait(interval_s):
                return

    threading.Thread(target=loop, name="kg-endpoint-probes", daemon=True).start()
    return stop


# ---- GPU memory, read at scrape time ---------------------------------------------------------

_GPU_TIMEOUT_S = 10.0
_NVIDIA_MEMORY = [
    "nvidia-smi",
    "--query-gpu=index,memory.used,memory.total",
    "--format=csv,noheader,nounits",
]
_ROCM_MEMORY = ["rocm-smi", "--showmeminfo", "vram", "--json"]
GpuMemory = dict[str, tuple[float, float]]  # gpu -> (used bytes, total bytes)


def _run(query: list[str]) -> str | None:
    try:
        done = subprocess.run(
            query, capture_output=True, text=True, timeout=_GPU_TIMEOUT_S, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("GPU memory not read: %s failed: %s", query[0], exc)
        return None
    return done.stdout


def parse_nvidia_memory(out: str) -> GpuMemory:
    """nvidia-smi reports MiB; a row it cannot fill ("[N/A]") is left out, never read as 0."""
    result: GpuMemory = {}
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        try:
            index, used, total = parts[0], float(parts[1]), float(parts[2])
        except (IndexError, ValueError):
            continue
        result[index] = (used * 1024**2, total * 1024**2)
    return result


def parse_rocm_memory(out: str) -> GpuMemory:
    try:
        cards = json.loads(out)
    except ValueError:
        return {}
    result: GpuMemory = {}
    for card, values in cards.items() if isinstance(cards, dict) else ():
        try:
            used = float(values["VRAM Total Used Memory (B)"])
            total = float(values["VRAM Total Memory (B)"])
        except (KeyError, TypeError, ValueError):
            continue
        result[card.removeprefix("card")] = (used, total)
    return result


def read_gpu_memory() -> GpuMemory:
    """Per-GPU used and total VRAM. perf/server_usage.py ``read_gpu`` sums used VRAM over GPUs and
    has no total, and a used/total ratio per GPU is what the VRAM alert needs."""
    for query, parse in ((_NVIDIA_MEMORY, parse_nvidia_memory), (_ROCM_MEMORY, parse_rocm_memory)):
        if shutil.which(query[0]):
            out = _run(query)
            return {} if out is None else parse(out)
    return {}


class GpuMemoryCollector(Collector):
    """Reads VRAM when Prometheus scrapes, so the figure is never older than the scrape. Without
    a GPU tool the families are empty: no sample rather than a zero that reads as "free"."""

    def _families(self, memory: GpuMemory) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        used = GaugeMetricFamily(
            "kg_gpu_memory_used_bytes", "VRAM in use on the GPU (all processes).", labels=["gpu"]
        )
        total = GaugeMetricFamily("kg_gpu_memory_total_bytes", "VRAM the GPU has.", labels=["gpu"])
        for gpu, (used_bytes, total_bytes) in sorted(memory.items()):
            used.add_metric([gpu], used_bytes)
            total.add_metric([gpu], total_bytes)
        return used, total

    def describe(self) -> Iterable[Metric]:
        return self._families({})  # registration must not run nvidia-smi

    def collect(self) -> Iterable[Metric]:
        return self._families(read_gpu_memory())


REGISTRY.register(GpuMemoryCollector())


# ---- the exporter ----------------------------------------------------------------------------

_exporter_lock = threading.Lock()
_exporter_port: int | None = None


def metrics_enabled() -> bool:
    return bool((METRICS_PORT.get() or "").strip())


def configured_ports() -> list[int]:
    """``KG_METRICS_PORT`` as the ports to try in order: one, a range ``A-B``, or [0]. A range
    lets the concurrent run workers of one container each export (see compose/dagster.yaml's
    max_concurrent_runs)."""
    text = (METRICS_PORT.get() or "").strip()
    first, _, last = text.partition("-")
    try:
        ports = list(range(int(first), int(last or first) + 1))
    except ValueError:
        ports = []
    if not ports or not all(0 <= p <= 65535 for p in ports):
        raise MetricsConfigError(
            f"{METRICS_PORT.name}={text!r} is not a port: set it to a port (9464), a range of "
            "ports (9464-9467) or 0 for any free port"
        )
    return ports


def _bind(ports: Sequence[int], host: str) -> int:
    for port in ports:
        try:
            server, _ = start_http_server(port, addr=host, registry=REGISTRY)
        except OSError:
            continue
        return int(server.server_address[1])
    raise ExporterPortsBusy(
        f"cannot export metrics on {host}: ports {', '.join(map(str, ports))} are all in use; "
        f"give {METRICS_PORT.name} a range that covers every process extracting at once"
    )


def start_exporter(port: int | None = None, host: str | None = None) -> int:
    """Serve ``REGISTRY`` on ``/metrics`` and return the bound port. Once per process: later
    calls return the port already bound, whatever they ask for. ``host`` defaults to
    ``KG_METRICS_HOST``, else loopback: the exporter has no authentication."""
    global _exporter_port
    with _exporter_lock:
        if _exporter_port is None:
            ports = [port] if port is not None else configured_ports()
            _exporter_port = _bind(ports, host or METRICS_HOST.get())
            log.info("exporting Prometheus metrics on port %s", _exporter_port)
        return _exporter_port


def start_exporter_if_enabled() -> int | None:
    """For the extraction loop: a busy port costs this process its metrics, never its run."""
    if not metrics_enabled():
        return None
    try:
        return start_exporter()
    except (MetricsConfigError, OSError) as exc:
        log.warning("metrics are not exported: %s", exc)
        return None
