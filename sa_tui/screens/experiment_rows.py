"""What the Experiments screen writes in its tables, chart and header lines: plain functions of
the data source's views, fitted to a width (80 columns must stay readable)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sa_tui.data import CellView, ComparisonView, ExperimentView, ReportRowView, ReportView
from sa_tui.widgets.interval_chart import IntervalBar

# A symbol with every state, so that no state is told by colour alone.
STATE_MARKS = {
    "pending": "○",
    "queued": "○",
    "running": "▶",
    "done": "✓",
    "failed": "✗",
    "cancelled": "■",
    "interrupted": "!",
}
STATE_COLOURS = {  # theme variables
    "running": "accent",
    "done": "success",
    "failed": "error",
    "cancelled": "warning",
    "interrupted": "warning",
    "pending": "text-muted",
}
BETTER, WORSE = "▲", "▼"
EXPERIMENT_COLUMNS = ("id", "status", "cells", "models", "datasets", "seeds", "updated")
REPORT_HEADER = ("method", "acc", "95% CI", "W/T/L", "unp", "s/seed")
CELL_AXES = ("model", "dataset", "strategy", "n")
Group = tuple[str, str, str, int]


def short_ref(ref: str) -> str:
    """``builtin:smollm2-135m`` -> ``smollm2-135m``; ``/models/org/name/`` -> ``name``."""
    return ref.split(":", 1)[-1].rstrip("/").split("/")[-1]


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` columns, with an ellipsis when something was cut."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def fit_parts(parts: Sequence[str], width: int, gap: str = "  ") -> str:
    """The parts that fit in ``width``, in order; a part that does not fit is left out whole,
    except the first, which is cut."""
    present = [part for part in parts if part]
    if not present or len(present[0]) >= width:
        return fit(present[0] if present else "", width)
    kept = present[:1]
    for part in present[1:]:
        if len(gap.join([*kept, part])) <= width:
            kept.append(part)
    return gap.join(kept)


def state_text(state: str) -> str:
    return f"{STATE_MARKS.get(state, '?')} {state}"


def compact_numbers(values: Sequence[int]) -> str:
    """``0,1,2,3`` -> ``0-3``; anything else stays a comma list."""
    ordered = sorted(values)
    if len(ordered) >= 3 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ",".join(str(v) for v in ordered)


def names(refs: Sequence[str]) -> str:
    return ",".join(short_ref(ref) for ref in refs)


def when(stamp: str) -> str:
    """``2025-01-05T12:00:31`` -> ``01-05 12:00``."""
    return stamp[5:16].replace("T", " ")


def decimal(value: float, places: int = 3) -> str:
    """A figure in [-1, 1] without its leading zero: ``.347``, ``-.052``."""
    text = f"{value:.{places}f}"
    return text.replace("0.", ".", 1) if text.lstrip("-").startswith("0.") else text


def signed(value: float) -> str:
    return ("+" if value >= 0 else "") + decimal(value)


def p_text(p: float) -> str:
    return "<.001" if p < 0.001 else decimal(p)


# ------------------------------------------------------------------------------ experiments
def experiment_row(
    experiment: ExperimentView, models_width: int, datasets_width: int
) -> tuple[str, ...]:
    """A row of the experiments table, models and datasets cut to the given widths."""
    return (
        experiment.id,
        state_text(experiment.status),
        f"{experiment.cells_done}/{experiment.cells}",
        fit(names(experiment.models), models_width),
        fit(names(experiment.datasets), datasets_width),
        compact_numbers(experiment.seeds),
        when(experiment.updated),
    )


def flexible_widths(experiments: Sequence[ExperimentView], width: int) -> tuple[int, int]:
    """The columns left for models and for datasets once the fixed columns are drawn: each gets
    what it needs when both fit, else the shorter keeps its need and the longer the rest."""
    rows = [experiment_row(e, 0, 0) for e in experiments]
    fixed = sum(
        max([len(name)] + [len(row[index]) for row in rows])
        for index, name in enumerate(EXPERIMENT_COLUMNS)
        if name not in ("models", "datasets")
    )
    spare = max(16, width - fixed - 2 * len(EXPERIMENT_COLUMNS) - 2)  # cell padding, scrollbar
    need_models = max([6] + [len(names(e.models)) for e in experiments])
    need_datasets = max([8] + [len(names(e.datasets)) for e in experiments])
    if need_models + need_datasets <= spare:
        return need_models, need_datasets
    half = spare // 2
    if need_models <= half:
        return need_models, spare - need_models
    if need_datasets <= half:
        return spare - need_datasets, need_datasets
    return half, spare - half


def experiment_heading(experiment: ExperimentView, width: int) -> str:
    parts = [
        experiment.id,
        state_text(experiment.status),
        f"{experiment.cells_done}/{experiment.cells} cells",
        f"updated {when(experiment.updated)}",
    ]
    head = "  ".join(parts)
    if experiment.methods and len(head) + 12 <= width:
        head += "  " + fit(f"methods {','.join(experiment.methods)}", width - len(head) - 2)
    return fit(head, width)


# ------------------------------------------------------------------------------------ cells
def _axis_values(cell: CellView) -> dict[str, str]:
    return {
        "model": short_ref(cell.model),
        "dataset": short_ref(cell.dataset),
        "strategy": cell.strategy,
        "n": str(cell.shots),
    }


def varying_axes(cells: Sequence[CellView]) -> list[str]:
    return [axis for axis in CELL_AXES if len({_axis_values(c)[axis] for c in cells}) > 1]


def shared_axes(cells: Sequence[CellView], shown: Sequence[str]) -> str:
    """The values every cell shares on the axes without a column, e.g. ``model smollm2-135m``."""
    if not cells:
        return ""
    first = _axis_values(cells[0])
    return "  ".join(f"{axis} {first[axis]}" for axis in CELL_AXES if axis not in shown)


def accuracy_text(accuracies: dict[str, float], width: int) -> str:
    """Every method's accuracy when it fits in ``width``, else the best one and a count."""
    if not accuracies:
        return ""
    full = "  ".join(f"{method} {decimal(value)}" for method, value in accuracies.items())
    if len(full) <= width:
        return full
    terse = " ".join(f"{method} {decimal(value, 2)}" for method, value in accuracies.items())
    if len(terse) <= width:
        return terse
    method, value = max(accuracies.items(), key=lambda item: item[1])
    more = f" +{len(accuracies) - 1}" if len(accuracies) > 1 else ""
    return fit(f"best {method} {decimal(value)}{more}", width)


