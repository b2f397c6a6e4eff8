"""The one base of the errors kg_pipeline raises on purpose: ``KgError``.

Every typed error of the package derives from it, so that a caller (the `kg` command, a
benchmark, an embedding application) can tell "kg_pipeline refused, and its message says what to
do next" from a bug. Each one keeps the built-in base it had before (``ValueError``,
``RuntimeError``, ``OSError``), so ``except ValueError`` around a call still catches it:
``class ConfigError(KgError, ValueError)``.

The bottom layer: it imports nothing, so that every other module of the package may derive its
errors from it.
"""

from __future__ import annotations


class KgError(Exception):
    """An error whose message is meant for a person: what went wrong and the next step."""
