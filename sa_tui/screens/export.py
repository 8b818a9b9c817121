"""Export: a prompt version in any CLI format to a file, or to the clipboard (OSC 52, works over SSH).

Where a file goes is shown before anything is written: a plain name goes into the exports folder
of the data directory (not wherever sa-tui was started), ``~`` and absolute paths are taken as
given, and a path that climbs out with ``..`` is refused. What is there decides what ctrl+e does:
nothing (write), an unchanged earlier sa-tui export (ask, then replace) or anything else (refuse).
The version, format and path are captured when ctrl+e is pressed, so a dialog in between can
never make it write another version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, Select, Static

from sa_tui.data import COPYABLE_FORMATS, EXPORT_FORMATS, ExportPlan, PromptRow, wrap_ref
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


WIDE = 130  # below this width the list goes above the format, file and preview
STATE_STYLES = {"new": "$success", "own": "$warning", "refused": "$error"}


def default_path(prompt: PromptRow, fmt: str) -> str:
    return f"{prompt.lineage}.v{prompt.version}{EXTENSIONS.get(fmt, '.txt')}"


def target_content(plan: ExportPlan, width: int = 80) -> Content:
    """The full target path (broken after a ``/`` or ``.`` when it is long), then what ctrl+e
    will do there (one sentence)."""
    lines = wrap_ref(plan.target, width, indent="  ", breaks="/.")
    lines[0] = "→ " + lines[0][2:]
    return Content.assemble(
        *((line + "\n", "bold") for line in lines),
        (plan.message, STATE_STYLES.get(plan.state, "")),
    )


class TargetLine(Static):
    """Where ctrl+e would write and what it would do, redrawn to its width after a resize."""

    plan: ExportPlan | None = None

    def show(self, plan: ExportPlan | None) -> None:
        self.plan = plan
        self.draw()

    def on_resize(self) -> None:
        self.draw()

    def draw(self) -> None:
        if self.plan is None:
            self.update("")
        else:
            self.update(target_content(self.plan, self.content_region.width or 76))


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
        # (version, format) the File field was last filled for
        self.filled_for: tuple[str, str] | None = None
        self.loaded = False
        self.plan: ExportPlan | None = None  # where ctrl+e would write now, as last checked

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
                        placeholder="a name (goes into the exports folder) or an absolute path",
                        id="export-path",
                        compact=True,
                    )
                yield TargetLine("", id="export-target")
                with Horizontal(id="export-buttons"):
                    yield Button("Write ^e", id="export-write", variant="primary", compact=True)
                    yield Button("Copy y", id="export-copy", compact=True)
                with VerticalScroll(id="export-preview-scroll"):
                    yield Static("Pick a prompt version on the left.", id="export-preview")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#export-prompts", DataTable).add_columns("v", "acc", "lineage")
        self.query_one("#export-prompts", DataTable).focus()
        self.load()

    def on_screen_resume(self) -> None:
        self.load()

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < WIDE, "-narrow")

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
        ordered = sorted(prompts, key=lambda p: p.created, reverse=True)
        if self.loaded and ordered == self.all_prompts and not self.wanted:
            return  # nothing changed (e.g. a dialog closed): the cursor and File stay as they are
        shown = None if self.wanted else self.current()
        self.loaded = True
        self.all_prompts = ordered
        # a reload keeps the cursor (and a name typed in File) on the prompt version it was on
        self.apply_filter(keep=shown.ref if shown is not None else None)

    def apply_filter(self, keep: str | None = None) -> None:
        query = self.query_one("#export-filter", Input).value.lower().split()
        self.prompts = [
            p
            for p in self.all_prompts
            if all(t in f"{p.ref} {p.method} {p.model} {p.dataset}".lower() for t in query)
        ]
        table = self.query_one("#export-prompts", DataTable)
        table.clear()
        for prompt in self.prompts:
            table.add_row(  # the method is in the lineage: one column less to cut it off
                str(prompt.version),
                "" if prompt.accuracy is None else f"{prompt.accuracy:.3f}",
                prompt.lineage,
                key=str(prompt.id),
            )
        if self.wanted:
            self.select_ref(self.wanted)
        else:
            if keep is not None:
                self._move_cursor_to(keep)
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
        shown = self.current()
        self.apply_filter(keep=shown.ref if shown is not None else None)

    @on(Input.Submitted, "#export-filter")
    def _filter_done(self) -> None:
        self.query_one("#export-prompts", DataTable).focus()

    def update_preview(self) -> None:
        prompt = self.current()
        if prompt is None:
            self.query_one("#export-preview", Static).update(
                Content.styled("No prompt versions yet: build one on the Build screen (2).", "dim")
            )
            self.plan = None
            self.query_one(TargetLine).show(None)
            return
        if self.filled_for != (prompt.ref, self.fmt):
            # a new version or format gets its own default name; a name typed for this one stays
            self.filled_for = (prompt.ref, self.fmt)
            self.query_one("#export-path", Input).value = default_path(prompt, self.fmt)
        self.render_preview(prompt.ref, self.fmt)
        self.update_target()

    @on(Input.Changed, "#export-path")
    def _path_changed(self) -> None:
        self.update_target()

    def update_target(self) -> None:
        prompt = self.current()
        if prompt is not None:
            self.plan_target(prompt.ref, self.fmt, self.query_one("#export-path", Input).value)

    @work(thread=True, exclusive=True, group="export-target")
    def plan_target(self, ref: str, fmt: str, path: str) -> None:
        try:
            plan = self.app.data.plan_export(ref, fmt, path)
        except Exception as error:
            plan = ExportPlan(path, "refused", f"Refused: {error}.")
        self.app.call_from_thread(self._show_target, ref, fmt, path, plan)

    def _show_target(self, ref: str, fmt: str, path: str, plan: ExportPlan) -> None:
        prompt = self.current()
        if prompt is None or (prompt.ref, self.fmt) != (ref, fmt):
            return  # the selection moved on meanwhile; its own plan follows
        if self.query_one("#export-path", Input).value != path:
            return
        self.plan = plan
        self.query_one(TargetLine).show(plan)

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
        # the version, format and path are fixed now: nothing that happens in a dialog changes them
        self.plan_write(prompt.ref, self.fmt, path)

    @work(thread=True, group="export-write")
    def plan_write(self, ref: str, fmt: str, path: str) -> None:
        try:
            plan = self.app.data.plan_export(ref, fmt, path)
        except Exception as error:
            plan = ExportPlan(path, "refused", f"Refused: {error}.")
        self.app.call_from_thread(self._planned, ref, fmt, plan)

    def _planned(self, ref: str, fmt: str, plan: ExportPlan) -> None:
        if plan.state == "refused":
            reason = plan.message.removeprefix("Refused: ")
            self.app.show_error(
                reason if plan.target in reason else f"{plan.target}: {reason}",
                "Change the name in File (a plain name goes into the exports folder), then press ctrl+e again.",
                "Export refused",
            )
            return
        if plan.state == "own":

            def answered(yes: bool | None) -> None:
                if yes:
                    self.write(ref, fmt, plan.target, True)

            self.app.push_screen(
                ConfirmScreen(
                    "Earlier sa-tui export: overwrite it?",
                    f"{plan.target}\nwill be replaced by {ref} as {fmt}.",
                    yes="Overwrite",
                ),
                answered,
            )
            return
        self.write(ref, fmt, plan.target, False)

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
        self.app.call_from_thread(
            self.notify, f"Wrote {ref} as {fmt} to {written}", title="Exported"
        )
        self.app.call_from_thread(self.update_target)
        self.app.call_from_thread(self.action_focus_list)

    @on(Button.Pressed, "#export-write")
    def _write_pressed(self) -> None:
        self.action_write()

    @on(Button.Pressed, "#export-copy")
    def _copy_pressed(self) -> None:
        self.action_copy()
