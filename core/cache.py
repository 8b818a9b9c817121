"""The cache through which every step reuses stored results instead of recomputing.

Keys are content hashes of everything that determines the result (model, sample, method,
parameters, library versions that change numbers). Values are JSON-able dicts. The store's
SQLite implementation is append-only: ``put`` of an existing key keeps the first value.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

# The kinds of cached records. The store keeps each kind in its own append-only table.
SELECTION = "selection"  # one candidate's zero-shot prediction during target selection
ATTRIBUTION = "attribution"  # tokens, token scores, words, word scores of one explained shot
RATIONALE = "rationale"  # the rationale text (and keywords) of one shot for one method
PREDICTION = "prediction"  # one test item's prediction under one built context
FAITHFULNESS = "faithfulness"  # comprehensiveness/sufficiency of one shot's keyword rationale
KINDS = (SELECTION, ATTRIBUTION, RATIONALE, PREDICTION, FAITHFULNESS)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the form that is hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(value: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


class ResultCache(Protocol):
    """What the pipeline needs from a store: look up and append results by key."""

    def get(self, kind: str, key: str) -> dict[str, Any] | None: ...

    def put(
        self, kind: str, key: str, value: dict[str, Any], *, run_id: str | None = None
    ) -> None: ...


class MemoryCache:
    """An in-process cache with the same append-only semantics (tests, and runs with --no-store)."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        return self._items.get((kind, key))

    def put(self, kind: str, key: str, value: dict[str, Any], *, run_id: str | None = None) -> None:
        self._items.setdefault((kind, key), value)

    def __len__(self) -> int:
        return len(self._items)
