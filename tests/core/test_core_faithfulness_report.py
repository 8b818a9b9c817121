"""Faithfulness in the grid report: per-row means, the method table next to the gain, Spearman's
correlation over cells (and "n too small" under 3 cells)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from scipy.stats import spearmanr

from core.faithfulness_report import spearman
from core.report import CellResult, build_report, to_csv, to_json, to_markdown

ITEMS = 20


def _cell(method: str, seed: int, right: int, comp: float | None = None, suff: float | None = None):
    return CellResult(
        model="tiny", dataset="alpha", strategy="random", shots=4, seed=seed, method=method,
        item_ids=[f"i{i}" for i in range(ITEMS)], correct=[i < right for i in range(ITEMS)],
        parse_failures=0, seconds=1.0, generated_tokens=0, forward_passes=1,
        comprehensiveness=comp, sufficiency=suff,
    )  # fmt: skip


def _grid(seeds: int) -> list[CellResult]:
    cells = []
    for seed in range(seeds):
        cells.append(_cell("io", seed, 8))
        # gain grows with comprehensiveness, falls with sufficiency
        cells.append(_cell("deeplift", seed, 8 + seed, comp=0.1 * seed, suff=0.5 - 0.1 * seed))
        cells.append(_cell("ph_cot", seed, 9))
    return cells


def test_rows_and_method_table_carry_faithfulness() -> None:
    report = build_report(_grid(4), resamples=200)
    rows = {row.method: row for row in report.rows}
    assert rows["deeplift"].comprehensiveness == pytest.approx(0.15)
    assert rows["deeplift"].sufficiency == pytest.approx(0.35)
    assert rows["io"].comprehensiveness is None and rows["ph_cot"].sufficiency is None
    [gain] = report.faithfulness
    assert (gain.method, gain.baseline, gain.cells) == ("deeplift", "io", 4)
    assert gain.gain == pytest.approx((0 + 1 + 2 + 3) / 4 / ITEMS)
    comp = [0.0, 0.1, 0.2, 0.3]
    gains = [s / ITEMS for s in range(4)]
    expected = spearmanr(comp, gains)
    assert gain.comprehensiveness_vs_gain.rho == pytest.approx(float(expected[0]))
    assert gain.comprehensiveness_vs_gain.p_value == pytest.approx(float(expected[1]))
    assert gain.sufficiency_vs_gain.rho == pytest.approx(-1.0)
    text = to_markdown(report)
    assert "### Faithfulness and gain" in text
    assert "| deeplift | 4 | 0.150 | 0.350 | +0.075 vs io | +1.00 (p=" in text
    assert "n=4" in text
    table = {r["method"]: r for r in csv.DictReader(io.StringIO(to_csv(report)))}
    assert float(table["deeplift"]["comprehensiveness"]) == pytest.approx(0.15)
    assert table["io"]["sufficiency"] == ""
    document = to_json(report)
    assert json.loads(json.dumps(document)) == document
    assert document["faithfulness"][0]["method"] == "deeplift"  # type: ignore[index]


def test_fewer_than_three_cells_say_n_too_small() -> None:
    report = build_report(_grid(2), resamples=200)
    [gain] = report.faithfulness
    assert gain.comprehensiveness_vs_gain.rho is None
    assert "n too small" in to_markdown(report)
    assert spearman([1.0, 1.0, 1.0], [0.0, 1.0, 2.0]).note == "constant"


def test_a_report_without_faithfulness_has_no_such_section() -> None:
    cells = [c for c in _grid(3) if c.method != "deeplift"]
    report = build_report(cells, resamples=200)
    assert report.faithfulness == []
    assert "Faithfulness" not in to_markdown(report)
