"""One run: its configuration and scores, shots (heatmaps + rationales), contexts, predictions."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from rich.table import Table
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from sa_tui.data import RunDetail, wrap_ref
from sa_tui.widgets.influence import influence_lines
from sa_tui.widgets.navbar import NavBar
from sa_tui.widgets.shot_card import ShotCard

if TYPE_CHECKING:
    from sa_tui.app import SaTuiApp

TABS = ("summary", "shots", "context", "predictions")


class RunDetailScreen(Screen[None]):
    TITLE = "Run"
    BINDINGS = [
        Binding("escape,backspace", "back", "Back"),
        Binding("left_square_bracket", "tab(-1)", "Prev tab", key_display="["),
        Binding("right_square_bracket", "tab(1)", "Next tab", key_display="]"),
        Binding("y", "copy", "Copy context"),
        Binding("m", "next_method", "Next method"),
    ]

    HELP_KEYS = [
        ("tab", "focus the tabs or a heatmap"),
        ("← →", "in a heatmap: move the word cursor"),
    ]

    app: SaTuiApp

    def __init__(self, run_id: str, back_to: str | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.back_to = back_to  # the mode escape returns to (None: stay on Runs)
        self.detail: RunDetail | None = None
        self.method_index = 0

    def compose(self) -> ComposeResult:
        yield NavBar()
        with TabbedContent(id="run-tabs"):
            with TabPane("Summary", id="summary"):
                with VerticalScroll():
                    yield Static("Loading…", id="run-summary")
            with TabPane("Shots", id="shots"):
                yield VerticalScroll(id="run-shots")
            with TabPane("Context", id="context"):
                with VerticalScroll():
                    yield Static("", id="run-context")
            with TabPane("Predictions", id="predictions"):
                yield DataTable(id="run-predictions", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"run {self.run_id[:8]}"
        self.query_one("#run-predictions", DataTable).add_columns(
            "method", "item", "gold", "pred", "ok", "output"
        )
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        try:
            detail = self.app.data.run_detail(self.run_id)
        except Exception as error:
            self.app.call_from_thread(
                self.app.show_error,
                f"run {self.run_id} could not be read ({error})",
                "Go back (escape) and press r to reload the list.",
            )
            return
        self.app.call_from_thread(self.show, detail)

    def show(self, detail: RunDetail) -> None:
        self.detail = detail
        run = detail.run
        self.title = f"Run {run.id[:8]}"
        table = Table(show_header=True, expand=False)
        for column in ("method", "accuracy", "95% CI", "n", "unparsed"):
            table.add_column(column, justify="left" if column == "method" else "right")
        for method in detail.methods:
            prompt = method.prompt
            ci = (
                f"[{prompt.ci95[0]:.2f}, {prompt.ci95[1]:.2f}]"
                if prompt.ci95 and None not in prompt.ci95
                else ""
            )
            table.add_row(
                prompt.method,
                "" if prompt.accuracy is None else f"{prompt.accuracy:.3f}",
                ci,
                str(prompt.n or ""),
                str(method.parse_failures),
            )
        # the prompt versions' names on lines of their own: a table column would cut them
        width = max(20, self.size.width - 2)
        saved: list[Content] = [Content.styled("prompt versions", "dim")]
        name_width = max((len(m.prompt.method) for m in detail.methods), default=0) + 1
        for method in detail.methods:
            lines = wrap_ref(method.prompt.ref, width - name_width - 2, indent="")
            saved.append(
                Content.assemble(
                    ("  " + method.prompt.method.ljust(name_width), "bold"), (lines[0], "$accent")
                )
            )
            saved += [
                Content.styled(" " * (name_width + 2) + line, "$accent") for line in lines[1:]
            ]
        config = ", ".join(
            f"{k}={v}"
            for k, v in run.config.items()
            if k not in ("model", "dataset", "methods", "extras") and v is not None
        )
        head = Content.assemble(
            ("status ", "dim"),
            (run.status, "bold"),
            ("   model ", "dim"),
            run.model,
            ("   dataset ", "dim"),
            run.dataset,
            "\n",
            ("methods ", "dim"),
            run.methods,
            ("   started ", "dim"),
            run.created[:19].replace("T", " "),
            ("   device ", "dim"),
            detail.device or "?",
            "\n",
            ("config ", "dim"),
            config,
            "\n",
            ("versions ", "dim"),
            ", ".join(f"{k} {v}" for k, v in detail.versions.items()),
            *((("\n", ""), ("error ", "bold $error"), run.error) if run.error else ()),
        )
        summary = self.query_one("#run-summary", Static)
        summary.update(head)
        if detail.methods:
            summary.parent.mount(Static(table, id="run-scores"))  # type: ignore[union-attr]
            summary.parent.mount(  # type: ignore[union-attr]
                Static(Content("\n").join(saved), id="run-versions")
            )
        measured = [influence_lines(m.prompt.method, m.influence) for m in detail.methods]
        if any(m.influence for m in detail.methods):  # --influence: which shot helps, on dev
            summary.parent.mount(  # type: ignore[union-attr]
                Static(Content("\n").join(c for c in measured if c.plain), id="run-influence")
            )
        shots = self.query_one("#run-shots", VerticalScroll)
        shots.remove_children()
        if not detail.shots:
            shots.mount(Static(Content.styled("No shots were explained in this run.", "dim")))
        # a DeepLift preview is drawn once per shot, and not where the shot has its own heatmap
        drawn = {shot.sample_id for shot in detail.shots if shot.words and not shot.heatmap_method}
        for index, shot in enumerate(detail.shots):
            if shot.heatmap_method and shot.words:
                if shot.sample_id in drawn:
                    shot = replace(shot, words=[], scores=[], top=[], heatmap_method="")
                drawn.add(shot.sample_id)
            card = ShotCard(
                shot.sample_id,
                shot.method,
                id=f"run-shot-{index}",
                heatmap_method=shot.heatmap_method,
            )
            shots.mount(card)
            card.set_tokens(shot.words, shot.scores, shot.top)
            card.set_text(shot.rationale, True)
            card.set_influence(shot.influence)
            card.set_faithfulness(shot.faithfulness)
        self.show_method()
        predictions = self.query_one("#run-predictions", DataTable)
        predictions.clear()
        for method in detail.methods:
            for item in method.predictions:
                predictions.add_row(
                    method.prompt.method,
                    item.id,
                    item.gold,
                    item.pred or "—",
                    "✓" if item.correct else "✗",
                    " ".join(item.output.split())[:60],
                )

    def show_method(self) -> None:
        detail = self.detail
        widget = self.query_one("#run-context", Static)
        if detail is None or not detail.methods:
            widget.update(Content.styled("No context was stored for this run.", "dim"))
            return
        method = detail.methods[self.method_index % len(detail.methods)]
        header = Content.assemble(
            (method.prompt.ref, "bold $accent"), ("   m: next method   y: copy", "dim"), "\n\n"
        )
        widget.update(header + Content(method.context))

    def action_next_method(self) -> None:
        self.method_index += 1
        self.show_method()

    def action_back(self) -> None:
        self.app.pop_screen()
        if self.back_to is not None:
            self.app.switch_mode(self.back_to)

    def action_tab(self, step: int) -> None:
        tabs = self.query_one("#run-tabs", TabbedContent)
        index = TABS.index(tabs.active) if tabs.active in TABS else 0
        tabs.active = TABS[(index + step) % len(TABS)]

    def action_copy(self) -> None:
        if self.detail is None or not self.detail.methods:
            return
        method = self.detail.methods[self.method_index % len(self.detail.methods)]
        self.app.copy_to_clipboard(method.context)
        self.notify(f"Copied the context of {method.prompt.ref} (OSC 52)")
