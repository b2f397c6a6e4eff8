"""The routing condition language (what it accepts, what it refuses, and that refusing means
nothing runs), rule order, target resolution and the fallbacks a decision records."""

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from kg_pipeline.corpus.analysis import ChunkAnalysis
from kg_pipeline.corpus.chunking import chunk_document
from kg_pipeline.extraction.routing import Router, choose, resolve
from kg_pipeline.providers import create_provider
from kg_pipeline.store.config import ModelConfig
from kg_pipeline.store.routing import RoutingRule
from kg_pipeline.store.routing_conditions import ConditionError, parse_condition


def analysis(**values: Any) -> ChunkAnalysis:
    base = {"word_count": 400, "sentence_count": 20, "avg_sentence_length": 20.0,
            "technical_term_density": 0.02, "line_count": 10, "code_blocks": 0, "code_lines": 0,
            "formulas": 0, "tables": 0, "table_rows": 0, "complexity": "medium",
            "content_type": "prose"}  # fmt: skip
    return ChunkAnalysis.model_validate(base | values)


def model(name: str, model_name: str, provider: str = "ollama", **values: Any) -> ModelConfig:
    return ModelConfig.model_validate(
        {"name": name, "provider": provider, "model_name": model_name,
         "base_url": "http://127.0.0.1:9"} | values
    )  # fmt: skip


def rule(name: str, condition: str, target: str, priority: int, **values: Any) -> RoutingRule:
    return RoutingRule(
        rule_name=name,
        condition=condition,
        target_provider="ollama",
        target_model=target,
        priority=priority,
        **values,
    )


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('complexity == "medium"', True),
        ('complexity != "medium"', False),
        ('content_type in ("code", "table")', False),
        ('content_type not in ["code", "table"]', True),
        ("word_count > 300 and avg_sentence_length <= 20", True),
        ("word_count > 500 or formulas >= 0", True),
        ('not complexity == "medium"', False),
        ("300 < word_count < 401", True),  # chained: 300 < 400 and 400 < 401
        ("technical_term_density < 0.05", True),
        ("code_lines >= table_rows", True),  # two fields: 0 >= 0
    ],
)
def test_conditions_in_the_language_evaluate_against_the_analysis(
    condition: str, expected: bool
) -> None:
    assert parse_condition(condition).matches(analysis()) is expected


@pytest.mark.parametrize(
    ("condition", "named"),
    [
        ("__import__('os')", "a function call is not allowed"),
        ('__import__("os").sep == "/"', "attribute access is not allowed"),
        ("len(complexity) > 3", "a function call is not allowed"),
        ("analysis.word_count > 3", "attribute access is not allowed"),
        ('complexity[0] == "m"', "indexing is not allowed"),
        ("word_count + 1 > 2", "arithmetic is not allowed"),
        ("(lambda: 1)() == 1", "a function call is not allowed"),
        ("word_count", "'word_count' alone is not a test"),
        ("words > 3", "unknown field 'words'"),
        ('complexity == "complx"', "complexity is one of 'simple', 'medium', 'complex'"),
        ('complexity > "simple"', "complexity is a label; use == or != (or in)"),
        ('word_count == "many"', "word_count is a number"),
        ("word_count == True", "the constant True is not a number or a string"),
        ("word_count is 3", "'is' and 'is not' are not allowed"),
        ("content_type in content_type", "'in' takes a field on the left and a list"),
        ("1 < 2", "two constants are compared"),
        ("word_count >", "is not an expression"),
        ("  ", "the condition is empty"),
    ],
)
def test_anything_outside_the_language_is_refused_with_what_is_allowed(
    condition: str, named: str
) -> None:
    with pytest.raises(ConditionError) as caught:
        parse_condition(condition)
    assert named in str(caught.value)


def test_a_refused_condition_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    condition = f"__import__('os').system('touch {marker}') == 0"
    with pytest.raises(ConditionError, match="using ==, !=, <, <=, >, >=, in and not in"):
        parse_condition(condition)
    assert not marker.exists()


def test_a_rule_with_a_bad_condition_cannot_be_built() -> None:
    with pytest.raises(ValidationError, match="attribute access is not allowed"):
        rule("r", "os.system == 1", "m", 1)


