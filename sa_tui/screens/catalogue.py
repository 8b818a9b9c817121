"""Catalogue: the models and datasets on this machine; add, verify, remove (with confirmation)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from sa_tui.data import DatasetRow, ModelRow, human_count, human_size
from sa_tui.messages import CatalogueKind, PickForBuild
from sa_tui.screens.modals import ConfirmScreen, PromptScreen
from sa_tui.widgets.navbar import NavBar

if TYPE_CHECKING:
    from sa_tui.app import SaTuiApp


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class CatalogueScreen(Screen[None]):
    TITLE = "Catalogue"
    BINDINGS = [
        Binding("a", "add", "Add"),
        Binding("v", "verify", "Verify"),
        Binding("delete,x", "remove", "Remove", key_display="del"),
        Binding("b", "build_with", "Build with"),
        Binding("r,f5", "refresh", "Refresh", key_display="r"),
    ]

    HELP_KEYS = [
        ("tab", "switch between the models and datasets tables"),
        ("enter", "build with the row under the cursor"),
    ]

    app: SaTuiApp

    def __init__(self) -> None:
        super().__init__()
        self.model_rows: list[ModelRow] = []
        self.dataset_rows: list[DatasetRow] = []

    def compose(self) -> ComposeResult:
        yield NavBar()
        with Vertical(id="catalogue"):
            yield Label("Models", classes="section-title")
            yield DataTable(id="models", cursor_type="row", zebra_stripes=True)
            yield Label("Datasets", classes="section-title")
            yield DataTable(id="datasets", cursor_type="row", zebra_stripes=True)
            yield Static("Loading the catalogue…", id="catalogue-status", classes="status-line")
        yield Footer()

    def on_mount(self) -> None:
        models = self.query_one("#models", DataTable)
        models.add_columns("ref", "format", "size", "params", "dtype", "last used")
        datasets = self.query_one("#datasets", DataTable)
        datasets.add_columns("ref", "splits", "rows", "source")
        models.focus()
        self.action_refresh()

    # ---------------------------------------------------------------------------------- data
    def action_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="catalogue-load")
    def load(self) -> None:
        try:
            models = self.app.data.models()
            datasets = self.app.data.datasets()
        except Exception as error:
            self.app.call_from_thread(
                self.app.show_error,
                f"the catalogue could not be read ({error})",
                "Check the data directory (SA_TUI_HOME) and its free space, then press r.",
            )
            return
        self.app.call_from_thread(self.show_rows, models, datasets)

    def show_rows(self, models: list[ModelRow], datasets: list[DatasetRow]) -> None:
        self.model_rows, self.dataset_rows = models, datasets
        table = self.query_one("#models", DataTable)
        keep = table.cursor_row
        table.clear()
        for row in models:
            table.add_row(
                row.ref,
                row.format,
                human_size(row.size_bytes),
                human_count(row.parameters),
                row.dtype,
                row.last_used[:16],
                key=row.ref,
            )
        table.move_cursor(row=min(keep, max(0, len(models) - 1)))
        table = self.query_one("#datasets", DataTable)
        keep = table.cursor_row
        table.clear()
        for data in datasets:
            table.add_row(
                data.ref, data.splits, human_count(data.rows), data.source[:40], key=data.ref
            )
        table.move_cursor(row=min(keep, max(0, len(datasets) - 1)))
        self.query_one("#catalogue-status", Static).update(
            f"{plural(len(models), 'model')}, {plural(len(datasets), 'dataset')}. "
            "tab switches table; enter builds with the row."
        )

    def selected(self) -> tuple[CatalogueKind, str] | None:
        """('model' | 'dataset', ref) under the cursor of the focused table."""
        focused = self.focused
        table = focused if isinstance(focused, DataTable) else self.query_one("#models", DataTable)
        rows: list[Any] = self.model_rows if table.id == "models" else self.dataset_rows
        if not rows or table.cursor_row < 0 or table.cursor_row >= len(rows):
            return None
        return ("model" if table.id == "models" else "dataset", rows[table.cursor_row].ref)

    # ------------------------------------------------------------------------------- actions
    def action_add(self) -> None:
        focused = self.focused
        kind = "dataset" if isinstance(focused, DataTable) and focused.id == "datasets" else "model"
        if kind == "model":
            question = "Add a model"
            detail = "A model folder, a .gguf file, a Hugging Face id (from the cache, or downloaded when online) or builtin:NAME."
            placeholder = "~/models/my-model  or  HuggingFaceTB/SmolLM2-135M-Instruct"
        else:
            question = "Add a dataset"
            detail = (
                "A .jsonl/.csv/.parquet file, a datasets folder, hf:owner/name, or builtin:NAME."
            )
            placeholder = "~/data/my-questions.jsonl"

        def added(ref: str | None) -> None:
            if ref:
                self.add_entry(kind, ref)

        self.app.push_screen(PromptScreen(question, placeholder, detail=detail), added)

    @work(thread=True, group="catalogue-change")
    def add_entry(self, kind: str, ref: str) -> None:
        self.app.call_from_thread(self.notify, f"Adding {ref}…")
        try:
            if kind == "model":
                self.app.data.add_model(ref)
            else:
                self.app.data.add_dataset(ref)
        except Exception as error:
            self.app.call_from_thread(
                self.app.show_error,
                str(error),
                "Check the path or name and try again (a on the Catalogue).",
                f"Could not add the {kind}",
            )
            return
        self.app.call_from_thread(self.notify, f"Added {ref}")
        self.load()

    def action_verify(self) -> None:
        picked = self.selected()
        if picked is None or picked[0] != "model":
            self.notify("Put the cursor on a model to verify it.")
            return
        self.verify_entry(picked[1])

    @work(thread=True, group="catalogue-change")
    def verify_entry(self, ref: str) -> None:
        self.app.call_from_thread(self.notify, f"Verifying {ref}…")
        try:
            problems = self.app.data.verify_model(ref)
        except Exception as error:
            problems = [str(error)]
        if problems:
            self.app.call_from_thread(
                self.app.show_error,
                "; ".join(problems),
                "Re-add the model (a), or remove it (del) and add a good copy.",
                f"{ref} did not verify",
            )
        else:
            self.app.call_from_thread(
                self.notify,
                f"{ref}: files present, config loads, checksums match.",
                title="Verified",
            )
        self.load()

    def action_remove(self) -> None:
        picked = self.selected()
        if picked is None:
            self.notify("Put the cursor on a model or dataset to remove it.")
            return
        self.plan_removal(*picked)

    @work(thread=True, group="catalogue-change")
    def plan_removal(self, kind: str, ref: str) -> None:
        detail = "The entry leaves the catalogue; runs and prompt versions that used it stay."
        if kind == "model":
            try:
                plan = self.app.data.plan_remove_model(ref)
                detail = f"Frees {human_size(plan.freed_bytes)} ({plural(plan.files, 'file')}). {plan.note}".strip()
            except Exception as error:
                detail = f"Could not size it: {error}"

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.remove_entry(kind, ref)

        self.app.call_from_thread(
            self.app.push_screen,
            ConfirmScreen(f"Remove the {kind} {ref}?", detail, yes="Remove"),
            confirmed,
        )

    @work(thread=True, group="catalogue-change")
    def remove_entry(self, kind: str, ref: str) -> None:
        try:
            if kind == "model":
                plan = self.app.data.remove_model(ref)
                message = f"Removed {ref}; freed {human_size(plan.freed_bytes)}"
            else:
                self.app.data.remove_dataset(ref)
                message = f"Removed {ref}"
        except Exception as error:
            self.app.call_from_thread(
                self.app.show_error,
                str(error),
                "Nothing was removed; check the entry and try again.",
                f"Could not remove {ref}",
            )
            return
        self.app.call_from_thread(self.notify, message)
        self.load()

    def action_build_with(self) -> None:
        picked = self.selected()
        if picked is None:
            self.app.switch_mode("build")
        else:
            self.post_message(PickForBuild(*picked))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_build_with()
