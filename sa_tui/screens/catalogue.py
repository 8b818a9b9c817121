"""Catalogue: the models and datasets on this machine; add, verify, remove (with confirmation)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from sa_tui.data import DatasetRow, ModelRow, PullDone, RemovalPlan, human_count, human_size
from sa_tui.messages import CatalogueKind, PickForBuild
from sa_tui.screens.modals import AddDatasetScreen, ConfirmScreen, PromptScreen
from sa_tui.screens.pull import PullScreen
from sa_tui.widgets.navbar import NavBar

MISSING = "—"  # a value the catalogue has not read yet (v reads it)
FIXED_DATASET_COLUMNS = 46  # ref, pool/test and rows columns with their padding, at most

if TYPE_CHECKING:
    from sa_tui.app import SaTuiApp


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells, with … when something was left off."""
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def source_bytes(row: ModelRow) -> int | None:
    """The model's own files: a built-in's packaged GGUF, else everything it reads in place."""
    return row.kept_bytes if row.freed_bytes is not None else row.size_bytes


def disk_totals(rows: list[ModelRow]) -> str:
    """The models' source files and sa-tui's converted copies, in all."""
    source = sum(source_bytes(row) or 0 for row in rows)
    converted = sum(row.freed_bytes or 0 for row in rows)
    return f"source {human_size(source) or '0 B'}, converted {human_size(converted) or '0 B'}"


def size_story(row: ModelRow) -> str:
    """What the size column counts, in the same numbers as the removal dialog."""
    size = human_size(row.size_bytes) or "unknown size"
    if row.freed_bytes is None:
        return f"size {size}, files in place (del removes the entry, not the files)"
    if not row.freed_bytes:
        return f"size {size} (the GGUF in its package, kept by del; converted on first use)"
    return (
        f"size {size} (GGUF {human_size(row.kept_bytes)} in its package, kept; "
        f"converted copy {human_size(row.freed_bytes)}, freed by del)"
    )


def removal_story(kind: str, plan: RemovalPlan) -> str:
    """The removal dialog's detail: what is freed and what is kept, in the catalogue's numbers."""
    if plan.freed_bytes:
        freed = f"Frees {human_size(plan.freed_bytes)}: the files sa-tui made (a converted copy)."
    else:
        freed = "Frees nothing on disk: sa-tui made none of its files."
    kept = (
        f" Keeps {human_size(plan.kept_bytes)}: {plan.kept}, which sa-tui did not make."
        if plan.kept_bytes
        else ""
    )
    return f"{freed}{kept} {plan.note}".strip()


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
        models.add_columns("ref", "format", "source", "converted", "params", "dtype", "last used")
        datasets = self.query_one("#datasets", DataTable)
        datasets.add_columns("ref", "pool/test", "rows", "source")
        models.focus()
        self.last_dataset: tuple[str, str] = ("", "")
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
                human_size(source_bytes(row)),
                human_size(row.freed_bytes) if row.freed_bytes else MISSING,
                human_count(row.parameters) or MISSING,
                row.dtype or MISSING,
                row.last_used[:16].replace("T", " "),
                key=row.ref,
            )
        table.move_cursor(row=min(keep, max(0, len(models) - 1)))
        table = self.query_one("#datasets", DataTable)
        keep = table.cursor_row
        table.clear()
        room = max(16, self.size.width - FIXED_DATASET_COLUMNS)
        for data in datasets:
            table.add_row(
                data.ref,
                data.splits.replace("pool ", "").replace(" / test ", "/"),
                human_count(data.rows),
                clip(data.source, room),
                key=data.ref,
            )
        table.move_cursor(row=min(keep, max(0, len(datasets) - 1)))
        self.update_status()

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self) -> None:
        self.update_status()

    def on_descendant_focus(self) -> None:
        self.update_status()

    def update_status(self) -> None:
        """The row under the cursor in full (what a column cuts), then the totals."""
        picked = self.selected()
        totals = (
            f"{plural(len(self.model_rows), 'model')} ({disk_totals(self.model_rows)}), "
            f"{plural(len(self.dataset_rows), 'dataset')}"
        )
        line = f"{totals}. tab switches table; enter builds with the row."
        if picked is not None and picked[0] == "model":
            row = next((m for m in self.model_rows if m.ref == picked[1]), None)
            if row is not None:
                missing = (
                    "; params, dtype: press v" if row.parameters is None or not row.dtype else ""
                )
                line = f"{row.ref}: {size_story(row)}{missing}"
        elif picked is not None:
            data = next((d for d in self.dataset_rows if d.ref == picked[1]), None)
            if data is not None:
                line = f"{data.ref}: {data.source or data.name}"
        self.query_one("#catalogue-status", Static).update(line)

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
        if isinstance(focused, DataTable) and focused.id == "datasets":
            source, field_map = self.last_dataset

            def dataset_added(answer: tuple[str, str] | None) -> None:
                if answer:
                    self.last_dataset = answer
                    self.add_entry("dataset", answer[0], answer[1] or None)

            self.app.push_screen(AddDatasetScreen(source, field_map), dataset_added)
            return
        detail = "A model folder, a .gguf file, a Hugging Face id (from the cache, or pulled with progress) or builtin:NAME."
        placeholder = "~/models/my-model  or  HuggingFaceTB/SmolLM2-135M-Instruct"

        def added(ref: str | None) -> None:
            if ref:
                self.add_entry("model", ref)

        self.app.push_screen(PromptScreen("Add a model", placeholder, detail=detail), added)

    @work(thread=True, group="catalogue-change")
    def add_entry(self, kind: str, ref: str, field_map: str | None = None) -> None:
        if kind == "model" and self.app.data.needs_pull(ref):
            self.app.call_from_thread(self.start_pull, ref)
            return
        self.app.call_from_thread(self.notify, f"Adding {ref}…")
        try:
            if kind == "model":
                self.app.data.add_model(ref)
            else:
                self.app.data.add_dataset(ref, field_map)
        except Exception as error:
            todo = "Check the path or name and try again (a on the Catalogue)."
            if kind == "dataset":
                todo = (
                    "Press a (in the datasets table) to try again: the dialog keeps what you "
                    "typed; a Field map names the columns, e.g. "
                    "id=qid,question=text,choices=opt_a|opt_b|opt_c,answer=label."
                )
            self.app.call_from_thread(
                self.app.show_error, str(error), todo, f"Could not add the {kind}"
            )
            return
        self.app.call_from_thread(self.notify, f"Added {ref}")
        self.load()

    def start_pull(self, source: str) -> None:
        """A hub id not in the cache yet: pull it, with progress (escape cancels)."""
        self.app.push_screen(PullScreen(source), self.pulled)

    def pulled(self, done: PullDone | None) -> None:
        if done is None:
            return
        if done.ref is not None:
            self.notify(f"Pulled {done.ref}: {done.detail}", title="Pulled")
            self.load()
        elif done.cancelled:
            self.notify(
                f"Pull of {done.source} cancelled with {done.detail} on disk; "
                "add it again (a) to resume."
            )
        else:
            self.app.show_error(
                done.error or "the pull failed",
                "Check the id and the network, then press a to try again (it resumes).",
                f"Could not pull {done.source}",
            )

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
                detail = removal_story(kind, self.app.data.plan_remove_model(ref))
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