def cell_detail(cell: CellView) -> str:
    """The cell under the cursor in full: seed, state, run id and every method's accuracy."""
    run = f"run {cell.run_id} (enter opens it)" if cell.run_id else "no run yet"
    head = f"seed {cell.seed}  {state_text(cell.state)}  {run}"
    if not cell.accuracies:
        return head
    figures = "  ".join(f"{m} {decimal(v)}" for m, v in cell.accuracies.items())
    return f"{head}\n{figures}"


class CellLayout(NamedTuple):
    """Which axes get a column, and the accuracies as one column per method (``methods``) or,
    when those do not fit, as one text column ``accuracy_width`` wide."""

    axes: list[str]
    methods: list[str]
    accuracy_width: int

    def header(self) -> tuple[str, ...]:
        tail = tuple(self.methods) if self.methods else ("accuracy",)
        return (*self.axes, "seed", "state", "run", *tail)

    def row(self, cell: CellView) -> tuple[str, ...]:
        values = _axis_values(cell)
        if self.methods:
            tail = tuple(
                decimal(cell.accuracies[m]) if m in cell.accuracies else "" for m in self.methods
            )
        else:
            tail = (accuracy_text(cell.accuracies, self.accuracy_width),)
        return (
            *(values[axis] for axis in self.axes),
            str(cell.seed),
            state_text(cell.state),
            cell.run_id[:8] or "—",
            *tail,
        )

    @property
    def state_column(self) -> int:
        return len(self.axes) + 1


def _columns_width(cells: Sequence[CellView], layout: CellLayout) -> int:
    rows = [layout.row(c) for c in cells]
    header = layout.header()
    return sum(
        max([len(name)] + [len(row[index]) for row in rows]) + 2  # cell padding
        for index, name in enumerate(header)
    )


def cell_layout(cells: Sequence[CellView], width: int) -> CellLayout:
    """The first layout that fits ``width``: every axis and a column per method; the axes that
    vary and a column per method; the axes that vary and the accuracies as text."""
    methods = list(dict.fromkeys(m for cell in cells for m in cell.accuracies))
    room = width - 2  # the vertical scrollbar
    varying = varying_axes(cells)
    for axes in (list(CELL_AXES), varying):
        layout = CellLayout(axes, methods, 0)
        if methods and _columns_width(cells, layout) <= room:
            return layout
    # With a width of 0 the accuracy column holds only its header (and its padding).
    others = _columns_width(cells, CellLayout(varying, [], 0)) - len("accuracy") - 2
    return CellLayout(varying, [], max(16, room - others - 2))


# ----------------------------------------------------------------------------------- report
class GroupRows(NamedTuple):
    group: Group
    rows: list[ReportRowView]


def report_groups(report: ReportView) -> list[GroupRows]:
    found: dict[Group, list[ReportRowView]] = {}
    for row in report.rows:
        found.setdefault(row.group, []).append(row)
    return [GroupRows(group, rows) for group, rows in found.items()]


def group_title(group: Group) -> str:
    model, dataset, strategy, shots = group
    return f"{short_ref(model)} · {short_ref(dataset)} · {strategy} · {shots}-shot"


def baseline_label(baseline: str) -> str:
    return "0-shot" if baseline == "zero_shot" else baseline


