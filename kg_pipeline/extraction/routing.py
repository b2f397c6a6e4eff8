"""Multi-model routing: which registered model extracts a chunk, decided by rules over the
chunk's analysis (kg_pipeline/corpus/analysis.py).

Rules are rows of ``routing_rules`` (kg_pipeline/store/routing.py, their conditions checked by
kg_pipeline/store/routing_conditions.py), evaluated in ascending ``priority`` (lower number first;
ties by name, so the order never depends on the database); the first active rule whose condition
holds and whose target is registered chooses the model. A rule whose target is not registered is
skipped — a missing model must not stop a run — and the reason is kept in the decision, as is the
fallback to the default (active) model when no rule applies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, Field

from kg_pipeline.corpus.analysis import ChunkAnalysis, analyse
from kg_pipeline.corpus.chunking import Chunk
from kg_pipeline.providers.base import ExtractionProvider
from kg_pipeline.store.config import ConfigStore, ModelConfig, Purpose
from kg_pipeline.store.routing import RoutingRule, RoutingStore
from kg_pipeline.store.routing_conditions import parse_condition


class RoutingDecision(BaseModel):
    """Why a chunk went to the model it went to; stored with its extraction record."""

    rule_name: str | None = Field(description="The rule that chose; None: the default model.")
    target_provider: str
    target_model: str
    registered_name: str = Field(description="The registered model (configuration row) used.")
    analysis: ChunkAnalysis
    fallback_reason: str | None = Field(
        default=None,
        description="Set when the first matching rule could not be used (its target is not "
        "registered) or no rule matched, so a later rule or the default model answered.",
    )


def ordered(rules: Sequence[RoutingRule]) -> list[RoutingRule]:
    """The active rules in evaluation order: ascending priority, then name."""
    return sorted((r for r in rules if r.active), key=lambda r: (r.priority, r.rule_name))


def resolve(rule: RoutingRule, registered: Sequence[ModelConfig]) -> ModelConfig | None:
    """The registered extraction model a rule targets: same provider and model name, the active
    one first, then the lowest id (the longest-registered)."""
    candidates = [
        m
        for m in registered
        if m.purpose == "extraction"
        and m.provider == rule.target_provider
        and m.model_name == rule.target_model
    ]
    candidates.sort(key=lambda m: (not m.active, m.id if m.id is not None else float("inf")))
    return candidates[0] if candidates else None


def choose(
    analysis: ChunkAnalysis,
    rules: Sequence[RoutingRule],
    registered: Sequence[ModelConfig],
    default: ModelConfig,
) -> RoutingDecision:
    skipped: list[str] = []
    for rule in ordered(rules):
        if not parse_condition(rule.condition).matches(analysis):
            continue
        model = resolve(rule, registered)
        if model is None:
            skipped.append(
                f"rule {rule.rule_name!r} matched but its target {rule.target} is not a "
                "registered extraction model (register it with `kg admin extraction set`)"
            )
            continue
        return RoutingDecision(
            rule_name=rule.rule_name,
            target_provider=rule.target_provider,
            target_model=rule.target_model,
            registered_name=model.name,
            analysis=analysis,
            fallback_reason="; ".join(skipped) or None,
        )
    return RoutingDecision(
        rule_name=None,
        target_provider=default.provider,
        target_model=default.model_name,
        registered_name=default.name,
        analysis=analysis,
        fallback_reason="; ".join(skipped) or "no active rule matched",
    )


class Router:
    """The ``route`` of ``extract_chunks``: analyses each chunk once, chooses its model, and
    hands out one provider per chosen model, built on first use by ``build`` (so a model no
    chunk is routed to costs nothing — an embedded server is never started for it).

    Rules and registrations are read once, when the router is made: a rule changed during a run
    applies from the next run. Close the providers in ``built`` when the run ends.
    """

    def __init__(
        self,
        rules: Sequence[RoutingRule],
        registered: Sequence[ModelConfig],
        default: ModelConfig,
        build: Callable[[ModelConfig], ExtractionProvider],
    ) -> None:
        self.rules = ordered(rules)
        self.registered = list(registered)
        self.default = default
        self.build = build
        self._configs = {m.name: m for m in (*self.registered, default)}
        self._providers: dict[str, ExtractionProvider] = {}

    @property
    def built(self) -> list[ExtractionProvider]:
        return list(self._providers.values())

    def decide(self, text: str) -> RoutingDecision:
        return choose(analyse(text), self.rules, self.registered, self.default)

    def __call__(self, chunk: Chunk) -> tuple[ExtractionProvider, RoutingDecision]:
        decision = self.decide(chunk.text)
        name = decision.registered_name
        if name not in self._providers:
            self._providers[name] = self.build(self._configs[name])
        return self._providers[name], decision


def load_router(
    config: ConfigStore,
    build: Callable[[ModelConfig], ExtractionProvider],
    rules: RoutingStore | None = None,
    default: str | None = None,
    purpose: Purpose = "extraction",
) -> Router:
    """A router over the active rules (seeding the defaults into an empty table) and the
    registered models of the same database; chunks no rule places go to ``default`` (a
    registered name), else to the active model. ``build`` turns a chosen model into the provider
    stack the run uses (retries, fallback, cache)."""
    store = rules or RoutingStore(config.engine)
    store.ensure_defaults()
    fallback = config.get(default) if default else config.active(purpose)
    return Router(store.active(), config.list(purpose), fallback, build)
