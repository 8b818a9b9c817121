"""Export: a prompt version in any CLI format to a file, or to the clipboard (OSC 52, works over SSH)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, Select, Static

from sa_tui.data import COPYABLE_FORMATS, EXPORT_FORMATS, PromptRow
from sa_tui.messages import SelectPrompt
from sa_tui.screens.modals import ConfirmScreen
from sa_tui.widgets.navbar import NavBar

if TYPE_CHECKING:
    from sa_tui.app import SaTuiApp

EXTENSIONS = {
    "jsonl": ".jsonl",
    "markdown": ".md",
    "text": ".txt",
    "chat-json": ".json",
    "hf-dataset": "",
    "dspy": ".dspy.json",
}


def default_path(prompt: PromptRow, fmt: str) -> str:
    return f"{prompt.lineage}.v{prompt.version}{EXTENSIONS.get(fmt, '.txt')}"


class ExportScreen(Screen[None]):
    TITLE = "Export"
    BINDINGS = [
        Binding("ctrl+e", "write", "Write file", priority=True),
        Binding("y", "copy", "Copy"),
        Binding("f", "next_format", "Format"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("r,f5", "refresh", "Refresh", show=False),
        Binding("escape", "focus_list", "Back to the list", show=False),
    ]

    HELP_KEYS = [
        ("tab", "move between the list, format, file and buttons"),
        ("↑↓", "choose the prompt version"),
        ("escape", "leave a text field (then 1-4 switch screens again)"),
    ]

    app: SaTuiApp

    def __init__(self) -> None:
        super().__init__()
        self.all_prompts: list[PromptRow] = []
        self.prompts: list[PromptRow] = []
        self.wanted: str | None = None
        self.preview_text = ""

    def compose(self) -> ComposeResult:
        yield NavBar()
        with Horizontal(id="export"):
            with Vertical(id="export-left", classes="panel"):
                yield Input(
                    placeholder="/ filter prompt versions", id="export-filter", compact=True
                )
                yield DataTable(id="export-prompts", cursor_type="row", zebra_stripes=True)
            with Vertical(id="export-right", classes="panel"):
                with Horizontal(classes="field-row"):
                    yield Label("Format", classes="field-label")
                    yield Select(
                        [(f, f) for f in EXPORT_FORMATS],
                        value="chat-json",
                        allow_blank=False,
                        id="export-format",
                        compact=True,
                    )
                with Horizontal(classes="field-row"):
                    yield Label("File", classes="field-label")
                    yield Input(
                        placeholder="path of the file (or folder for hf-dataset)",
                        id="export-path",
                        compact=True,
                    )
                with Horizontal(id="export-buttons"):
                    yield Button("Write ^e", id="export-write", variant="primary", compact=True)
                    yield Button("Copy y", id="export-copy", compact=True)
                with VerticalScroll(id="export-preview-scroll"):
                    yield Static("Pick a prompt version on the left.", id="export-preview")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#export-prompts", DataTable).add_columns("method", "v", "acc", "lineage")
        self.query_one("#export-prompts", DataTable).focus()
        self.load()

    def on_screen_resume(self) -> None:
        self.load()

    # ----------------------------------------------------------------------------------- data
    def action_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="export-load")
    def load(self) -> None:
        try:
            prompts = self.app.data.prompts()
        except Exception as error:
            self.app.call_from_thread(
                self.app.show_error,
                f"the store could not be read ({error})",
                "Press r to try again.",
            )
            return
        self.app.call_from_thread(self.show_rows, prompts)

    def show_rows(self, prompts: list[PromptRow]) -> None:
        shown = None if self.wanted else self.current()
        self.all_prompts = sorted(prompts, key=lambda p: p.created, reverse=True)
        self.apply_filter()
        if shown is not None:  # a reload keeps the cursor on the prompt version it was on
            self._move_cursor_to(shown.ref)

    def apply_filter(self) -> None:
        query = self.query_one("#export-filter", Input).value.lower().split()
        self.prompts = [
            p
            for p in self.all_prompts
            if all(t in f"{p.ref} {p.method} {p.model} {p.dataset}".lower() for t in query)
        ]
        table = self.query_one("#export-prompts", DataTable)
        table.clear()
        for prompt in self.prompts:
            table.add_row(
                prompt.method,
                str(prompt.version),
                "" if prompt.accuracy is None else f"{prompt.accuracy:.3f}",
                prompt.lineage,
                key=str(prompt.id),
            )
        if self.wanted:
            self.select_ref(self.wanted)
        else:
            self.update_preview()

    @on(SelectPrompt)
    def _select_prompt(self, command: SelectPrompt) -> None:
        self.select_ref(command.ref)

    def select_ref(self, ref: str) -> None:
        """Put the cursor on a prompt version (from the Runs & Prompts screen)."""
        self.wanted = None if self._move_cursor_to(ref) else ref
        self.update_preview()

    def _move_cursor_to(self, ref: str) -> bool:
        for index, prompt in enumerate(self.prompts):
            if prompt.ref == ref:
                self.query_one("#export-prompts", DataTable).move_cursor(row=index)
                return True
        return False

    def current(self) -> PromptRow | None:
        table = self.query_one("#export-prompts", DataTable)
        if not self.prompts or not 0 <= table.cursor_row < len(self.prompts):
            return None
        return self.prompts[table.cursor_row]

    @property
    def fmt(self) -> str:
        value = self.query_one("#export-format", Select).value
        return value if isinstance(value, str) else "chat-json"

    @on(DataTable.RowHighlighted, "#export-prompts")
    @on(Select.Changed, "#export-format")
    def _selection_changed(self) -> None:
        self.update_preview()

    @on(Input.Changed, "#export-filter")
    def _filter_changed(self) -> None:
        self.apply_filter()

    @on(Input.Submitted, "#export-filter")
    def _filter_done(self) -> None:
        self.query_one("#export-prompts", DataTable).focus()

    def update_preview(self) -> None:
        prompt = self.current()
        if prompt is None:
            self.query_one("#export-preview", Static).update(
                Content.styled("No prompt versions yet: build one on the Build screen (2).", "dim")
            )
            return
        self.query_one("#export-path", Input).value = default_path(prompt, self.fmt)
        self.render_preview(prompt.ref, self.fmt)

    @work(thread=True, exclusive=True, group="export-preview")
    def render_preview(self, ref: str, fmt: str) -> None:
        if fmt not in COPYABLE_FORMATS:
            text, body = (
                "",
                Content.styled(
                    f"{fmt} is written as a folder (datasets.load_from_disk opens it); it cannot be copied.",
                    "dim",
                ),
            )
        else:
            try:
                text = self.app.data.export_text(ref, fmt)
            except Exception as error:
                text, body = "", Content.styled(f"No preview: {error}", "$warning")
            else:
                body = Content(text[:20000])
        self.app.call_from_thread(self._show_preview, text, body)

    def _show_preview(self, text: str, body: Content) -> None:
        self.preview_text = text
        self.query_one("#export-preview", Static).update(body)

    # -------------------------------------------------------------------------------- actions
    def action_focus_list(self) -> None:
        self.query_one("#export-prompts", DataTable).focus()

    def action_filter(self) -> None:
        self.query_one("#export-filter", Input).focus()

    def action_next_format(self) -> None:
        select = self.query_one("#export-format", Select)
        index = EXPORT_FORMATS.index(self.fmt)
        select.value = EXPORT_FORMATS[(index + 1) % len(EXPORT_FORMATS)]

    def action_copy(self) -> None:
        prompt = self.current()
        if prompt is None:
            self.notify("Pick a prompt version first.")
            return
        if self.fmt not in COPYABLE_FORMATS:
            self.notify(
                f"{self.fmt} is a folder; pick another format (f) to copy.", severity="warning"
            )
            return
        if not self.preview_text:
            self.notify("The preview is not ready yet; try again.")
            return
        self.app.copy_to_clipboard(self.preview_text)
        self.notify(
            f"Copied {prompt.ref} as {self.fmt} ({len(self.preview_text):,} characters, OSC 52)"
        )

    def action_write(self) -> None:
        prompt = self.current()
        if prompt is None:
            self.notify("Pick a prompt version first.")
            return
        path = self.query_one("#export-path", Input).value.strip() or default_path(prompt, self.fmt)
        target = Path(path).expanduser()
        if target.exists():

            def answered(yes: bool | None) -> None:
                if yes:
                    self.write(prompt.ref, self.fmt, path, True)

            self.app.push_screen(
                ConfirmScreen(f"{path} exists. Overwrite it?", yes="Overwrite"), answered
            )
            return
        self.write(prompt.ref, self.fmt, path, False)

    @work(thread=True, group="export-write")
    def write(self, ref: str, fmt: str, path: str, force: bool) -> None:
        try:
            written = self.app.data.export(ref, fmt, path, force=force)
        except Exception as error:
            self.app.call_from_thread(
                self.app.show_error,
                str(error),
                "Change the file name or format and press ctrl+e again.",
                "Export failed",
            )
            return
        self.app.call_from_thread(self.notify, f"Wrote {written}", title="Exported")
        self.app.call_from_thread(self.action_focus_list)

    @on(Button.Pressed, "#export-write")
    def _write_pressed(self) -> None:
        self.action_write()

    @on(Button.Pressed, "#export-copy")
    def _copy_pressed(self) -> None:
        self.action_copy()