def report_header(baselines: Sequence[str]) -> tuple[str, ...]:
    """The report table's columns; W/T/L counts seeds against the first baseline."""
    deltas = tuple(f"Δ {baseline_label(b)}  p" for b in baselines)
    return (*REPORT_HEADER[:3], *deltas, *REPORT_HEADER[3:])


def delta_text(comparison: ComparisonView | None) -> str:
    """``+.052 .012*``: the mean difference, its Holm-adjusted p, * when significant."""
    if comparison is None:
        return "—"
    mark = "*" if comparison.significant else " "
    return f"{signed(comparison.mean_difference)} {p_text(comparison.p_holm)}{mark}"


def seconds_text(seconds: float) -> str:
    if seconds >= 600:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:.0f}" if seconds >= 10 else f"{seconds:.1f}"


def report_row(row: ReportRowView, baselines: Sequence[str]) -> tuple[str, ...]:
    first = row.comparisons.get(baselines[0]) if baselines else None
    return (
        row.method,
        f"{row.accuracy:.3f}",
        f"[{decimal(row.ci_low, 2)},{decimal(row.ci_high, 2)}]",
        *(delta_text(row.comparisons.get(b)) for b in baselines),
        "—" if first is None else f"{first.wins}/{first.ties}/{first.losses}",
        str(row.unparsed_total),
        seconds_text(row.seconds_per_seed),
    )


def report_tones(row: ReportRowView, baselines: Sequence[str]) -> list[str]:
    """For each column of :func:`report_row`: the state whose colour it takes ("done" for a
    significant gain, "failed" for a significant loss, else "")."""
    deltas = [row.comparisons.get(baseline) for baseline in baselines]
    tones = [
        ("done" if c.mean_difference > 0 else "failed") if c is not None and c.significant else ""
        for c in deltas
    ]
    return ["", "", "", *tones, "", "", ""]


def direction(row: ReportRowView, baseline: str | None) -> str:
    """▲ or ▼ when the method differs significantly from ``baseline``, else nothing."""
    comparison = row.comparisons.get(baseline) if baseline else None
    if comparison is None or not comparison.significant:
        return ""
    return BETTER if comparison.mean_difference > 0 else WORSE


def reference_baseline(rows: Sequence[ReportRowView], baselines: Sequence[str]) -> str | None:
    """The first baseline run in this group: the chart's reference line."""
    methods = {row.method for row in rows}
    return next((b for b in baselines if b in methods), None)


def chart_bars(rows: Sequence[ReportRowView], baselines: Sequence[str]) -> list[IntervalBar]:
    reference = reference_baseline(rows, baselines)
    bars = []
    for row in rows:
        mark = direction(row, reference)
        style = {BETTER: "$success", WORSE: "$error"}.get(mark, "")
        if not style:
            style = "$text-muted" if row.method in baselines else "$primary"
        bars.append(
            IntervalBar(
                row.method,
                row.accuracy,
                row.ci_low,
                row.ci_high,
                f"{row.accuracy:.3f}",
                mark,
                style,
            )
        )
    return bars


def chart_legend(reference: str | None, alpha: float) -> str:
    base = "● mean  ├─┤ 95% CI"
    if reference is None:
        return base
    return f"{base}  ┊ {reference}  {BETTER}{WORSE} differs from {reference} (Holm p<{alpha:g})"


def report_summary(report: ReportView, group_index: int, groups: int, width: int) -> str:
    """The line above a group's table: which group, over what, and what * means."""
    rows = report_groups(report)[group_index].rows
    first = rows[0]
    parts = [
        group_title(first.group),
        f"{first.seeds} seed{'s' if first.seeds != 1 else ''} × {first.items} items",
        f"*: p(Holm)<{report.alpha:g}",
    ]
    if report.cells_finished < report.cells_total:
        parts.insert(1, f"{report.cells_finished} of {report.cells_total} cells finished")
    if groups > 1:
        parts.insert(0, f"group {group_index + 1}/{groups} (g: next)")
    return fit_parts(parts, width)


def no_report_text(report: ReportView | None, error: str = "") -> tuple[str, str]:
    """What the Report pane says while it has no table, and its style."""
    if error:
        return f"The report could not be built: {error}", "$error"
    if report is None:
        return "Computing the report…", "$text-muted"
    return (
        f"No finished cells yet ({report.cells_finished} of {report.cells_total}): the report "
        "appears as soon as a cell's run is done. r refreshes.",
        "",
    )


def list_status(experiments: Sequence[ExperimentView]) -> str:
    if not experiments:
        return (
            "No experiments yet. Run a grid with: sa-tui experiment --model M --dataset D "
            "--seeds 0,1,2   (r refreshes)"
        )
    noun = "experiment" if len(experiments) == 1 else "experiments"
    return f"{len(experiments)} {noun}, newest first.  enter: open a grid"
