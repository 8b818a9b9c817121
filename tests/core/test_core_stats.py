"""core.stats through scipy.stats gives the figures of the former hand-written formulas.

The expected values below were computed by the hand-written Wilson interval (z = 1.959964) and
the exact McNemar sum of binomial coefficients that scipy replaced; they must not change.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from core.stats import mcnemar_exact, wilson_interval

T, F = True, False


@pytest.mark.parametrize(
    ("correct", "n", "expected"),
    [
        (7, 20, (0.1812, 0.5671)),
        (0, 10, (0.0, 0.2775)),
        (10, 10, (0.7225, 1.0)),
        (55, 100, (0.4524, 0.6439)),
        (1, 1, (0.2065, 1.0)),
        (1, 3, (0.0615, 0.7923)),
        (3, 7, (0.1582, 0.7495)),
        (299, 1172, (0.231, 0.2808)),
        (500, 1000, (0.4691, 0.5309)),
        (0, 0, (0.0, 0.0)),
    ],
)
def test_wilson_interval_matches_the_former_figures(
    correct: int, n: int, expected: tuple[float, float]
) -> None:
    interval = wilson_interval(correct, n)
    assert interval == expected
    assert all(type(bound) is float for bound in interval)  # plain floats, not numpy scalars


def _former_wilson(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The hand-written formula scipy replaced (kept here only as the reference)."""
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def test_wilson_interval_equals_the_former_formula_on_a_grid() -> None:
    for n in range(1, 61):
        for correct in range(n + 1):
            assert wilson_interval(correct, n) == _former_wilson(correct, n), (correct, n)


def test_wilson_interval_honours_z() -> None:
    assert wilson_interval(7, 20, z=2.575829) == _former_wilson(7, 20, z=2.575829)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (
            [T, T, F, T, F, T, T, F],
            [F, T, F, F, F, T, F, T],
            {"only_a": 3, "only_b": 1, "p_value": 0.625},
        ),
        ([T, F], [T, F], {"only_a": 0, "only_b": 0, "p_value": 1.0}),
        ([T], [F], {"only_a": 1, "only_b": 0, "p_value": 1.0}),
        ([T, F] * 5, [F, T] * 5, {"only_a": 5, "only_b": 5, "p_value": 1.0}),
        ([T] * 30 + [F] * 5, [F] * 30 + [T] * 5, {"only_a": 30, "only_b": 5, "p_value": 2.2e-05}),
        ([], [], {"only_a": 0, "only_b": 0, "p_value": 1.0}),
    ],
)
def test_mcnemar_matches_the_former_figures(
    a: list[bool], b: list[bool], expected: dict[str, float | int]
) -> None:
    result = mcnemar_exact(a, b)
    assert result == expected
    assert type(result["p_value"]) is float


def test_mcnemar_on_random_pairs_matches_the_former_figure() -> None:
    rng = random.Random(0)
    a = [rng.random() < 0.6 for _ in range(200)]
    b = [rng.random() < 0.45 for _ in range(200)]
    assert mcnemar_exact(a, b) == {"only_a": 65, "only_b": 35, "p_value": 0.003518}


def _former_mcnemar_p(only_a: int, only_b: int) -> float:
    n = only_a + only_b
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2**n
    return round(min(1.0, 2 * tail), 6)


def test_mcnemar_equals_the_former_sum_on_a_grid() -> None:
    for only_a in range(0, 41):
        for only_b in range(0, 41):
            if only_a + only_b == 0:
                continue
            a = [T] * only_a + [F] * only_b
            b = [F] * only_a + [T] * only_b
            assert mcnemar_exact(a, b)["p_value"] == _former_mcnemar_p(only_a, only_b)


def test_importing_core_stats_does_not_import_scipy() -> None:
    code = "import sys, core.stats; print('scipy' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.stdout.strip() == "False"
