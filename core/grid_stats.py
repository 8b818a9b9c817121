"""Statistics for an experiment grid: every method of a cell is scored on the same test items.

Outcomes come as ``[seeds, items]`` matrices of 0/1 (or of differences of 0/1). Seeds change the
shots and the generation, never the test items, so item ``i`` of one seed is item ``i`` of every
other seed and of every other method: the outcomes are paired by item.

Everything here is numpy only; nothing imports scipy, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SIGN_FLIP_TEST = "sign-flip permutation on per-item differences averaged over seeds"
MAX_EXACT_NONZERO = 20  # 2**20 sign vectors: about 8 MB of sums, enumerated in milliseconds
_CHUNK = 2000  # resamples drawn at a time; fixed, so results do not depend on memory
_TOLERANCE = 1e-12


@dataclass(frozen=True)
class PairedResult:
    mean_difference: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    items: int
    seeds: int


def _as_matrix(values: np.ndarray, name: str) -> np.ndarray:
    matrix = np.asarray(values, dtype=float)
    if matrix.ndim == 1:
        matrix = matrix[np.newaxis, :]
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty [seeds, items] matrix, got {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{name} contains values that are not finite")
    return matrix


def _chunks(total: int) -> list[int]:
    return [min(_CHUNK, total - start) for start in range(0, total, _CHUNK)]


def bootstrap_mean_ci(
    correct: np.ndarray, *, resamples: int = 10000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Two-way percentile bootstrap interval of the mean of a ``[seeds, items]`` matrix.

    Each resample draws ``items`` columns with replacement and, independently, ``seeds`` rows with
    replacement, and takes the mean of the sub-matrix; the interval is the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` quantiles of those means. Both sources of variation count: which test items
    were drawn, and which shots a seed happened to pick. With one seed it is an item bootstrap.

    Vectorised: a resample is a vector of row counts (how often each seed was drawn) and a vector
    of drawn column indices; its sub-matrix mean is ``sum_s count_s * sum(M[s, columns])`` over
    ``seeds * items``. Draw order, in chunks of 2000 resamples: the row counts of the chunk
    (multinomial), then its column indices (integers), from ``numpy.random.default_rng(seed)``;
    the same seed gives the same interval.
    """
    matrix = _as_matrix(correct, "correct")
    if resamples < 1 or not 0.0 < level < 1.0:
        raise ValueError("resamples must be positive and level strictly between 0 and 1")
    n_seeds, n_items = matrix.shape
    rng = np.random.default_rng(seed)
    means = []
    for size in _chunks(resamples):
        seed_counts = rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=size)
        columns = rng.integers(0, n_items, size=(size, n_items))
        sums = sum(matrix[row][columns].sum(axis=1) * seed_counts[:, row] for row in range(n_seeds))
        means.append(sums / (n_seeds * n_items))
    low, high = np.quantile(np.concatenate(means), [(1 - level) / 2, (1 + level) / 2])
    return (float(low), float(high))


def sign_flip_p_value(
    differences: Sequence[float] | np.ndarray,
    *,
    resamples: int = 10000,
    seed: int = 0,
    max_exact: int = MAX_EXACT_NONZERO,
) -> float:
    """Two-sided paired sign-flip permutation p-value of the mean of per-item ``differences``.

    Under the null each difference is as likely to have either sign. Zero differences do not change
    under a flip, so only the ``m`` non-zero ones matter. When ``m <= max_exact`` all ``2**m`` sign
    vectors are enumerated and p is the share whose ``|mean|`` reaches the observed one (the
    observed vector included); otherwise ``resamples`` random sign vectors are drawn and
    ``p = (hits + 1) / (resamples + 1)``. All differences zero: p = 1.
    """
    values = np.asarray(differences, dtype=float).ravel()
    nonzero = np.abs(values[np.abs(values) > _TOLERANCE])
    if nonzero.size == 0:
        return 1.0
    n_items = values.size
    observed = abs(float(values.sum())) / n_items - _TOLERANCE
    if nonzero.size <= max_exact:
        flipped_sums = np.zeros(1)
        for value in nonzero:  # every subset sum of the values whose sign is flipped
            flipped_sums = np.concatenate([flipped_sums, flipped_sums + value])
        means = (nonzero.sum() - 2.0 * flipped_sums) / n_items
        return float(np.count_nonzero(np.abs(means) >= observed) / means.size)
    rng = np.random.default_rng(seed)
    hits = 0
    for size in _chunks(resamples):
        signs = rng.integers(0, 2, size=(size, nonzero.size)) * 2.0 - 1.0
        hits += int(np.count_nonzero(np.abs(signs @ nonzero) / n_items >= observed))
    return (hits + 1) / (resamples + 1)


