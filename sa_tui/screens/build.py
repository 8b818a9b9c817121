"""Build: pick a model, dataset, strategy, methods and n/k/p; see the cost; start; watch; cancel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from core.config import ALL_METHODS, STRATEGIES
from core.estimate import estimate
from sa_tui.build_state import BuildChange
from sa_tui.data import BUILTIN_DATASET_REFS, BUILTIN_MODEL_REFS, EstimateContext, wrap_ref
from sa_tui.messages import CancelBuild, ClearBuild, PickOnForm, StartBuild, StartFromForm
from sa_tui.widgets.heatmap import TokenHeatmap
from sa_tui.widgets.influence import influence_lines
from sa_tui.widgets.method_list import MethodList
from sa_tui.widgets.navbar import NavBar
from sa_tui.widgets.shot_card import ShotCard
from sa_tui.widgets.stages import StageProgress

if TYPE_CHECKING:
    from sa_tui.app import SaTuiApp

METHOD_HELP = {
    "zero_shot": "no shots",
    "io": "shots as Q → A",
    "auto_cot": "model's own CoT",
    "deeplift": "DeepLift words",
    "kernelshap": "KernelSHAP words",
    "self_topk": "self-named words",
    "ph_cot": "post hoc CoT",
    "leave_one_out": "occlusion words",
    "random": "random words",
    "counterfactual": "answer-flip edit",
}
# amplify needs a second (proxy) model, which the form has no field for yet: the CLI runs it
FORM_METHODS = tuple(m for m in ALL_METHODS if m in METHOD_HELP)
METHOD_NAME_WIDTH = max(len(m) for m in FORM_METHODS)
DEFAULT_FORM: dict[str, Any] = {
    "model": "builtin:smollm2-135m",
    "dataset": "builtin:snarks",
    "strategy": "success",
    "methods": ["ph_cot"],
    "shots": 2,
    "keywords": 4,
    "steps": 3,
    "test_limit": 6,
    "seed": 0,
}
SHORT_HEIGHT = 32  # below this many rows, a finished build's stages fold into one line
NUMBER_FIELDS = (
    ("shots", "n"),
    ("keywords", "k"),
    ("steps", "p"),
    ("test_limit", "test"),
    ("seed", "seed"),
)


def form_with_saved(saved: dict[str, Any]) -> dict[str, Any]:
    """The default form, with each remembered value that has the type of its default."""
    form = dict(DEFAULT_FORM)
    for name, default in DEFAULT_FORM.items():
        value = saved.get(name)
        if isinstance(default, list):
            if isinstance(value, list) and all(isinstance(item, str) for item in value):
                form[name] = list(value)
        elif isinstance(value, type(default)) and not isinstance(value, bool):
            form[name] = value
    return form


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
        ("enter", "open a list (model, dataset, strategy); ↑↓ enter picks"),
        ("space", "tick or untick the method under the cursor"),
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
        form = form_with_saved(self.app.settings.build_form)
        yield NavBar()
        with Horizontal(id="build"):
            with VerticalScroll(id="build-form", classes="panel"):
                yield from self._select_row("Model", "model", BUILTIN_MODEL_REFS, form["model"])
                yield from self._select_row(
                    "Dataset", "dataset", BUILTIN_DATASET_REFS, form["dataset"]
                )
                yield from self._select_row("Strategy", "strategy", STRATEGIES, form["strategy"])
                yield Label("Methods", classes="field-label", id="methods-label")
                yield MethodList(
                    *[
                        Selection(
                            f"{m:<{METHOD_NAME_WIDTH}} {METHOD_HELP[m]}", m, m in form["methods"]
                        )
                        for m in FORM_METHODS
                    ],
                    id="methods",
                )
                with Horizontal(classes="number-row"):
                    for field, label in NUMBER_FIELDS[:3]:
                        yield Label(label, classes="number-label")
                        yield Input(
                            str(form[field]),
                            type="integer",
                            id=field,
                            compact=True,
                            classes="number",
                        )
                with Horizontal(classes="number-row"):
                    for field, label in NUMBER_FIELDS[3:]:
                        yield Label(label, classes="number-label")
                        yield Input(
                            str(form[field]),
                            type="integer",
                            id=field.replace("_", "-"),
                            compact=True,
                            classes="number",
                        )
                yield Static("", id="estimate")
                with Horizontal(id="build-buttons"):
                    yield Button("Start ^r", id="start", variant="primary", compact=True)
                    yield Button("Cancel ^x", id="cancel", variant="error", compact=True)
            with Vertical(id="build-live", classes="panel"):
                yield StageProgress(id="stages")
                yield Static("", id="build-status")
                yield VerticalScroll(id="cards")
        yield Footer()

    def _select_row(self, label: str, field: str, options: Any, value: str) -> ComposeResult:
        choices = list(options)
        if value not in choices:
            choices.insert(0, value)
        with Horizontal(classes="field-row"):
            yield Label(label, classes="field-label")
            yield Select(
                [(c, c) for c in choices], value=value, allow_blank=False, id=field, compact=True
            )

    # ------------------------------------------------------------------------------ lifecycle
    def on_mount(self) -> None:
        self.watch(self.app, "build_change", self.build_changed, init=False)
        self.update_estimate()
        self.update_methods_label()
        self.redraw_all()
        self.query_one("#model", Select).focus()
        methods = self.query_one("#methods", MethodList)
        first = methods.first_selected_index()
        if first is not None:  # the ticked method in view, under the list's cursor
            methods.highlighted = first
            self.call_after_refresh(methods.scroll_to_highlight)
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
        self.app.call_from_thread(self.set_choices, models, datasets)

    def set_choices(self, models: list[str], datasets: list[str]) -> None:
        """Offer the catalogue's models and datasets (and the built-in ones) on the form."""
        for field, refs, builtins in (
            ("model", models, BUILTIN_MODEL_REFS),
            ("dataset", datasets, BUILTIN_DATASET_REFS),
        ):
            select = self.query_one(f"#{field}", Select)
            current = select.value
            choices = list(dict.fromkeys([*refs, *builtins]))
            if isinstance(current, str) and current not in choices:
                choices.insert(0, current)
            select.set_options([(c, c) for c in choices])
            if isinstance(current, str):
                select.value = current

    @on(PickOnForm)
    def _pick_on_form(self, command: PickOnForm) -> None:
        self.preselect(command.kind, command.ref)

    @on(StartFromForm)
    def _start_from_form(self) -> None:
        self.action_start()

    def preselect(self, kind: str, ref: str) -> None:
        """Choose a model or dataset (picked on the Catalogue screen)."""
        select = self.query_one("#model" if kind == "model" else "#dataset", Select)
        options = [value for _, value in select._options if isinstance(value, str)]
        if ref not in options:
            select.set_options([(c, c) for c in [ref, *options]])
        select.value = ref
        select.focus()

    def on_resize(self) -> None:
        self.call_after_refresh(self.update_status)  # the names are wrapped to the panel's width
        self.call_after_refresh(self.update_stages)

    def _tick(self) -> None:
        if self.app.build.active:
            self.update_status()
            self.update_stages()

    # ----------------------------------------------------------------------------------- form
    def form_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field in ("model", "dataset", "strategy"):
            value = self.query_one(f"#{field}", Select).value
            values[field] = value if isinstance(value, str) else ""
        values["methods"] = [
            m for m in FORM_METHODS if m in self.query_one("#methods", SelectionList).selected
        ]
        for field, _ in NUMBER_FIELDS:
            text = self.query_one(f"#{field.replace('_', '-')}", Input).value.strip()
            try:
                values[field] = int(text)
            except ValueError:
                values[field] = None
        return values

    def build_config(self) -> dict[str, Any]:
        """The run configuration of the form, validated (raises ConfigError with one sentence)."""
        from core.config import RunConfig
        from core.errors import ConfigError

        values = self.form_values()
        for field, label in NUMBER_FIELDS:
            if values[field] is None:
                raise ConfigError(f"{label} must be a whole number")
        if not values["model"] or not values["dataset"]:
            raise ConfigError("pick a model and a dataset")
        config = RunConfig(
            model=values["model"],
            dataset=values["dataset"],
            methods=tuple(values["methods"]),
            strategy=values["strategy"] or "success",
            shots=values["shots"],
            keywords=values["keywords"],
            steps=values["steps"],
            test_limit=values["test_limit"],
            seed=values["seed"],
        ).validate()
        return config.to_dict()

    @on(Input.Changed)
    @on(Select.Changed)
    @on(SelectionList.SelectedChanged)
    def _form_changed(self) -> None:
        self.update_estimate()
        self.update_methods_label()

    def update_methods_label(self) -> None:
        chosen = [
            m for m in FORM_METHODS if m in self.query_one("#methods", SelectionList).selected
        ]
        text = ", ".join(chosen) if chosen else "none: space ticks"
        self.query_one("#methods-label", Label).update(
            Content.assemble(("Methods ", ""), (text, "bold $accent"))
        )

    def update_estimate(self) -> None:
        values = self.form_values()
        model = str(values.get("model"))
        costs = self.app.settings.costs.get(model)
        widget = self.query_one("#estimate", Static)
        if not values["methods"]:
            widget.update(Content.styled("Tick at least one method.", "$warning"))
            return
        if any(values[f] is None for f, _ in NUMBER_FIELDS):
            widget.update(Content.styled("n, k, p, test and seed must be numbers.", "$warning"))
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
        widget.update(Content.assemble(("Cost ", "bold"), guess.describe()))

    def _estimate_config(self) -> dict[str, Any] | None:
        """The form's validated configuration (what a finished run is looked up by), or None."""
        from core.errors import SaTuiError

        try:
            return self.build_config()
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
            config = self.build_config()
        except SaTuiError as error:
            self.app.show_error(
                str(error),
                "Change that field on the form, then press ctrl+r again.",
                title="The build settings do not fit",
            )
            return
        self.post_message(StartBuild(config, self.form_values()))

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
        self.query_one("#model", Select).focus()

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
        build = self.app.build
        widget = self.query_one("#build-status", Static)
        elapsed = f"{build.elapsed():.0f} s"
        run = f"run {build.run_id[:8]}" if build.run_id else ""
        if build.status == "idle":
            text = Content.styled(
                "Ready. ctrl+r starts a build with the settings on the left.", "dim"
            )
        elif build.status in ("starting", "running"):
            shots = f"shots {', '.join(build.shots)}  " if build.shots else ""
            text = Content.assemble(
                (f"{build.status} ", "bold $stage-active"),
                (f"{elapsed}  {run}  ", ""),
                (shots, "dim"),
                ("ctrl+x cancels", "dim italic"),
            )
            if build.last_output:
                text = Content("\n").join(
                    [text, Content.styled("last answer " + build.last_output[-120:], "dim")]
                )
        elif build.status == "cancelling":
            text = Content.assemble(
                ("cancelling… ", "bold $warning"),
                (f"{elapsed}  the worker stops at its next check", "dim"),
            )
        elif build.status == "done":
            width = max(20, widget.content_region.width or widget.size.width or 36)
            parts: list[Content] = [
                Content.assemble(("done ", "bold $success"), f"in {elapsed}  {run}")
            ]
            for saved in build.saved:
                acc = saved.get("accuracy")
                version = saved.get("version")
                ref = (
                    f"{saved.get('lineage')}@v{version}"
                    if version is not None
                    else str(saved.get("lineage"))
                )
                parts.append(
                    Content.assemble(
                        (f"{saved.get('method')}: ", "bold"),
                        (
                            f"accuracy {acc:.3f}" if isinstance(acc, (int, float)) else "",
                            "$success",
                        ),
                        f" (n={saved.get('n')})",
                    )
                )
                # saved as: the name on lines of its own, broken only between its parts
                lines = wrap_ref(ref, width, indent="    ")
                lines[0] = "  → " + lines[0][4:]
                parts += [Content.styled(line, "$accent") for line in lines]
                measured = build.influence.get(str(saved.get("method")), {}).get("shots")
                if measured:  # --influence: which shot helps, which hurts (on dev)
                    parts.append(Content("    ") + influence_lines("", measured))
            if self.size.height >= SHORT_HEIGHT:  # on a short screen the room goes to the shots
                parts.append(
                    Content.styled(
                        "→ saved as. 3: Runs & Prompts; ctrl+r: build again (reuses stored work)",
                        "dim",
                    )
                )
            text = Content("\n").join(parts)
        elif build.status == "cancelled":
            text = Content.assemble(
                ("cancelled ", "bold $warning"),
                (f"after {elapsed}. ctrl+r starts again; finished steps are reused.", ""),
            )
        else:
            text = Content.assemble(("failed ", "bold $error"), build.error)
        widget.update(text)
