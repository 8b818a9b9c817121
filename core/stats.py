"""Accuracy intervals and paired tests, computed by ``scipy.stats``.

scipy is imported inside the functions: ``scipy.stats`` takes about a second to import, and
importing this module must stay cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def wilson_interval(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (well behaved at 0, 1 and small n).

    ``z`` is the normal quantile of the two-sided level (1.959964 for 95%), rounded to 4 places.
    """
    if n == 0:
        return (0.0, 0.0)
    from scipy.stats import binomtest

    confidence = math.erf(z / math.sqrt(2))  # the two-sided level whose quantile is z
    interval = binomtest(correct, n).proportion_ci(confidence_level=confidence, method="wilson")
    low, high = float(interval.low), float(interval.high)
    return (round(max(0.0, low), 4), round(min(1.0, high), 4))


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> dict[str, float | int]:
    """Exact two-sided McNemar test on paired outcomes: only a right (b01), only b right (b10).

    The exact test is a two-sided binomial test of the discordant pairs against p = 1/2.
    """
    if len(a) != len(b):
        raise ValueError("paired outcomes must have the same length")
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    discordant = only_a + only_b
    if discordant == 0:
        return {"only_a": 0, "only_b": 0, "p_value": 1.0}
    from scipy.stats import binomtest

    test = binomtest(only_a, discordant, p=0.5, alternative="two-sided")
    return {"only_a": only_a, "only_b": only_b, "p_value": round(min(1.0, float(test.pvalue)), 6)}
