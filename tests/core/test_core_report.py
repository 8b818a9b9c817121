"""core.report on synthetic grids whose figures can be worked out by hand."""

from __future__ import annotations

import csv
import io
import json

import pytest

from core.report import CellResult, Report, build_report, to_csv, to_json, to_markdown

ITEMS = 50
SEEDS = (0, 1, 2)


def _cell(
    dataset: str,
    method: str,
    seed: int,
    correct: list[bool],
    *,
    item_ids: list[str] | None = None,
    parse_failures: int = 0,
    generated_tokens: int | None = 100,
) -> CellResult:
    ids = item_ids if item_ids is not None else [f"{dataset}-{i}" for i in range(len(correct))]
    return CellResult(
        model="tiny", dataset=dataset, strategy="random", shots=4, seed=seed, method=method,
        item_ids=ids, correct=correct, parse_failures=parse_failures, seconds=2.0,
        generated_tokens=generated_tokens, forward_passes=10,
    )  # fmt: skip


def _residue(item: int, seed: int) -> int:
    return (item + 7 * seed) % 10


def _grid() -> list[CellResult]:
    """Per seed, io is right when the residue is 0-3 (20 of 50: 0.4), amplify when it is 0-6
    (0.7, and right wherever io is), and copy exactly where io is."""
    cells = []
    for dataset in ("alpha", "beta"):
        for seed in SEEDS:
            io_right = [_residue(i, seed) < 4 for i in range(ITEMS)]
            amplify_right = [_residue(i, seed) < 7 for i in range(ITEMS)]
            cells.append(_cell(dataset, "io", seed, io_right, parse_failures=seed))
            cells.append(_cell(dataset, "amplify", seed, amplify_right))
            cells.append(_cell(dataset, "copy", seed, list(io_right)))
    return cells


@pytest.fixture(scope="module")
def report() -> Report:
    return build_report(_grid(), resamples=2000)


def test_rows_come_per_group_and_method_with_hand_checked_accuracy(report: Report) -> None:
    names = [(row.dataset, row.method) for row in report.rows]
    assert names == [(d, m) for d in ("alpha", "beta") for m in ("io", "amplify", "copy")]
    io_row, amplify_row = report.rows[0], report.rows[1]
    assert io_row.seed_accuracies == pytest.approx([0.4, 0.4, 0.4])
    assert amplify_row.accuracy == pytest.approx(0.7)
    assert (io_row.items, io_row.seeds) == (ITEMS, [0, 1, 2])
    assert io_row.ci_low < 0.4 < io_row.ci_high
    # unparsed 0 + 1 + 2; cost: 2 s per seed, 3 x 100 tokens, 3 x 10 forward passes
    assert (io_row.unparsed_total, io_row.unparsed_per_seed) == (3, 1.0)
    assert (io_row.seconds_per_seed, io_row.generated_tokens, io_row.forward_passes) == (
        2.0,
        300,
        30,
    )
    assert io_row.comparisons == {}  # no baseline other than itself is present


def test_the_better_method_is_significant_and_the_copy_is_not(report: Report) -> None:
    """amplify - io is 1 on residues 4-6 of each seed and 0 elsewhere; per item, averaged over the
    3 seeds, that is 1/3 on the 45 items whose residue under some seed is 4-6 (residues
    {4,5,6}, {7,8,9}, {0,1,2} for seeds 0, 1, 2) and 0 on the 5 with residue 3. All 45 non-zero
    differences are positive: no random sign vector reaches them, so the Monte Carlo p is
    1 / 2001. Holm over 4 comparisons: both amplify p-values become 4 / 2001; the copies stay 1."""
    assert report.comparison_count == 4
    for row in report.rows[1::3]:
        versus_io = row.comparisons["io"]
        assert versus_io.mean_difference == pytest.approx(0.3)
        assert versus_io.p_value == pytest.approx(1 / 2001)
        assert versus_io.p_holm == pytest.approx(4 / 2001)
        assert versus_io.significant
        assert (versus_io.wins, versus_io.ties, versus_io.losses) == (3, 0, 0)
        assert versus_io.ci_low <= 0.3 <= versus_io.ci_high
        assert "zero_shot" not in row.comparisons
    for row in report.rows[2::3]:
        versus_io = row.comparisons["io"]
        assert (versus_io.mean_difference, versus_io.ci_low, versus_io.ci_high) == (0, 0, 0)
        assert (versus_io.p_value, versus_io.p_holm, versus_io.significant) == (1.0, 1.0, False)
        assert (versus_io.wins, versus_io.ties, versus_io.losses) == (0, 3, 0)


