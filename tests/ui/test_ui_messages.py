"""Screens and the App talk through messages and the App's ``build_change`` reactive: no screen
registers itself on the App, and the App never calls into a screen."""

from __future__ import annotations

from textual.widgets import DataTable, Select

from sa_tui.app import SaTuiApp
from sa_tui.screens.build import BuildScreen
from sa_tui.screens.export import ExportScreen
from sa_tui.widgets.stages import StageProgress
from tests.ui.helpers import screen_text, settle


def _build_status(app: SaTuiApp) -> str:
    return str(app.screen.query_one("#build-status").render())


async def test_palette_start_builds_and_the_build_screen_follows_progress(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert not isinstance(app.screen, BuildScreen)  # the Build screen was never shown yet
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"Start build")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, BuildScreen)
        assert len(app.client.submitted) == 1 and app.build.status == "running"
        assert "select" in app.screen.query_one(StageProgress).stages
        assert "running" in _build_status(app)
        app.client.finish()
        await settle(pilot)
        assert "done" in _build_status(app) and "accuracy 0.500" in _build_status(app)
        assert not hasattr(app, "build_screen")


async def test_the_binding_starts_and_progress_shown_elsewhere_is_drawn(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert len(app.client.submitted) == 1 and "running" in _build_status(app)
        await pilot.press("3")  # the build finishes while Runs & Prompts is shown
        await settle(pilot)
        app.client.finish()
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert app.build.status == "done" and "done" in _build_status(app)
        assert "evaluate:ph_cot" in app.screen.query_one(StageProgress).stages
        await pilot.press("ctrl+l")  # clear results: the App swaps in a fresh state
        await settle(pilot)
        assert app.build.status == "idle" and "Ready." in _build_status(app)
        assert not hasattr(app, "build_screen")


async def test_catalogue_picks_a_model_and_a_dataset_on_the_build_form(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "b")  # the second model, the Build screen not mounted yet
        await settle(pilot)
        assert isinstance(app.screen, BuildScreen)
        assert app.screen.query_one("#model", Select).value == "builtin:gemma3-270m"
        await pilot.press("1")
        await settle(pilot)
        app.screen.query_one("#datasets", DataTable).focus()
        await pilot.press("down", "enter")  # enter on a row builds with it, too
        await settle(pilot)
        assert app.screen.query_one("#dataset", Select).value == "builtin:causal-judgment"
        assert app.screen.query_one("#model", Select).value == "builtin:gemma3-270m"


async def test_runs_send_a_prompt_version_to_export(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        await pilot.press("down", "down")  # newest first: deeplift v1, io v1, ph_cot v2
        wanted = app.screen.current_prompt().ref
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ExportScreen)
        assert app.screen.current().ref == wanted
        assert wanted in screen_text(app)
