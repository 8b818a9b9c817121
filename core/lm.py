"""The language-model engine: batched label scoring and greedy generation with early stop.

Two ideas keep evaluation cheap:
- a shared prefix (the n-shot context) is run once and its key/value cache reused for every item;
  items are padded *between* the prefix and their own tokens, with explicit position ids, so that
  every row's last real token sits in the last column;
- only the last position's logits are computed (``logits_to_keep=1``), never the full
  (positions x vocabulary) tensor.
The last prefix's cache is kept between calls, and a new prefix reuses the part it shares with it
(evaluation scores a test set in chunks under one context). Decoding writes each step into spare
room of the cache instead of concatenating it whole. Many same-length prompts that share prefixes
at many depths (KernelSHAP's coalitions) are scored as a prefix tree: each distinct prefix
segment is run once (``label_log_probs_tree``).
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.batching import is_out_of_memory, release_memory, run_in_batches
from core.errors import ConfigError
from core.progress import CancelToken

StopRule = Callable[[str], bool]

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


# Decoding appends one position per step: into spare room for this many positions at a time.
GROWTH_ROOM = 64


class _NoTree(Exception):
    """The model's cache is not one the prefix tree can slice and stitch (use the flat path)."""


@dataclass(frozen=True)
class Generation:
    text: str
    token_ids: tuple[int, ...]
    stop_reason: str  # "rule" | "eos" | "length"


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def shared_prefix(sequences: Sequence[Sequence[int]]) -> list[int]:
    """The longest token prefix shared by all sequences, leaving each at least one own token."""
    if not sequences:
        return []
    length = min(len(s) for s in sequences) - 1
    first = sequences[0]
    for other in sequences[1:]:
        length = min(length, common_prefix_length(first, other))
    return list(first[: max(0, length)])


def best_label(labels: Sequence[str], log_probs: Sequence[float]) -> str:
    """The label with the highest score; on a tie, the first one (deterministic)."""
    return labels[max(range(len(log_probs)), key=lambda i: (log_probs[i], -i))]


def label_continuations(
    encode: Callable[[str], list[int]], text: str, labels: Sequence[str]
) -> tuple[list[int], list[int]]:
    """Prompt ids and one next-token id per label, robust to BPE merges at the boundary.

    The prompt is cut back to the part that is identical whatever label follows it; each label's
    id is the first token after that point. Labels whose first tokens collide are refused."""
    base = encode(text)
    fulls = [encode(text + label) for label in labels]
    cut = len(base)
    for full in fulls:
        cut = min(cut, common_prefix_length(base, full))
    if any(len(full) <= cut for full in fulls):
        raise ConfigError(
            f"a label of {list(labels)} adds no token to the prompt; use non-empty labels"
        )
    first_ids = [full[cut] for full in fulls]
    own = base[cut] if cut < len(base) else None
    if own is not None and own in first_ids:
        # e.g. " A" is one token but " C" is " " + "C": C's first token is the prompt's own
        # last token, which says nothing about C.
        raise ConfigError(
            f"this tokenizer splits the labels {list(labels)} differently after the prompt, so they "
            "cannot be scored as single tokens; end the answer opening with '(' or use labels A, B, C"
        )
    if len(set(first_ids)) != len(first_ids):
        raise ConfigError(
            f"the labels {list(labels)} start with the same token for this tokenizer; "
            "use distinct labels (e.g. A, B, C)"
        )
    return base[:cut], first_ids


class _Growth:
    """Makes one plain ``DynamicLayer`` append new positions into spare room of a larger buffer
    (the layer's keys and values are views of it) instead of concatenating: a decode step then
    copies one position per row instead of the whole cache. Same values, same shapes."""

    def __init__(self, layer: Any, room: int) -> None:
        self.layer = layer
        self.room = room
        self.keys = self.values = layer.keys
        self.length = 0
        self.view: Any = None
        self._reserve(room)
        layer.update = self.update  # this instance only; DynamicLayer itself is untouched

    def _reserve(self, room: int) -> None:
        keys, values = self.layer.keys, self.layer.values
        b, h, n, _ = keys.shape
        self.keys = keys.new_empty((b, h, n + room, keys.shape[-1]))
        self.values = values.new_empty((b, values.shape[1], n + room, values.shape[-1]))
        self.keys[:, :, :n].copy_(keys)
        self.values[:, :, :n].copy_(values)
        self.length = n
        self._publish()

    def _publish(self) -> None:
        self.layer.keys = self.keys[:, :, : self.length]
        self.layer.values = self.values[:, :, : self.length]
        self.view = self.layer.keys

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        new = key_states.shape[-2]
        if self.layer.keys is not self.view:  # replaced, e.g. by batch_select_indices
            self._reserve(max(self.room, new))
        elif self.length + new > self.keys.shape[2]:
            self._reserve(max(self.room, new))
        self.keys[:, :, self.length : self.length + new].copy_(key_states)
        self.values[:, :, self.length : self.length + new].copy_(value_states)
        self.length += new
        self._publish()
        return self.layer.keys, self.layer.values


