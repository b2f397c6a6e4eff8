"""The ``KG_*`` environment variables, each declared once: its name, type, default and meaning.

Every read of a ``KG_*`` variable goes through a ``Setting`` here, so that what an operator can
set is this file (and the README table printed from it by ``python -m kg_pipeline.settings``),
not a grep. A setting reads the environment when asked, not when this module is imported: tests
set variables after import, and a long-lived process sees what its caller set. The few modules
that fix a value when they are imported (a command's default port) call ``get()`` at their own
import, as they read the environment before.

A variable that is unset or empty means its default, so an empty assignment in a compose file or
a shell is the same as leaving the variable out. Values with a check and message of their own (a
price, a port range) are read here as text and checked where they are used, with the typed error
their callers catch.

Below ``contract``: it imports only the error base, and never Dagster.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from kg_pipeline.errors import KgError

T = TypeVar("T")


class SettingError(KgError, ValueError):
    """A ``KG_*`` variable holds text that is not of its type; the message names the variable."""


@dataclass(frozen=True, kw_only=True)
class Setting(Generic[T]):
    """One environment variable. ``parse`` turns its text into the value; ``default`` is what an
    unset or empty variable means, and ``shown_default`` says it in words where the default is
    worked out where it is used (a file in the package, the login name)."""

    name: str
    parse: Callable[[str], T]
    default: T
    kind: str
    doc: str
    shown_default: str | None = None

    def get(self) -> T:
        """The value as the environment is at this call."""
        text = os.environ.get(self.name)
        if not text:
            return self.default
        try:
            return self.parse(text)
        except ValueError as exc:
            raise SettingError(
                f"{self.name}={text!r} is not a valid {self.kind}; fix it or unset it ({self.doc})"
            ) from exc

    @property
    def default_text(self) -> str:
        if self.shown_default is not None:
            return self.shown_default
        return f"`{self.default}`"


# ---- the configuration store and the files the pipeline reads and writes ---------------------

DATABASE_URL: Setting[str | None] = Setting(
    name="KG_DATABASE_URL",
    parse=str,
    default=None,
    kind="SQLAlchemy URL",
    doc="the configuration store: models, routing rules, response cache, analytics",
    shown_default="SQLite `kg.sqlite3` in `KG_STATE_DIR`",
)
STATE_DIR: Setting[Path] = Setting(
    name="KG_STATE_DIR",
    parse=Path,
    default=Path(".kg"),
    kind="path",
    doc="folder of the default SQLite store",
)
RESULTS_DIR: Setting[Path] = Setting(
    name="KG_RESULTS_DIR",
    parse=Path,
    default=Path("results"),
    kind="path",
    doc="folder the assets write their result files to",
)
CORPUS_DIR: Setting[Path] = Setting(
    name="KG_CORPUS_DIR",
    parse=Path,
    default=Path("test_corpus"),
    kind="path",
    doc="corpus folder read when a run names none",
)
DATASETS_DIR: Setting[Path | None] = Setting(
    name="KG_DATASETS_DIR",
    parse=Path,
    default=None,
    kind="path",
    doc="folder holding the public gold sets `kg bench` imports (redocred/, text2kgbench-dbpedia/)",
    shown_default="`../shared/datasets` beside the working folder or the checkout",
)
USER: Setting[str | None] = Setting(
    name="KG_USER",
    parse=str,
    default=None,
    kind="text",
    doc="who a change to the configuration store is recorded as made by",
    shown_default="the login name",
)

# ---- model servers ----------------------------------------------------------------------------

ENDPOINTS_FILE: Setting[Path | None] = Setting(
    name="KG_ENDPOINTS_FILE",
    parse=Path,
    default=None,
    kind="path",
    doc="JSON list of endpoints to register (authoritative for the names it lists)",
    shown_default="unset: the embedded model",
)
CACHE_DIR: Setting[Path | None] = Setting(
    name="KG_CACHE_DIR",
    parse=Path,
    default=None,
    kind="path",
    doc="where the embedded model and the llama-server build are kept",
    shown_default="`$XDG_CACHE_HOME/kg_pipeline`, else `~/.cache/kg_pipeline`",
)
LOCAL_PORT: Setting[int] = Setting(
    name="KG_LOCAL_PORT",
    parse=int,
    default=8089,
    kind="integer",
    doc="loopback port of the embedded llama-server",
)
LOCAL_SLOTS: Setting[int] = Setting(
    name="KG_LOCAL_SLOTS",
    parse=int,
    default=4,
    kind="integer",
    doc="requests the embedded server decodes at once",
)
LOCAL_THREADS: Setting[int | None] = Setting(
    name="KG_LOCAL_THREADS",
    parse=int,
    default=None,
    kind="integer",
    doc="CPU threads of the embedded server",
    shown_default="the cores this process may use",
)

# ---- metrics ----------------------------------------------------------------------------------

METRICS_PORT: Setting[str | None] = Setting(
    name="KG_METRICS_PORT",
    parse=str,
    default=None,
    kind="port, range or 0",
    doc="Prometheus exporter: `9464`, `9464-9467` (the first free one) or `0` (any free port)",
    shown_default="unset: no exporter",
)
METRICS_HOST: Setting[str] = Setting(
    name="KG_METRICS_HOST",
    parse=str,
    default="127.0.0.1",
    kind="address",
    doc="address the exporter listens on (`0.0.0.0` in a container)",
)

# ---- the cloud baseline and prices ------------------------------------------------------------

BASELINE_MODEL: Setting[str] = Setting(
    name="KG_BASELINE_MODEL",
    parse=str,
    default="gpt-4o",
    kind="text",
    doc="cloud model of the `baseline` asset, and whose prices value the savings",
)
BASELINE_BASE_URL: Setting[str] = Setting(
    name="KG_BASELINE_BASE_URL",
    parse=str,
    default="https://api.openai.com",
    kind="URL",
    doc="OpenAI-compatible server the `baseline` asset calls",
)
PRICES_FILE: Setting[Path | None] = Setting(
    name="KG_PRICES_FILE",
    parse=Path,
    default=None,
    kind="path",
    doc="price table of cloud models and local GPU hours",
    shown_default="the packaged `kg_pipeline/contract/prices.json`",
)
GPU_COST_PER_HOUR: Setting[str | None] = Setting(
    name="KG_GPU_COST_PER_HOUR",
    parse=str,
    default=None,
    kind="USD",
    doc="rate per GPU hour of a local model the price file does not name",
    shown_default="unset: $0",
)

SETTINGS: tuple[Setting[Any], ...] = (
    DATABASE_URL,
    STATE_DIR,
    RESULTS_DIR,
    CORPUS_DIR,
    DATASETS_DIR,
    USER,
    ENDPOINTS_FILE,
    CACHE_DIR,
    LOCAL_PORT,
    LOCAL_SLOTS,
    LOCAL_THREADS,
    METRICS_PORT,
    METRICS_HOST,
    BASELINE_MODEL,
    BASELINE_BASE_URL,
    PRICES_FILE,
    GPU_COST_PER_HOUR,
)


def markdown_table() -> str:
    """The README's table of the variables; a test holds the README to it."""
    lines = ["| Variable | Type | Default | Meaning |", "| --- | --- | --- | --- |"]
    lines += [f"| `{s.name}` | {s.kind} | {s.default_text} | {s.doc} |" for s in SETTINGS]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
