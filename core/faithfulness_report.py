"""Faithfulness next to the accuracy gain in the grid report: per keyword method, the mean
comprehensiveness and sufficiency AOPC (core/faithfulness.py) of its runs, the mean gain over a
baseline, and Spearman's rank correlation of each with the gain over the method's cells (one cell
= one seed of one (model, dataset, strategy, shots) group: the paper's open question of whether
more faithful rationales give larger gains).

The gain of a cell is the method's accuracy minus the baseline's, on the items both scored in the
same seed. Fewer than 3 cells give no correlation ("n too small"); constant values give none
either ("constant").
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.report import CellResult

MIN_CELLS = 3


@dataclass(frozen=True)
class Correlation:
    rho: float | None
    p_value: float | None
    n: int
    note: str = ""  # why there is no rho ("n too small", "constant")

    def text(self) -> str:
        if self.rho is None or self.p_value is None:
            return f"— ({self.note}, n={self.n})"
        return f"{self.rho:+.2f} (p={self.p_value:.3f}, n={self.n})"


@dataclass(frozen=True)
class FaithfulnessGain:
    """One method's faithfulness and its link with the gain over ``baseline``."""

    method: str
    baseline: str
    cells: int  # cells with both a faithfulness figure and a gain
    comprehensiveness: float
    sufficiency: float
    gain: float
    comprehensiveness_vs_gain: Correlation
    sufficiency_vs_gain: Correlation


def spearman(xs: Sequence[float], ys: Sequence[float]) -> Correlation:
    n = len(xs)
    if n < MIN_CELLS:
        return Correlation(None, None, n, "n too small")
    if len(set(xs)) < 2 or len(set(ys)) < 2:
        return Correlation(None, None, n, "constant")
    from scipy.stats import spearmanr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = spearmanr(xs, ys)
    rho, p = float(result[0]), float(result[1])
    if math.isnan(rho) or math.isnan(p):
        return Correlation(None, None, n, "constant")
    return Correlation(rho, p, n)


def _accuracy_gain(cell: CellResult, base: CellResult) -> float | None:
    ours = dict(zip(cell.item_ids, cell.correct, strict=True))
    theirs = dict(zip(base.item_ids, base.correct, strict=True))
    shared = [item for item in cell.item_ids if item in theirs]
    if not shared:
        return None
    return sum(float(ours[i]) - float(theirs[i]) for i in shared) / len(shared)


def faithfulness_gains(
    cells: Sequence[CellResult], baselines: Sequence[str]
) -> list[FaithfulnessGain]:
    """Per method with faithfulness figures, against the first baseline that it can be compared
    with (same group and seed), in the order the methods first appear."""
    index = {(c.model, c.dataset, c.strategy, c.shots, c.seed, c.method): c for c in cells}
    methods = list(dict.fromkeys(c.method for c in cells if c.comprehensiveness is not None))
    out: list[FaithfulnessGain] = []
    for method in methods:
        measured = [c for c in cells if c.method == method and c.comprehensiveness is not None]
        for baseline in baselines:
            if baseline == method:
                continue
            points: list[tuple[float, float, float]] = []
            for cell in measured:
                key = (cell.model, cell.dataset, cell.strategy, cell.shots, cell.seed, baseline)
                base = index.get(key)
                gain = _accuracy_gain(cell, base) if base is not None else None
                if gain is not None and cell.sufficiency is not None:
                    points.append((float(cell.comprehensiveness or 0.0), cell.sufficiency, gain))
            if not points:
                continue
            comp, suff, gains = (list(column) for column in zip(*points, strict=True))
            out.append(
                FaithfulnessGain(
                    method=method,
                    baseline=baseline,
                    cells=len(points),
                    comprehensiveness=sum(comp) / len(comp),
                    sufficiency=sum(suff) / len(suff),
                    gain=sum(gains) / len(gains),
                    comprehensiveness_vs_gain=spearman(comp, gains),
                    sufficiency_vs_gain=spearman(suff, gains),
                )
            )
            break
    return out


def faithfulness_markdown(rows: Sequence[FaithfulnessGain]) -> list[str]:
    """A table of the rows and a sentence on what they mean (no lines when there are none)."""
    if not rows:
        return []
    header = [
        "method",
        "cells",
        "comp AOPC",
        "suff AOPC",
        "gain",
        "ρ(comp, gain)",
        "ρ(suff, gain)",
    ]
    lines = ["### Faithfulness and gain", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [
            row.method,
            str(row.cells),
            f"{row.comprehensiveness:.3f}",
            f"{row.sufficiency:.3f}",
            f"{row.gain:+.3f} vs {row.baseline}",
            row.comprehensiveness_vs_gain.text(),
            row.sufficiency_vs_gain.text(),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Comprehensiveness and sufficiency are ERASER's AOPC over k = 1..K keywords, measured on "
        "the model that reads the rationales (higher comprehensiveness and lower sufficiency are "
        "more faithful; random keywords are the floor), averaged over each run's shots, then over "
        "cells (one seed of one model, dataset, strategy and shots). The gain is the accuracy "
        "minus the baseline's in the same cell; ρ is Spearman's rank correlation over cells "
        f"(none under {MIN_CELLS} cells).",
        "",
    ]
    return lines