def _plain_dynamic_layers(cache: Any) -> list[Any] | None:
    """The layers of a plain ``DynamicCache`` (keys/values tensors of shape [batch, heads,
    positions, dim]), or None for any other kind of cache."""
    layers = getattr(cache, "layers", None)
    if type(cache).__name__ != "DynamicCache" or not layers:
        return None
    for layer in layers:
        keys = getattr(layer, "keys", None)
        if type(layer).__name__ != "DynamicLayer" or not isinstance(keys, torch.Tensor):
            return None
        if keys.dim() != 4:
            return None
    return list(layers)


def _cache_head(cache: Any, length: int) -> Any:
    """A new cache holding (copies of) the first ``length`` positions of a plain
    ``DynamicCache``, or None for other caches."""
    layers = _plain_dynamic_layers(cache)
    if layers is None or layers[0].keys.shape[2] < length:
        return None
    head = copy.copy(cache)
    head.layers = [copy.copy(layer) for layer in layers]
    for layer in head.layers:
        layer.keys = layer.keys[:, :, :length].clone()
        layer.values = layer.values[:, :, :length].clone()
    return head


def grow_in_place(cache: Any, room: int) -> bool:
    """Let every layer of a plain ``DynamicCache`` grow into spare room (see ``_Growth``);
    other caches (sliding windows, quantised, older transformers) are left as they are."""
    layers = _plain_dynamic_layers(cache)
    if layers is None:
        return False
    for layer in layers:
        _Growth(layer, room)
    return True


def cache_keyword(model: Any) -> str:
    """The name under which ``model.forward`` takes a key/value cache: ``cache`` on current
    transformers (``past_key_values`` is deprecated there), ``past_key_values`` on older ones."""
    try:
        parameters = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in parameters else "past_key_values"


def returned_cache(out: Any) -> Any:
    """The key/value cache a forward pass returned, under either name."""
    if "cache" in out:
        return out["cache"]
    return out.get("past_key_values")


