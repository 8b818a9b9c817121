"""The faithfulness line beside a shot's heatmap: live on the Build screen (from the worker's
``faithfulness`` event) and read back from the store on a run's detail."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import Static

from jobs import protocol
from sa_tui.data import RunDetail
from sa_tui.messages import OpenRun
from sa_tui.screens.run_detail import RunDetailScreen
from sa_tui.widgets.shot_card import ShotCard, faithfulness_line
from tests.ui.fakes import FakeData
from tests.ui.helpers import screen_text, settle

LINE = "comp 0.21  suff 0.05 (AOPC, k=1..4)"
FIGURES = {"comprehensiveness": 0.2149, "sufficiency": 0.0502, "k": 4, "unmatched": 0}


def _faith_line(card: ShotCard) -> str:
    widget = card.query_one(".card-faith", Static)
    return "" if widget.has_class("-empty") else str(widget.render())


def test_the_line_is_short_and_says_what_it_is() -> None:
    assert faithfulness_line(FIGURES) == LINE
    assert faithfulness_line(None) == ""
    assert faithfulness_line({**FIGURES, "k": 1, "unmatched": 1}).endswith(
        "(AOPC, k=1, 1 unmatched)"
    )


async def test_build_screen_shows_faithfulness_beside_the_heatmap(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        cards = {card.sample_id: card for card in app.screen.query(ShotCard)}
        card = cards["snarks-017"]
        assert card.words and _faith_line(card) == ""
        job = app.build.job_id
        app.client._post(  # type: ignore[attr-defined]
            [
                protocol.message(
                    protocol.FAITHFULNESS,
                    job_id=job,
                    stage="rationales:deeplift",
                    sample_id="snarks-017",
                    method="deeplift",
                    **FIGURES,
                )
            ]
        )
        await settle(pilot)
        assert _faith_line(card) == LINE
        assert LINE in screen_text(app)
        children = list(card.children)
        heatmap_at = next(i for i, c in enumerate(children) if c.has_class("card-faith"))
        assert children[heatmap_at - 1] is card.query_one("TokenHeatmap")
        assert _faith_line(cards["snarks-042"]) == ""  # ph_cot: no keywords, no line


class FaithfulData(FakeData):
    def run_detail(self, run_id: str) -> RunDetail:
        detail = super().run_detail(run_id)
        shots = [
            replace(shot, faithfulness={"id": shot.sample_id, **FIGURES})
            if shot.method == "deeplift"
            else shot
            for shot in detail.shots
        ]
        return replace(detail, shots=shots)


async def test_run_detail_shows_the_stored_faithfulness(make_app) -> None:
    app = make_app(data=FaithfulData())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.post_message(OpenRun("run0002bbbb"))
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen)
        cards = {card.sample_id: card for card in app.screen.query(ShotCard)}
        assert _faith_line(cards["snarks-017"]) == LINE
        assert _faith_line(cards["snarks-042"]) == ""
