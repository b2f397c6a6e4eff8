"""Quantization advice: the parameter count read from a model's name, the plan's rule over a table
of models and GPU sizes, and the pull command for the chosen precision.

The rule measures every level against the FP16 size S = parameters x 2 bytes: FP16 needs S x 1.2,
8-bit S x 0.6, 4-bit S x 0.35. For B billion parameters that is 2.4e9*B, 1.2e9*B and 0.7e9*B bytes.
A GiB is 2^30 = 1,073,741,824 bytes.
"""

import pytest

from kg_pipeline.serving.hardware import Gpu
from kg_pipeline.serving.quantization import (
    Hardware,
    Placement,
    Precision,
    advise,
    choose_placement,
    needed_bytes,
    parameters_from_name,
    pull_command,
    render_advice,
    weights_bytes,
)

GIB = 1024**3


@pytest.mark.parametrize(
    ("model", "billions"),
    [
        ("llama3.1:70b-instruct", 70),
        ("llama3.1:70b", 70),  # the "3.1" of the family is not a size
        ("llama3.1:405b", 405),
        ("qwen2.5:0.5b", 0.5),
        ("deepseek-r1:1.5b", 1.5),
        ("mistral:7b-instruct-q4_K_M", 7),  # the quantization suffix is not a size
        ("qwen3:30b-a3b", 30),  # "a3b" (active parameters) is not the first size
        ("smollm:135m", 0.135),
        ("Qwen/Qwen2.5-7B-Instruct", 7),
        ("meta-llama/Meta-Llama-3.1-8B-Instruct", 8),
        ("hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q8_0", 3),
    ],
)
def test_the_parameter_count_is_read_from_the_name(model: str, billions: float) -> None:
    parameters = parameters_from_name(model)
    assert parameters is not None
    assert parameters.billions == pytest.approx(billions)
    assert parameters.source == "the name" and parameters.note is None


def test_a_mixture_of_experts_counts_every_expert_and_says_it_is_an_upper_bound() -> None:
    parameters = parameters_from_name("mixtral:8x7b")
    assert parameters is not None
    assert parameters.billions == 56  # 8 x 7
    assert parameters.note is not None and "upper bound" in parameters.note


@pytest.mark.parametrize("model", ["phi3:mini", "llama3.1", "nomic-embed-text", "gemma3n:e4b"])
def test_a_name_without_a_size_is_unknown_rather_than_guessed(model: str) -> None:
    assert parameters_from_name(model) is None


def test_sizes_are_parameters_times_bytes_per_parameter() -> None:
    # 70e9 parameters: FP16 2 bytes = 140e9, 8-bit 1 byte = 70e9, 4-bit half a byte = 35e9.
    assert [weights_bytes(70, p) for p in Precision] == [140e9, 70e9, 35e9]
    # The rule's needs: 140e9 x 1.2 = 168e9, x 0.6 = 84e9, x 0.35 = 49e9.
    assert [needed_bytes(70, p) for p in Precision] == pytest.approx([168e9, 84e9, 49e9])


@pytest.mark.parametrize(
    ("model", "vram_gib", "expected"),
    [
        # 70B: needs FP16 168e9, 8-bit 84e9, 4-bit 49e9.
        ("llama3.1:70b-instruct", 80, Placement.Q8),  # 80 GiB = 85.9e9: 84e9 fits, 168e9 not
        ("llama3.1:70b-instruct", 48, Placement.Q4),  # 48 GiB = 51.5e9: 49e9 fits, 84e9 not
        ("llama3.1:70b-instruct", 40, Placement.CPU_OFFLOAD),  # 40 GiB = 42.9e9 < 49e9
        ("llama3.1:70b-instruct", 160, Placement.FP16),  # 160 GiB = 171.8e9 >= 168e9
        # 8B: needs FP16 19.2e9, 8-bit 9.6e9, 4-bit 5.6e9.
        ("llama3.1:8b", 24, Placement.FP16),  # 24 GiB = 25.8e9
        ("llama3.1:8b", 12, Placement.Q8),  # 12 GiB = 12.9e9
        ("llama3.1:8b", 8, Placement.Q4),  # 8 GiB = 8.59e9 < 9.6e9
        ("llama3.1:8b", 4, Placement.CPU_OFFLOAD),  # 4 GiB = 4.29e9 < 5.6e9
        # 7B: FP16 needs 16.8e9; 16 GiB = 17.18e9 just holds it.
        ("Qwen/Qwen2.5-7B-Instruct", 16, Placement.FP16),
        # 0.5B: FP16 needs 1.2e9; 2 GiB = 2.15e9.
        ("qwen2.5:0.5b", 2, Placement.FP16),
        # 8x7b counted as 56B: FP16 134.4e9 > 85.9e9, 8-bit 67.2e9 fits 80 GiB.
        ("mixtral:8x7b", 80, Placement.Q8),
        # 405B: 4-bit alone needs 283.5e9 > 85.9e9.
        ("llama3.1:405b", 80, Placement.CPU_OFFLOAD),
    ],
)
def test_the_rule_picks_the_highest_precision_that_fits(
    model: str, vram_gib: float, expected: Placement
) -> None:
    parameters = parameters_from_name(model)
    assert parameters is not None
    assert choose_placement(parameters.billions, vram_gib * GIB) is expected


