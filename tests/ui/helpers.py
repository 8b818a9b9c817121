"""Small helpers for Pilot tests."""

from __future__ import annotations

from textual.app import App
from textual.pilot import Pilot


def screen_text(app: App) -> str:
    """The visible text of the current screen (no colours), one line per row."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip).rstrip() for strip in strips)


async def settle(pilot: Pilot, rounds: int = 3) -> None:
    """Let thread workers finish and the screen catch up."""
    for _ in range(rounds):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
