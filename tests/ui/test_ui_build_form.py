"""The Build form's attribution span and per-shot influence: the fields, the RunConfig they reach
(through the scripted fake worker), their validation, their memory, and the influence figures a
build with influence on shows once it is done."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Select

from sa_tui.app import SaTuiApp
from sa_tui.screens.build import BuildScreen
from sa_tui.screens.build_form import (
    DEFAULT_FORM,
    SPAN_CHOICES,
    form_config,
    form_with_saved,
    influence_answers,
)
from sa_tui.screens.modals import ErrorScreen
from sa_tui.settings import settings_path
from sa_tui.widgets.method_list import MethodList
from sa_tui.widgets.shot_card import ShotCard
from sa_tui.widgets.tick_box import TickBox
from tests.ui.fakes import FakeClient
from tests.ui.helpers import screen_text, settle


async def _open_build(pilot: Pilot[Any]) -> BuildScreen:
    await pilot.press("2")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, BuildScreen)
    return screen


async def _tick_influence(pilot: Pilot[Any], screen: BuildScreen) -> None:
    screen.query_one("#influence", TickBox).focus()
    await pilot.press("space")
    await settle(pilot)


def test_the_span_choices_start_with_auto_and_say_what_it_means() -> None:
    assert SPAN_CHOICES[0] == ("auto (layout default)", "auto")
    assert [value for _, value in SPAN_CHOICES] == [
        "auto",
        "question",
        "question+choices",
        "question+gold",
    ]


def test_remembered_span_and_influence_are_used_only_when_they_fit() -> None:
    assert form_with_saved({"span": "question+gold", "influence": True, "dev_size": 30}) == {
        **DEFAULT_FORM,
        "span": "question+gold",
        "influence": True,
        "dev_size": 30,
    }
    # an unknown span, a truthy non-bool, a bool where a number goes: the defaults
    assert form_with_saved({"span": "everything", "influence": 1, "dev_size": True}) == DEFAULT_FORM
    assert DEFAULT_FORM["span"] == "auto" and DEFAULT_FORM["influence"] is False


def test_without_influence_the_dev_field_is_not_read() -> None:
    values = {**DEFAULT_FORM, "dev_size": None}
    config = form_config(values)
    assert config["influence"] is False and config["dev_size"] == 50  # RunConfig's default
    assert form_config({**DEFAULT_FORM, "dev_size": 7})["dev_size"] == 50
    assert influence_answers(values) == 0
    on = {**DEFAULT_FORM, "influence": True, "dev_size": 20, "methods": ["io", "ph_cot"]}
    assert form_config(on)["dev_size"] == 20
    assert influence_answers(on) == (2 + 1) * 20 * 2  # each method: its context and one less


async def test_the_form_has_the_span_and_influence_fields(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_build(pilot)
        span = screen.query_one("#span", Select)
        assert span.value == "auto"
        influence = screen.query_one("#influence", TickBox)
        assert influence.value is False
        dev = screen.query_one("#dev-size", Input)
        assert dev.value == "50" and dev.disabled  # only read with influence
        text = screen_text(app)
        assert "Span     auto (layout default)" in text
        assert "[ ] influence  dev 50" in text
        await _tick_influence(pilot, screen)
        assert influence.value is True and not dev.disabled
        assert "[✓] influence  dev 50" in screen_text(app)
        estimate = str(screen.query_one("#estimate").render())
        assert "+ influence: up to 150 dev answers, not estimated" in estimate.replace("\n", " ")


async def test_span_and_influence_reach_the_started_run_config(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_build(pilot)
        screen.query_one("#span", Select).focus()
        await pilot.press("enter", "down", "down", "enter")  # auto -> question -> +choices
        await settle(pilot)
        await _tick_influence(pilot, screen)
        dev = screen.query_one("#dev-size", Input)
        dev.focus()
        await pilot.press("end", "backspace", "backspace", "3", "0")
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert not isinstance(app.screen, ErrorScreen)
        [config] = app.client.submitted
        assert config["span"] == "question+choices"
        assert config["influence"] is True and config["dev_size"] == 30
        assert config["methods"] == ["ph_cot"] and config["shots"] == 2
        # the form is remembered with the rest of it
        assert app.settings.build_form["span"] == "question+choices"
        assert app.settings.build_form["influence"] is True
        assert app.settings.build_form["dev_size"] == 30


async def test_the_defaults_reach_the_run_config_unchanged(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_build(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        [config] = app.client.submitted
        assert config["span"] == "auto" and config["influence"] is False
        assert config["dev_size"] == 50


async def test_span_and_influence_are_remembered_across_starts(make_app) -> None:
    app = make_app(remember=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_build(pilot)
        screen.query_one("#span", Select).value = "question"
        await _tick_influence(pilot, screen)
        screen.query_one("#dev-size", Input).value = "40"
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
    saved = json.loads(settings_path().read_text(encoding="utf-8"))["build_form"]
    assert (saved["span"], saved["influence"], saved["dev_size"]) == ("question", True, 40)
    again = make_app(remember=True)
    async with again.run_test(size=(80, 24)) as pilot:
        screen = await _open_build(pilot)
        assert screen.query_one("#span", Select).value == "question"
        assert screen.query_one("#influence", TickBox).value is True
        dev = screen.query_one("#dev-size", Input)
        assert dev.value == "40" and not dev.disabled


async def _refused(make_app: Callable[..., SaTuiApp], change: Callable[[BuildScreen], None]) -> str:
    """Start a build after ``change(screen)``: the one error dialog's sentence (none is sent)."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_build(pilot)
        await _tick_influence(pilot, screen)
        change(screen)
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert len([s for s in app.screen_stack if isinstance(s, ErrorScreen)]) == 1
        assert isinstance(app.client, FakeClient) and app.client.submitted == []
        return app.screen.what


