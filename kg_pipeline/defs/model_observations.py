"""What the registered models' servers report, as Dagster observations of ``extractions``: the
Dagster side of serving/model_status.py, which stays free of Dagster."""

from __future__ import annotations

import datetime as dt
from typing import Any

import dagster as dg

from kg_pipeline.serving.model_status import GIB, EndpointStatus, gib


def observe_status(context: Any, statuses: list[EndpointStatus]) -> list[dg.AssetObservation]:
    """One observation of ``extractions`` per registered model (its partition): whether the
    configured model is loaded and how much memory it takes. ``context`` (an asset, op or
    sensor context, or None) only logs a line per model; the caller yields or records the
    observations."""
    observations = []
    for status in statuses:
        loaded = status.configured()
        sizes = [m.size_bytes for m in loaded if m.size_bytes is not None]
        vram = [m.vram_bytes for m in loaded if m.vram_bytes is not None]
        metadata: dict[str, Any] = {
            "answering": status.answering,
            "loaded": bool(loaded),
            "servers": dg.MetadataValue.md(_servers_table(status)),
        }
        if sizes:
            metadata["size_gib"] = dg.MetadataValue.float(round(sum(sizes) / GIB, 2))
        if vram:
            metadata["vram_gib"] = dg.MetadataValue.float(round(sum(vram) / GIB, 2))
        if status.gpus:
            total = sum(g.vram_bytes for g in status.gpus)
            metadata["gpu_total_gib"] = dg.MetadataValue.float(round(total / GIB, 1))
        observations.append(
            dg.AssetObservation(asset_key="extractions", partition=status.name, metadata=metadata)
        )
        if context is not None:
            context.log.info(
                f"{status.name}: {'loaded' if loaded else 'not loaded'}"
                + (f", {gib(sum(sizes))}" if sizes else "")
            )
    return observations


def _servers_table(status: EndpointStatus) -> str:
    rows = ["| server | answering | model | size | VRAM | until |", "|---|---|---|---|---|---|"]
    for server in status.servers:
        if not server.loaded:
            detail = server.error or server.note or ""
            rows.append(f"| {server.base_url} | {server.answering} | {detail} | | | |")
        for m in server.loaded:
            until = f"{m.expires_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC" if m.expires_at else ""
            rows.append(
                f"| {server.base_url} | {server.answering} | {m.name} | {gib(m.size_bytes)} "
                f"| {gib(m.vram_bytes)} | {until} |"
            )
    return "\n".join(rows)
