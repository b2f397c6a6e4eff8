"""The metadata of an extraction step (the `extractions` asset, `kg ingest`), and its verdict.

A run in which any chunk ended unavailable (its model unreachable, or timing out) is incomplete.
Its step writes every record first (the records file, the analytics, the response cache of the
valid answers) and then fails, with "N of M chunks unavailable: <root causes>" as the failure's
description and the run's figures as its metadata: the run is red in the UI, `kg run` and
`kg ingest` exit non-zero, the previous complete materialization of the partition stays the
current one, and nothing downstream scores the gap. A re-run sends only the missing chunks.

Why a failed step rather than a failed blocking check on `extractions`: a check fails after the
materialization is stored, so the incomplete records would become the partition's latest
materialization, which anything reading it (the quality report of a later run, the automation
conditions) would take as complete; and the ingest op, which has no asset, could not use one.
"""

from collections import Counter
from pathlib import Path
from typing import Any

import dagster as dg

from kg_pipeline.defs.extraction_run import RunContext
from kg_pipeline.extraction.outcome import fallback_summaries, incomplete_run_message
from kg_pipeline.extraction.records import ChunkExtraction, ExtractionStatus

FALLBACK_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("model", "string", description="The model asked first."),
        dg.TableColumn("asked", "int", description="Chunks that asked it (cache hits did not)."),
        dg.TableColumn("fell_back", "int", description="Chunks the fallback answered."),
        dg.TableColumn("fallback_rate", "float"),
        dg.TableColumn(
            "added_seconds_mean", "float", description="Seconds lost before the fallback."
        ),
        dg.TableColumn("added_seconds_max", "float"),
    ]
)


def records_table(records: list[ChunkExtraction]) -> str:
    rows = [
        "| chunk | status | seconds | output tokens | concepts | relationships |",
        "|---|---|---|---|---|---|",
    ]
    for r in records[:50]:
        ext = r.extraction
        rows.append(
            f"| {r.chunk_id} | {r.status.value} | "
            f"{f'{r.stats.wall_seconds:.1f}' if r.stats else '-'} | "
            f"{(r.stats.completion_tokens if r.stats else None) or '-'} | "
            f"{len(ext.concepts) if ext else '-'} | {len(ext.relationships) if ext else '-'} |"
        )
    return "\n".join(rows)


def grounding_totals(records: list[ChunkExtraction]) -> dict[str, int]:
    grounded = [r.grounding for r in records if r.grounding is not None]
    fields = ("exact", "repaired", "dropped", "duplicates", "labels_repaired", "concepts_dropped")
    return {name: sum(getattr(g, name) for g in grounded) for name in fields}


def fallback_metadata(records: list[ChunkExtraction]) -> dict[str, dg.MetadataValue]:
    """Fallback rate and the seconds it added, over the run and per model asked first."""
    summaries = fallback_summaries(records)
    asked = sum(s.asked for s in summaries)
    fell_back = sum(s.fell_back for s in summaries)
    added = [
        r.stats.fallback_added_seconds
        for r in records
        if r.stats and not r.stats.cached and r.stats.fallback_from is not None
    ]
    rows = [
        dg.TableRecord(
            {
                "model": s.model,
                "asked": s.asked,
                "fell_back": s.fell_back,
                "fallback_rate": round(s.rate, 3),
                "added_seconds_mean": round(s.added_seconds_mean, 2),
                "added_seconds_max": round(s.added_seconds_max, 2),
            }
        )
        for s in summaries
    ]
    return {
        "fallback_rate": dg.MetadataValue.float(round(fell_back / asked, 3) if asked else 0.0),
        "fallback_added_seconds_mean": dg.MetadataValue.float(
            round(sum(added) / len(added), 2) if added else 0.0
        ),
        "fallbacks_by_model": dg.MetadataValue.table(rows, FALLBACK_SCHEMA),
    }


def extraction_metadata(
    records: list[ChunkExtraction], default_model: str, vocabulary: str, out: Path
) -> dict[str, Any]:
    statuses = Counter(r.status.value for r in records)
    seconds = [r.stats.wall_seconds for r in records if r.stats]
    tokens = [r.stats.completion_tokens or 0 for r in records if r.stats]
    valid = statuses[ExtractionStatus.VALID.value]
    cache_hits = sum(bool(r.stats and r.stats.cached) for r in records)
    fallbacks = sum(bool(r.stats and r.stats.fallback_from) for r in records)
    called = [r.stats for r in records if r.stats and not r.stats.cached]
    recovery = {
        "retries": sum(max(s.attempts - 1, 0) for s in called),
        "local_repairs": sum(bool(s.repairs) for s in called),
        "reasks": sum(s.reasks for s in called),
        "budget_retries": sum(s.budget_retries for s in called),
        "failed_chunks": sum(r.status is not ExtractionStatus.VALID for r in records),
        "unavailable_chunks": statuses[ExtractionStatus.UNAVAILABLE.value],
    }
    return {
        "chunks": len(records),
        "cache_hits": cache_hits,
        "model_calls": len(records) - cache_hits,
        "fallbacks": fallbacks,
        **fallback_metadata(records),
        "recovery": dg.MetadataValue.json(recovery),
        "valid": valid,
        "schema_valid_rate": valid / len(records) if records else 0.0,
        "statuses": dg.MetadataValue.json(dict(statuses)),
        "seconds_per_chunk_mean": sum(seconds) / len(seconds) if seconds else 0.0,
        "output_tokens_total": sum(tokens),
        "model": ", ".join(sorted({r.model for r in records})) or default_model,
        "prompt_version": ", ".join(sorted({r.prompt_version for r in records})),
        "grounding": dg.MetadataValue.json(grounding_totals(records)),
        "gleaning_calls": sum(len(r.gleaning) for r in records),
        "vocabulary": vocabulary,
        "records_file": dg.MetadataValue.path(str(out)),
        "records": dg.MetadataValue.md(records_table(records)),
        "routing": dg.MetadataValue.json(
            dict(Counter(r.routing.rule_name or "default" for r in records if r.routing))
        ),
    }


def fail_if_incomplete(
    context: RunContext, records: list[ChunkExtraction], metadata: dict[str, Any]
) -> None:
    """Fail the step, once every record is written, when a chunk ended unavailable."""
    message = incomplete_run_message(records)
    if message is None:
        return
    context.log.error(message)
    raise dg.Failure(description=message, metadata=metadata)
