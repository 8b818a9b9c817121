"""Prefix-tree label scoring (a mixin of :class:`core.lm.LanguageModel`): many same-length
prompts that share prefixes at many depths (KernelSHAP's coalitions) are scored as a tree whose
distinct segments each run once, on the key/value cache of their parent, many per forward pass."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from core.batching import is_out_of_memory, release_memory, run_in_batches
from core.kv_cache import _plain_dynamic_layers
from core.progress import CancelToken
from core.token_ids import shared_prefix

# Prefix-tree scoring's cost model, in tokens' worth of compute (measured with the built-in model
# on one CPU core): one forward pass's fixed cost (reading every weight once, ~40 ms), and the
# copies of one cached position per row that every pass makes (stitching the cache, the cache's
# own concatenation, grouped-query attention's key/value repeat). Rows per pass: enough for
# ``TREE_TOKENS_PER_ROW`` x batch size tokens, so that matrix products stay efficient.
TREE_FORWARD_OVERHEAD_TOKENS = 16
TREE_CACHED_POSITION_COST = 0.03
TREE_TOKENS_PER_ROW = 64
# Key/value segments the prefix tree keeps at once (rows beyond it go in further trees).
TREE_MEMORY_BYTES = 1 << 30


class _NoTree(Exception):
    """The model's cache is not one the prefix tree can slice and stitch (use the flat path)."""


