"""Label normalisation for exact concept matching.

"Exact" means equal after removing differences that carry no meaning for a concept name: case,
Unicode compatibility forms, punctuation, spacing, and a plural -s.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_SPACE = re.compile(r"\s+")


def _singular(token: str) -> str:
    """Deliberately simple English singularisation: wrong on irregular plurals, but never merges
    two different words that the reference would keep apart in practice."""
    if len(token) <= 3 or not token.isalpha():
        return token
    if token.endswith("ies"):
        return token[:-3] + "y"
    if token.endswith(("sses", "shes", "ches", "xes")):
        return token[:-2]
    if token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


@lru_cache(maxsize=65536)  # scoring normalises the same labels again and again
def normalise_label(label: str) -> str:
    text = unicodedata.normalize("NFKC", label).casefold()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return " ".join(_singular(token) for token in _SPACE.split(text.strip()) if token)
