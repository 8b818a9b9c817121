"""The store's user-facing error: one sentence, no traceback."""

from __future__ import annotations

from core.errors import SaTuiError


class StoreError(SaTuiError):
    """Bad input to the store (unknown name, unreadable model, unsafe path), said in one sentence.

    Raised before anything is written, so a StoreError never leaves the database changed.
    """
