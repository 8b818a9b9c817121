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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from core.batching import run_in_batches
from core.errors import ModelError
from core.kv_cache import GROWTH_ROOM, _cache_head, cache_keyword, grow_in_place, returned_cache
from core.prefix_tree import PrefixTreeScoring
from core.progress import CancelToken
from core.token_ids import common_prefix_length

StopRule = Callable[[str], bool]


@dataclass(frozen=True)
class Generation:
    text: str
    token_ids: tuple[int, ...]
    stop_reason: str  # "rule" | "eos" | "length"


def pad_token_id(tokenizer: Any) -> int:
    """The id that pads batches and stands for a removed word: the pad token, else the
    end-of-sequence token, else the unknown token."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id):
        if candidate is not None:
            return int(candidate)
    raise ModelError(
        "the model's tokenizer has no pad, end-of-sequence or unknown token; sa-tui needs one "
        "of them to pad batches and to remove words"
    )


class LanguageModel(PrefixTreeScoring):
    """A loaded causal LM with the few operations sa-tui needs."""

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 8) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        self.pad_id = pad_token_id(tokenizer)
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
