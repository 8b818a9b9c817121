"""The top line: the five screens with their keys (the current one highlighted) and the worker.

It is drawn in the first layout that fits the width: full titles, then first words only, then
closer together without the worker's pid, then without the sa-tui label, then without the
worker's state."""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

SCREENS = (
    ("1", "catalogue", "Catalogue"),
    ("2", "build", "Build"),
    ("3", "runs", "Runs & Prompts"),
    ("4", "export", "Export"),
    ("5", "experiments", "Experiments"),
)
# (first words only, no gap between screens, sa-tui label, worker pid), widest first
LAYOUTS = (
    (False, False, True, True),
    (True, False, True, True),
    (True, True, True, False),
    (True, True, False, False),
)
STATE_STYLES = {
    "ready": "$success",
    "busy": "$accent",
    "starting": "$warning",
    "cancelling": "$warning",
    "stopped": "$text-muted",
    "not started": "$text-muted",
}


class NavBar(Widget):
    DEFAULT_CSS = """
    NavBar {
        height: 1;
        background: $panel;
        color: $text;
    }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "worker_status", self._worker_changed, init=False)

    def _worker_changed(self, _status: str) -> None:
        self.refresh()

    def render(self) -> Content:
        state = str(getattr(self.app, "worker_status", ""))
        width = self.size.width
        for short, close, brand, pid in LAYOUTS:
            left = self._screens(short=short, close=close, brand=brand)
            right = self._worker(state if pid else state.split(" pid ")[0])
            gap = width - left.cell_length - right.cell_length
            if gap >= 1:
                return Content.assemble(left, " " * gap, right)
        return left

    def _screens(self, *, short: bool, close: bool, brand: bool) -> Content:
        current = getattr(self.app, "current_mode", "")
        parts: list[tuple[str, str] | str] = [(" sa-tui ", "bold $accent")] if brand else []
        for key, mode, title in SCREENS:
            if short:
                title = title.split(" ")[0]
            style = "bold reverse $primary" if mode == current else ""
            if not close:
                parts.append(" ")
            parts.append((f" {key} ", "bold $accent" if mode != current else style))
            parts.append((f"{title} ", style))
        return Content.assemble(*parts)

    def _worker(self, state: str) -> Content:
        return Content.assemble(
            ("worker ", "dim"), (state, STATE_STYLES.get(state.split(" ")[0], "")), " "
        )