def test_a_need_equal_to_the_vram_fits() -> None:
    # 70B at 4-bit needs exactly 49e9 bytes: "size x 0.35 <= VRAM" includes equality.
    assert choose_placement(70, 49e9) is Placement.Q4
    assert choose_placement(70, 49e9 - 1) is Placement.CPU_OFFLOAD


def test_an_h100_reported_by_nvidia_smi_holds_a_70b_model_at_8_bit() -> None:
    # nvidia-smi reports an H100 80GB as 81,559 MiB = 85,520,809,984 bytes >= 84e9.
    assert choose_placement(70, 81_559 * 1024**2) is Placement.Q8


def test_no_gpu_means_the_cpu() -> None:
    assert choose_placement(8, None) is Placement.CPU


@pytest.mark.parametrize(
    ("model", "precision", "command"),
    [
        ("llama3.1:70b-instruct", Precision.Q4, "ollama pull llama3.1:70b-instruct-q4_K_M"),
        ("llama3.1:70b-instruct", Precision.Q8, "ollama pull llama3.1:70b-instruct-q8_0"),
        ("llama3.1:70b-instruct", Precision.FP16, "ollama pull llama3.1:70b-instruct-fp16"),
        # An existing quantization is replaced, not stacked.
        ("qwen2.5:7b-instruct-q8_0", Precision.Q4, "ollama pull qwen2.5:7b-instruct-q4_K_M"),
        ("mistral:7b-instruct-fp16", Precision.Q8, "ollama pull mistral:7b-instruct-q8_0"),
        # No tag: the size and the instruct variant are named.
        ("llama3.1", Precision.Q4, "ollama pull llama3.1:8b-instruct-q4_K_M"),
        ("Qwen/Qwen2.5-7B-Instruct", Precision.FP16, "vllm serve Qwen/Qwen2.5-7B-Instruct"),
        ("Qwen/Qwen2.5-7B-Instruct", Precision.Q8,
         "vllm serve Qwen/Qwen2.5-7B-Instruct --quantization fp8"),
        ("Qwen/Qwen2.5-7B-Instruct", Precision.Q4,
         "ollama pull hf.co/Qwen/Qwen2.5-7B-Instruct-GGUF:Q4_K_M"),
        ("hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q8_0", Precision.Q4,
         "ollama pull hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M"),
    ],
)  # fmt: skip
def test_the_pull_command_names_the_precision_tag(
    model: str, precision: Precision, command: str
) -> None:
    # 8.03B is what Ollama reports for llama3.1 (8b): tags carry whole billions.
    assert pull_command(model, precision, 8.03) == command


def test_the_advice_shows_every_precision_and_what_to_run() -> None:
    parameters = parameters_from_name("llama3.1:70b-instruct")
    assert parameters is not None
    hardware = Hardware(Gpu("NVIDIA H100 80GB HBM3", 81_559 * 1024**2), 1, "nvidia-smi", 128 * GIB)
    text = render_advice(advise("llama3.1:70b-instruct", parameters, hardware))
    # 140e9 / 2^30 = 130.4 GiB of FP16 weights; needs 168e9 = 156.5, 84e9 = 78.2, 49e9 = 45.6 GiB.
    assert "130.4 GiB" in text and "156.5 GiB" in text and "78.2 GiB" in text
    assert "45.6 GiB" in text and "79.6 GiB" in text  # 81,559 MiB = 79.6 GiB
    [recommended_row] = [line for line in text.splitlines() if "<- recommended" in line]
    assert recommended_row.startswith("8-bit")
    assert "pull:   ollama pull llama3.1:70b-instruct-q8_0" in text
    assert "kg admin extraction set --provider ollama --model llama3.1:70b-instruct-q8_0" in text


def test_offloading_says_it_is_slow_and_warns_when_ram_is_short_too() -> None:
    parameters = parameters_from_name("llama3.1:405b")
    assert parameters is not None
    # 4-bit needs 283.5e9 bytes = 264.0 GiB; 24 GiB GPU + 64 GiB RAM = 88 GiB is not enough.
    hardware = Hardware(Gpu("NVIDIA GeForce RTX 4090", 24 * GIB), 1, "nvidia-smi", 64 * GIB)
    advice = advise("llama3.1:405b", parameters, hardware)
    assert advice.placement is Placement.CPU_OFFLOAD and advice.precision is Precision.Q4
    text = render_advice(advice)
    assert "several times slower" in text
    assert "more than this machine's GPU and RAM together (88.0 GiB)" in text
    assert "ollama pull llama3.1:405b-q4_K_M" in text
