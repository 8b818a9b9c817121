"""Cloze scoring: the log-likelihood of each choice's *text* as a continuation of the prompt, the
way lm-evaluation-harness scores multiple choice (``acc`` takes the raw sum, ``acc_norm`` the sum
divided by the continuation's length in bytes).

Cost: the n-shot context runs once (the language model keeps its key/value cache); a batch of
items runs its question turns in one pass on that cache; then every choice of every item in the
batch runs in one more pass, each row on its own item's cache. Only the tokens a choice adds are
computed, and only their logits are read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from core.answers import Prediction
from core.batching import run_in_batches
from core.errors import ConfigError
from core.lm import LanguageModel
from core.progress import CancelToken
from core.samples import Sample
from core.token_ids import best_label, common_prefix_length, shared_prefix
from core.workbench import Workbench

NORMALISATIONS = ("bytes", "tokens", "none")


@dataclass(frozen=True)
class ClozeFormat:
    """How cloze mode asks and scores: whether questions list their choices, and what each
    choice's log-likelihood is divided by (its length in bytes, in tokens, or nothing)."""

    list_choices: bool = False
    normalisation: str = "bytes"


DEFAULT_CLOZE = ClozeFormat()


@dataclass(frozen=True)
class ChoiceScore:
    """A continuation's summed log-probability, with what it is normalised by."""

    log_likelihood: float
    tokens: int
    bytes: int

    def normalised(self, by: str) -> float:
        if by == "bytes":
            return self.log_likelihood / max(1, self.bytes)
        if by == "tokens":
            return self.log_likelihood / max(1, self.tokens)
        if by == "none":
            return self.log_likelihood
        raise ConfigError(f"unknown normalisation {by!r}; use one of {', '.join(NORMALISATIONS)}")


def choice_continuations(
    encode: Callable[[str], list[int]], text: str, continuations: Sequence[str]
) -> tuple[list[int], list[list[int]]]:
    """Prompt ids and each continuation's ids, robust to BPE merges at the boundary: the prompt is
    cut back to the tokens that every ``text + continuation`` encoding shares with it, and each
    continuation's ids are the rest of its own encoding."""
    base = encode(text)
    fulls = [encode(text + continuation) for continuation in continuations]
    cut = len(base)
    for full in fulls:
        cut = min(cut, common_prefix_length(base, full))
    if any(len(full) <= cut for full in fulls):
        raise ConfigError("an answer choice adds no token to the prompt; every choice needs text")
    return base[:cut], [full[cut:] for full in fulls]


