"""The pull dialog: a hub model downloading, a bar for the file and one for the whole pull,
bytes, rate and time left; escape (or c) cancels, keeping what was downloaded for next time.

The pull runs in a thread worker owned by this screen; progress comes back through
``call_from_thread`` (at most ten events a second, see :mod:`store.hub_pull`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, ProgressBar, Static

from sa_tui.data import PullDone, PullView, human_size

if TYPE_CHECKING:
    from sa_tui.app import SaTuiApp


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    whole = int(seconds + 0.5)
    return f"{whole // 60}:{whole % 60:02d}"


def progress_lines(view: PullView) -> tuple[str, str]:
    file_line = f"{view.file}  {human_size(view.file_done)} of {human_size(view.file_total)}"
    all_line = (
        f"{view.files_done}/{view.files_total} files, {human_size(view.done)} of "
        f"{human_size(view.total)}, {human_size(int(view.rate))}/s, ETA {eta_text(view.eta_seconds)}"
    )
    return file_line, all_line


class PullScreen(ModalScreen[PullDone]):
    """Pull ``source`` into the HF cache and the catalogue, showing progress."""

    BINDINGS = [Binding("escape,c", "cancel", "Cancel pull")]

    app: SaTuiApp

    def __init__(self, source: str) -> None:
        super().__init__(classes="modal-screen")
        self.source = source
        self.cancel_event = threading.Event()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="pull-dialog"):
            yield Label(f"Pulling {self.source}", classes="dialog-title")
            yield Static(
                "Asking the hub what to download…", id="pull-plan", classes="dialog-detail"
            )
            yield Static("", id="pull-file")
            yield ProgressBar(id="pull-file-bar", show_eta=False)
            yield Static("", id="pull-all")
            yield ProgressBar(id="pull-all-bar", show_eta=False)
            yield Static("escape: cancel (a later pull resumes)", classes="dialog-keys")

    def on_mount(self) -> None:
        self.pull()

    @work(thread=True, exclusive=True, group="pull")
    def pull(self) -> None:
        result = self.app.data.pull_model(
            self.source,
            on_plan=lambda text: self.app.call_from_thread(self.show_plan, text),
            on_progress=lambda view: self.app.call_from_thread(self.show_progress, view),
            cancel=self.cancel_event,
        )
        self.app.call_from_thread(self.dismiss, result)

    def show_plan(self, text: str) -> None:
        self.query_one("#pull-plan", Static).update(text)

    def show_progress(self, view: PullView) -> None:
        file_line, all_line = progress_lines(view)
        self.query_one("#pull-file", Static).update(file_line)
        self.query_one("#pull-all", Static).update(all_line)
        self.query_one("#pull-file-bar", ProgressBar).update(
            total=max(1, view.file_total), progress=view.file_done
        )
        self.query_one("#pull-all-bar", ProgressBar).update(
            total=max(1, view.total), progress=view.done
        )

    def action_cancel(self) -> None:
        if not self.cancel_event.is_set():
            self.cancel_event.set()
            self.query_one("#pull-plan", Static).update("Cancelling…")


def pull_view(event: Any) -> PullView:
    """A store.hub_pull.PullProgress as the dialog's plain view."""
    return PullView(
        file=event.file,
        file_done=event.file_done,
        file_total=event.file_total,
        files_done=event.files_done,
        files_total=event.files_total,
        done=event.done,
        total=event.total,
        rate=event.rate,
        eta_seconds=event.eta_seconds,
    )
