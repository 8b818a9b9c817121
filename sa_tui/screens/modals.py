"""Modal dialogs: the one error modal, confirmations, a single-field prompt, help and text views."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Markdown, Static


class ErrorScreen(ModalScreen[None]):
    """What happened and what to do. Only one is ever open: new errors replace its text."""

    BINDINGS = [
        Binding("escape,enter", "dismiss_error", "Close"),
        Binding("y", "copy_error", "Copy text"),
    ]

    def __init__(self, what: str, todo: str, title: str = "Something went wrong") -> None:
        super().__init__(classes="modal-screen")
        self.what = what
        self.todo = todo
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="error-dialog", classes="dialog error-dialog"):
            yield Label(self.title_text, id="error-title", classes="dialog-title")
            yield Static(Content.assemble(("What happened: ", "bold"), self.what), id="error-what")
            yield Static(Content.assemble(("What to do: ", "bold"), self.todo), id="error-todo")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", id="error-ok", variant="primary")

    def show(self, what: str, todo: str, title: str) -> None:
        self.what, self.todo, self.title_text = what, todo, title
        self.query_one("#error-title", Label).update(title)
        self.query_one("#error-what", Static).update(
            Content.assemble(("What happened: ", "bold"), what)
        )
        self.query_one("#error-todo", Static).update(
            Content.assemble(("What to do: ", "bold"), todo)
        )

    def on_mount(self) -> None:
        self.query_one("#error-ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_dismiss_error(self) -> None:
        self.dismiss(None)

    def action_copy_error(self) -> None:
        self.app.copy_to_clipboard(f"{self.title_text}\n{self.what}\n{self.todo}")
        self.notify("Copied the error to the clipboard")


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, detail: str = "", yes: str = "Yes", no: str = "No") -> None:
        super().__init__(classes="modal-screen")
        self.question = question
        self.detail = detail
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-title")
            if self.detail:
                yield Static(self.detail, classes="dialog-detail")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", id="confirm-yes", variant="error")
                yield Button(f"{self.no} (n)", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line of text (a path, a model reference)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, question: str, placeholder: str = "", value: str = "", detail: str = ""
    ) -> None:
        super().__init__(classes="modal-screen")
        self.question = question
        self.placeholder = placeholder
        self.value = value
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-title")
            if self.detail:
                yield Static(self.detail, classes="dialog-detail")
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static("enter: OK   escape: cancel", classes="dialog-keys")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class AddDatasetScreen(ModalScreen[tuple[str, str] | None]):
    """Ask for a dataset's source and, when its columns are not guessed, its field map (the
    CLI's ``--field-map``). Returns (source, field map) or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, source: str = "", field_map: str = "") -> None:
        super().__init__(classes="modal-screen")
        self.source = source
        self.field_map = field_map

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Add a dataset", classes="dialog-title")
            yield Static(
                "A .jsonl/.csv/.parquet file, a datasets folder, hf:owner/name, or builtin:NAME.",
                classes="dialog-detail",
            )
            yield Label("Source", classes="dialog-label")
            yield Input(
                value=self.source, placeholder="~/data/my-questions.jsonl", id="dataset-source"
            )
            yield Label("Field map (only when the columns are not guessed)", classes="dialog-label")
            yield Input(
                value=self.field_map,
                placeholder="id=qid,question=text,choices=a|b|c,answer=label",
                id="dataset-field-map",
            )
            yield Static(
                "choices: the columns of the options, in order, joined by |; "
                "answer_format=label|index|index1|text when the answer is not a label",
                classes="dialog-detail",
            )
            yield Static("tab: next field   enter: add   escape: cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#dataset-source", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        source = self.query_one("#dataset-source", Input).value.strip()
        if not source:
            self.query_one("#dataset-source", Input).focus()
            self.notify("Give the dataset's source first.", severity="warning")
            return
        self.dismiss((source, self.query_one("#dataset-field-map", Input).value.strip()))

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextScreen(ModalScreen[None]):
    """A scrollable read-only view (a diff, a comparison, a context)."""

    BINDINGS = [
        Binding("escape,q", "close", "Close"),
        Binding("y", "copy", "Copy"),
    ]

    def __init__(self, title: str, body: Any, copy_text: str | None = None) -> None:
        super().__init__(classes="modal-screen")
        self.title_text = title
        self.body = body
        self.copy_text = copy_text if copy_text is not None else str(body)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="text-body"):
                yield Static(self.body, id="text-body")
            yield Static("escape: close   y: copy   ↑↓ pgup pgdn: scroll", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.copy_text)
        self.notify("Copied to the clipboard (OSC 52)")


WALKTHROUGH = """\
## A first build, keyboard only

1. **2** opens *Build*. **tab** moves between fields; in a list, **enter** opens it and
   **↑ ↓ enter** picks. Model `builtin:smollm2-135m`, dataset `builtin:snarks`, methods: tick
   `ph_cot` with **space**; shots **n = 2**, test limit **6**.
2. The estimate under the form updates as you type. **ctrl+r** starts the build.
3. Stages fill in on the right; each shot's rationale streams in (attribution methods such as
   `deeplift` also draw a token heatmap: focus it with **tab**, move with **← →**).
4. **ctrl+x** cancels (the worker stops cooperatively; it is killed if it does not). **ctrl+r**
   starts it again: finished work is reused from the store.
5. **3** opens *Runs & Prompts*: the run and its prompt version with the score. **enter** opens a
   run; **tab** switches to *Prompts*; **space** marks two versions and **d** diffs them.
6. **4** opens *Export*: pick a format, **ctrl+e** writes a file (a plain name goes into the
   exports folder of the data directory; the full path is shown first), **y** copies to the
   clipboard.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "close", "Close")]

    def __init__(self, sections: Iterable[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__(classes="modal-screen")
        self.sections = list(sections)

    def compose(self) -> ComposeResult:
        lines: list[Content] = []
        for title, keys in self.sections:
            if not keys:
                continue
            if lines:
                lines.append(Content(""))
            lines.append(Content.styled(title, "bold $accent"))
            for key, description in keys:
                lines.append(Content.assemble((f"  {key:<14}", "bold"), description))
        with Vertical(classes="dialog wide-dialog"):
            yield Label("sa-tui help", classes="dialog-title")
            with VerticalScroll(classes="text-body"):
                yield Static(Content("\n").join(lines), id="help-keys")
                yield Markdown(WALKTHROUGH, id="help-text")
            yield Static(
                "escape: close   ↑↓: scroll   ctrl+p: every command", classes="dialog-keys"
            )

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
