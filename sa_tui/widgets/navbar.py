"""The top line: the four screens with their keys (the current one highlighted) and the worker."""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

SCREENS = (
    ("1", "catalogue", "Catalogue"),
    ("2", "build", "Build"),
    ("3", "runs", "Runs & Prompts"),
    ("4", "export", "Export"),
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
        current = getattr(self.app, "current_mode", "")
        narrow = self.size.width < 100
        parts: list[tuple[str, str] | str] = [(" sa-tui ", "bold $accent")]
        for key, mode, title in SCREENS:
            if narrow:
                title = title.split(" ")[0]
            style = "bold reverse $primary" if mode == current else ""
            parts.append(" ")
            parts.append((f" {key} ", "bold $accent" if mode != current else style))
            parts.append((f"{title} ", style))
        state = str(getattr(self.app, "worker_status", ""))
        left = Content.assemble(*parts)
        right = Content.assemble(
            ("worker ", "dim"), (state, STATE_STYLES.get(state.split(" ")[0], "")), " "
        )
        gap = self.size.width - left.cell_length - right.cell_length
        if gap < 1:
            return left
        return Content.assemble(left, " " * gap, right)