def test_markdown_has_the_table_and_the_marker(report: Report) -> None:
    text = to_markdown(report)
    assert "| method | acc [95% CI] | Δ vs io [95% CI], p (Holm) |" in text
    assert "### tiny · alpha (random, 4-shot)" in text
    amplify = next(line for line in text.splitlines() if line.startswith("| amplify |"))
    copy = next(line for line in text.splitlines() if line.startswith("| copy |"))
    assert "0.700 [" in amplify and "+0.300 [" in amplify and "p=0.002*" in amplify
    assert "3/0/0" in amplify
    assert "*" not in copy and "p=1.000" in copy and "0/3/0" in copy
    assert "Holm" in text and "4 distinct method-vs-baseline comparisons" in text


def test_csv_has_one_row_per_method_row(report: Report) -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert len(rows) == len(report.rows) == 6
    amplify = rows[1]
    assert (amplify["dataset"], amplify["method"], amplify["seeds"]) == ("alpha", "amplify", "3")
    assert float(amplify["accuracy"]) == pytest.approx(0.7)
    assert float(amplify["mean_difference_vs_io"]) == pytest.approx(0.3)
    assert amplify["significant_vs_io"] == "True"
    assert amplify["mean_difference_vs_zero_shot"] == ""  # no zero_shot run in the grid
    assert rows[0]["seed_accuracies"] == "0.4;0.4;0.4"


def test_json_round_trips(report: Report) -> None:
    document = to_json(report)
    assert json.loads(json.dumps(document)) == document
    assert document["rows"][1]["comparisons"]["io"]["significant"] is True  # type: ignore[index]


def test_a_pair_of_baselines_is_one_comparison_shown_in_both_rows() -> None:
    cells = []
    for seed in SEEDS:
        cells.append(_cell("alpha", "io", seed, [_residue(i, seed) < 4 for i in range(ITEMS)]))
        cells.append(_cell("alpha", "zero_shot", seed, [_residue(i, seed) < 2 for i in range(ITEMS)]))  # fmt: skip
        cells.append(_cell("alpha", "amplify", seed, [_residue(i, seed) < 7 for i in range(ITEMS)]))  # fmt: skip
    report = build_report(cells, resamples=500)
    assert [row.method for row in report.rows] == ["io", "zero_shot", "amplify"]
    assert report.comparison_count == 3  # amplify-io, amplify-zero_shot, io-zero_shot
    forward = report.rows[0].comparisons["zero_shot"]
    backward = report.rows[1].comparisons["io"]
    assert forward.mean_difference == pytest.approx(0.2)
    assert backward.mean_difference == pytest.approx(-0.2)
    assert forward.p_holm == backward.p_holm
    assert (backward.wins, backward.ties, backward.losses) == (0, 0, 3)


def test_items_are_aligned_by_id_across_methods() -> None:
    """io scored q0..q9 and amplify q2..q11, in another order; they share q2..q9. On those, io is
    right on q2, q3, q4 and amplify on q2..q7: the difference is 3 / 8 = 0.375."""
    io_ids = [f"q{i}" for i in range(10)]
    amplify_ids = [f"q{i}" for i in range(11, 1, -1)]
    io_right = [i <= 4 for i in range(10)]
    amplify_right = [2 <= i <= 7 for i in range(11, 1, -1)]
    cells = [
        _cell("alpha", "io", 0, io_right, item_ids=io_ids, generated_tokens=None),
        _cell("alpha", "amplify", 0, amplify_right, item_ids=amplify_ids),
    ]
    report = build_report(cells, resamples=500)
    io_row, amplify_row = report.rows
    assert (io_row.items, io_row.accuracy, io_row.generated_tokens) == (10, 0.5, None)
    assert (amplify_row.items, amplify_row.accuracy) == (10, 0.6)
    versus_io = amplify_row.comparisons["io"]
    assert (versus_io.items, versus_io.seeds) == (8, 1)
    assert versus_io.mean_difference == pytest.approx(3 / 8)
    # three +1 differences of 8: exact sign-flip p = 2 / 8 (+++ and ---)
    assert versus_io.p_value == pytest.approx(2 / 8)


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ([_cell("a", "io", 0, [True]), _cell("a", "io", 0, [False])], "more than once"),
        ([_cell("a", "io", 0, [True, False], item_ids=["x"])], "one outcome per item id"),
        ([_cell("a", "io", 0, [True, False], item_ids=["x", "x"])], "same item id"),
        ([_cell("a", "io", 0, [], item_ids=[])], "no scored items"),
    ],
)
def test_inconsistent_inputs_are_refused(cells: list[CellResult], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_report(cells, resamples=100)
