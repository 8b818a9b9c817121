"""Run work in batches, halving the batch size when the device runs out of memory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from core.progress import CancelToken

T = TypeVar("T")
R = TypeVar("R")


def is_out_of_memory(error: BaseException) -> bool:
    text = str(error).lower()
    return type(error).__name__ == "OutOfMemoryError" or "out of memory" in text


def run_in_batches(
    items: Sequence[T],
    work: Callable[[Sequence[T]], list[R]],
    *,
    batch_size: int,
    cancel: CancelToken | None = None,
    on_batch: Callable[[int], None] | None = None,
    length: Callable[[T], int] | None = None,
    max_padding: float = 0.05,
) -> list[R]:
    """Apply ``work`` to consecutive batches; on out-of-memory, retry with half the batch.

    With ``length`` (items sorted by it, shortest first), a batch also ends early where padding
    every row to its longest item would waste more than ``max_padding`` of the real tokens."""
    results: list[R] = []
    start = 0
    size = max(1, batch_size)
    while start < len(items):
        if cancel is not None:
            cancel.raise_if_cancelled()
        batch = items[start : start + size]
        if length is not None:
            batch = batch[: _fitting_rows(batch, length, max_padding)]
        try:
            out = work(batch)
        except RuntimeError as error:
            if not is_out_of_memory(error) or size == 1:
                raise
            release_memory()
            size = max(1, size // 2)
            continue
        results.extend(out)
        start += len(batch)
        if on_batch is not None:
            on_batch(len(batch))
    return results


def _fitting_rows(batch: Sequence[T], length: Callable[[T], int], max_padding: float) -> int:
    """How many leading rows of a length-sorted batch pad to at most (1 + max_padding) x real."""
    count, total = 1, length(batch[0])
    while count < len(batch):
        longest = length(batch[count])
        if longest * (count + 1) > (1 + max_padding) * (total + longest):
            break
        total += longest
        count += 1
    return count


def release_memory() -> None:
    """Hand cached GPU memory back after an out-of-memory error."""
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is always there in the worker
        pass


_release_memory = release_memory  # the name it had
