"""The Catalogue's pull of a hub id: a progress dialog (file and overall bars), escape cancels,
adding the id again resumes; a real StoreSource against the local hub (tests/hub_server.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from textual.widgets import ProgressBar

from sa_tui.screens.catalogue import CatalogueScreen
from sa_tui.screens.modals import ErrorScreen, PromptScreen
from sa_tui.screens.pull import PullScreen
from sa_tui.store_source import StoreSource
from tests.hub_server import LocalHub, local_hub, make_hub_model  # noqa: F401 - the fixture
from tests.ui.helpers import screen_text, settle

REPO = "org/tiny"


async def wait_for(pilot, condition, seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, screen_text(pilot.app)
        await pilot.pause(0.05)


async def test_a_hub_id_is_pulled_with_progress_cancelled_and_resumed(
    make_app,
    local_hub: LocalHub,  # noqa: F811
    tmp_path: Path,
) -> None:
    local_hub.add_folder(REPO, make_hub_model(tmp_path / "source"))
    local_hub.state.delay_per_chunk = (
        0.03  # about 0.5 MB/s: the weights take ~4 s (room under load)
    )
    size = len(local_hub.state.repos[REPO].files["model.safetensors"])
    app = make_app(data=StoreSource(tmp_path / "sa-tui.db"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, CatalogueScreen)
        await pilot.press("a", *REPO, "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PullScreen))
        await wait_for(pilot, lambda: local_hub.state.served["model.safetensors"] > size // 4)
        await pilot.pause(0.2)
        text = screen_text(app)
        shot = os.environ.get("SA_TUI_PULL_SCREEN")
        if shot:  # the 80x24 screen for the closing note
            Path(shot).write_text(text + "\n")
        assert f"Pulling {REPO}" in text and "model.safetensors" in text and "ETA" in text
        overall = app.screen.query_one("#pull-all-bar", ProgressBar)
        assert 0 < (overall.progress or 0) < (overall.total or 0)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CatalogueScreen))
        await settle(pilot)
        notes = [n.message for n in app._notifications]
        assert any("cancelled" in note for note in notes), notes
        assert REPO not in [r.ref for r in app.screen.model_rows]
        kept = local_hub.state.served["model.safetensors"]

        local_hub.state.reset_counts()
        local_hub.state.delay_per_chunk = 0.0
        await pilot.press("a", *REPO, "enter")
        await wait_for(pilot, lambda: REPO in [r.ref for r in app.screen.model_rows], 60)
        served = local_hub.state.served["model.safetensors"]
        assert 0 < served <= size - kept // 2  # resumed: the bytes kept were not sent again
        assert any(f"Pulled {REPO}" in n.message for n in app._notifications)


async def test_a_missing_hub_repo_opens_the_error_modal(
    make_app,
    local_hub: LocalHub,  # noqa: F811
    tmp_path: Path,
) -> None:
    app = make_app(data=StoreSource(tmp_path / "sa-tui.db"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("a", *"org/absent", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen))
        assert "there is no model org/absent" in screen_text(app)


async def test_a_prompt_version_gets_an_alias_from_runs_and_prompts(make_app) -> None:
    from tests.ui.fakes import FakeData

    data = FakeData()
    app = make_app(data=data)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("a")  # on the Runs tab: a hint, no dialog
        assert not isinstance(app.screen, PromptScreen)
        await pilot.press("p")
        await settle(pilot)
        prompt = app.screen.current_prompt()
        assert prompt is not None
        await pilot.press("a")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"best", "enter")
        await settle(pilot)
        row = next(r for r in data.prompt_rows if r.id == prompt.id)
        assert "best" in row.aliases
        assert any(
            f"{prompt.lineage}@best -> v{prompt.version}" in n.message for n in app._notifications
        )
        await pilot.press("a", *"9bad", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen)
