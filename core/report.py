"""The grid report: accuracy per method with intervals, and paired comparisons with baselines.

Built from plain data (one :class:`CellResult` per run and method), so it reads no store. A row is
one (model, dataset, strategy, shots, method) over its seeds; the comparisons of a row are with
the baselines run in the same (model, dataset, strategy, shots) group, on the items and seeds both
have. Statistics come from :mod:`core.grid_stats`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TypeVar

import numpy as np

from core.faithfulness_report import FaithfulnessGain, faithfulness_gains, faithfulness_markdown
from core.grid_stats import (
    SIGN_FLIP_TEST,
    bootstrap_mean_ci,
    holm,
    paired_difference,
    wins_ties_losses,
)

CORRECTION = "Holm step-down over every method-vs-baseline comparison in the report"
GroupKey = tuple[str, str, str, int]  # model, dataset, strategy, shots
Number = TypeVar("Number", int, float)


@dataclass(frozen=True)
class CellResult:
    """One method's outcomes in one run (one seed of one grid cell)."""

    model: str
    dataset: str
    strategy: str
    shots: int
    seed: int
    method: str
    item_ids: list[str]
    correct: list[bool]
    parse_failures: int
    seconds: float
    generated_tokens: int | None
    forward_passes: int | None
    dev_accuracy: float | None = None
    comprehensiveness: float | None = None  # keyword methods: mean AOPC over the run's shots
    sufficiency: float | None = None


@dataclass(frozen=True)
class Comparison:
    baseline: str
    seeds: int
    items: int
    mean_difference: float
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float
    significant: bool
    wins: int
    ties: int
    losses: int


@dataclass(frozen=True)
class ReportRow:
    model: str
    dataset: str
    strategy: str
    shots: int
    method: str
    seeds: list[int]
    items: int
    accuracy: float
    ci_low: float
    ci_high: float
    seed_accuracies: list[float]
    unparsed_total: int
    unparsed_per_seed: float
    seconds_per_seed: float
    generated_tokens: int | None
    forward_passes: int | None
    dev_accuracy: float | None
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    comprehensiveness: float | None = None  # mean over the seeds that measured it
    sufficiency: float | None = None

    @property
    def group(self) -> GroupKey:
        return (self.model, self.dataset, self.strategy, self.shots)


@dataclass(frozen=True)
class Report:
    rows: list[ReportRow]
    baselines: list[str]
    alpha: float
    resamples: int
    comparison_count: int
    test: str = SIGN_FLIP_TEST
    correction: str = CORRECTION
    notes: list[str] = field(default_factory=list)
    faithfulness: list[FaithfulnessGain] = field(default_factory=list)


def _check_cells(cells: Sequence[CellResult]) -> dict[GroupKey, dict[str, dict[int, CellResult]]]:
    """Cells by group, method and seed; a ValueError names the first inconsistent cell."""
    grouped: dict[GroupKey, dict[str, dict[int, CellResult]]] = {}
    for cell in cells:
        group = (cell.model, cell.dataset, cell.strategy, cell.shots)
        where = f"{_name(group)}/seed {cell.seed}/{cell.method}"
        if len(cell.item_ids) != len(cell.correct):
            raise ValueError(f"cell {where} has not one outcome per item id.")
        if not cell.item_ids:
            raise ValueError(f"cell {where} has no scored items.")
        if len(set(cell.item_ids)) != len(cell.item_ids):
            raise ValueError(f"cell {where} scores the same item id more than once.")
        by_seed = grouped.setdefault(group, {}).setdefault(cell.method, {})
        if cell.seed in by_seed:
            raise ValueError(f"cell {where} appears more than once in the input.")
        by_seed[cell.seed] = cell
    return grouped


def _name(group: GroupKey) -> str:
    model, dataset, strategy, shots = group
    return f"{model}/{dataset}/{strategy}/{shots}-shot"


def _outcomes(runs: dict[int, CellResult], seeds: list[int], items: list[str]) -> np.ndarray:
    """The ``[seeds, items]`` 0/1 matrix of the given seeds and item ids, in that order."""
    rows = []
    for seed in seeds:
        by_id = dict(zip(runs[seed].item_ids, runs[seed].correct, strict=True))
        rows.append([1.0 if by_id[item] else 0.0 for item in items])
    return np.array(rows, dtype=float)


def _shared_items(runs: Sequence[CellResult]) -> list[str]:
    """Item ids every run scored, in the order of the first run."""
    common = set.intersection(*(set(run.item_ids) for run in runs))
    return [item for item in runs[0].item_ids if item in common]


