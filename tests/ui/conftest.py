"""Fixtures for the UI tests: an App wired to the in-memory catalogue and the scripted worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sa_tui.app import SaTuiApp
from sa_tui.build_state import BuildState
from tests.ui.fakes import FakeClient, FakeData


@pytest.fixture(autouse=True)
def _frozen_build_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Elapsed times on the Build screen read 42 s, so snapshots do not depend on speed."""
    ticks = iter(range(10**6))
    monkeypatch.setattr(
        BuildState, "clock", staticmethod(lambda: 1000.0 + 42.0 * min(next(ticks), 1))
    )


@pytest.fixture
def make_app() -> Callable[..., SaTuiApp]:
    def factory(
        *, data: Any = None, theme: str | None = None, remember: bool = False, **client_options: Any
    ) -> SaTuiApp:
        app = SaTuiApp(
            theme=theme,
            data=data if data is not None else FakeData(),
            client_factory=lambda app: FakeClient(app, **client_options),
            remember=remember,
        )
        app.NOTIFICATION_TIMEOUT = 120  # toasts stay put, whatever the machine's speed
        return app

    return factory
