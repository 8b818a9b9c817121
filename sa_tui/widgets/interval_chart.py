"""A horizontal interval chart in plain characters: one row per method, its 95% interval drawn
as whiskers and its mean as a dot, on a scale shared by every row, e.g.::

    io         ├───●────┤            ┊     0.347
    ph_cot     ┊     ├────●───┤            0.512 ▲
               0.30      0.40      0.50

A dotted line (``┊``) marks the reference value (the baseline's mean) in every row. Colour is a
convenience only: what it says is also written as the row's marker (▲ ▼).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from textual.content import Content
from textual.widget import Widget

TICK_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5)
MIN_TICK_GAP = 9  # columns between two tick labels
LABEL_WIDTH = 10


@dataclass(frozen=True)
class IntervalBar:
    label: str
    mean: float
    low: float
    high: float
    value_text: str = ""  # written after the bar, e.g. "0.347"
    marker: str = ""  # written after the value, e.g. "▲"; says what the style says
    style: str = ""  # a Content style for the whiskers and the dot, e.g. "$success"


@dataclass(frozen=True)
class Scale:
    low: float
    high: float
    step: float
    width: int  # columns of the track

    def column(self, value: float) -> int:
        span = self.high - self.low
        fraction = (value - self.low) / span if span > 0 else 0.0
        return max(0, min(self.width - 1, round(fraction * (self.width - 1))))

    def ticks(self) -> list[float]:
        count = round((self.high - self.low) / self.step)
        return [self.low + index * self.step for index in range(count + 1)]


def nice_scale(values: list[float], width: int) -> Scale:
    """A scale from a round number below the smallest value to one above the largest, with
    steps that leave room for the tick labels."""
    low, high = min(values), max(values)
    most_ticks = max(2, width // MIN_TICK_GAP)
    step = TICK_STEPS[-1]
    for candidate in TICK_STEPS:
        if (math.ceil(high / candidate) - math.floor(low / candidate)) <= most_ticks:
            step = candidate
            break
    start = max(0.0, round(math.floor(round(low / step, 9)) * step, 9))
    end = round(math.ceil(round(high / step, 9)) * step, 9)
    if high <= 1.0:
        end = min(1.0, end)
    if end <= start:
        start, end = (start - step, start) if start >= step else (start, start + step)
    return Scale(start, end, step, width)


def tick_text(value: float, step: float) -> str:
    decimals = 2 if round(step * 10, 9) != round(step * 10) else 1
    return f"{value:.{decimals}f}"


def _track(bar: IntervalBar, scale: Scale, reference: float | None) -> Content:
    cells = [" "] * scale.width
    if reference is not None:
        cells[scale.column(reference)] = "┊"
    first, last = sorted((scale.column(bar.low), scale.column(bar.high)))
    for index in range(first, last + 1):
        cells[index] = "─"
    if last > first:
        cells[first], cells[last] = "├", "┤"
    cells[scale.column(bar.mean)] = "●"
    before, inside = "".join(cells[:first]), "".join(cells[first : last + 1])
    after = "".join(cells[last + 1 :])
    return Content.assemble(
        (before, "$text-muted"), (inside, bar.style or "$primary"), (after, "$text-muted")
    )


def _axis(scale: Scale, indent: int) -> Content:
    line = [" "] * scale.width
    taken_until = -1
    for value in scale.ticks():
        text = tick_text(value, scale.step)
        start = max(0, min(scale.width - len(text), scale.column(value) - len(text) // 2))
        if start <= taken_until:
            continue
        line[start : start + len(text)] = list(text)
        taken_until = start + len(text)
    return Content.styled(" " * indent + "".join(line).rstrip(), "$text-muted")


def chart_lines(
    bars: list[IntervalBar], width: int, reference: float | None = None
) -> list[Content]:
    """The rows of the chart (one per bar) and the axis line, ``width`` columns wide."""
    if not bars:
        return []
    label_width = min(LABEL_WIDTH, max(len(bar.label) for bar in bars))
    tail_width = max(
        len(bar.value_text) + (len(bar.marker) + 1 if bar.marker else 0) for bar in bars
    )
    track = max(10, width - label_width - tail_width - 2)
    values = [v for bar in bars for v in (bar.low, bar.high, bar.mean)]
    scale = nice_scale(values + ([reference] if reference is not None else []), track)
    lines = []
    for bar in bars:
        label = bar.label[:label_width].ljust(label_width)
        tail = bar.value_text + (f" {bar.marker}" if bar.marker else "")
        lines.append(
            Content.assemble(
                (label, "bold" if bar.marker else ""),
                " ",
                _track(bar, scale, reference),
                " ",
                (tail, bar.style if bar.marker else ""),
            )
        )
    lines.append(_axis(scale, label_width + 1))
    return lines


class IntervalChart(Widget):
    """The chart of :func:`chart_lines`, redrawn at the widget's width, with a legend line."""

    DEFAULT_CSS = """
    IntervalChart {
        height: auto;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.bars: list[IntervalBar] = []
        self.reference: float | None = None
        self.legend = ""

    def show(
        self, bars: list[IntervalBar], *, reference: float | None = None, legend: str = ""
    ) -> None:
        self.bars, self.reference, self.legend = list(bars), reference, legend
        self.refresh(layout=True)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return len(self.bars) + 1 + (1 if self.legend else 0) if self.bars else 0

    def render(self) -> Content:
        lines = chart_lines(self.bars, self.content_region.width or self.size.width, self.reference)
        if self.legend and lines:
            lines.append(Content.styled(self.legend, "$text-muted"))
        return Content("\n").join(lines)
