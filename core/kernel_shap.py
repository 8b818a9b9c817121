"""Adaptive KernelSHAP: score coalitions in rounds, stop once the top-k words are stable.

The fixed path (``core.attribution.kernelshap(adaptive=False)``) runs shap.KernelExplainer on
``samples`` coalitions. The adaptive path scores a growing part of *the same* coalitions:

1. The design. shap draws its coalitions and kernel weights (sizes 1 and n-1 enumerated while the
   budget allows them, the rest drawn by the Shapley kernel, each with its complement) before it
   calls the model; :func:`shap_design` runs it with a stand-in model that scores nothing, seeded
   as the fixed path seeds it, and keeps the design. So when the bound is reached the adaptive
   path has scored exactly the fixed path's coalitions, and its regression gives the fixed path's
   values (to float rounding): the bound is the reference, and stopping early estimates it.
2. The rounds. The coalitions of sizes 1 and n-1, when the design holds all 2n of them (the
   heaviest kernel weights, and alone a full-rank regression), are scored in the first round.
   The other coalitions are grouped in units (a coalition and its complement) and shuffled
   within each size; round r scores the same leading fraction of every size, so each round is a
   stratified subsample of the design. The first round has the 2n lead rows and about n more
   (at least ``min_shap_samples(n)``); rows then grow geometrically (``GROWTH``) up to the bound. Nothing is scored twice
   (:class:`CoalitionCache` keeps f by mask).
3. The regression (:func:`kernel_regression`): Lundberg & Lee's weighted least squares with
   the efficiency constraint sum(phi) = f(all) - f(none) enforced exactly by eliminating the
   last word, as shap does. The subsampled units' weights are scaled up to their share of the
   design's total weight, so every round estimates the same objective as the bound.
4. The stopping rule (:func:`stability`): a bootstrap over the regression. The scored units
   outside the first round are resampled with replacement (``RESAMPLES`` times), the
   regression refitted, and each refit's top-k set taken with ``core.words.top_k_words`` (the
   rationale's own ranking). The refits' deviations from the current values are shrunk by the
   finite-population factor sqrt(1 - u/U) (u of the design's U units scored): what is
   estimated is how far the values at the bound can be from the current ones, and at the bound
   that distance is zero. The path stops when at least ``STABILITY`` (95%) of the refits give
   the current top-k set. Why a bootstrap rather than "the same top-k in two rounds": two
   rounds share most of their coalitions, so they agree by construction even when two words are
   a coin flip apart; the bootstrap sees the spread of the regression itself and keeps
   sampling exactly when the k-th and (k+1)-th words are close.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.words import Word, min_shap_samples, top_k_words

Scorer = Callable[[np.ndarray], np.ndarray]

STABILITY = 0.95  # share of bootstrap refits that must give the current top-k set
RESAMPLES = 200  # bootstrap refits per round
GROWTH = 1.4  # rows of round r+1 / rows of round r
# what identifies the stopping rule in cache keys: change it whenever the rule changes
ADAPTIVE_RULE = f"bootstrap-fpc:{STABILITY}:{RESAMPLES}:{GROWTH}:v1"


@dataclass(frozen=True)
class AdaptiveShap:
    values: list[float]
    f_full: float
    f_empty: float
    samples_used: int  # coalitions scored, the full and empty ones aside
    samples_max: int  # coalitions of the design at the bound
    stable: bool  # stopped by the rule (False: the bound was reached first)
    rounds: list[dict[str, Any]] = field(default_factory=list)

    def params(self) -> dict[str, Any]:
        """What an attribution records of the adaptive run."""
        return {
            "adaptive": True,
            "rule": ADAPTIVE_RULE,
            "samples_used": self.samples_used,
            "samples_max": self.samples_max,
            "stable": self.stable,
            "rounds": self.rounds,
        }


class CoalitionCache:
    """f by coalition: each distinct mask is scored once, whatever asks for it."""

    def __init__(self, f: Scorer) -> None:
        self.f = f
        self.values: dict[bytes, float] = {}

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        keys = [np.asarray(m, dtype=np.int8).tobytes() for m in masks]
        todo: dict[bytes, int] = {}
        for i, key in enumerate(keys):
            if key not in self.values and key not in todo:
                todo[key] = i
        if todo:
            scores = self.f(np.asarray([masks[i] for i in todo.values()], dtype=np.float64))
            for key, score in zip(todo, scores, strict=True):
                self.values[key] = float(score)
        return np.array([self.values[key] for key in keys], dtype=np.float64)

    def __len__(self) -> int:
        return len(self.values)


def shap_design(n_words: int, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The coalitions (rows of 0/1) and kernel weights of shap.KernelExplainer for ``samples``
    after ``np.random.seed(seed)``, as the fixed path seeds it; no coalition is scored."""
    import shap

    np.random.seed(seed)
    explainer = shap.KernelExplainer(lambda rows: np.zeros(len(rows)), np.zeros((1, n_words)))
    explainer.shap_values(np.ones((1, n_words)), nsamples=samples, l1_reg=False, silent=True)
    rows = int(explainer.nsamplesAdded)
    masks = np.asarray(explainer.maskMatrix[:rows], dtype=np.float64).copy()
    weights = np.asarray(explainer.kernelWeights[:rows], dtype=np.float64).copy()
    return masks, weights


