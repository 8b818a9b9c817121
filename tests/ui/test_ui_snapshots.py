"""Snapshots of the key screens at 80x24 and 120x40, fed by the scripted fake worker.

Update after an intended change with: pytest tests/ui/test_ui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from tests.ui.helpers import settle


async def _settled(pilot: Pilot) -> None:
    await settle(pilot)


async def _build_running(pilot: Pilot) -> None:
    await pilot.press("2")
    await settle(pilot)
    await pilot.press("ctrl+r")
    await settle(pilot)
    heatmap = [h for h in pilot.app.screen.query("TokenHeatmap") if h.words][0]
    heatmap.focus()
    await pilot.press("right", "right", "right")
    await settle(pilot)


async def _build_done(pilot: Pilot) -> None:
    await pilot.press("2")
    await settle(pilot)
    await pilot.press("ctrl+r")
    await settle(pilot)
    pilot.app.client.finish()
    await settle(pilot)


async def _runs(pilot: Pilot) -> None:
    await pilot.press("3")
    await settle(pilot)


async def _run_detail_shots(pilot: Pilot) -> None:
    await pilot.press("3")
    await settle(pilot)
    await pilot.press("down", "enter")
    await settle(pilot)
    await pilot.press("right_square_bracket")
    await settle(pilot)


async def _export(pilot: Pilot) -> None:
    await pilot.press("4")
    await settle(pilot)


async def _experiment_report(pilot: Pilot) -> None:
    await pilot.press("5")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("right_square_bracket")
    await settle(pilot)


async def _error(pilot: Pilot) -> None:
    await pilot.press("2")
    await settle(pilot)
    pilot.app.show_error(
        "the model 'x/y' is not in the local Hugging Face cache and could not be downloaded (OfflineModeIsEnabled)",
        "Check the id and the network, or add a local folder on the Catalogue screen (1, then a).",
        "The build failed",
    )
    await settle(pilot)


SCENES = {
    "catalogue": _settled,
    "build_running": _build_running,
    "build_done": _build_done,
    "runs": _runs,
    "run_detail": _run_detail_shots,
    "export": _export,
    "experiment_report": _experiment_report,
    "error": _error,
}


CASES = [
    ("catalogue", (80, 24)),
    ("catalogue", (120, 40)),
    ("build_running", (80, 24)),
    ("build_running", (120, 40)),
    ("build_done", (120, 40)),
    ("runs", (80, 24)),
    ("run_detail", (120, 40)),
    ("export", (80, 24)),
    ("experiment_report", (80, 24)),
    ("experiment_report", (120, 40)),
    ("error", (80, 24)),
]


@pytest.mark.parametrize(("scene", "size"), CASES, ids=[f"{s}-{w}x{h}" for s, (w, h) in CASES])
def test_screen_snapshot(snap_compare, make_app, scene: str, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), run_before=SCENES[scene], terminal_size=size)


def test_high_contrast_theme_snapshot(snap_compare, make_app) -> None:
    assert snap_compare(
        make_app(theme="sa-contrast"), run_before=_build_running, terminal_size=(80, 24)
    )
