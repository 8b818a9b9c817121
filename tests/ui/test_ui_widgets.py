"""The heatmap's scale and cursor, the build state machine, the cost estimate, the settings file."""

from __future__ import annotations

from textual.app import App, ComposeResult

from core.estimate import calibrate, estimate
from sa_tui.build_state import BuildState
from sa_tui.settings import Settings, load_settings, save_settings
from sa_tui.widgets.heatmap import LEVELS, GradientTable, TokenHeatmap, top_positions
from tests.ui.fakes import SCORES, TOP, WORDS, build_script, finish_script


def test_gradient_is_zero_centred_and_symmetric() -> None:
    table = GradientTable.build(
        {"heat-negative": "#0000ff", "heat-zero": "#000000", "heat-positive": "#ff0000"}
    )
    assert len(table.styles) == 2 * LEVELS + 1
    assert table.level(0.0, 1.0) == 0 and table.styles[LEVELS].background is None
    assert table.level(1.0, 1.0) == LEVELS and table.level(-1.0, 1.0) == -LEVELS
    assert table.level(0.5, 1.0) == -table.level(-0.5, 1.0)
    assert table.level(5.0, 1.0) == LEVELS  # clamped
    reds = [table.styles[LEVELS + i].background.r for i in range(1, LEVELS + 1)]
    blues = [table.styles[LEVELS - i].background.b for i in range(1, LEVELS + 1)]
    assert reds == sorted(reds) and blues == sorted(blues) and reds == blues


def test_top_words_are_marked_once_at_their_best_occurrence() -> None:
    positions = top_positions(
        ["loves", "it", "loves!", "traffic"], [0.1, 0.0, 0.5, 0.2], ["loves", "traffic"]
    )
    assert positions == {2, 3}


class HeatmapApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TokenHeatmap(WORDS, SCORES, TOP)


async def test_heatmap_cursor_shows_the_exact_score() -> None:
    app = HeatmapApp()
    async with app.run_test(size=(100, 12)) as pilot:
        heatmap = app.query_one(TokenHeatmap)
        heatmap.focus()
        await pilot.press("right", "right", "right")
        assert heatmap.cursor == 3
        text = str(heatmap.render())
        assert "sarcastic? +0.3100" in text and "rank 2/10" in text and "▲ top-k" in text
        assert "-0.42" in text and "+0.42" in text and "▲ top-4 of 10 ranked words" in text
        assert text.count("▲") >= len(TOP)
        await pilot.press("end")
        assert heatmap.cursor == len(WORDS) - 1
        await pilot.press("home", "left")
        assert heatmap.cursor == 0


def test_build_state_follows_the_protocol() -> None:
    state = BuildState.starting({"model": "m"}, job_id="j")
    assert state.status == "starting" and state.active
    for message in build_script("j"):
        state.apply(message)
    assert state.status == "running" and state.run_id == "run0009zzzz"
    assert list(state.stages)[:3] == ["dataset", "model", "select"]
    assert state.shots == ["snarks-017", "snarks-042"]
    card = state.cards["rationales:deeplift|snarks-017"]
    assert card.words == WORDS and card.top == TOP and card.final
    assert not state.apply(
        {"type": "progress", "job_id": "other", "stage": "x", "done": 1, "total": 1}
    )
    for message in finish_script("j"):
        state.apply(message)
    assert state.status == "done" and state.saved[0]["version"] == 3 and not state.active


def test_estimate_counts_work_and_learns_costs() -> None:
    small = {"methods": ["ph_cot"], "shots": 2, "test_limit": 6}
    big = {**small, "methods": ["ph_cot", "kernelshap"], "shots": 4}
    assert estimate(big).seconds > estimate(small).seconds
    assert estimate({**small, "methods": ["io"]}).steps == 0
    costs = calibrate(None, small, estimate(small).seconds * 3)
    again = estimate(small, costs)
    assert (
        again.measured
        and 2.5 * estimate(small).seconds < again.seconds < 3.5 * estimate(small).seconds
    )


def test_settings_round_trip() -> None:
    assert load_settings() == (Settings(), None, True)
    settings = Settings(
        theme="sa-contrast",
        build_form={"shots": 3, "methods": ["ph_cot", "io"]},
        costs={"builtin:smollm2-135m": {"pass": 0.1, "step": 0.04}},
    )
    assert save_settings(settings)
    assert load_settings() == (settings, None, True)
