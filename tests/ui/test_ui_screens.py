"""Pilot tests of every screen's main path, fed by the in-memory catalogue and scripted worker."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Select

from sa_tui.screens.modals import ConfirmScreen, ErrorScreen, HelpScreen, PromptScreen, TextScreen
from sa_tui.screens.run_detail import RunDetailScreen
from sa_tui.widgets.heatmap import TokenHeatmap
from sa_tui.widgets.shot_card import ShotCard
from sa_tui.widgets.stages import StageProgress
from tests.ui.fakes import FakeData
from tests.ui.helpers import screen_text, settle


async def test_catalogue_lists_adds_verifies_and_removes(make_app) -> None:
    data = FakeData()
    app = make_app(data=data)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "builtin:smollm2-135m" in text and "builtin:snarks" in text
        await pilot.press("a")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"/models/tiny", "enter")
        await settle(pilot)
        assert any(m.ref == "/models/tiny" for m in data.model_rows)
        assert "/models/tiny" in screen_text(app)
        await pilot.press("v")
        await settle(pilot)
        assert not isinstance(app.screen, ErrorScreen)
        await pilot.press("delete")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "Frees 515.0 MB" in screen_text(app)
        await pilot.press("y")
        await settle(pilot)
        assert data.removed == ["builtin:smollm2-135m"]


async def test_catalogue_add_failure_opens_the_error_modal(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("a", *"/nope", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert "does not exist" in app.screen.what
        await pilot.press("escape")
        assert not isinstance(app.screen, ErrorScreen)


async def test_build_start_watch_cancel_restart_finish(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        assert "Cost" in screen_text(app)
        await pilot.press("ctrl+r")
        await settle(pilot)
        client = app.client
        assert len(client.submitted) == 1
        config = client.submitted[0]
        assert config["model"] == "builtin:smollm2-135m" and config["dataset"] == "builtin:snarks"
        assert (
            config["methods"] == ["ph_cot"] and config["shots"] == 2 and config["test_limit"] == 6
        )
        stages = app.screen.query_one(StageProgress)
        assert list(stages.stages) == [
            "dataset",
            "model",
            "select",
            "rationales:deeplift",
            "evaluate:ph_cot",
        ]
        heatmap = app.screen.query(TokenHeatmap).filter(".-empty").nodes
        shown = [h for h in app.screen.query(TokenHeatmap) if h not in heatmap]
        assert len(shown) == 1 and shown[0].words[3] == "sarcastic?"
        texts = [card.text for card in app.screen.query(ShotCard)]
        assert "3-step explanation: people hate" in texts
        assert app.build.status == "running"
        await pilot.press("ctrl+x")
        await settle(pilot)
        assert client.cancelled and app.build.status == "cancelled"
        assert "cancelled" in screen_text(app)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert len(client.submitted) == 2 and app.build.status == "running"
        client.finish()
        await settle(pilot)
        assert app.build.status == "done"
        text = str(app.screen.query_one("#build-status").render())
        # the saved version's name is wrapped between its parts at 80 columns
        assert "accuracy 0.500" in text
        assert "smollm2-135m.snarks.ph_cot.success.n2@v3" in "".join(text.split())


async def test_a_fully_reused_build_still_shows_its_shots(make_app) -> None:
    app = make_app(cached=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert app.build.status == "done"
        cards = list(app.screen.query(ShotCard))
        assert cards and all(card.reused for card in cards)
        assert any(card.words for card in cards)  # the deeplift heatmap, read back from the store
        await pilot.press("h")
        assert isinstance(app.focused, TokenHeatmap)


async def test_build_form_errors_open_one_modal(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        shots = app.screen.query_one("#shots", Input)
        shots.value = "0"
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert "--shots must be at least 1" in app.screen.what
        app.show_error("second problem", "do something")
        await pilot.pause()
        assert len([s for s in app.screen_stack if isinstance(s, ErrorScreen)]) == 1
        assert "second problem" in app.screen.what
        await pilot.press("enter")
        assert not isinstance(app.screen, ErrorScreen)
        assert app.client.submitted == []


async def test_worker_error_and_death_are_reported(make_app) -> None:
    from sa_tui.worker_client import WorkerProcessDied

    app = make_app(fail_with="the model 'x' is not in the local Hugging Face cache")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert "not in the local Hugging Face cache" in app.screen.what
        assert "Pick another model" in app.screen.todo
        await pilot.press("escape")
        assert app.build.status == "failed"
        app.post_message(WorkerProcessDied(-9, None, "Killed"))
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert "exit code -9" in app.screen.what


async def test_runs_filter_open_diff_compare(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        assert table.row_count == 3
        await pilot.press("slash", *"cancelled", "enter")
        await settle(pilot)
        assert table.row_count == 1
        await pilot.press("slash", "ctrl+u", "enter")
        app.screen.query_one("#filter", Input).value = ""
        await settle(pilot)
        assert table.row_count == 3
        await pilot.press("s")  # sort by status
        await settle(pilot)
        assert "sort: status" in screen_text(app)
        table.focus()
        await pilot.press("end", "enter")
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert "snarks-017" in screen_text(app) and "▲" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        prompts = app.screen.query_one("#prompts-table", DataTable)
        assert prompts.row_count == 4
        # sorted by created, newest first: deeplift v1, io v1, ph_cot v2, ph_cot v1
        await pilot.press("down", "down", "space", "space")
        await settle(pilot)
        assert len(app.screen.marked) == 2
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, TextScreen)
        text = screen_text(app)
        assert "nobody enjoys traffic jams" in text and "people hate traffic" in text
        await pilot.press("escape")
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, TextScreen)
        text = screen_text(app)
        assert "ph_cot" in text and "deeplift" in text and "io" in text and "0.667" in text


async def test_export_writes_and_copies(make_app, tmp_path) -> None:
    data = FakeData()
    app = make_app(data=data)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        assert "as chat-json" in screen_text(app)
        await pilot.press("f")  # chat-json -> hf-dataset
        await settle(pilot)
        assert app.screen.query_one("#export-format", Select).value == "hf-dataset"
        await pilot.press("f")  # -> dspy
        await settle(pilot)
        app.screen.query_one("#export-path", Input).value = str(tmp_path / "out.dspy.json")
        await pilot.press("ctrl+e")
        await settle(pilot)
        assert (
            data.exports
            and data.exports[-1][1] == "dspy"
            and data.exports[-1][2].endswith("out.dspy.json")
        )
        await pilot.press("y")
        await settle(pilot)
        assert app.clipboard.startswith("# smollm2-135m.snarks.deeplift.success.n2@v1 as dspy")


async def test_help_palette_and_theme(make_app, tmp_path) -> None:
    from sa_tui.settings import load_settings

    app = make_app(remember=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        assert "ctrl+r" in screen_text(app)
        await pilot.press("escape")
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for wanted in (
            "Go to Catalogue",
            "Go to Build",
            "Go to Runs & Prompts",
            "Go to Export",
            "Start build",
            "Cancel build",
            "Help",
            "Theme sa-light",
        ):
            assert wanted in titles
        assert "Build: Clear results" in titles
        await pilot.press("escape")
        await pilot.press("t")
        await settle(pilot)
        assert app.theme == "sa-light"
        assert load_settings().settings.theme == "sa-light"
    assert make_app(remember=True).theme == "sa-light"