def _only_zero_shot(screen: BuildScreen) -> None:
    methods = screen.query_one("#methods", MethodList)
    methods.deselect_all()
    methods.select("zero_shot")


async def test_influence_without_a_method_with_shots_is_refused(make_app) -> None:
    what = await _refused(make_app, _only_zero_shot)
    assert what == "influence needs a method with shots; zero_shot has none."


async def test_influence_with_a_dev_size_that_is_not_a_number_is_refused(make_app) -> None:
    def empty_dev(screen: BuildScreen) -> None:
        screen.query_one("#dev-size", Input).value = ""

    assert await _refused(make_app, empty_dev) == "dev must be a whole number."


async def test_influence_with_a_dev_size_below_one_is_refused(make_app) -> None:
    def zero_dev(screen: BuildScreen) -> None:
        screen.query_one("#dev-size", Input).value = "0"

    assert "--dev-size must be at least 1" in await _refused(make_app, zero_dev)


async def test_a_build_with_influence_shows_the_figures_when_done(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open_build(pilot)
        screen.query_one("#methods", MethodList).select("deeplift")
        await _tick_influence(pilot, screen)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert all(card.influence is None for card in screen.query(ShotCard))
        app.client.finish()
        await settle(pilot)
        assert app.build.status == "done"
        cards = {c.sample_id + "|" + c.method: c for c in screen.query(ShotCard)}
        assert cards["snarks-017|deeplift"].influence is not None
        assert cards["snarks-017|deeplift"].influence["influence"] == 0.06
        assert cards["snarks-042|ph_cot"].influence is not None
        assert cards["snarks-042|ph_cot"].influence["influence"] == -0.04
        text = screen_text(app)
        assert "influence on 48 dev items (full context 0.550)" in text  # the status line
        assert "influence +0.06 helps (p 0.02)" in text  # the deeplift shot's card
        assert "influence -0.04 hurts (p 0.50, noise)" in text  # the ph_cot shot's card
