"""Which precision of a model fits this machine: FP16, 8-bit, 4-bit, or 4-bit with CPU offload.

The weights' size is the parameter count times the bytes each parameter takes (FP16 2, 8-bit 1,
4-bit 0.5). The rule measures every level against the FP16 size S:

- FP16 if S x 1.2 fits in VRAM (the weights plus ~20% for the KV cache and activations);
- 8-bit if S x 0.6 fits (the 8-bit weights, S/2, plus the same 20%);
- 4-bit if S x 0.35 fits (the 4-bit weights, S/4, plus 40%: Q4_K_M keeps some tensors at higher
  precision, ~4.8 bits a weight, and the KV cache does not shrink with the weights);
- otherwise 4-bit with part of the layers in RAM (CPU offload), several times slower.

Sizes are compared in bytes and shown in GiB (2^30 bytes), because GPU memory is binary: a "24 GB"
card reports 24,564 MiB to nvidia-smi, and ``--vram-gib 24`` means the same card. Parameter counts
are decimal, so a 70B model at FP16 is 140e9 bytes = 130.4 GiB.

The parameter count comes from the name where it says it (``llama3.1:70b-instruct``,
``Qwen/Qwen2.5-7B-Instruct``, ``mixtral:8x7b``), otherwise from Ollama's ``POST /api/show``. A
mixture of experts named ``8x7b`` is counted as 8 x 7 = 56B: an upper bound (the experts share their
attention layers; Mixtral 8x7B has 46.7B), which errs towards the safer, smaller precision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from kg_pipeline.errors import KgError
from kg_pipeline.serving.hardware import Gpu, GpuQueryError, memory_bytes, query_gpus

_GIB = 1024**3
FP16_BYTES_PER_PARAMETER = 2


class Precision(StrEnum):
    FP16 = "FP16"
    Q8 = "8-bit"
    Q4 = "4-bit"


class Placement(StrEnum):
    FP16 = "FP16"
    Q8 = "8-bit"
    Q4 = "4-bit"
    CPU_OFFLOAD = "4-bit, CPU offload"  # some layers on the GPU, the rest in RAM
    CPU = "4-bit, CPU only"  # no GPU at all


BYTES_PER_PARAMETER = {Precision.FP16: 2.0, Precision.Q8: 1.0, Precision.Q4: 0.5}
# The rule's multipliers, applied to the FP16 size (see the module docstring).
FP16_SIZE_FACTOR = {Precision.FP16: 1.2, Precision.Q8: 0.6, Precision.Q4: 0.35}
OLLAMA_QUANT_TAG = {Precision.FP16: "fp16", Precision.Q8: "q8_0", Precision.Q4: "q4_K_M"}
GGUF_QUANT_TAG = {Precision.FP16: "F16", Precision.Q8: "Q8_0", Precision.Q4: "Q4_K_M"}

# A size in the name: "70b", "0.5b", "135m", "8x7b", standing alone between separators (so the
# "3.1" of "llama3.1" and the "a3b" of "qwen3:30b-a3b" are not read as sizes).
_SIZE = re.compile(r"(?:^|[:\-_/])(?:(\d+)x)?(\d+(?:\.\d+)?)([bm])(?=$|[\-_.:])", re.IGNORECASE)
_QUANT_SUFFIX = re.compile(r"-(q\d[a-z0-9_]*|fp16|fp32|bf16|f16)$", re.IGNORECASE)
_SIZE_TEXT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmbt])\s*$", re.IGNORECASE)
_SCALE = {"k": 1e-6, "m": 1e-3, "b": 1.0, "t": 1e3}


class ParameterCountUnknown(KgError, RuntimeError):
    """Neither the name nor Ollama tells the parameter count; the message says how to give it."""


@dataclass(frozen=True)
class ParameterCount:
    billions: float
    source: str  # "the name", "Ollama /api/show", "--params-b"
    note: str | None = None


def parameters_from_name(model: str) -> ParameterCount | None:
    """The first size the name states, or None when it states none (``phi3:mini``)."""
    match = _SIZE.search(model)
    if match is None:
        return None
    experts, size, unit = match.groups()
    billions = float(size) * _SCALE[unit.lower()]
    if experts:
        return ParameterCount(
            float(experts) * billions,
            "the name",
            f"mixture of experts {experts}x{size}{unit}: counted as {experts} x {size}, an upper "
            "bound (the experts share layers)",
        )
    return ParameterCount(billions, "the name")


def parameters_from_ollama(model: str, base_url: str, timeout: float = 10.0) -> ParameterCount:
    """``POST /api/show``: ``model_info["general.parameter_count"]``, else the rounded
    ``details.parameter_size`` ("3.8B"). Works only for a model this Ollama has pulled."""
    url = base_url.rstrip("/") + "/api/show"
    fix = "or pass --params-b N (the parameter count in billions)"
    try:
        response = httpx.post(url, json={"model": model}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ParameterCountUnknown(
            f"the name {model!r} does not state its size and Ollama at {base_url} did not answer "
            f"({exc}); start Ollama (`ollama serve`) and pull the model, {fix}"
        ) from exc
    if response.status_code == 404:
        raise ParameterCountUnknown(
            f"the name {model!r} does not state its size and Ollama at {base_url} does not have "
            f"it; pull it first (`ollama pull {model}`), {fix}"
        )
    if response.status_code != 200:
        raise ParameterCountUnknown(
            f"Ollama at {base_url} answered {response.status_code} to {url}: "
            f"{response.text[:200]}; {fix}"
        )
    body: dict[str, Any] = response.json()
    count = (body.get("model_info") or {}).get("general.parameter_count")
    if isinstance(count, int | float) and count > 0:
        return ParameterCount(count / 1e9, "Ollama /api/show")
    size = _SIZE_TEXT.match(str((body.get("details") or {}).get("parameter_size", "")))
    if size:
        return ParameterCount(
            float(size.group(1)) * _SCALE[size.group(2).lower()], "Ollama /api/show (rounded)"
        )
    raise ParameterCountUnknown(
        f"Ollama at {base_url} reports no parameter count for {model!r}; {fix}"
    )


def weights_bytes(billions: float, precision: Precision) -> float:
    return billions * 1e9 * BYTES_PER_PARAMETER[precision]


def needed_bytes(billions: float, precision: Precision) -> float:
    """What the rule asks of VRAM for ``precision``: the FP16 size times the level's factor."""
    return billions * 1e9 * FP16_BYTES_PER_PARAMETER * FP16_SIZE_FACTOR[precision]


