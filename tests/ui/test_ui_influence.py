"""Per-shot influence (``--influence``) in the UI: a signed figure beside each shot card, live on
the Build screen (from the worker's ``influence`` event) and on the Run screen (from the store)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual.widgets import TabbedContent

from jobs import protocol
from sa_tui.build_state import BuildState, ShotCardState
from sa_tui.data import RunDetail
from sa_tui.screens.run_detail import RunDetailScreen
from sa_tui.widgets.influence import influence_figure, influence_lines, influence_text
from sa_tui.widgets.shot_card import ShotCard
from sa_tui.worker_client import WorkerEvent
from tests.ui.fakes import FakeData
from tests.ui.helpers import screen_text, settle


def _shot(sample_id: str, influence: float, p_value: float, position: int = 0) -> dict[str, Any]:
    return {
        "id": sample_id,
        "position": position,
        "accuracy_full": 0.55,
        "accuracy_without": round(0.55 - influence, 4),
        "influence": influence,
        "n": 40,
        "helps": 3,
        "hurts": 1,
        "p_value": p_value,
        "ci95": [-0.05, 0.15],
    }


HELPS = _shot("snarks-017", 0.06, 0.02)
HURTS = _shot("snarks-042", -0.04, 0.5, 1)


def test_the_figure_is_short_and_signed() -> None:
    assert influence_text(HELPS) == "+0.06 helps"
    assert influence_text(HURTS) == "-0.04 hurts"
    assert influence_text(_shot("x", 0.001, 1.0)) == "±0.00"
    assert influence_figure(HELPS).plain == "+0.06 helps (p 0.02)"
    assert influence_figure(HURTS).plain == "-0.04 hurts (p 0.50, noise)"
    line = influence_lines("io", [HELPS, HURTS]).plain
    assert line.startswith("io influence on 40 dev items (full context 0.550): snarks-017 +0.06")


def test_the_build_state_keeps_the_influence_event_and_marks_its_cards() -> None:
    state = BuildState.starting({}, job_id="j1")
    state.cards["rationales:deeplift|snarks-017"] = ShotCardState(
        "rationales:deeplift", "snarks-017"
    )
    changed = state.apply(
        protocol.message(
            "influence", job_id="j1", method="deeplift", dev_items=40, shots=[HELPS, HURTS]
        )
    )
    assert changed == {"influence", "card:rationales:deeplift|snarks-017"}
    card = state.cards["rationales:deeplift|snarks-017"]
    assert state.shot_influence(card) == HELPS
    assert state.shot_influence(ShotCardState("rationales:ph_cot", "snarks-017")) is None
    assert state.apply(protocol.message("influence", job_id="other", method="io")) == set()


class InfluenceData(FakeData):
    def run_detail(self, run_id: str) -> RunDetail:
        detail = super().run_detail(run_id)
        by_id = {"snarks-017": HELPS, "snarks-042": HURTS}
        detail.shots = [replace(s, influence=by_id.get(s.sample_id)) for s in detail.shots]
        detail.methods = [
            replace(m, influence=[HELPS, HURTS]) if m.prompt.method == "io" else m
            for m in detail.methods
        ]
        return detail


async def test_the_run_screen_shows_each_shots_influence(make_app) -> None:
    data = InfluenceData()
    run_id = "run0002bbbb"  # ph_cot, io and deeplift
    app = make_app(data=data)
    async with app.run_test(size=(140, 44)) as pilot:
        await settle(pilot)
        app.push_screen(RunDetailScreen(run_id))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunDetailScreen)
        summary = screen_text(app)
        assert "io influence on 40 dev items (full context 0.550): snarks-017 +0.06" in summary
        screen.query_one("#run-tabs", TabbedContent).active = "shots"
        await settle(pilot)
        text = screen_text(app)
        assert "influence +0.06 helps (p 0.02)" in text
        assert "influence -0.04 hurts (p 0.50, noise)" in text
        cards = list(screen.query(ShotCard))
        assert [c.influence for c in cards] == [HELPS, HURTS]


async def test_the_build_screen_shows_the_influence_live(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        job_id = app.client.active_job
        for method, shots in (("deeplift", [HELPS]), ("ph_cot", [HURTS])):
            app.post_message(
                WorkerEvent(
                    protocol.message(
                        "influence", job_id=job_id, method=method, dev_items=40, shots=shots
                    )
                )
            )
        await settle(pilot)
        cards = {c.sample_id + "|" + c.method: c for c in app.screen.query(ShotCard)}
        assert cards["snarks-017|deeplift"].influence == HELPS
        assert cards["snarks-042|ph_cot"].influence == HURTS
        assert "+0.06 helps" in screen_text(app)
        app.client.finish()
        await settle(pilot)
        status = str(app.screen.query_one("#build-status").render())
        assert "influence on 40 dev items" in status and "snarks-042 -0.04 hurts" in status
