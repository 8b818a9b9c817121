"""The counterfactual search: the smallest edit of a shot's explained span that makes the model
choose another answer, verified by scoring the edited prompt.

The explained words (the attribution span, core/spans.py) are grouped by their cleaned, lower-case
form (an edit changes every occurrence of a word) and ranked by the given word scores (the
rationale method passes the shot's DeepLift attribution of the gold label y). Edits of growing size
are tried:
- size 1: removing one of the top-``bound`` words (its tokens become the pad token, as in the
  coalition masking of KernelSHAP and leave_one_out), or replacing one of the top
  ``REPLACED_WORDS`` words by a word the model itself proposes: at the word's first token, the
  model's own top next-token predictions (plausible words in that place) that end a word (the
  model expects a new word after them: no fragments), of which the few whose first-order effect
  (the gradient of "best rival label's logit minus y's" at the input embeddings, times the change
  of embedding) moves most toward another answer are scored. The
  replacement token takes the word's first token and the pad token its other tokens, so every
  edited prompt keeps the prompt's length and all of them are scored as one prefix tree;
- sizes 2..bound: removing the top-2, top-3, ... words together.
An edit is verified when the argmax over the choice labels' log-probabilities of the edited prompt
is not y and p(y) (over the labels) dropped; a shot the model does not answer y unedited has
nothing to flip (``reason: not_predicted``). The smallest verified edit wins (fewest words; ties:
the largest drop in p(y)). None within the bound: ``found: false``. The rationale method built on
this search is core/counterfactual.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from core.attribution_target import AttributionTarget, build_target
from core.errors import ConfigError
from core.lm import LanguageModel
from core.progress import CancelToken
from core.prompts import PromptRenderer
from core.samples import Sample
from core.token_ids import best_label
from core.words import STOP_WORDS

REPLACED_WORDS = 3  # the top-ranked words that get replacements proposed by the model
PROPOSALS = 64  # the model's next-token candidates examined per replaced word
REPLACEMENTS_PER_WORD = 4  # of them, scored exactly: the most promising by a first-order estimate
WORD_END = 0.5  # a proposed token must end a word: the model's p(a new word starts next) at least


@dataclass(frozen=True)
class WordGroup:
    """One explained word (all its occurrences) and its attribution score (the best one)."""

    text: str  # the first occurrence, without surrounding punctuation
    indices: tuple[int, ...]  # word indices of the target
    score: float


@dataclass(frozen=True)
class Edit:
    kind: str  # "removal" | "replacement"
    groups: tuple[int, ...]  # ranks of the edited word groups
    token_id: int | None = None  # replacement: the new first token
    replacement: str | None = None


@dataclass(frozen=True)
class Counterfactual:
    """The outcome of a search for one shot (stored in the rationale's record)."""

    found: bool
    reason: str  # "flipped" | "none_within_bound" | "not_predicted" (the model does not answer y)
    answer: str  # y, the gold label
    prediction_before: str  # the model's answer to the unedited prompt
    p_before: float  # p(y) over the choice labels, unedited
    bound: int
    candidates: int  # edits scored
    kind: str | None = None  # "removal" | "replacement"
    words: list[str] = field(default_factory=list)  # the edited words
    replacement: str | None = None
    new_label: str | None = None
    p_after: float | None = None  # p(y) over the choice labels, edited
    words_changed: int = 0
    edited_ids: list[int] = field(default_factory=list)  # the verified edited prompt
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rank_groups(target: AttributionTarget, word_scores: Sequence[float]) -> list[WordGroup]:
    """Rankable explained words grouped by cleaned lower-case form, highest score first."""
    if len(word_scores) != len(target.words):
        raise ConfigError(
            f"the attribution of {target.sample_id!r} has {len(word_scores)} words, the span "
            f"{len(target.words)}: it was computed over another span"
        )
    present = {w for w in target.token_words if w >= 0}
    groups: dict[str, list[int]] = {}
    for word in target.words:
        if word.rankable and word.index in present:
            groups.setdefault(word.key, []).append(word.index)
    ranked = [
        WordGroup(
            target.words[indices[0]].clean,
            tuple(indices),
            max(float(word_scores[i]) for i in indices),
        )
        for indices in groups.values()
    ]
    return sorted(ranked, key=lambda g: (-g.score, g.indices[0]))


def edited_ids(
    target: AttributionTarget, groups: Sequence[WordGroup], edit: Edit, pad_id: int
) -> list[int]:
    """The prompt with the edit applied: removed words' tokens become ``pad_id``; a replaced
    word's first token becomes the new token and its other tokens ``pad_id``."""
    words = {w for rank in edit.groups for w in groups[rank].indices}
    ids = list(target.prompt_ids)
    seen: set[int] = set()
    for position, word in enumerate(target.token_words):
        if word not in words:
            continue
        first = word not in seen
        seen.add(word)
        if edit.kind == "replacement" and first and edit.token_id is not None:
            ids[position] = edit.token_id
        else:
            ids[position] = pad_id
    return ids


def label_probabilities(log_probs: Sequence[float]) -> list[float]:
    """Softmax over the choice labels' log-probabilities."""
    top = max(log_probs)
    weights = [math.exp(v - top) for v in log_probs]
    total = sum(weights)
    return [w / total for w in weights]


def find_counterfactual(
    lm: LanguageModel,
    renderer: PromptRenderer,
    sample: Sample,
    word_scores: Sequence[float],
    *,
    bound: int,
    span: str = "question+choices",
    cancel: CancelToken | None = None,
) -> Counterfactual:
    """The smallest verified edit of ``sample``'s span (words ranked by ``word_scores``, one per
    word of the span) within ``bound`` words, or ``found=False``."""
    started = time.perf_counter()
    target = build_target(lm, renderer, sample, span=span)
    labels = list(sample.labels)
    label_ids = [build_target(lm, renderer, sample, label, span=span).label_id for label in labels]
    y = labels.index(sample.answer)
    groups = rank_groups(target, word_scores)
    base_scores, proposals = _probe(lm, renderer, target, groups, label_ids, y, bound)
    before = label_probabilities(base_scores)
    outcome = Counterfactual(
        found=False,
        reason="none_within_bound",
        answer=sample.answer,
        prediction_before=best_label(labels, base_scores),
        p_before=round(before[y], 6),
        bound=bound,
        candidates=0,
    )
    if outcome.prediction_before != sample.answer:  # nothing to flip: the model answers otherwise
        return replace(outcome, reason="not_predicted", seconds=_since(started))
    within = min(bound, len(groups))
    stages: list[list[Edit]] = [
        [Edit("removal", (rank,)) for rank in range(within)] + proposals,
        [Edit("removal", tuple(range(size))) for size in range(2, within + 1)],
    ]
    for edits in stages:
        if not edits:
            continue
        sequences = [edited_ids(target, groups, edit, lm.pad_id) for edit in edits]
        scores = lm.label_log_probs_tree(sequences, [label_ids] * len(sequences), cancel=cancel)
        outcome = replace(outcome, candidates=outcome.candidates + len(edits))
        verified = []
        for edit, ids, row in zip(edits, sequences, scores, strict=True):
            p_after = label_probabilities(row)[y]
            new_label = best_label(labels, row)
            if new_label != sample.answer and p_after < before[y]:
                verified.append((len(edit.groups), p_after, edit, ids, new_label))
        if verified:
            size, p_after, edit, ids, new_label = min(verified, key=lambda v: (v[0], v[1]))
            return replace(
                outcome,
                found=True,
                reason="flipped",
                kind=edit.kind,
                words=[groups[rank].text for rank in edit.groups],
                replacement=edit.replacement,
                new_label=new_label,
                p_after=round(p_after, 6),
                words_changed=size,
                edited_ids=ids,
                seconds=_since(started),
            )
    return replace(outcome, seconds=_since(started))


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 4)


