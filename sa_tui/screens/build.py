"""Build: pick a model, dataset, strategy, methods and n/k/p; see the cost; start; watch; cancel.

The form itself (its fields, remembered values and validation) is :mod:`sa_tui.screens.build_form`;
what the status line says, :mod:`sa_tui.screens.build_status`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Static

from core.estimate import estimate
from sa_tui.build_state import BuildChange
from sa_tui.data import EstimateContext
from sa_tui.messages import CancelBuild, ClearBuild, PickOnForm, StartBuild, StartFromForm
from sa_tui.screens.build_form import (
    BuildForm,
    form_with_saved,
    influence_answers,
    numbers_missing,
)
from sa_tui.screens.build_status import status_text
from sa_tui.widgets.heatmap import TokenHeatmap
from sa_tui.widgets.navbar import NavBar
from sa_tui.widgets.shot_card import ShotCard
from sa_tui.widgets.stages import StageProgress

if TYPE_CHECKING:
    from sa_tui.app import SaTuiApp

SHORT_HEIGHT = 32  # below this many rows, a finished build's stages fold into one line


def context_key(model: str, config: dict[str, Any] | None) -> tuple[str, str]:
    """What the estimate's context depends on: the model and the exact configuration."""
    return (model, repr(sorted(config.items())) if config else "")


def card_id(key: str) -> str:
    return (
        "card-" + "".join(ch if ch.isalnum() else "_" for ch in key) + f"-{abs(hash(key)) % 100000}"
    )


