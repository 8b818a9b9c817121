"""core.grid_stats against values worked out by hand and against slow reference loops."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.grid_stats import (
    SIGN_FLIP_TEST,
    bootstrap_mean_ci,
    holm,
    paired_difference,
    sign_flip_p_value,
    wins_ties_losses,
)

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------ holm
def test_holm_matches_the_hand_computation() -> None:
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> max(0.06, 0.04)
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_is_monotone_in_the_raw_p_values() -> None:
    raw = [0.2, 0.001, 0.04, 0.03, 0.5, 0.011, 0.012]
    adjusted = holm(raw)
    by_raw = [adjusted[i] for i in sorted(range(len(raw)), key=lambda i: raw[i])]
    assert by_raw == sorted(by_raw)
    assert all(a >= p for a, p in zip(adjusted, raw, strict=True))


def test_holm_caps_at_one_and_handles_the_edges() -> None:
    # 0.5 * 3 = 1.5 -> 1, 0.6 * 2 = 1.2 -> 1, 0.9 * 1 -> raised to 1
    assert holm([0.6, 0.5, 0.9]) == [1.0, 1.0, 1.0]
    assert holm([]) == []
    assert holm([0.02]) == [0.02]
    with pytest.raises(ValueError):
        holm([0.1, 1.5])


# ------------------------------------------------------------------------------------- sign-flip
def test_sign_flip_exact_p_value_enumerated_by_hand() -> None:
    """d = [3, 1, 2, -1]: observed sum 5 (mean 1.25). Flipping the subset with absolute sum s
    gives the sum 7 - 2s. The 16 subsets of {3, 1, 1', 2} have the sums
    {}:0 {3}:3 {1}:1 {1'}:1 {2}:2 {3,1}:4 {3,1'}:4 {3,2}:5 {1,1'}:2 {1,2}:3 {1',2}:3
    {3,1,1'}:5 {3,1,2}:6 {3,1',2}:6 {1,1',2}:4 {3,1,1',2}:7
    |7 - 2s| >= 5 when s <= 1 (0, 1, 1) or s >= 6 (6, 6, 7): 6 of 16."""
    assert sign_flip_p_value([3, 1, 2, -1]) == pytest.approx(6 / 16)
    # zeros never change under a flip, so they leave the p-value alone
    assert sign_flip_p_value([3, 0, 1, 2, 0, -1]) == pytest.approx(6 / 16)


def test_sign_flip_exact_with_equal_magnitudes() -> None:
    """d = [1, 1, 1, -1]: with k of the 4 signs flipped the sum is 4 - 2k; |4 - 2k| >= 2 for
    k = 0, 1, 3, 4: 1 + 4 + 4 + 1 = 10 of 16 sign vectors."""
    assert sign_flip_p_value([1, 1, 1, -1]) == pytest.approx(10 / 16)
    assert sign_flip_p_value([1, 1, 1, 1]) == pytest.approx(2 / 16)  # only ++++ and ----


def _reference_exact(d: list[float]) -> float:
    observed = abs(sum(d))
    hits = sum(
        abs(sum(s * x for s, x in zip(signs, d, strict=True))) >= observed - 1e-12
        for signs in itertools.product((1, -1), repeat=len(d))
    )
    return hits / 2 ** len(d)


def test_sign_flip_monte_carlo_is_close_to_exact() -> None:
    d = [0.5, 1.0, -0.5, 1.0, 0.5, -1.0, 1.0, 0.5, 0.5, -0.5, 1.0, 0.5, -1.0, 1.0, 0.5, 1.0]
    exact = _reference_exact(d)
    assert sign_flip_p_value(d) == pytest.approx(exact)
    monte_carlo = sign_flip_p_value(d, max_exact=0, resamples=20000, seed=3)
    assert abs(monte_carlo - exact) < 0.01


def test_sign_flip_monte_carlo_counts_the_observed_vector() -> None:
    # 30 positive differences: a random sign vector reaches |mean| = 1 with chance 2 / 2**30,
    # so no draw hits and p = (0 + 1) / (resamples + 1)
    assert sign_flip_p_value([1.0] * 30, resamples=10000) == pytest.approx(1 / 10001)
    first = sign_flip_p_value([1, -1, 1] * 10, resamples=500, seed=7)
    assert first == sign_flip_p_value([1, -1, 1] * 10, resamples=500, seed=7)


def test_sign_flip_all_zero_differences_give_one() -> None:
    assert sign_flip_p_value([0.0] * 12) == 1.0
    a = np.array([[1, 0, 1], [0, 0, 1]])
    assert paired_difference(a, a).p_value == 1.0


def test_paired_difference_averages_seeds_within_an_item() -> None:
    a = np.array([[1, 1, 1, 0, 1], [1, 1, 0, 0, 1]])
    b = np.array([[0, 0, 0, 1, 1], [1, 0, 0, 0, 1]])
    # per seed a - b: [1, 1, 1, -1, 0] and [0, 1, 0, 0, 0]; per item d = [.5, 1, .5, -.5, 0]
    # mean 1.5 / 5 = 0.3; non-zero |d| = {.5, 1, .5, .5}, sum 2.5, observed sum 1.5:
    # flipped subsets with |2.5 - 2s| >= 1.5 are s <= 0.5 ({}, three singletons of .5) and
    # s >= 2 ({1,.5,.5} three times, all four): 4 + 4 = 8 of 16
    result = paired_difference(a, b, resamples=2000)
    assert result.mean_difference == pytest.approx(0.3)
    assert result.p_value == pytest.approx(8 / 16)
    assert (result.items, result.seeds, result.test) == (5, 2, SIGN_FLIP_TEST)
    assert result.ci_low <= 0.3 <= result.ci_high
    with pytest.raises(ValueError):
        paired_difference(a, b[:, :4])


# ------------------------------------------------------------------------------------- bootstrap
def _matrix(seeds: int, items: int, rate: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((seeds, items)) < rate).astype(float)


def _reference_two_way(matrix: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """The slow loop: draw rows and columns with replacement, take the sub-matrix mean."""
    rng = np.random.default_rng(seed)
    seeds, items = matrix.shape
    means = []
    for _ in range(resamples):
        rows = rng.integers(0, seeds, size=seeds)
        columns = rng.integers(0, items, size=items)
        means.append(matrix[np.ix_(rows, columns)].mean())
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def test_bootstrap_is_deterministic_and_contains_the_mean() -> None:
    matrix = _matrix(3, 60, 0.4, seed=1)
    first = bootstrap_mean_ci(matrix, seed=5)
    assert first == bootstrap_mean_ci(matrix, seed=5)
    assert first[0] < matrix.mean() < first[1]


def test_bootstrap_matches_a_slow_reference_loop() -> None:
    matrix = _matrix(3, 40, 0.45, seed=2)
    low, high = bootstrap_mean_ci(matrix, resamples=20000, seed=0)
    reference = _reference_two_way(matrix, 20000, seed=11)
    # Independent draws: with 3 seeds the bootstrap distribution is lumpy, and two 20k-sample
    # runs can put a 2.5% or 97.5% quantile one step (1/120) apart, so allow a little over that.
    assert low == pytest.approx(reference[0], abs=0.012)
    assert high == pytest.approx(reference[1], abs=0.012)


def test_bootstrap_with_one_seed_is_an_item_bootstrap() -> None:
    row = _matrix(1, 80, 0.3, seed=4)
    rng = np.random.default_rng(9)
    means = [row[0, rng.integers(0, 80, size=80)].mean() for _ in range(20000)]
    reference = np.quantile(means, [0.025, 0.975])
    low, high = bootstrap_mean_ci(row[0], resamples=20000)  # a 1-D vector is one seed
    assert (low, high) == pytest.approx(tuple(reference), abs=0.01)


def test_bootstrap_width_shrinks_with_more_items_and_is_exact_on_constants() -> None:
    narrow = bootstrap_mean_ci(_matrix(3, 1000, 0.5, seed=6))
    wide = bootstrap_mean_ci(_matrix(3, 50, 0.5, seed=6))
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert bootstrap_mean_ci(np.ones((3, 20))) == (1.0, 1.0)
    assert bootstrap_mean_ci(np.zeros((2, 20))) == (0.0, 0.0)


def test_bootstrap_is_fast_and_refuses_empty_input() -> None:
    matrix = _matrix(3, 100, 0.4, seed=8)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        bootstrap_mean_ci(matrix, resamples=10000)
        best = min(best, time.perf_counter() - start)
    assert best < 1.0
    with pytest.raises(ValueError):
        bootstrap_mean_ci(np.zeros((0, 5)))


# ----------------------------------------------------------------------------- wins/ties/losses
def test_wins_ties_losses_over_seeds() -> None:
    assert wins_ties_losses([0.5, 0.6, 0.4, 0.7], [0.4, 0.6, 0.5, 0.6]) == (2, 1, 1)
    assert wins_ties_losses([0.1 + 0.2], [0.3]) == (0, 1, 0)  # equal up to rounding
    with pytest.raises(ValueError):
        wins_ties_losses([0.5], [0.5, 0.6])


def test_importing_the_statistics_does_not_load_scipy() -> None:
    code = "import core.grid_stats, core.report, sys; print('scipy' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "False"