def choose_placement(billions: float, vram_bytes: float | None) -> Placement:
    """The rule: the highest precision whose need fits; None VRAM (no GPU) is CPU only."""
    if vram_bytes is None:
        return Placement.CPU
    for precision in Precision:
        if needed_bytes(billions, precision) <= vram_bytes:
            return Placement(precision.value)
    return Placement.CPU_OFFLOAD


# What to pull for each placement: offloaded or on the CPU, 4-bit is the least memory to fill
# and the least to read per token.
PULLED_PRECISION = {
    Placement.FP16: Precision.FP16,
    Placement.Q8: Precision.Q8,
    Placement.Q4: Precision.Q4,
    Placement.CPU_OFFLOAD: Precision.Q4,
    Placement.CPU: Precision.Q4,
}


def _size_tag(billions: float) -> str:
    """Ollama tags name sizes rounded down to whole billions (8.03B is "8b", 70.6B "70b"),
    tenths below one ("0.5b")."""
    return f"{int(billions)}b" if billions >= 1 else f"{round(billions, 1):g}b"


def pull_command(model: str, precision: Precision, billions: float) -> str:
    """How to get ``model`` at ``precision``.

    Ollama tags read ``<size>-<variant>-<quantization>`` (``llama3.1:70b-instruct-q4_K_M``): an
    existing quantization suffix is replaced; a name without a tag gets ``<size>-instruct``.
    Hugging Face repositories are served by vLLM at FP16 (or FP8 on the fly) and pulled as a
    GGUF repository into Ollama at 4-bit.
    """
    if model.startswith("hf.co/"):
        return f"ollama pull {model.split(':', 1)[0]}:{GGUF_QUANT_TAG[precision]}"
    if "/" in model:
        if precision is Precision.FP16:
            return f"vllm serve {model}"
        if precision is Precision.Q8:
            return f"vllm serve {model} --quantization fp8"
        repo = model if model.upper().endswith("-GGUF") else f"{model}-GGUF"
        return f"ollama pull hf.co/{repo}:{GGUF_QUANT_TAG[precision]}"
    repo, _, tag = model.partition(":")
    tag = _QUANT_SUFFIX.sub("", tag)
    if not tag or tag == "latest":
        tag = f"{_size_tag(billions)}-instruct"
    return f"ollama pull {repo}:{tag}-{OLLAMA_QUANT_TAG[precision]}"


def register_command(pull: str) -> str:
    """The `kg` command that registers what ``pull`` fetched as the extraction model."""
    if pull.startswith("vllm serve "):
        return f"kg admin extraction set --provider vllm --model {pull.split()[2]}"
    return f"kg admin extraction set --provider ollama --model {pull.split()[2]}"


@dataclass(frozen=True)
class Hardware:
    """What the advice is for: the largest GPU (None: no GPU, or none readable) and the RAM."""

    gpu: Gpu | None
    gpu_count: int
    source: str  # "nvidia-smi", "rocm-smi", "given with --vram-gib", or why there is no GPU
    ram_bytes: int | None