class BuildScreen(Screen[None]):
    TITLE = "Build"
    BINDINGS = [
        Binding("ctrl+r", "start", "Start build", priority=True),
        Binding("ctrl+x", "cancel", "Cancel build", priority=True),
        Binding("h", "next_heatmap", "Heatmap"),
        Binding("escape", "focus_form", "Back to the form", show=False),
        Binding("ctrl+l", "clear", "Clear results", show=False),
        Binding("f5", "reload", "Reload choices", show=False),
    ]

    HELP_KEYS = [
        ("tab / shift+tab", "next / previous field"),
        ("enter", "open a list (model, dataset, strategy, span); ↑↓ enter picks"),
        ("space", "tick or untick the method under the cursor, or influence"),
        ("← →  home end", "in a focused heatmap: move the word cursor (exact score below)"),
        ("h", "(outside a text field) focus the next heatmap"),
        ("escape", "leave a text field (then 1-4 switch screens again)"),
    ]

    app: SaTuiApp

    def __init__(self) -> None:
        super().__init__()
        # what the estimate cannot count, for the form's model and configuration (read in a thread)
        self.context_for: tuple[str, str] | None = None
        self.context = EstimateContext()

    def compose(self) -> ComposeResult:
        yield NavBar()
        with Horizontal(id="build"):
            yield BuildForm(
                form_with_saved(self.app.settings.build_form), id="build-form", classes="panel"
            )
            with Vertical(id="build-live", classes="panel"):
                yield StageProgress(id="stages")
                yield Static("", id="build-status")
                yield VerticalScroll(id="cards")
        yield Footer()

    @property
    def form(self) -> BuildForm:
        return self.query_one(BuildForm)

    # ------------------------------------------------------------------------------ lifecycle
    def on_mount(self) -> None:
        self.watch(self.app, "build_change", self.build_changed, init=False)
        self.update_estimate()
        self.redraw_all()
        self.form.focus_first()
        self.set_interval(1.0, self._tick)
        self.action_reload()

    def action_reload(self) -> None:
        self.load_choices()

    def on_screen_resume(self) -> None:
        self.action_reload()  # the catalogue may have changed meanwhile
        self.context_for = None  # and the store: read the estimate's context again
        self.update_estimate()

    @work(thread=True, group="choices", exclusive=True)
    def load_choices(self) -> None:
        try:
            models = [m.ref for m in self.app.data.models()]
            datasets = [d.ref for d in self.app.data.datasets()]
        except Exception:
            return
        self.app.call_from_thread(self.form.set_choices, models, datasets)

    @on(PickOnForm)
    def _pick_on_form(self, command: PickOnForm) -> None:
        self.form.preselect(command.kind, command.ref)

    @on(StartFromForm)
    def _start_from_form(self) -> None:
        self.action_start()

    def on_resize(self) -> None:
        self.call_after_refresh(self.update_status)  # the names are wrapped to the panel's width
        self.call_after_refresh(self.update_stages)

    def _tick(self) -> None:
        if self.app.build.active:
            self.update_status()
            self.update_stages()

    # ------------------------------------------------------------------------------- estimate
    @on(BuildForm.Changed)
    def _form_changed(self) -> None:
        self.update_estimate()

    def update_estimate(self) -> None:
        values = self.form.values()
        model = str(values.get("model"))
        costs = self.app.settings.costs.get(model)
        widget = self.query_one("#estimate", Static)
        if not values["methods"]:
            widget.update(Content.styled("Tick at least one method.", "$warning"))
            return
        missing = numbers_missing(values)
        if missing:
            widget.update(Content.styled(missing, "$warning"))
            return
        config = self._estimate_config()
        key = context_key(model, config)
        if key != self.context_for:
            self.context_for = key
            self.context = EstimateContext()  # until this configuration's is read
            self.read_context(key, config or values)
        context = self.context
        basis = context.load_basis
        if self.app.loaded_model == model:
            basis = "loaded"  # the worker keeps the last model: no load at all
        guess = estimate(
            values,
            costs,
            load_seconds=context.load_seconds,
            load_basis=basis,
            reused=bool(context.reused_run) and not self.app.build.active,
        )
        text = Content.assemble(("Cost ", "bold"), guess.describe())
        extra = influence_answers(values)
        if extra:  # core's estimate does not count the dev split's answers
            note = f"+ influence: up to {extra} dev answers, not estimated"
            text = Content("\n").join([text, Content.styled(note, "dim")])
        widget.update(text)

    def _estimate_config(self) -> dict[str, Any] | None:
        """The form's validated configuration (what a finished run is looked up by), or None."""
        from core.errors import SaTuiError

        try:
            return self.form.config()
        except SaTuiError:
            return None

    @work(thread=True, group="estimate", exclusive=True)
    def read_context(self, key: tuple[str, str], config: dict[str, Any]) -> None:
        try:
            context = self.app.data.estimate_context(config)
        except Exception:
            context = EstimateContext()
        self.app.call_from_thread(self._context_read, key, context)

    def _context_read(self, key: tuple[str, str], context: EstimateContext) -> None:
        if key != self.context_for:
            return  # the form changed meanwhile: its own context is on the way
        self.context = context
        self.update_estimate()

    # -------------------------------------------------------------------------------- actions
    def action_start(self) -> None:
        from core.errors import SaTuiError

        if self.app.build.active:
            self.notify("A build is running; ctrl+x cancels it.", severity="warning")
            return
        try:
            config = self.form.config()
        except SaTuiError as error:
            self.app.show_error(
                str(error),
                "Change that field on the form, then press ctrl+r again.",
                title="The build settings do not fit",
            )
            return
        self.post_message(StartBuild(config, self.form.values()))

    def action_cancel(self) -> None:
        if not self.app.build.active:
            self.notify("No build is running.")
            return
        self.post_message(CancelBuild())

    def action_next_heatmap(self) -> None:
        heatmaps = [h for h in self.query(TokenHeatmap) if h.words]
        if not heatmaps:
            self.notify(
                "No heatmap yet: attribution methods (deeplift, kernelshap, ...) draw one per shot."
            )
            return
        current = self.focused
        index = next((i for i, h in enumerate(heatmaps) if h is current), -1)
        target = heatmaps[(index + 1) % len(heatmaps)]
        target.focus()
        target.scroll_visible()

    def action_focus_form(self) -> None:
        self.form.focus_first()

    def leave_form(self) -> None:
        """Move the focus from the form to the results, so that 1-5 switch screens again."""
        focused = self.focused
        form = self.query_one("#build-form")
        if focused is None or focused is form or form in focused.ancestors:
            self.query_one("#cards", VerticalScroll).focus()

    def action_clear(self) -> None:
        if not self.app.build.active:
            self.post_message(ClearBuild())

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    # ---------------------------------------------------------------------------- live view
    def build_changed(self, change: BuildChange) -> None:
        """Redraw what changed in the App's build state (it watches ``app.build_change``)."""
        if change.reset:
            self.redraw_all()
            if self.app.build.active:
                self.leave_form()  # typed digits would go into a number field, not switch screens
            return
        if change.parts & {"stages", "status"}:
            self.update_stages()
        if change.parts & {"status", "saved", "output", "influence"}:
            self.update_status()
        if "status" in change.parts and not self.app.build.active:
            for card in self.query(ShotCard):
                card.stop()
            if isinstance(self.focused, Input):
                self.leave_form()
            self.context_for = None  # a finished run may now be reused, a load measured
            self.update_estimate()
        changed_cards = change.card_keys
        for key in self.app.build.cards:
            if key in changed_cards:
                self.update_card(key)

    def redraw_all(self) -> None:
        cards = self.query_one("#cards", VerticalScroll)
        cards.remove_children()
        self.update_stages()
        self.update_status()
        for key in self.app.build.cards:
            self.update_card(key)

    def update_stages(self) -> None:
        widget = self.query_one("#stages", StageProgress)
        build = self.app.build
        widget.stages = {}
        for stage, info in build.stages.items():
            detail = info.detail
            if build.active and info.done < info.total and info.started:
                detail = f"{build.clock() - info.started:.0f} s  {detail}".rstrip()
            widget.update_stage(stage, info.done, info.total, detail)
        # once done, on a short terminal, one line says so: the room goes to the saved names
        short = self.size.height < SHORT_HEIGHT
        widget.summary = (
            f"all {len(build.stages)} stages done" if build.status == "done" and short else ""
        )
        widget.refresh(layout=True)

    def update_card(self, key: str) -> None:
        state = self.app.build.cards.get(key)
        if state is None:
            return
        container = self.query_one("#cards", VerticalScroll)
        ident = card_id(key)
        found = container.query(f"#{ident}")
        if found:
            card = found.first(ShotCard)
        else:
            card = ShotCard(
                state.sample_id,
                state.method,
                id=ident,
                reused=state.reused,
                heatmap_method=state.heatmap_method,
            )
            container.mount(card)
            if not any(
                node is container for node in (self.focused.ancestors if self.focused else [])
            ):
                self.call_after_refresh(container.scroll_end, animate=False)
        if state.words:
            card.set_tokens(state.words, state.scores, state.top)
        card.set_text(state.text, state.final)
        card.set_influence(self.app.build.shot_influence(state))
        card.set_faithfulness(self.app.build.shot_faithfulness(state))

    def update_status(self) -> None:
        widget = self.query_one("#build-status", Static)
        width = max(20, widget.content_region.width or widget.size.width or 36)
        widget.update(status_text(self.app.build, width, tall=self.size.height >= SHORT_HEIGHT))
