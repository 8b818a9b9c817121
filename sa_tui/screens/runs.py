"""Runs & Prompts: filter and sort runs and prompt versions; open a run; diff two versions;
compare methods' scores side by side."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, Static, TabbedContent, TabPane

from sa_tui.data import PromptRow, RunRow
from sa_tui.messages import ShowOnExport, ShowRun
from sa_tui.screens.modals import PromptScreen, TextScreen
from sa_tui.widgets.navbar import NavBar

if TYPE_CHECKING:
    from sa_tui.app import SaTuiApp

# the short, fixed columns first and the long ones (methods, progress) last, so that at 80
# columns nothing but the end of the method list is cut off
RUN_COLUMNS: list[tuple[str, Callable[[RunRow], Any]]] = [
    ("started", lambda r: r.created),
    ("status", lambda r: r.status),
    ("took", lambda r: r.seconds or 0.0),
    ("id", lambda r: r.id),
    ("model", lambda r: r.model),
    ("dataset", lambda r: r.dataset),
    ("methods", lambda r: r.methods),
    ("progress", lambda r: (r.done / r.total) if r.total else 0.0),
]
PROMPT_COLUMNS: list[tuple[str, Callable[[PromptRow], Any]]] = [
    ("created", lambda p: p.created),
    ("method", lambda p: p.method),
    ("v", lambda p: p.version),
    ("accuracy", lambda p: -1.0 if p.accuracy is None else p.accuracy),
    ("n", lambda p: p.n or 0),
    ("lineage", lambda p: p.lineage),
    ("aliases", lambda p: ",".join(p.aliases)),
]


def short_ref(ref: str) -> str:
    return ref.split(":", 1)[-1].rstrip("/").split("/")[-1]


def matches(text: str, query: str) -> bool:
    text = text.lower()
    return all(term in text for term in query.lower().split())


def run_cells(run: RunRow) -> tuple[str, ...]:
    progress = f"{run.stage} {run.done}/{run.total}" if run.status != "done" and run.total else ""
    return (
        run.created[5:16].replace("T", " "),
        run.status,
        duration(run.seconds),
        run.id[:8],
        short_ref(run.model),
        short_ref(run.dataset),
        run.methods,
        progress,
    )


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def prompt_cells(prompt: PromptRow, marked: bool) -> tuple[str, ...]:
    accuracy = "" if prompt.accuracy is None else f"{prompt.accuracy:.3f}"
    return (
        ("● " if marked else "  ") + prompt.created[5:16].replace("T", " "),
        prompt.method,
        str(prompt.version),
        accuracy,
        "" if prompt.n is None else str(prompt.n),
        prompt.lineage,
        ",".join(prompt.aliases),
    )


def diff_content(a_title: str, a: str, b_title: str, b: str) -> Content:
    lines = list(
        difflib.unified_diff(a.splitlines(), b.splitlines(), a_title, b_title, lineterm="", n=2)
    )
    if not lines:
        return Content.styled("The two versions have the same context.", "italic")
    parts: list[Content] = []
    for line in lines:
        if line.startswith(("+++", "---")):
            parts.append(Content.styled(line, "bold"))
        elif line.startswith("+"):
            parts.append(Content.styled(line, "$success"))
        elif line.startswith("-"):
            parts.append(Content.styled(line, "$error"))
        elif line.startswith("@@"):
            parts.append(Content.styled(line, "$accent"))
        else:
            parts.append(Content(line))
    return Content("\n").join(parts)


def compare_table(prompts: Sequence[PromptRow], title: str) -> Table:
    """Each method's best-known score (latest version) side by side."""
    table = Table(title=title, expand=False, show_lines=False)
    for column in ("method", "accuracy", "95% CI", "n", "version", "created"):
        table.add_column(
            column, justify="left" if column in ("method", "version", "created") else "right"
        )
    latest: dict[str, PromptRow] = {}
    for prompt in prompts:
        current = latest.get(prompt.method)
        if current is None or prompt.version > current.version:
            latest[prompt.method] = prompt
    ranked = sorted(latest.values(), key=lambda p: -(p.accuracy if p.accuracy is not None else -1))
    best = ranked[0].accuracy if ranked else None
    for prompt in ranked:
        acc = "" if prompt.accuracy is None else f"{prompt.accuracy:.3f}"
        if prompt.accuracy is not None and prompt.accuracy == best:
            acc = f"[bold]{acc}[/bold]"
        ci = (
            f"[{prompt.ci95[0]:.2f}, {prompt.ci95[1]:.2f}]"
            if prompt.ci95 and None not in prompt.ci95
            else ""
        )
        table.add_row(
            prompt.method,
            acc,
            ci,
            "" if prompt.n is None else str(prompt.n),
            f"v{prompt.version}",
            prompt.created[:16].replace("T", " "),
        )
    return table