def _known(values: Sequence[Number | None]) -> list[Number] | None:
    """The values when every one is known, else None (one unknown seed makes the total unknown)."""
    known = [value for value in values if value is not None]
    return known if len(known) == len(values) else None


def _row(
    group: GroupKey, method: str, runs: dict[int, CellResult], resamples: int, seed: int
) -> ReportRow:
    seeds = sorted(runs)
    items = _shared_items([runs[s] for s in seeds])
    if not items:
        raise ValueError(f"method {method} in {_name(group)} has no item shared by all its seeds.")
    matrix = _outcomes(runs, seeds, items)
    low, high = bootstrap_mean_ci(matrix, resamples=resamples, seed=seed)
    tokens = _known([runs[s].generated_tokens for s in seeds])
    passes = _known([runs[s].forward_passes for s in seeds])
    dev = _known([runs[s].dev_accuracy for s in seeds])
    unparsed = sum(runs[s].parse_failures for s in seeds)
    comp = [v for v in (runs[s].comprehensiveness for s in seeds) if v is not None]
    suff = [v for v in (runs[s].sufficiency for s in seeds) if v is not None]
    return ReportRow(
        *group,
        method=method,
        seeds=seeds,
        items=len(items),
        accuracy=float(matrix.mean()),
        ci_low=low,
        ci_high=high,
        seed_accuracies=[float(v) for v in matrix.mean(axis=1)],
        unparsed_total=unparsed,
        unparsed_per_seed=unparsed / len(seeds),
        seconds_per_seed=sum(runs[s].seconds for s in seeds) / len(seeds),
        generated_tokens=None if tokens is None else int(sum(tokens)),
        forward_passes=None if passes is None else int(sum(passes)),
        dev_accuracy=None if dev is None else float(np.mean(dev)),
        comprehensiveness=float(np.mean(comp)) if comp else None,
        sufficiency=float(np.mean(suff)) if suff else None,
    )


def build_report(
    cells: list[CellResult],
    *,
    baselines: Sequence[str] = ("io", "zero_shot"),
    resamples: int = 10000,
    seed: int = 0,
    alpha: float = 0.05,
) -> Report:
    """One row per (model, dataset, strategy, shots, method), compared with each baseline present.

    A row's accuracy is the mean over its seeds on the items all its seeds scored. A comparison
    uses the seeds both methods ran and the items both scored in all of those seeds; its p-value is
    Holm-adjusted over every distinct comparison in the report (baseline A vs baseline B and B vs
    A are one comparison, shown in both rows), and ``significant`` means adjusted p < alpha.
    """
    grouped = _check_cells(cells)
    rows: list[ReportRow] = []
    pending: list[tuple[ReportRow, Comparison, int]] = []  # row, raw comparison, index into p
    raw_p: list[float] = []
    p_index: dict[tuple[GroupKey, frozenset[str]], int] = {}  # a pair of methods counts once
    notes: list[str] = []
    for group in sorted(grouped):
        methods = grouped[group]
        order = [b for b in baselines if b in methods] + [m for m in methods if m not in baselines]
        for method in order:
            row = _row(group, method, methods[method], resamples, seed)
            rows.append(row)
            for baseline in baselines:
                if baseline == method or baseline not in methods:
                    continue
                comparison = _pair(methods[method], methods[baseline], resamples, seed)
                if comparison is None:
                    notes.append(f"{method} vs {baseline} in {_name(group)}: no shared item.")
                    continue
                pair = (group, frozenset((method, baseline)))
                if pair not in p_index:
                    p_index[pair] = len(raw_p)
                    raw_p.append(comparison.p_value)
                pending.append((row, comparison, p_index[pair]))
    adjusted = holm(raw_p)
    for row, comparison, index in pending:
        p_holm = adjusted[index]
        final = replace(comparison, p_holm=p_holm, significant=p_holm < alpha)
        row.comparisons[comparison.baseline] = final
    faithfulness = faithfulness_gains(cells, baselines)
    return Report(
        rows, list(baselines), alpha, resamples, len(raw_p), notes=notes, faithfulness=faithfulness
    )


