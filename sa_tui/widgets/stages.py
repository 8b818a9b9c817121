"""Live progress of a build: one line per stage with a bar, done/total and the latest detail."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from textual.content import Content
from textual.widget import Widget

MIN_BAR = 4
STAGE_LABELS = {
    "dataset": "dataset",
    "model": "model",
    "select": "select shots",
}


def stage_label(stage: str) -> str:
    if stage in STAGE_LABELS:
        return STAGE_LABELS[stage]
    head, _, method = stage.partition(":")
    return f"{head} {method}".strip() if method else stage


@dataclass
class StageState:
    done: int = 0
    total: int = 0
    detail: str = ""
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.done >= self.total


def bar(done: int, total: int, width: int) -> tuple[str, str]:
    """(filled, empty) parts of a text progress bar, with eighth-block resolution."""
    width = max(1, width)
    if total <= 0:
        return "", "─" * width
    fraction = max(0.0, min(1.0, done / total))
    eighths = int(round(fraction * width * 8))
    full, part = divmod(eighths, 8)
    filled = "█" * full + ("" if part == 0 or full >= width else " ▏▎▍▌▋▊▉"[part])
    return filled, "─" * (width - len(filled))


class StageProgress(Widget):
    """Stages in the order they were first reported."""

    DEFAULT_CSS = """
    StageProgress {
        height: auto;
        min-height: 1;
        padding: 0 1;
    }
    """

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.stages: dict[str, StageState] = {}
        self.status = ""
        self.summary = ""  # when set, one line instead of the stage lines (a finished build)

    def clear(self, status: str = "") -> None:
        self.stages = {}
        self.status = status
        self.refresh(layout=True)

    def set_status(self, status: str) -> None:
        self.status = status
        self.refresh(layout=True)

    def update_stage(self, stage: str, done: int, total: int, detail: str = "") -> None:
        state = self.stages.get(stage)
        if state is None:
            state = self.stages[stage] = StageState()
        state.done, state.total = int(done), int(total)
        if detail:
            state.detail = detail
        if state.complete and state.finished is None:
            state.finished = time.monotonic()
        self.refresh(layout=True)

    def render(self) -> Content:
        if self.summary and self.stages and all(st.complete for st in self.stages.values()):
            return Content.assemble(("✓ ", "bold $stage-done"), (self.summary, "dim"))
        width = max(24, self.size.width)
        count_width = max((len(f"{st.done}/{st.total}") for st in self.stages.values()), default=3)
        natural = max((len(stage_label(s)) for s in self.stages), default=8)
        # the label is what says which stage it is: the bar gives way first (down to 4 cells)
        label_width = max(8, min(24, natural, width - 2 - 1 - count_width - 2 - MIN_BAR))
        bar_width = max(MIN_BAR, min(30, width - 2 - label_width - 1 - count_width - 2))
        lines: list[Content] = []
        for stage, state in self.stages.items():
            filled, empty = bar(state.done, state.total, bar_width)
            mark, mark_style = (
                ("✓", "bold $stage-done") if state.complete else ("▸", "bold $stage-active")
            )
            count = f"{state.done}/{state.total}".rjust(count_width)
            used = 2 + label_width + 1 + bar_width + 1 + count_width + 1
            room = width - used
            detail = state.detail[:room] if room > 3 else ""
            label = stage_label(stage)
            if len(label) > label_width:
                label = label[: label_width - 1] + "…"
            lines.append(
                Content.assemble(
                    (mark + " ", mark_style),
                    (
                        label.ljust(label_width) + " ",
                        "" if state.complete else "bold",
                    ),
                    (filled, "$stage-done" if state.complete else "$stage-active"),
                    (empty, "dim"),
                    " " + count,
                    (" " + detail if detail else "", "dim"),
                )
            )
        if self.status:
            lines.append(Content.styled(self.status, "italic $text-muted"))
        return Content("\n").join(lines)