def kernel_regression(
    masks: np.ndarray, weights: np.ndarray, values: np.ndarray, f_empty: float, f_full: float
) -> np.ndarray:
    """SHAP values: weighted least squares of f(z) - f(none) on the coalitions z, with
    sum(phi) = f(all) - f(none) enforced by substituting phi_last = total - sum(others)."""
    return _solve(*_eliminated(masks, values, f_empty, f_full), weights[None, :], f_full - f_empty)[
        0
    ]


def _eliminated(
    masks: np.ndarray, values: np.ndarray, f_empty: float, f_full: float
) -> tuple[np.ndarray, np.ndarray]:
    last = masks[:, -1]
    x = masks[:, :-1] - last[:, None]
    y = values - f_empty - last * (f_full - f_empty)
    return x, y


def _solve(x: np.ndarray, y: np.ndarray, weights: np.ndarray, total: float) -> np.ndarray:
    """One weighted fit per row of ``weights`` (batched normal equations; least squares for a
    singular system); returns phi, one row per fit."""
    if x.shape[1] == 0:
        return np.full((weights.shape[0], 1), total)
    gram = np.einsum("bm,mi,mj->bij", weights, x, x)
    rhs = np.einsum("bm,mi,m->bi", weights, x, y)
    try:
        head = np.linalg.solve(gram, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        head = np.stack(
            [
                np.linalg.lstsq(np.sqrt(w)[:, None] * x, np.sqrt(w) * y, rcond=None)[0]
                for w in weights
            ]
        )
    return np.concatenate([head, (total - head.sum(axis=1))[:, None]], axis=1)


def _units(masks: np.ndarray) -> list[list[int]]:
    """Rows grouped as shap adds them: a coalition followed by its complement, or alone."""
    units: list[list[int]] = []
    i = 0
    while i < len(masks):
        if i + 1 < len(masks) and bool(np.all(masks[i + 1] == 1 - masks[i])):
            units.append([i, i + 1])
            i += 2
        else:
            units.append([i])
            i += 1
    return units


def top_set(words: Sequence[Word], values: Sequence[float], k: int) -> frozenset[str]:
    return frozenset(w.clean for w in top_k_words(words, values, k))


def stability(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    lead: np.ndarray,
    units: Sequence[Sequence[int]],
    rest_mass: float,
    fraction: float,
    total: float,
    words: Sequence[Word],
    k: int,
    rng: np.random.Generator,
    *,
    resamples: int = RESAMPLES,
) -> tuple[np.ndarray, float]:
    """The current values and the share of bootstrap refits whose top-k set equals theirs.

    ``lead`` rows (the first round's complete sizes) keep their weights; the scored ``units``
    are resampled with replacement and their weights scaled to ``rest_mass``; deviations are
    shrunk by sqrt(1 - fraction), ``fraction`` being the share of the design's units scored."""
    rows = np.concatenate([np.asarray(u, dtype=np.int64) for u in units])
    unit_of = np.concatenate([np.full(len(u), j) for j, u in enumerate(units)])
    idx = np.concatenate([lead, rows])
    xs, ys = x[idx], y[idx]

    def scaled(counts: np.ndarray) -> np.ndarray:  # (B, units) -> (B, rows)
        rest = weights[rows][None, :] * counts[:, unit_of]
        rest *= rest_mass / rest.sum(axis=1, keepdims=True)
        return np.concatenate([np.broadcast_to(weights[lead], (len(counts), len(lead))), rest], 1)

    current = _solve(xs, ys, scaled(np.ones((1, len(units)))), total)[0]
    wanted = top_set(words, current, k)
    draws = rng.integers(0, len(units), size=(resamples, len(units)))
    counts = np.stack([np.bincount(d, minlength=len(units)) for d in draws]).astype(np.float64)
    refits = _solve(xs, ys, scaled(counts), total)
    refits = current + math.sqrt(max(0.0, 1.0 - fraction)) * (refits - current)
    agree = sum(top_set(words, row, k) == wanted for row in refits)
    return current, agree / max(1, len(refits))


def adaptive_kernel_shap(
    f: Scorer,
    words: Sequence[Word],
    *,
    k: int,
    samples: int,
    seed: int,
    threshold: float = STABILITY,
    resamples: int = RESAMPLES,
) -> AdaptiveShap:
    """SHAP values of the words from at most ``samples`` coalitions of shap's design (seeded
    with ``seed``), scored in rounds until the top-k set is stable (see the module's notes)."""
    n = len(words)
    cache = CoalitionCache(f)
    f_empty, f_full = (float(v) for v in cache(np.vstack([np.zeros(n), np.ones(n)])))
    total = f_full - f_empty
    if n == 1:
        return AdaptiveShap([total], f_full, f_empty, 0, 0, True)
    masks, weights = shap_design(n, samples, seed)
    sizes = masks.sum(axis=1)
    lead_rows = np.flatnonzero((sizes == 1) | (sizes == n - 1))
    if len(lead_rows) < (2 * n if n > 2 else n):  # sampled, not enumerated: no lead
        lead_rows = np.zeros(0, dtype=np.int64)
    in_lead = set(lead_rows.tolist())
    rng = np.random.default_rng(seed)
    strata: dict[int, list[list[int]]] = {}
    for unit in _units(masks):
        if unit[0] not in in_lead:
            size = int(sizes[unit[0]])
            strata.setdefault(min(size, n - size), []).append(unit)
    for key in sorted(strata):  # a seeded order within each size
        order = rng.permutation(len(strata[key]))
        strata[key] = [strata[key][i] for i in order]
    all_units = sum(len(s) for s in strata.values())
    rest_rows = len(masks) - len(lead_rows)
    rest_mass = float(weights.sum() - weights[lead_rows].sum())
    x, y = np.zeros((0, n - 1)), np.zeros(0)
    target = max(min_shap_samples(n), len(lead_rows) + n)
    rounds: list[dict[str, Any]] = []
    values = np.zeros(n)
    while True:
        fraction = min(1.0, max(0.0, (target - len(lead_rows)) / max(1, rest_rows)))
        chosen = [u for s in strata.values() for u in s[: math.ceil(fraction * len(s))]]
        used = np.concatenate([lead_rows, *[np.asarray(u) for u in chosen]]).astype(np.int64)
        scores = np.zeros(len(masks))
        scores[used] = cache(masks[used])
        x, y = _eliminated(masks, scores, f_empty, f_full)
        share = len(chosen) / max(1, all_units)
        if chosen and share < 1.0:
            values, agreement = stability(
                x,
                y,
                weights,
                lead_rows,
                chosen,
                rest_mass,
                share,
                total,
                words,
                k,
                rng,
                resamples=resamples,
            )
        else:  # the whole design (the fixed path's regression), or the lead alone
            values = kernel_regression(masks[used], weights[used], scores[used], f_empty, f_full)
            agreement = 0.0
        rounds.append({"samples": len(used), "agreement": round(agreement, 3)})
        if agreement >= threshold or len(used) >= len(masks):
            return AdaptiveShap(
                [float(v) for v in values],
                f_full,
                f_empty,
                samples_used=len(used),
                samples_max=len(masks),
                stable=agreement >= threshold,
                rounds=rounds,
            )
        target = max(target + 1, math.ceil(target * GROWTH))