def _pair(
    runs: dict[int, CellResult], base: dict[int, CellResult], resamples: int, seed: int
) -> Comparison | None:
    """The comparison on the seeds both ran and the items all of those runs scored, not yet
    adjusted (``p_holm`` is the raw p until :func:`build_report` corrects it)."""
    seeds = sorted(set(runs) & set(base))
    items = _shared_items([runs[s] for s in seeds] + [base[s] for s in seeds]) if seeds else []
    if not items:
        return None
    ours, theirs = _outcomes(runs, seeds, items), _outcomes(base, seeds, items)
    result = paired_difference(ours, theirs, resamples=resamples, seed=seed)
    wins, ties, losses = wins_ties_losses(list(ours.mean(axis=1)), list(theirs.mean(axis=1)))
    return Comparison(
        baseline=base[seeds[0]].method, seeds=result.seeds, items=result.items,
        mean_difference=result.mean_difference, ci_low=result.ci_low, ci_high=result.ci_high,
        p_value=result.p_value, p_holm=result.p_value, significant=False,
        wins=wins, ties=ties, losses=losses,
    )  # fmt: skip


# ----------------------------------------------------------------------------------- renderers
def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _delta_cell(comparison: Comparison | None) -> str:
    if comparison is None:
        return "—"
    mark = "*" if comparison.significant else ""
    return (
        f"{comparison.mean_difference:+.3f} [{comparison.ci_low:+.3f}, {comparison.ci_high:+.3f}], "
        f"p={_p(comparison.p_holm)}{mark}"
    )


def _wtl_cell(comparison: Comparison | None) -> str:
    return "—" if comparison is None else f"{comparison.wins}/{comparison.ties}/{comparison.losses}"


def to_markdown(report: Report) -> str:
    """A table per (model, dataset, strategy, shots) group and a paragraph on the statistics."""
    lines: list[str] = []
    header = ["method", "acc [95% CI]"]
    header += [f"Δ vs {b} [95% CI], p (Holm)" for b in report.baselines]
    header += [f"W/T/L vs {b}" for b in report.baselines] + ["unparsed", "sec/seed"]
    groups: dict[GroupKey, list[ReportRow]] = {}
    for row in report.rows:
        groups.setdefault(row.group, []).append(row)
    for (model, dataset, strategy, shots), rows in groups.items():
        lines += [f"### {model} · {dataset} ({strategy}, {shots}-shot)", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in rows:
            cells = [row.method, f"{row.accuracy:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]"]
            cells += [_delta_cell(row.comparisons.get(b)) for b in report.baselines]
            cells += [_wtl_cell(row.comparisons.get(b)) for b in report.baselines]
            cells += [
                f"{row.unparsed_total} ({row.unparsed_per_seed:.1f}/seed)",
                f"{row.seconds_per_seed:.1f}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += faithfulness_markdown(report.faithfulness)
    lines.append(_method_paragraph(report))
    lines += [f"- {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def _method_paragraph(report: Report) -> str:
    return (
        "Accuracy is the mean over seeds on the test items every seed scored; its 95% CI is a "
        f"percentile bootstrap resampling items and seeds independently ({report.resamples} "
        "resamples). Δ is method minus baseline on the seeds and items both ran; its CI is a "
        "bootstrap over items of the per-item difference averaged over seeds, the same unit as "
        f"the test. p comes from a two-sided {report.test}, adjusted by Holm's step-down "
        f"method over all {report.comparison_count} distinct method-vs-baseline comparisons in this report; "
        f"* marks adjusted p < {report.alpha:g}. W/T/L counts the seeds where the method's "
        "accuracy is above, equal to, or below the baseline's."
    )


_ROW_COLUMNS = [
    "model", "dataset", "strategy", "shots", "method", "seeds", "items", "accuracy", "ci_low",
    "ci_high", "seed_accuracies", "unparsed_total", "unparsed_per_seed", "seconds_per_seed",
    "generated_tokens", "forward_passes", "dev_accuracy", "comprehensiveness", "sufficiency",
]  # fmt: skip
_COMPARISON_COLUMNS = [
    "mean_difference", "ci_low", "ci_high", "p_value", "p_holm", "significant", "wins", "ties",
    "losses",
]  # fmt: skip


def to_csv(report: Report) -> str:
    """One line per row: its figures, then for each baseline the comparison (empty when none)."""
    header = _ROW_COLUMNS + [f"{c}_vs_{b}" for b in report.baselines for c in _COMPARISON_COLUMNS]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in report.rows:
        values = asdict(row)
        values["seeds"] = len(row.seeds)
        values["seed_accuracies"] = ";".join(f"{a:.6g}" for a in row.seed_accuracies)
        line = ["" if values[c] is None else values[c] for c in _ROW_COLUMNS]
        for baseline in report.baselines:
            comparison = row.comparisons.get(baseline)
            line += [getattr(comparison, c) if comparison else "" for c in _COMPARISON_COLUMNS]
        writer.writerow(line)
    return buffer.getvalue()


def to_json(report: Report) -> dict[str, object]:
    """Everything in the report as plain JSON values."""
    return asdict(report)
