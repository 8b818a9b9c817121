"""The Build screen's form: its fields, the values they hold (remembered between sessions), and
the validated run configuration those values make."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Label, Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from core.config import ALL_METHODS, STRATEGIES
from core.spans import AUTO, SPANS
from sa_tui.data import BUILTIN_DATASET_REFS, BUILTIN_MODEL_REFS
from sa_tui.widgets.method_list import MethodList
from sa_tui.widgets.tick_box import TickBox

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
# the attribution span (core/spans.py): auto first, with what it means
SPAN_CHOICES = (("auto (layout default)", AUTO), *((span, span) for span in SPANS))
DEFAULT_DEV_SIZE = 50  # as RunConfig.dev_size (and the CLI's --dev-size)
DEFAULT_FORM: dict[str, Any] = {
    "model": "builtin:smollm2-135m",
    "dataset": "builtin:snarks",
    "strategy": "success",
    "span": AUTO,
    "methods": ["ph_cot"],
    "shots": 2,
    "keywords": 4,
    "steps": 3,
    "test_limit": 6,
    "seed": 0,
    "influence": False,
    "dev_size": DEFAULT_DEV_SIZE,
}
NUMBER_FIELDS = (
    ("shots", "n"),
    ("keywords", "k"),
    ("steps", "p"),
    ("test_limit", "test"),
    ("seed", "seed"),
)
DEV_FIELD = ("dev_size", "dev")  # read only with influence: its dev split's size


def form_with_saved(saved: dict[str, Any]) -> dict[str, Any]:
    """The default form, with each remembered value that has the type of its default (and, for
    the span, is one the form offers)."""
    form = dict(DEFAULT_FORM)
    for name, default in DEFAULT_FORM.items():
        value = saved.get(name)
        if isinstance(default, list):
            if isinstance(value, list) and all(isinstance(item, str) for item in value):
                form[name] = list(value)
        elif isinstance(default, bool):
            if isinstance(value, bool):
                form[name] = value
        elif isinstance(value, type(default)) and not isinstance(value, bool):
            form[name] = value
    if form["span"] not in {value for _, value in SPAN_CHOICES}:
        form["span"] = AUTO
    return form


def number_fields(values: dict[str, Any]) -> list[tuple[str, str]]:
    """The number fields that count, (field, label): dev only with influence ticked."""
    return [*NUMBER_FIELDS, DEV_FIELD] if values.get("influence") else list(NUMBER_FIELDS)


def numbers_missing(values: dict[str, Any]) -> str | None:
    """One sentence when a number field that counts is not a whole number, else None."""
    fields = number_fields(values)
    if all(values.get(field) is not None for field, _ in fields):
        return None
    labels = [label for _, label in fields]
    return f"{', '.join(labels[:-1])} and {labels[-1]} must be numbers."


def influence_answers(values: dict[str, Any]) -> int:
    """How many dev answers influence adds at most: each method with shots scores its context and
    each context less one shot on the dev split (0 without influence)."""
    shots, dev = values.get("shots"), values.get("dev_size")
    if not values.get("influence") or shots is None or dev is None:
        return 0
    with_shots = [m for m in values.get("methods", []) if m != "zero_shot"]
    return max(0, (shots + 1) * dev * len(with_shots))


def form_config(values: dict[str, Any]) -> dict[str, Any]:
    """The run configuration of the form's ``values``, validated (raises ConfigError with one
    sentence). Without influence the dev size is RunConfig's default, so that a dev field left
    at another value does not make the run differ from the same settings on the command line."""
    from core.config import RunConfig
    from core.errors import ConfigError

    for field, label in number_fields(values):
        if values.get(field) is None:
            raise ConfigError(f"{label} must be a whole number")
    if not values["model"] or not values["dataset"]:
        raise ConfigError("pick a model and a dataset")
    methods = tuple(values["methods"])
    influence = bool(values.get("influence"))
    if influence and methods and all(m == "zero_shot" for m in methods):
        raise ConfigError("influence needs a method with shots; zero_shot has none")
    extra: dict[str, Any] = {"dev_size": values["dev_size"]} if influence else {}
    config = RunConfig(
        model=values["model"],
        dataset=values["dataset"],
        methods=methods,
        strategy=values["strategy"] or "success",
        shots=values["shots"],
        keywords=values["keywords"],
        steps=values["steps"],
        test_limit=values["test_limit"],
        seed=values["seed"],
        span=values.get("span") or AUTO,
        influence=influence,
        **extra,
    ).validate()
    return config.to_dict()


class BuildForm(VerticalScroll):
    """The form's fields; posts :class:`BuildForm.Changed` whenever one of them changes.

    At 80x24 the fields are two rows taller than the panel: the form scrolls (focusing a field
    brings it into view). Its scrollbar and the method list's are one cell wide, so that together
    they take no more room than the list's own did and every method's line still fits."""

    DEFAULT_CSS = """
    BuildForm, BuildForm MethodList {
        scrollbar-size-vertical: 1;
    }
    BuildForm TickBox {
        margin: 0 0 0 1;
    }
    """

    class Changed(Message):
        """A field of the form changed: its estimate is out of date."""

    def __init__(self, form: dict[str, Any], *, id: str | None = None, classes: str = "") -> None:
        super().__init__(id=id, classes=classes)
        self.form = form

    def compose(self) -> ComposeResult:
        form = self.form
        yield from self._select_row("Model", "model", BUILTIN_MODEL_REFS, form["model"])
        yield from self._select_row("Dataset", "dataset", BUILTIN_DATASET_REFS, form["dataset"])
        yield from self._select_row("Strategy", "strategy", STRATEGIES, form["strategy"])
        with Horizontal(classes="field-row"):
            yield Label("Span", classes="field-label")
            yield Select(
                SPAN_CHOICES,
                value=form["span"],
                allow_blank=False,
                id="span",
                compact=True,
                tooltip="The words that attributions explain. auto: the default for the "
                "dataset's layout (question-led or choice-led).",
            )
        yield Label("Methods", classes="field-label", id="methods-label")
        yield MethodList(
            *[
                Selection(f"{m:<{METHOD_NAME_WIDTH}} {METHOD_HELP[m]}", m, m in form["methods"])
                for m in FORM_METHODS
            ],
            id="methods",
        )
        for fields in (NUMBER_FIELDS[:3], NUMBER_FIELDS[3:]):
            with Horizontal(classes="number-row"):
                for field, label in fields:
                    yield Label(label, classes="number-label")
                    yield self._number(field, form[field])
        with Horizontal(classes="number-row"):
            yield TickBox(
                "influence",
                form["influence"],
                id="influence",
                compact=True,
                tooltip="Per shot: the dev accuracy of each context without it, and its "
                "influence (with it minus without it), on a dev split of the pool.",
            )
            yield Label(DEV_FIELD[1], classes="number-label")
            yield self._number(DEV_FIELD[0], form[DEV_FIELD[0]], disabled=not form["influence"])
        yield Static("", id="estimate")  # the screen writes the cost of these settings here
        with Horizontal(id="build-buttons"):
            yield Button("Start ^r", id="start", variant="primary", compact=True)
            yield Button("Cancel ^x", id="cancel", variant="error", compact=True)

    @staticmethod
    def _number(field: str, value: int, *, disabled: bool = False) -> Input:
        return Input(
            str(value),
            type="integer",
            id=field.replace("_", "-"),
            compact=True,
            classes="number",
            disabled=disabled,
        )

    @staticmethod
    def _select_row(label: str, field: str, options: Any, value: str) -> ComposeResult:
        choices = list(options)
        if value not in choices:
            choices.insert(0, value)
        with Horizontal(classes="field-row"):
            yield Label(label, classes="field-label")
            yield Select(
                [(c, c) for c in choices], value=value, allow_blank=False, id=field, compact=True
            )

    def on_mount(self) -> None:
        self.update_methods_label()
        methods = self.query_one("#methods", MethodList)
        first = methods.first_selected_index()
        if first is not None:  # the ticked method in view, under the list's cursor
            methods.highlighted = first
            self.call_after_refresh(methods.scroll_to_highlight)

    # --------------------------------------------------------------------------------- values
    def values(self) -> dict[str, Any]:
        """What the fields hold (a number that is not one reads None)."""
        values: dict[str, Any] = {}
        for field in ("model", "dataset", "strategy", "span"):
            value = self.query_one(f"#{field}", Select).value
            values[field] = value if isinstance(value, str) else ""
        values["methods"] = [
            m for m in FORM_METHODS if m in self.query_one("#methods", SelectionList).selected
        ]
        for field, _ in (*NUMBER_FIELDS, DEV_FIELD):
            text = self.query_one(f"#{field.replace('_', '-')}", Input).value.strip()
            try:
                values[field] = int(text)
            except ValueError:
                values[field] = None
        values["influence"] = self.query_one("#influence", Checkbox).value
        return values

    def config(self) -> dict[str, Any]:
        """The run configuration of the form, validated (raises ConfigError with one sentence)."""
        return form_config(self.values())

    # -------------------------------------------------------------------------------- changes
    @on(Input.Changed)
    @on(Select.Changed)
    @on(SelectionList.SelectedChanged)
    def _field_changed(self) -> None:
        self.update_methods_label()
        self.post_message(self.Changed())

    @on(Checkbox.Changed, "#influence")
    def _influence_changed(self, event: Checkbox.Changed) -> None:
        self.query_one("#dev-size", Input).disabled = not event.value
        self.post_message(self.Changed())

    def update_methods_label(self) -> None:
        chosen = [
            m for m in FORM_METHODS if m in self.query_one("#methods", SelectionList).selected
        ]
        text = ", ".join(chosen) if chosen else "none: space ticks"
        self.query_one("#methods-label", Label).update(
            Content.assemble(("Methods ", ""), (text, "bold $accent"))
        )

    # -------------------------------------------------------------------------------- choices
    def set_choices(self, models: list[str], datasets: list[str]) -> None:
        """Offer the catalogue's models and datasets (and the built-in ones)."""
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

    def preselect(self, kind: str, ref: str) -> None:
        """Choose a model or dataset (picked on the Catalogue screen) and focus it."""
        select = self.query_one("#model" if kind == "model" else "#dataset", Select)
        options = [value for _, value in select._options if isinstance(value, str)]
        if ref not in options:
            select.set_options([(c, c) for c in [ref, *options]])
        select.value = ref
        select.focus()

    def focus_first(self) -> None:
        self.query_one("#model", Select).focus()