class PrefixTreeScoring:
    """The prefix-tree half of the language model (see the module docstring)."""

    if TYPE_CHECKING:
        model: Any
        device: torch.device
        batch_size: int

        def label_log_probs(
            self,
            suffixes: Sequence[Sequence[int]],
            label_ids: Sequence[Sequence[int]],
            *,
            prefix: Sequence[int] = (),
            cancel: CancelToken | None = None,
        ) -> list[list[float]]: ...

        def _cached_forward(
            self, cache: Any = None, keep: int = 1, **inputs: Any
        ) -> tuple[Any, Any]: ...

        def _apply_softcap(self, logits: torch.Tensor) -> torch.Tensor: ...

    def label_log_probs_tree(
        self,
        sequences: Sequence[Sequence[int]],
        label_ids: Sequence[Sequence[int]],
        *,
        cancel: CancelToken | None = None,
    ) -> list[list[float]]:
        """``label_log_probs`` for many prompts of one length that share prefixes at many depths
        (a prompt with words masked in many ways): the distinct prefixes form a tree, cut into
        segments where a cost model says so; each distinct segment is run once, on the key/value
        cache of its parent, many per forward pass. Same values as running every prompt whole
        (up to float rounding). Prompts of different lengths, or a model whose cache is not a
        plain ``DynamicCache``, take the flat path (shared prefix + batches)."""
        if not sequences:
            return []
        if len(sequences) > 1 and len({len(s) for s in sequences}) == 1:
            try:
                return self._tree_log_probs(sequences, label_ids, cancel)
            except _NoTree:
                pass
            except RuntimeError as error:  # the tree's caches did not fit even one row a pass
                if not is_out_of_memory(error):
                    raise
                release_memory()
        prefix = shared_prefix(sequences)
        return self.label_log_probs(
            [s[len(prefix) :] for s in sequences], label_ids, prefix=prefix, cancel=cancel
        )

    def _kv_bytes_per_position(self) -> int:
        """Bytes of key/value cache per position and row (from the config; a guess if odd)."""
        try:
            config = self.model.config
            if hasattr(config, "get_text_config"):
                config = config.get_text_config()
            heads = int(config.num_attention_heads)
            kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
            head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
            element = next(self.model.parameters()).element_size()
            return max(1, int(config.num_hidden_layers) * 2 * kv_heads * head_dim * element)
        except (AttributeError, TypeError, ValueError, StopIteration):
            return 1 << 17

    def _tree_rows(self, segment: int, end: int, kv_bytes: int) -> int:
        """Rows per forward pass for a segment of ``segment`` tokens ending at ``end``: enough
        tokens for efficient matrix products, and a stitched cache within a quarter of the
        tree's memory (never fewer rows than a flat batch)."""
        batch = max(1, self.batch_size)
        wanted = max(batch, batch * TREE_TOKENS_PER_ROW // max(1, segment))
        room = TREE_MEMORY_BYTES // 4 // max(1, end * kv_bytes)
        return max(batch, min(wanted, room))

    def _tree_log_probs(
        self,
        sequences: Sequence[Sequence[int]],
        label_ids: Sequence[Sequence[int]],
        cancel: CancelToken | None,
    ) -> list[list[float]]:
        seqs = np.asarray([list(s) for s in sequences], dtype=np.int64)
        kv_bytes = self._kv_bytes_per_position()
        order = np.lexsort(seqs.T[::-1])  # rows that share prefixes become neighbours
        result: list[list[float]] = [[] for _ in range(len(seqs))]
        self._tree_part(seqs, order, label_ids, kv_bytes, cancel, result)
        return result

    def _tree_part(
        self,
        seqs: np.ndarray,
        rows: np.ndarray,
        label_ids: Sequence[Sequence[int]],
        kv_bytes: int,
        cancel: CancelToken | None,
        result: list[list[float]],
    ) -> None:
        """Score ``rows`` as one tree if the segments it keeps fit in ``TREE_MEMORY_BYTES``,
        else as two trees of half the (sorted) rows each."""
        part = seqs[rows]
        groups, counts = self._tree_groups(part)
        cuts = self._tree_cuts(counts, part.shape[1], kv_bytes)
        kept = sum(
            counts[end] * (end - start) for start, end in zip(cuts[:-2], cuts[1:-1], strict=True)
        )
        if kept * kv_bytes > TREE_MEMORY_BYTES and len(rows) > max(2, self.batch_size):
            half = len(rows) // 2
            self._tree_part(seqs, rows[:half], label_ids, kv_bytes, cancel, result)
            self._tree_part(seqs, rows[half:], label_ids, kv_bytes, cancel, result)
            return
        scored = self._tree_run(
            part, groups, counts, cuts, [label_ids[int(r)] for r in rows], kv_bytes, cancel
        )
        for row, values in zip(rows, scored, strict=True):
            result[int(row)] = values

    @staticmethod
    def _tree_groups(seqs: np.ndarray) -> tuple[list[np.ndarray], list[int]]:
        """groups[b][r]: which of the distinct length-b prefixes row r has (ids 0..counts[b]-1)."""
        n, length = seqs.shape
        groups = [np.zeros(n, dtype=np.int64)]
        counts = [1]
        for b in range(length):
            column = seqs[:, b]
            _, inverse = np.unique(
                groups[-1] * (int(column.max()) + 1) + column, return_inverse=True
            )
            groups.append(inverse.reshape(-1).astype(np.int64))
            counts.append(int(groups[-1].max()) + 1)
        return groups, counts

    def _tree_run(
        self,
        seqs: np.ndarray,
        groups: list[np.ndarray],
        counts: list[int],
        cuts: list[int],
        label_ids: Sequence[Sequence[int]],
        kv_bytes: int,
        cancel: CancelToken | None,
    ) -> list[list[float]]:
        n, length = seqs.shape
        wanted = sorted({int(t) for ids in label_ids for t in ids})
        column_of = {t: i for i, t in enumerate(wanted)}
        wanted_ids = torch.tensor(wanted, device=self.device)
        levels: list[dict[str, Any]] = []  # per level: parents' ids, per-layer key/value segments
        template: list[Any] = []  # a cache of the model's own kind, copied for every pass
        final: list[Any] = []
        for start, end in zip(cuts, cuts[1:], strict=False):
            last = end == length
            _, representative = np.unique(groups[end], return_index=True)
            parent = groups[start][representative]
            tokens = torch.as_tensor(seqs[representative, start:end], device=self.device)

            def work(
                batch: Sequence[int],
                start: int = start,
                end: int = end,
                last: bool = last,
                tokens: torch.Tensor = tokens,
                parent: np.ndarray = parent,
            ) -> list[Any]:
                index = np.asarray(batch, dtype=np.int64)
                cache = self._tree_cache(levels, template, parent[index]) if levels else None
                positions = torch.arange(start, end, device=self.device).expand(len(batch), -1)
                with torch.inference_mode():
                    out, made = self._cached_forward(
                        cache,
                        input_ids=tokens[torch.as_tensor(index, device=self.device)],
                        position_ids=positions,
                    )
                    if last:
                        logits = self._apply_softcap(out.logits[:, -1, :].float())
                        return torch.log_softmax(logits, dim=-1)[:, wanted_ids].cpu().tolist()
                    if not template:
                        self._check_tree_cache(made, end)
                        template.append(made)
                    segment = [
                        (layer.keys[:, :, start:end].clone(), layer.values[:, :, start:end].clone())
                        for layer in made.layers
                    ]
                return [(segment, row) for row in range(len(batch))]

            rows = self._tree_rows(end - start, end, kv_bytes)
            done = run_in_batches(list(range(counts[end])), work, batch_size=rows, cancel=cancel)
            if last:
                final = done
                break
            chunks = [segment for segment, row in done if row == 0]
            layers = [
                (
                    torch.cat([chunk[i][0] for chunk in chunks], dim=0),
                    torch.cat([chunk[i][1] for chunk in chunks], dim=0),
                )
                for i in range(len(chunks[0]))
            ]
            levels.append({"parent": parent if levels else None, "layers": layers})
        ends = groups[length]
        return [[final[ends[r]][column_of[int(t)]] for t in label_ids[r]] for r in range(n)]

    def _tree_cuts(self, counts: Sequence[int], length: int, kv_bytes: int) -> list[int]:
        """Segment boundaries 0 = c0 < c1 < ... < length that minimise the cost model: every
        distinct prefix of a segment's end runs the segment's tokens once, copies its cached
        positions, and each forward pass has a fixed cost. Only ends just before a column where
        prefixes part are worth considering (a longer segment at the same count is free)."""
        points = [0] + [b for b in range(1, length) if counts[b + 1] > counts[b]] + [length]
        best = [0.0] + [math.inf] * (len(points) - 1)
        previous = [0] * len(points)
        for j in range(1, len(points)):
            end = points[j]
            for i in range(j):
                start = points[i]
                rows = self._tree_rows(end - start, end, kv_bytes)
                cost = (
                    best[i]
                    + counts[end] * (end - start)
                    + TREE_CACHED_POSITION_COST * counts[end] * end
                    + TREE_FORWARD_OVERHEAD_TOKENS * math.ceil(counts[end] / rows)
                )
                if cost < best[j]:
                    best[j], previous[j] = cost, i
        chosen = [len(points) - 1]
        while chosen[-1] != 0:
            chosen.append(previous[chosen[-1]])
        return [points[i] for i in reversed(chosen)]

    @staticmethod
    def _check_tree_cache(cache: Any, length: int) -> None:
        layers = _plain_dynamic_layers(cache)
        if layers is None or any(layer.keys.shape[2] != length for layer in layers):
            raise _NoTree

    def _tree_cache(
        self, levels: list[dict[str, Any]], template: list[Any], parents: np.ndarray
    ) -> Any:
        """The key/value cache under some groups of the next level, given their parents' ids: the
        ancestors' segments stitched along the sequence, in a copy of the model's own cache."""
        chain = [parents]  # chain[k]: the ids at level k
        for level in reversed(levels[1:]):
            chain.append(level["parent"][chain[-1]])
        chain.reverse()
        cache = copy.copy(template[0])
        cache.layers = [copy.copy(layer) for layer in template[0].layers]
        for i, layer in enumerate(cache.layers):
            keys, values = [], []
            for level, ids in zip(levels, chain, strict=True):
                selector = torch.as_tensor(ids, device=self.device)
                keys.append(level["layers"][i][0][selector])
                values.append(level["layers"][i][1][selector])
            layer.keys = torch.cat(keys, dim=2) if len(keys) > 1 else keys[0]
            layer.values = torch.cat(values, dim=2) if len(values) > 1 else values[0]
        return cache

    # ------------------------------------------------------------------ generation