def detect_hardware(vram_gib: float | None = None) -> Hardware:
    """This machine's largest GPU (a model runs on one GPU unless told to split), or the VRAM
    given for another machine. A GPU tool that fails is said, not taken for "no GPU" silently."""
    ram = memory_bytes()
    if vram_gib is not None:
        return Hardware(Gpu("", round(vram_gib * _GIB)), 1, "given with --vram-gib", ram)
    try:
        tool, gpus = query_gpus()
    except GpuQueryError as exc:
        return Hardware(None, 0, f"{exc}; pass --vram-gib N to advise for a GPU anyway", ram)
    if tool is None:
        return Hardware(None, 0, "neither nvidia-smi nor rocm-smi is on PATH", ram)
    if not gpus:
        return Hardware(None, 0, f"{tool} lists no GPU", ram)
    return Hardware(max(gpus, key=lambda g: g.vram_bytes), len(gpus), tool, ram)


@dataclass(frozen=True)
class Advice:
    model: str
    parameters: ParameterCount
    hardware: Hardware
    placement: Placement

    @property
    def precision(self) -> Precision:
        return PULLED_PRECISION[self.placement]

    @property
    def pull(self) -> str:
        return pull_command(self.model, self.precision, self.parameters.billions)


def advise(model: str, parameters: ParameterCount, hardware: Hardware) -> Advice:
    vram = hardware.gpu.vram_bytes if hardware.gpu else None
    return Advice(model, parameters, hardware, choose_placement(parameters.billions, vram))


def _gib(size: float) -> str:
    return f"{size / _GIB:.1f} GiB"


def render_advice(advice: Advice) -> str:
    """The advice as a person reads it: the inputs, one row per precision, the verdict, the
    command to run next."""
    p, hw = advice.parameters, advice.hardware
    lines = [f"model:  {advice.model}, {p.billions:g}B parameters (from {p.source})"]
    if p.note:
        lines.append(f"        {p.note}")
    if hw.gpu is not None:
        more = f", the largest of {hw.gpu_count}" if hw.gpu_count > 1 else ""
        name = f"{hw.gpu.name}, " if hw.gpu.name else ""  # unnamed: a size given by hand
        lines.append(f"GPU:    {name}{_gib(hw.gpu.vram_bytes)} ({hw.source}{more})")
    else:
        lines.append(f"GPU:    none ({hw.source})")
    lines.append(f"RAM:    {_gib(hw.ram_bytes) if hw.ram_bytes else 'unknown'}")
    lines.append("")
    header = f"{'precision':<10} {'weights':>11} {'needs (rule)':>24}  fits"
    lines += [header, "-" * len(header)]
    vram = hw.gpu.vram_bytes if hw.gpu else None
    for precision in Precision:
        need = needed_bytes(p.billions, precision)
        fits = "-" if vram is None else ("yes" if need <= vram else "no")
        mark = "  <- recommended" if advice.placement.value == precision.value else ""
        factor = f"(FP16 x {FP16_SIZE_FACTOR[precision]:g})"
        lines.append(
            f"{precision.value:<10} {_gib(weights_bytes(p.billions, precision)):>11} "
            f"{_gib(need):>10} {factor:>13}  {fits}{mark}"
        )
    lines.append("")
    lines += _verdict(advice)
    return "\n".join(lines) + "\n"


def _verdict(advice: Advice) -> list[str]:
    p, hw = advice.parameters, advice.hardware
    q4_need = needed_bytes(p.billions, Precision.Q4)
    lines = [f"recommended: {advice.placement.value}"]
    if advice.placement is Placement.CPU_OFFLOAD:
        assert hw.gpu is not None
        lines[0] += (
            f": even 4-bit needs {_gib(q4_need)}, more than the {_gib(hw.gpu.vram_bytes)} "
            "GPU; Ollama keeps the layers that do not fit in RAM, several times slower"
        )
    elif advice.placement is Placement.CPU:
        lines[0] += ": no GPU, so the model runs from RAM; 4-bit is the least to read per token"
    if advice.placement in (Placement.CPU_OFFLOAD, Placement.CPU) and hw.ram_bytes:
        room = hw.ram_bytes + (hw.gpu.vram_bytes if hw.gpu else 0)
        if q4_need > room:
            lines.append(
                f"warning: 4-bit needs {_gib(q4_need)}, more than this machine's GPU and RAM "
                f"together ({_gib(room)}); choose a smaller model"
            )
    if hw.gpu_count > 1:
        lines.append(
            "note: advice for one GPU; to split the model across all of them, pass "
            "--vram-gib with their sum"
        )
    lines.append(f"pull:   {advice.pull}")
    lines.append(f"then:   {register_command(advice.pull)}")
    if "/" not in advice.model:
        repo = advice.model.split(":", 1)[0]
        lines.append(
            f"        (tags differ between models: https://ollama.com/library/{repo}/tags)"
        )
    return lines