def paired_difference(
    a: np.ndarray, b: np.ndarray, *, resamples: int = 10000, seed: int = 0, level: float = 0.95
) -> PairedResult:
    """Mean difference ``a - b`` of two ``[seeds, items]`` outcome matrices, its CI and p-value.

    Why this test. Every method and every seed is scored on the same test items, so the outcomes
    are paired by item, and a paired test removes the item difficulty that both share. Seeds share
    the items too: pooling the ``items * seeds`` pairs as independent would overstate ``n`` and
    give p-values that are too small. So the differences are first averaged over seeds within an
    item, ``d_i = mean_s(a[s, i] - b[s, i])``, and the item stays the unit of independence. The
    sign-flip permutation test on ``d_i`` is exact under the null that each ``d_i`` is equally
    likely to be positive or negative (exchangeable signs), needs no normality, and works for 0/1
    outcomes and their seed averages. The alternative would be McNemar's test per seed combined
    across seeds (Cochran-Mantel-Haenszel); it treats seeds as strata rather than averaging them.

    The interval resamples the same unit as the test (items, with ``d_i`` averaged over seeds),
    so the interval and the p-value answer the same question about these seeds' shots and never
    disagree by construction; how much the difference moves from seed to seed is shown by the
    per-seed wins, ties and losses instead.
    """
    left, right = _as_matrix(a, "a"), _as_matrix(b, "b")
    if left.shape != right.shape:
        raise ValueError(f"a and b must have the same shape, got {left.shape} and {right.shape}")
    difference = left - right
    per_item = difference.mean(axis=0)
    low, high = bootstrap_mean_ci(per_item, resamples=resamples, seed=seed, level=level)
    return PairedResult(
        mean_difference=float(per_item.mean()),
        ci_low=low,
        ci_high=high,
        p_value=sign_flip_p_value(per_item, resamples=resamples, seed=seed),
        test=SIGN_FLIP_TEST,
        items=int(difference.shape[1]),
        seeds=int(difference.shape[0]),
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the input order, monotone and capped at 1.

    Sorted ascending, the k-th smallest (k from 0) becomes ``(m - k) * p``, raised to the largest
    adjusted value before it.
    """
    values = [float(p) for p in p_values]
    if any(not 0.0 <= p <= 1.0 for p in values):
        raise ValueError("p-values must lie between 0 and 1")
    count = len(values)
    adjusted = [0.0] * count
    running_max = 0.0
    for rank, index in enumerate(sorted(range(count), key=lambda i: values[i])):
        running_max = max(running_max, min(1.0, (count - rank) * values[index]))
        adjusted[index] = running_max
    return adjusted


def wins_ties_losses(acc_a: Sequence[float], acc_b: Sequence[float]) -> tuple[int, int, int]:
    """How many seeds ``a`` scores above, equal to (within 1e-12), and below ``b``."""
    if len(acc_a) != len(acc_b):
        raise ValueError("both methods need one accuracy per seed, in the same seed order")
    wins = ties = losses = 0
    for left, right in zip(acc_a, acc_b, strict=True):
        if abs(left - right) <= _TOLERANCE:
            ties += 1
        elif left > right:
            wins += 1
        else:
            losses += 1
    return (wins, ties, losses)