def _probe(
    lm: LanguageModel,
    renderer: PromptRenderer,
    target: AttributionTarget,
    groups: Sequence[WordGroup],
    label_ids: Sequence[int],
    y: int,
    bound: int,
) -> tuple[list[float], list[Edit]]:
    """One forward pass of the unedited prompt: the labels' log-probabilities; when the model
    answers y, one backward pass and replacement edits for the top words (the model's own
    next-token predictions at each word that end a word, the most promising by the gradient of
    the best rival label's margin over y)."""
    embedding = lm.model.get_input_embeddings()
    ids = torch.tensor([target.prompt_ids], device=lm.device)
    replaced = groups[: min(bound, REPLACED_WORDS)]
    firsts = _first_positions(target)
    # logits only where they are read: before each replaced word's first token, and the last
    wanted = sorted({firsts[g.indices[0]] - 1 for g in replaced if firsts.get(g.indices[0], 0) > 0})
    wanted.append(len(target.prompt_ids) - 1)
    row_of = {position: row for row, position in enumerate(wanted)}
    with torch.enable_grad():
        embeds = embedding(ids).detach().requires_grad_(True)
        logits = _logits_at(lm, embeds, wanted)
        last = lm._apply_softcap(logits[-1].float())
        label_logits = last[list(label_ids)]
        base = torch.log_softmax(last.detach(), dim=-1)[list(label_ids)].tolist()
        if not replaced or len(label_ids) < 2 or max(base) > base[y]:
            return base, []
        rivals = label_logits.detach().clone()
        rivals[y] = -math.inf
        rival = int(rivals.argmax())
        (gradient,) = torch.autograd.grad(label_logits[rival] - label_logits[y], embeds)
    gradient = gradient[0].float()
    tokenizer = renderer.tokenizer
    special = set(getattr(tokenizer, "all_special_ids", []) or []) | {lm.pad_id}
    edits: list[Edit] = []
    for rank, group in enumerate(replaced):
        positions = [firsts[w] for w in group.indices if w in firsts]
        if not positions or positions[0] - 1 not in row_of:
            continue
        original = target.prompt_ids[positions[0]]
        spaced = tokenizer.decode([original])[:1].isspace()
        proposed = logits[row_of[positions[0] - 1]].detach().float()
        predicted = torch.topk(proposed, PROPOSALS).indices
        candidates: list[tuple[int, str]] = []
        for token in predicted.tolist():
            text = tokenizer.decode([token])
            word = text.strip()
            if (
                token in special
                or token == original
                or text[:1].isspace() != spaced
                or len(word) < 2
                or not word.isalpha()
                or word.lower() in STOP_WORDS
                or group.text.lower().startswith(word.lower())
            ):
                continue
            candidates.append((token, word))
        if not candidates:
            continue
        with torch.no_grad():
            new = embedding(torch.tensor([t for t, _ in candidates], device=lm.device)).float()
            old = embeds.detach()[0, positions].float()
            estimate = (new @ gradient[positions].T).sum(dim=1) - (old * gradient[positions]).sum()
        order = torch.argsort(estimate, descending=True)[: 2 * REPLACEMENTS_PER_WORD].tolist()
        shortlist = [candidates[i] for i in order]
        prefix = target.prompt_ids[: positions[0]]
        ends = _word_end_probability(lm, tokenizer, prefix, [t for t, _ in shortlist])
        whole = [pair for pair, end in zip(shortlist, ends, strict=True) if end >= WORD_END]
        for token, word in whole[:REPLACEMENTS_PER_WORD]:
            edits.append(Edit("replacement", (rank,), token, word))
    return base, edits