def choice_log_likelihoods(
    lm: LanguageModel,
    suffixes: Sequence[Sequence[int]],
    choices: Sequence[Sequence[Sequence[int]]],
    *,
    prefix: Sequence[int] = (),
    cancel: CancelToken | None = None,
) -> list[list[float]]:
    """For item ``i`` (prompt ``prefix + suffixes[i]``), the summed log-probability of each
    continuation ``choices[i][j]`` (token ids). See the module docstring for the cost."""
    if any(not suffix for suffix in suffixes):
        raise ValueError("every item needs at least one token after the shared prefix")
    context = lm._shared_prefix_cache(prefix)
    order = sorted(range(len(suffixes)), key=lambda i: len(suffixes[i]))
    most_choices = max((len(c) for c in choices), default=1)

    def work(batch: Sequence[int]) -> list[list[float]]:
        return _score_batch(lm, context, len(prefix), [suffixes[i] for i in batch], batch, choices)

    scored = run_in_batches(
        order,
        work,
        batch_size=max(1, lm.batch_size // max(1, most_choices)),
        cancel=cancel,
        length=lambda i: len(suffixes[i]),
    )
    result: list[list[float]] = [[] for _ in suffixes]
    for i, values in zip(order, scored, strict=True):
        result[i] = values
    return result


def _score_batch(
    lm: LanguageModel,
    context: object,
    prefix_len: int,
    suffixes: Sequence[Sequence[int]],
    batch: Sequence[int],
    choices: Sequence[Sequence[Sequence[int]]],
) -> list[list[float]]:
    ids, mask, positions = lm._batch_inputs(prefix_len, suffixes)
    with torch.inference_mode():
        out, item_cache = lm._cached_forward(
            lm._expand(context, len(batch)),
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
        )
        first = _log_probs(lm, out.logits[:, -1, :])  # [items, vocab]: each choice's 1st token
        totals = [
            [float(first[row, continuation[0]]) for continuation in choices[item]]
            for row, item in enumerate(batch)
        ]
        # the rest of every multi-token choice, all in one pass on its item's cache
        rows = [
            (row, j, continuation)
            for row, item in enumerate(batch)
            for j, continuation in enumerate(choices[item])
            if len(continuation) > 1
        ]
        if not rows:
            return totals
        width = max(len(continuation) - 1 for _, _, continuation in rows)
        inputs = torch.full((len(rows), width), lm.pad_id, dtype=torch.long)
        own = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (_, _, continuation) in enumerate(rows):
            inputs[r, : len(continuation) - 1] = torch.tensor(list(continuation[:-1]))
            own[r, : len(continuation) - 1] = 1
        index = torch.tensor([row for row, _, _ in rows], device=lm.device)
        item_cache.reorder_cache(index)  # one cache row per choice row (copies of its item's)
        row_mask = torch.cat([mask[index], own.to(lm.device)], dim=1)
        row_positions = positions[index, -1:] + 1 + torch.arange(width, device=lm.device)[None]
        out, _ = lm._cached_forward(
            item_cache,
            keep=0,
            input_ids=inputs.to(lm.device),
            attention_mask=row_mask,
            position_ids=row_positions,
        )
        logits = out.logits  # [rows, width, vocab]: position t predicts the choice's token t+1
        for r, (row, j, continuation) in enumerate(rows):
            wanted = torch.tensor(list(continuation[1:]), device=lm.device)
            step_log_probs = _log_probs(lm, logits[r, : len(continuation) - 1, :])
            totals[row][j] += float(step_log_probs.gather(1, wanted[:, None]).sum())
    return totals


def _log_probs(lm: LanguageModel, logits: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(lm._apply_softcap(logits.float()), dim=-1)


def continuation_text(sample: Sample, index: int) -> str:
    """What cloze mode scores for choice ``index``: its text (its label when it has none),
    after one space, as it would follow "answer is"."""
    choice = sample.choices[index]
    return " " + (choice.text.strip() or choice.label)


def cloze_predictions(
    bench: Workbench, items: Sequence[Sample], prompts: Sequence[str], cloze: ClozeFormat
) -> list[Prediction]:
    """Predict each item by the best-scoring choice text after its prompt (which ends where the
    answer's text begins); the per-choice normalised scores are kept with the prediction."""
    if not items:
        return []
    encoded = [
        choice_continuations(
            bench.renderer.encode,
            prompt,
            [continuation_text(item, j) for j in range(len(item.choices))],
        )
        for item, prompt in zip(items, prompts, strict=True)
    ]
    prompt_ids = [ids for ids, _ in encoded]
    prefix = shared_prefix(prompt_ids)
    sums = choice_log_likelihoods(
        bench.lm,
        [ids[len(prefix) :] for ids in prompt_ids],
        [continuations for _, continuations in encoded],
        prefix=prefix,
        cancel=bench.cancel,
    )
    predictions = []
    for item, (_, continuations), values in zip(items, encoded, sums, strict=True):
        scores = [
            ChoiceScore(
                value, len(tokens), len(continuation_text(item, j).encode("utf-8"))
            ).normalised(cloze.normalisation)
            for j, (value, tokens) in enumerate(zip(values, continuations, strict=True))
        ]
        pred = best_label(item.labels, scores)
        chosen = continuation_text(item, item.labels.index(pred))
        predictions.append(
            Prediction(
                item.id,
                item.answer,
                pred,
                pred == item.answer,
                False,
                chosen,
                tuple(round(score, 6) for score in scores),
            )
        )
    return predictions