class RunsScreen(Screen[None]):
    TITLE = "Runs & Prompts"
    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("s", "sort", "Sort"),
        Binding("o", "reverse", "Order", show=False),
        Binding("p", "toggle_tab", "Runs/Prompts"),
        Binding("enter", "open", "Open", show=False),
        Binding("space", "mark", "Mark", show=False),
        Binding("d", "diff", "Diff"),
        Binding("m", "compare", "Compare"),
        Binding("e", "export", "Export", show=False),
        Binding("a", "alias", "Alias", show=False),
        Binding("r,f5", "refresh", "Refresh", show=False),
        Binding("escape", "leave_filter", "Leave filter", show=False),
    ]

    HELP_KEYS = [
        ("enter", "open the run (Runs) or the prompt version (Prompts)"),
        ("space", "mark a prompt version for diff (two at most)"),
        ("o", "reverse the sort order"),
        ("e", "export the prompt version under the cursor"),
        ("a", "give the prompt version under the cursor an alias (e.g. best)"),
        ("escape", "leave the filter"),
    ]

    app: SaTuiApp

    def __init__(self) -> None:
        super().__init__()
        self.all_runs: list[RunRow] = []
        self.all_prompts: list[PromptRow] = []
        self.runs: list[RunRow] = []
        self.prompts: list[PromptRow] = []
        self.marked: list[Any] = []
        self.sort = {"runs": (0, True), "prompts": (0, True)}

    def compose(self) -> ComposeResult:
        yield NavBar()
        with Vertical(id="runs-screen"):
            with Horizontal(id="filter-row"):
                yield Label("/", id="filter-label")
                yield Input(
                    placeholder="filter: words that must all appear (model, method, status…)",
                    id="filter",
                    compact=True,
                )
                yield Label("", id="sort-label")
            with TabbedContent(id="runs-tabs", initial="runs-pane"):
                with TabPane("Runs", id="runs-pane"):
                    yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
                with TabPane("Prompts", id="prompts-pane"):
                    yield DataTable(id="prompts-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="runs-status", classes="status-line")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#runs-table", DataTable).add_columns(*(name for name, _ in RUN_COLUMNS))
        self.query_one("#prompts-table", DataTable).add_columns(
            *(name for name, _ in PROMPT_COLUMNS)
        )
        self.query_one("#runs-table", DataTable).focus()
        self.load()
        self.set_interval(3.0, self._poll)

    def on_screen_resume(self) -> None:
        self.load()

    def _poll(self) -> None:
        """While a run is in progress, keep its status and progress fresh."""
        if self.is_current and any(r.status in ("running", "queued") for r in self.all_runs):
            self.load()

    # ----------------------------------------------------------------------------------- data
    def action_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="runs-load")
    def load(self) -> None:
        try:
            runs = self.app.data.runs()
            prompts = self.app.data.prompts()
        except Exception as error:
            self.app.call_from_thread(
                self.app.show_error,
                f"the store could not be read ({error})",
                "Press r to try again; check the data directory if it persists.",
            )
            return
        self.app.call_from_thread(self.show_rows, runs, prompts)

    def show_rows(self, runs: list[RunRow], prompts: list[PromptRow]) -> None:
        self.all_runs, self.all_prompts = runs, prompts
        self.apply_view()

    @property
    def tab(self) -> str:
        active = self.query_one("#runs-tabs", TabbedContent).active
        return "prompts" if active == "prompts-pane" else "runs"

    def apply_view(self) -> None:
        query = self.query_one("#filter", Input).value.strip()
        index, descending = self.sort["runs"]
        runs = [
            r
            for r in self.all_runs
            if not query
            or matches(" ".join(run_cells(r)) + " " + r.model + " " + r.dataset + " " + r.id, query)
        ]
        runs.sort(key=RUN_COLUMNS[index][1], reverse=descending)
        index, descending = self.sort["prompts"]
        prompts = [
            p
            for p in self.all_prompts
            if not query
            or matches(" ".join(prompt_cells(p, False)) + " " + p.model + " " + p.dataset, query)
        ]
        prompts.sort(key=PROMPT_COLUMNS[index][1], reverse=descending)
        self.runs, self.prompts = runs, prompts
        table = self.query_one("#runs-table", DataTable)
        keep = table.cursor_row
        table.clear()
        for run in runs:
            table.add_row(*run_cells(run), key=run.id)
        table.move_cursor(row=min(max(keep, 0), max(0, len(runs) - 1)))
        table = self.query_one("#prompts-table", DataTable)
        keep = table.cursor_row
        table.clear()
        for prompt in prompts:
            table.add_row(*prompt_cells(prompt, prompt.id in self.marked), key=str(prompt.id))
        table.move_cursor(row=min(max(keep, 0), max(0, len(prompts) - 1)))
        self.update_labels()

    def update_labels(self) -> None:
        tab = self.tab
        columns = RUN_COLUMNS if tab == "runs" else PROMPT_COLUMNS
        index, descending = self.sort[tab]
        self.query_one("#sort-label", Label).update(
            f"sort: {columns[index][0]} {'↓' if descending else '↑'}"
        )
        if tab == "runs":
            text = f"{len(self.runs)} of {len(self.all_runs)} runs.  enter: open   p: prompts   s/o: sort   /: filter"
        else:
            marks = f"  marked {len(self.marked)}/2" if self.marked else ""
            text = f"{len(self.prompts)} of {len(self.all_prompts)} versions{marks}.  space: mark   d: diff   m: compare   e: export"
        self.query_one("#runs-status", Static).update(text)

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self.apply_view()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.focus_table()

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.update_labels()

    def focus_table(self) -> None:
        self.query_one(
            "#prompts-table" if self.tab == "prompts" else "#runs-table", DataTable
        ).focus()

    # -------------------------------------------------------------------------------- actions
    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_leave_filter(self) -> None:
        self.focus_table()

    def action_sort(self) -> None:
        tab = self.tab
        columns = RUN_COLUMNS if tab == "runs" else PROMPT_COLUMNS
        index, descending = self.sort[tab]
        self.sort[tab] = ((index + 1) % len(columns), descending)
        self.apply_view()

    def action_reverse(self) -> None:
        tab = self.tab
        index, descending = self.sort[tab]
        self.sort[tab] = (index, not descending)
        self.apply_view()

    def action_toggle_tab(self) -> None:
        tabs = self.query_one("#runs-tabs", TabbedContent)
        tabs.active = "prompts-pane" if tabs.active == "runs-pane" else "runs-pane"
        self.focus_table()
        self.update_labels()

    def current_run(self) -> RunRow | None:
        table = self.query_one("#runs-table", DataTable)
        if not self.runs or not 0 <= table.cursor_row < len(self.runs):
            return None
        return self.runs[table.cursor_row]

    def current_prompt(self) -> PromptRow | None:
        table = self.query_one("#prompts-table", DataTable)
        if not self.prompts or not 0 <= table.cursor_row < len(self.prompts):
            return None
        return self.prompts[table.cursor_row]

    def action_open(self) -> None:
        if self.tab == "runs":
            run = self.current_run()
            if run is not None:
                from sa_tui.screens.run_detail import RunDetailScreen

                self.app.push_screen(RunDetailScreen(run.id))
        else:
            prompt = self.current_prompt()
            if prompt is not None:
                self.show_prompt(prompt)

    @on(ShowRun)
    def _show_run(self, command: ShowRun) -> None:
        from sa_tui.screens.run_detail import RunDetailScreen

        self.app.push_screen(RunDetailScreen(command.run_id, back_to=command.back_to))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    @work(thread=True, group="runs-open")
    def show_prompt(self, prompt: PromptRow) -> None:
        try:
            context = self.app.data.prompt_context(str(prompt.id))
        except Exception as error:
            self.app.call_from_thread(
                self.app.show_error, str(error), "Press r to reload the list."
            )
            return
        score = (
            f"accuracy {prompt.accuracy:.3f} on n={prompt.n}"
            if prompt.accuracy is not None
            else "not scored"
        )
        header = f"{prompt.ref}  ·  {prompt.method}  ·  {score}  ·  run {prompt.run_id[:8]}\n\n"
        self.app.call_from_thread(
            self.app.push_screen, TextScreen(prompt.ref, Content(header + context), context)
        )

    def action_mark(self) -> None:
        if self.tab != "prompts":
            return
        prompt = self.current_prompt()
        if prompt is None:
            return
        if prompt.id in self.marked:
            self.marked.remove(prompt.id)
        else:
            self.marked = [*self.marked, prompt.id][-2:]
        table = self.query_one("#prompts-table", DataTable)
        row = table.cursor_row
        self.apply_view()
        table.move_cursor(row=min(row + 1, max(0, len(self.prompts) - 1)))

    def action_diff(self) -> None:
        by_id = {p.id: p for p in self.all_prompts}
        chosen = [by_id[i] for i in self.marked if i in by_id]
        current = self.current_prompt()
        if len(chosen) < 2 and current is not None and current not in chosen:
            chosen.append(current)
        if len(chosen) < 2:
            self.notify("Mark two prompt versions with space (on the Prompts tab), then press d.")
            return
        self.show_diff(chosen[0], chosen[1])

    @work(thread=True, group="runs-open")
    def show_diff(self, a: PromptRow, b: PromptRow) -> None:
        try:
            left, right = (
                self.app.data.prompt_context(str(a.id)),
                self.app.data.prompt_context(str(b.id)),
            )
        except Exception as error:
            self.app.call_from_thread(
                self.app.show_error, str(error), "Press r to reload the list."
            )
            return
        body = diff_content(a.ref, left, b.ref, right)
        text = "\n".join(
            difflib.unified_diff(left.splitlines(), right.splitlines(), a.ref, b.ref, lineterm="")
        )
        self.app.call_from_thread(
            self.app.push_screen, TextScreen(f"diff {a.ref} → {b.ref}", body, text)
        )

    def action_compare(self) -> None:
        if self.tab == "prompts":
            prompt = self.current_prompt()
            if prompt is None:
                self.notify("No prompt version under the cursor.")
                return
            model, dataset, n = prompt.model, prompt.dataset, prompt.lineage.rsplit(".", 1)[-1]
        else:
            run = self.current_run()
            if run is None:
                self.notify("No run under the cursor.")
                return
            model, dataset, n = run.model, run.dataset, f"n{run.config.get('shots', '')}"
        same = [
            p
            for p in self.all_prompts
            if p.model == model
            and p.dataset == dataset
            and (p.lineage.endswith("." + n) or p.method == "zero_shot")
        ]
        if not same:
            self.notify("No scored prompt versions for that model and dataset yet.")
            return
        title = f"{short_ref(model)} on {short_ref(dataset)}, {n}"
        table = compare_table(same, title)
        lines = [f"{p.method}\t{p.accuracy}\t{p.n}\t{p.ref}" for p in same]
        self.app.push_screen(TextScreen(f"Methods compared: {title}", table, "\n".join(lines)))  # type: ignore[arg-type]

    def action_alias(self) -> None:
        prompt = self.current_prompt() if self.tab == "prompts" else None
        if prompt is None:
            self.notify("Switch to Prompts (p) and put the cursor on a version to alias it.")
            return

        def named(name: str | None) -> None:
            if name:
                self.set_alias(prompt, name)

        detail = (
            f"Name {prompt.ref} as {prompt.lineage}@NAME (e.g. best, latest-good). An alias "
            "already in use for this lineage moves here."
        )
        self.app.push_screen(PromptScreen(f"Alias for {prompt.ref}", "best", detail=detail), named)

    @work(thread=True, group="runs-change")
    def set_alias(self, prompt: PromptRow, name: str) -> None:
        try:
            self.app.data.set_prompt_alias(prompt.lineage, name, prompt.version)
        except Exception as error:
            self.app.call_from_thread(
                self.app.show_error,
                str(error),
                "Press a on the version to try another name.",
                "Could not set the alias",
            )
            return
        self.app.call_from_thread(self.notify, f"{prompt.lineage}@{name} -> v{prompt.version}")
        self.load()

    def action_export(self) -> None:
        prompt = self.current_prompt() if self.tab == "prompts" else None
        if prompt is None:
            self.app.switch_mode("export")
        else:
            self.post_message(ShowOnExport(prompt.ref))