class LanguageModel:
    """A loaded causal LM with the few operations sa-tui needs."""

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 8) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        self.pad_id = int(
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
        self.stop_ids = self._stop_ids()
        self.softcap = getattr(model.config, "final_logit_softcapping", None)
        self._prefix_memo: tuple[tuple[int, ...], Any] | None = None
        self._cache_keyword = cache_keyword(model)
        # work counters (evaluation reports their growth as a method's cost)
        self.forward_passes = 0  # forward passes through the key/value-cached paths
        self.generated_tokens = 0  # tokens produced by generate()

    def _stop_ids(self) -> set[int]:
        ids: set[int] = set()
        eos = self.tokenizer.eos_token_id
        if isinstance(eos, int):
            ids.add(eos)
        config_eos = getattr(self.model.generation_config, "eos_token_id", None)
        if isinstance(config_eos, int):
            ids.add(config_eos)
        elif isinstance(config_eos, list):
            ids.update(int(i) for i in config_eos)
        for token in ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|endoftext|>"):
            token_id = self.tokenizer.convert_tokens_to_ids(token)
            if (
                isinstance(token_id, int)
                and token_id != self.tokenizer.unk_token_id
                and token_id >= 0
            ):
                ids.add(token_id)
        return ids

    # ------------------------------------------------------------------ forward passes
    def _cached_forward(self, cache: Any = None, keep: int = 1, **inputs: Any) -> tuple[Any, Any]:
        """One forward pass that uses (and returns) a key/value cache, keeping the logits of the
        last ``keep`` positions (0: all): ``(output, new cache)``."""
        inputs[self._cache_keyword] = cache
        self.forward_passes += 1
        out = self.model(**inputs, use_cache=True, logits_to_keep=keep)
        return out, returned_cache(out)

    def _forward_last(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        cache: Any = None,
    ) -> tuple[torch.Tensor, Any]:
        out, new_cache = self._cached_forward(
            cache,
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
        )
        return out.logits[:, -1, :].float(), new_cache

    def prefix_cache(self, prefix: Sequence[int]) -> Any:
        """Key/value cache of a shared prefix (batch of one); None for an empty prefix."""
        if not prefix:
            return None
        ids = torch.tensor([list(prefix)], device=self.device)
        with torch.inference_mode():
            return self._cached_forward(input_ids=ids)[1]

    def _shared_prefix_cache(self, prefix: Sequence[int]) -> Any:
        """``prefix_cache`` of ``prefix``, kept until the next different prefix. The kept cache is
        never modified (every batch works on its own copy); a new prefix that starts like the
        kept one (the same n-shot context, as evaluation's next chunk of items has) reuses the
        common part and runs only the rest."""
        key = tuple(int(t) for t in prefix)
        if not key:
            return None
        memo = self._prefix_memo
        if memo is not None and memo[0] == key:
            return memo[1]
        cache = None
        if memo is not None:
            common = common_prefix_length(memo[0], key)
            base = _cache_head(memo[1], common) if common else None
            if base is not None:
                self._prefix_memo = None
                cache = self._extend_cache(base, key, common)
        if cache is None:
            self._prefix_memo = None  # free the old one first
            cache = self.prefix_cache(key)
        self._prefix_memo = (key, cache)
        return cache

    def _extend_cache(self, cache: Any, ids: Sequence[int], start: int) -> Any:
        """``cache`` (of ``ids[:start]``) extended by running ``ids[start:]`` on it."""
        if start >= len(ids):
            return cache
        rest = torch.tensor([list(ids[start:])], device=self.device)
        positions = torch.arange(start, len(ids), device=self.device)[None, :]
        with torch.inference_mode():
            return self._cached_forward(cache, input_ids=rest, position_ids=positions)[1]

    def forget_prefix(self) -> None:
        """Drop the kept prefix cache (to free its memory, or to time a cold start)."""
        self._prefix_memo = None

    def _batch_inputs(
        self, prefix_len: int, suffixes: Sequence[Sequence[int]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in suffixes)
        rows = len(suffixes)
        input_ids = torch.full((rows, width), self.pad_id, dtype=torch.long)
        suffix_mask = torch.zeros((rows, width), dtype=torch.long)
        for row, suffix in enumerate(suffixes):
            input_ids[row, width - len(suffix) :] = torch.tensor(list(suffix), dtype=torch.long)
            suffix_mask[row, width - len(suffix) :] = 1
        mask = torch.cat([torch.ones((rows, prefix_len), dtype=torch.long), suffix_mask], dim=1)
        positions = (prefix_len + suffix_mask.cumsum(-1) - 1).clamp(min=0)
        return input_ids.to(self.device), mask.to(self.device), positions.to(self.device)

    def _expand(self, cache: Any, rows: int) -> Any:
        if cache is None:
            return None
        expanded = copy.deepcopy(cache)
        if rows > 1:
            expanded.batch_repeat_interleave(rows)
        return expanded

    def _apply_softcap(self, logits: torch.Tensor) -> torch.Tensor:
        if self.softcap:
            return torch.tanh(logits / self.softcap) * self.softcap
        return logits

    # ------------------------------------------------------------------ label scoring
    def label_log_probs(
        self,
        suffixes: Sequence[Sequence[int]],
        label_ids: Sequence[Sequence[int]],
        *,
        prefix: Sequence[int] = (),
        cancel: CancelToken | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[list[float]]:
        """Log-probability (over the full vocabulary) of each item's label tokens at its last position."""
        cache = self._shared_prefix_cache(prefix)
        order = sorted(range(len(suffixes)), key=lambda i: len(suffixes[i]))

        def work(batch: Sequence[int]) -> list[list[float]]:
            ids, mask, positions = self._batch_inputs(len(prefix), [suffixes[i] for i in batch])
            with torch.inference_mode():
                logits, _ = self._forward_last(
                    ids, mask, positions, self._expand(cache, len(batch))
                )
            log_probs = torch.log_softmax(self._apply_softcap(logits), dim=-1)
            return [[float(log_probs[row, t]) for t in label_ids[i]] for row, i in enumerate(batch)]

        scored = run_in_batches(
            order,
            work,
            batch_size=self.batch_size,
            cancel=cancel,
            on_batch=on_batch,
            length=lambda i: len(suffixes[i]),
        )
        result: list[list[float]] = [[] for _ in suffixes]
        for i, values in zip(order, scored, strict=True):
            result[i] = values
        return result

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
    def generate(
        self,
        suffixes: Sequence[Sequence[int]],
        *,
        prefix: Sequence[int] = (),
        max_new_tokens: int = 256,
        stop_rule: StopRule | None = None,
        cancel: CancelToken | None = None,
        on_batch: Callable[[int], None] | None = None,
        on_text: Callable[[int, str], None] | None = None,
    ) -> list[Generation]:
        """Greedy decoding for many prompts sharing ``prefix``; each row stops at EOS, when
        ``stop_rule(generated_text)`` is true, or after ``max_new_tokens``. Finished rows leave
        the batch. Items are batched by length."""
        cache = self._shared_prefix_cache(prefix)
        order = sorted(range(len(suffixes)), key=lambda i: len(suffixes[i]))

        def work(batch: Sequence[int]) -> list[Generation]:
            return self._generate_batch(
                [suffixes[i] for i in batch],
                list(batch),
                len(prefix),
                cache,
                max_new_tokens,
                stop_rule,
                cancel,
                on_text,
            )

        generated = run_in_batches(
            order, work, batch_size=self.batch_size, cancel=cancel, on_batch=on_batch
        )
        result: list[Generation | None] = [None] * len(suffixes)
        for i, generation in zip(order, generated, strict=True):
            result[i] = generation
            self.generated_tokens += len(generation.token_ids)
        return [g for g in result if g is not None]

    def _generate_batch(
        self,
        suffixes: Sequence[Sequence[int]],
        item_indices: list[int],
        prefix_len: int,
        prefix_cache: Any,
        max_new_tokens: int,
        stop_rule: StopRule | None,
        cancel: CancelToken | None,
        on_text: Callable[[int, str], None] | None,
    ) -> list[Generation]:
        rows = len(suffixes)
        ids, mask, positions = self._batch_inputs(prefix_len, suffixes)
        tokens: list[list[int]] = [[] for _ in range(rows)]
        reasons: list[str] = ["length"] * rows
        active = list(range(rows))  # batch row -> item row
        with torch.inference_mode():
            logits, cache = self._forward_last(
                ids, mask, positions, self._expand(prefix_cache, rows)
            )
            if max_new_tokens > 1:
                grow_in_place(cache, min(GROWTH_ROOM, max_new_tokens))
            last_positions = positions[:, -1]
            for step in range(max_new_tokens):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                next_ids = logits.argmax(dim=-1).tolist()
                keep: list[int] = []
                for slot, row in enumerate(active):
                    token = int(next_ids[slot])
                    if token in self.stop_ids:
                        reasons[row] = "eos"
                        continue
                    tokens[row].append(token)
                    text = self.tokenizer.decode(tokens[row], skip_special_tokens=True)
                    if on_text is not None:
                        on_text(item_indices[row], text)
                    if stop_rule is not None and stop_rule(text):
                        reasons[row] = "rule"
                        continue
                    keep.append(slot)
                if not keep or step == max_new_tokens - 1:
                    break
                if len(keep) < len(active):
                    index = torch.tensor(keep, device=self.device)
                    cache.batch_select_indices(index)
                    mask = mask[index]
                    last_positions = last_positions[index]
                    active = [active[slot] for slot in keep]
                step_ids = torch.tensor([[tokens[row][-1]] for row in active], device=self.device)
                mask = torch.cat(
                    [mask, torch.ones((len(active), 1), dtype=mask.dtype, device=self.device)],
                    dim=1,
                )
                last_positions = last_positions + 1
                logits, cache = self._forward_last(step_ids, mask, last_positions[:, None], cache)
        return [
            Generation(
                text=self.tokenizer.decode(tokens[row], skip_special_tokens=True),
                token_ids=tuple(tokens[row]),
                stop_reason=reasons[row],
            )
            for row in range(rows)
        ]