DEFAULT_PLAN = [
    rule("simple-to-fast", 'complexity == "simple"', "fast", 30),
    rule("complex-to-14b", 'complexity == "complex"', "big", 20),
    rule("code-to-coder", 'content_type == "code"', "coder", 10),
]
REGISTERED = [model("fast", "fast"), model("big", "big"), model("coder", "coder")]
DEFAULT = model("default", "default", active=True)


def test_rules_run_in_ascending_priority_so_complex_code_goes_to_the_code_model() -> None:
    # Listed simple, complex, code; evaluated code (10), complex (20), simple (30).
    decision = choose(
        analysis(complexity="complex", content_type="code"), DEFAULT_PLAN, REGISTERED, DEFAULT
    )
    assert (decision.rule_name, decision.registered_name) == ("code-to-coder", "coder")
    assert decision.fallback_reason is None
    complex_prose = choose(analysis(complexity="complex"), DEFAULT_PLAN, REGISTERED, DEFAULT)
    assert (complex_prose.rule_name, complex_prose.target_model) == ("complex-to-14b", "big")


def test_equal_priorities_are_ordered_by_name_and_inactive_rules_are_ignored() -> None:
    rules = [
        rule("b-rule", "word_count > 0", "big", 5),
        rule("a-rule", "word_count > 0", "fast", 5),
        rule("first-but-off", "word_count > 0", "coder", 1, active=False),
    ]
    assert choose(analysis(), rules, REGISTERED, DEFAULT).rule_name == "a-rule"


def test_a_rule_whose_target_is_not_registered_is_skipped_and_the_reason_kept() -> None:
    registered = [model("fast", "fast"), model("big", "big")]  # no coder
    decision = choose(
        analysis(complexity="complex", content_type="code"), DEFAULT_PLAN, registered, DEFAULT
    )
    assert (decision.rule_name, decision.registered_name) == ("complex-to-14b", "big")
    assert decision.fallback_reason is not None
    assert "rule 'code-to-coder' matched but its target ollama coder" in decision.fallback_reason


def test_without_a_matching_rule_the_default_model_answers_and_says_why() -> None:
    decision = choose(analysis(complexity="medium"), DEFAULT_PLAN, REGISTERED, DEFAULT)
    assert decision.rule_name is None
    assert (decision.registered_name, decision.target_model) == ("default", "default")
    assert decision.fallback_reason == "no active rule matched"
    # Nothing registered for any matching rule: the skips are the reason.
    code = choose(analysis(content_type="code"), DEFAULT_PLAN, [], DEFAULT)
    assert code.registered_name == "default"
    assert code.fallback_reason and code.fallback_reason.startswith("rule 'code-to-coder'")


def test_a_target_resolves_to_the_active_model_then_the_oldest_and_never_a_baseline() -> None:
    target = rule("r", "word_count > 0", "qwen", 1)
    newer = model("newer", "qwen", id=7)
    older = model("older", "qwen", id=3)
    active = model("active", "qwen", id=9, active=True)
    baseline = model("ref", "qwen", id=1, purpose="baseline")
    other_provider = model("vllm-qwen", "qwen", provider="vllm", id=2)
    assert resolve(target, [newer, older, baseline, other_provider]) == older
    assert resolve(target, [newer, older, active]) == active
    assert resolve(target, [baseline, other_provider]) is None


def test_the_router_builds_one_provider_per_chosen_model_on_first_use() -> None:
    built: list[str] = []

    def build(config: ModelConfig) -> Any:
        built.append(config.name)
        return create_provider(config.settings())

    router = Router(DEFAULT_PLAN, REGISTERED, DEFAULT, build)
    code = chunk_document("doc-a", "Run this:\n\n```sh\nls -l\nwc -l x\n```")[0]
    plain = chunk_document("doc-b", "A plain note. It is short.")[0]
    first, code_decision = router(code)
    second, _ = router(code)
    third, plain_decision = router(plain)
    assert first is second and first is not third
    assert built == ["coder", "fast"]  # the 14B and the default were never needed
    assert (code_decision.rule_name, code_decision.analysis.content_type) == (
        "code-to-coder",
        "code",
    )
    assert (plain_decision.rule_name, plain_decision.analysis.word_count) == ("simple-to-fast", 6)

    async def close() -> None:
        for provider in router.built:
            await provider.aclose()

    asyncio.run(close())