def _logits_at(lm: LanguageModel, embeds: torch.Tensor, positions: list[int]) -> torch.Tensor:
    """The logits at ``positions`` only (not the full positions x vocabulary tensor), one row
    per position; models that cannot select positions compute them all and are sliced."""
    keep = torch.tensor(positions, device=embeds.device)
    try:
        out = lm.model(inputs_embeds=embeds, use_cache=False, logits_to_keep=keep).logits[0]
        if out.shape[0] == len(positions):
            return out
    except (TypeError, ValueError, IndexError):
        pass
    return lm.model(inputs_embeds=embeds, use_cache=False).logits[0][keep]


_BOUNDARIES: dict[tuple[int, int], torch.Tensor] = {}


def _boundary_mask(tokenizer: Any, width: int, device: torch.device) -> torch.Tensor:
    """Tokens that cannot continue a word (they start with a space, punctuation or are special),
    for a vocabulary of ``width`` logits; computed once per tokenizer."""
    key = (id(tokenizer), width)
    mask = _BOUNDARIES.get(key)
    if mask is None:
        size = min(width, len(tokenizer))
        texts = tokenizer.batch_decode([[i] for i in range(size)])
        flags = [not text[:1].isalnum() for text in texts] + [False] * (width - size)
        mask = torch.tensor(flags, dtype=torch.bool)
        _BOUNDARIES[key] = mask
    return mask.to(device)


def _word_end_probability(
    lm: LanguageModel, tokenizer: Any, prefix: Sequence[int], tokens: Sequence[int]
) -> list[float]:
    """For each token put after ``prefix``: the model's probability that the next token starts a
    new word (a proposed token that is only a word's beginning would make a broken rationale)."""
    if not tokens:
        return []
    rows = torch.tensor([[*prefix, token] for token in tokens], device=lm.device)
    with torch.inference_mode():
        logits = lm.model(input_ids=rows, use_cache=False, logits_to_keep=1).logits[:, -1]
        probs = torch.softmax(lm._apply_softcap(logits.float()), dim=-1)
        mask = _boundary_mask(tokenizer, probs.shape[-1], probs.device)
        return [float(v) for v in probs[:, mask].sum(dim=-1)]


def _first_positions(target: AttributionTarget) -> dict[int, int]:
    """Each explained word's first token position."""
    firsts: dict[int, int] = {}
    for position, word in enumerate(target.token_words):
        if word >= 0 and word not in firsts:
            firsts[word] = position
    return firsts
