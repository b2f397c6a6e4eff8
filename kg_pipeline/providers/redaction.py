"""Cutting credentials out of text bound for logs, records and run metadata.

Servers echo the key they were sent in their error bodies ("Incorrect API key provided: sk-…"),
and an error message travels far: into the extraction records, Dagster's run database, compute
logs and the terminal. Every place that turns a server's answer into a message passes it through
``redact`` here, so there is one rule for what counts as a secret and how it is cut out.

The order matters: a body is redacted whole *before* it is shortened, because a key straddling
the cut would otherwise survive as a fragment that no longer matches. A cut can still end in the
start of a key the server itself cut short, so a trailing prefix of a secret is removed as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

REDACTED = "[redacted]"
# Shorter values are not treated as secrets: replacing them would mangle ordinary text.
MIN_SECRET_CHARS = 4
# A shorter tail (say "sk-a") matches ordinary text by chance and says nothing usable about a key.
MIN_PREFIX_CHARS = 8
# Request headers that carry a credential, by the APIs this project speaks: bearer tokens
# (OpenAI and compatible servers), Anthropic's ``x-api-key``, Azure's ``api-key``.
_SECRET_HEADERS = ("x-api-key", "api-key")


def header_secrets(headers: Mapping[str, str]) -> list[str]:
    """The credentials among request headers (httpx's headers match names case-insensitively;
    a plain dict is searched without regard to case too)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    found = [lowered[name] for name in _SECRET_HEADERS if lowered.get(name)]
    authorization = lowered.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if token and scheme.lower() == "bearer":
        found.append(token.strip())
    return found


def redact(text: str, secrets: Iterable[str], limit: int | None = None) -> str:
    """``text`` without any of ``secrets``, cut to ``limit`` characters when one is given.

    Whole secrets are replaced before the cut; afterwards a tail of 8 or more characters that
    starts a secret is replaced too (a key the server cut short, or one a caller cut before
    calling this)."""
    usable = sorted({s for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)
    for secret in usable:
        text = text.replace(secret, REDACTED)
    if limit is not None:
        text = text[:limit]
    for secret in usable:
        for length in range(len(secret) - 1, MIN_PREFIX_CHARS - 1, -1):
            if text.endswith(secret[:length]):
                return text[:-length] + REDACTED
    return text
