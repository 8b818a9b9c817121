"""The settings file: typed, read and checked in one place, never lost when it cannot be used.

A file that is not JSON or not an object falls back to defaults wholesale; a file with fields of
the wrong type falls back field by field (the right ones are kept). Either way the file is moved
aside, byte for byte, and the user reads one sentence about it."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from sa_tui import settings as settings_module
from sa_tui.screens.build_form import DEFAULT_FORM, form_with_saved
from sa_tui.settings import Settings, load_settings, save_settings, settings_path
from tests.ui.helpers import settle

BROKEN_NAME = r"settings\.json\.broken-\d{8}-\d{6}"


def _kept_files() -> list[Path]:
    return sorted(settings_path().parent.glob("settings.json.broken-*"))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"theme": "sa-light",', "it is not valid JSON: Expecting"),
        (b'["sa-light"]', "it holds an array, not an object"),
        (b"null", "it holds null, not an object"),
        (b"\x80\x81 not utf-8", "it is not valid JSON"),
        (b"", "it is not valid JSON"),
    ],
)
def test_a_broken_file_is_kept_aside_and_defaults_are_used(content: bytes, reason: str) -> None:
    settings_path().write_bytes(content)
    settings, warning, may_save = load_settings()
    assert settings == Settings() and may_save
    assert warning is not None and warning.startswith(f"settings.json could not be read ({reason}")
    assert re.search(rf"; using defaults, the file was kept as {BROKEN_NAME}\.$", warning)
    assert "\n" not in warning
    [kept] = _kept_files()
    assert kept.read_bytes() == content and kept.name in warning
    assert not settings_path().exists()
    assert save_settings(Settings(theme="sa-dark"))
    assert json.loads(settings_path().read_text(encoding="utf-8"))["theme"] == "sa-dark"
    assert load_settings() == (Settings(theme="sa-dark"), None, True)
    assert _kept_files() == [kept]


def test_wrong_types_fall_back_field_by_field() -> None:
    content = json.dumps(
        {
            "theme": 7,
            "build_form": {"shots": 3},
            "costs": {
                "slow": {"pass": "fast"},
                "half": {"pass": 0.1},
                "ok": {"pass": 1, "step": 2},
            },
            "window": {"width": 120},
        }
    ).encode()
    settings_path().write_bytes(content)
    settings, warning, may_save = load_settings()
    assert settings == Settings(
        theme=None,
        build_form={"shots": 3},
        costs={"ok": {"pass": 1.0, "step": 2.0}},
        extra={"window": {"width": 120}},
    )
    assert may_save and warning is not None
    assert warning.startswith(
        "settings.json had settings of the wrong type (theme is not a string;"
    )
    assert "the costs of slow" in warning and "the costs of half" in warning
    assert re.search(rf"those use their defaults, the file was kept as {BROKEN_NAME}\.$", warning)
    [kept] = _kept_files()
    assert kept.read_bytes() == content
    # the fields that were right were written back: the next start is quiet and loses nothing
    assert load_settings() == (settings, None, True)


@pytest.mark.parametrize(
    "data",
    [{"build_form": ["shots", 3]}, {"costs": [1, 2]}, {"theme": {"name": "sa-light"}}],
)
def test_each_wrong_field_is_named(data: dict[str, object]) -> None:
    settings_path().write_text(json.dumps(data), encoding="utf-8")
    settings, warning, _ = load_settings()
    assert settings == Settings()
    assert warning is not None and f"{next(iter(data))} is not" in warning


def test_unknown_keys_survive_a_save() -> None:
    settings_path().write_text(
        json.dumps({"theme": "sa-light", "from_a_newer_version": [1, {"a": None}]}),
        encoding="utf-8",
    )
    settings, warning, _ = load_settings()
    assert warning is None and settings.extra == {"from_a_newer_version": [1, {"a": None}]}
    save_settings(replace(settings, theme="sa-contrast"))
    saved = json.loads(settings_path().read_text(encoding="utf-8"))
    assert saved["from_a_newer_version"] == [1, {"a": None}] and saved["theme"] == "sa-contrast"


def test_a_file_of_the_old_layout_loads_as_it_was() -> None:
    old = {
        "build_form": {"model": "builtin:snarks", "methods": ["io"], "shots": 3, "seed": None},
        "costs": {"builtin:smollm2-135m": {"pass": 0.2, "step": 0.06}, "x": {}},
        "theme": "sa-light",
    }
    settings_path().write_text(json.dumps(old, indent=2, sort_keys=True), encoding="utf-8")
    settings, warning, _ = load_settings()
    assert warning is None and settings.to_json() == old
    assert not _kept_files()


def test_same_second_breakages_get_their_own_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_module.time, "strftime", lambda _format: "20250102-030405")
    for content in (b"{", b"[]"):
        settings_path().write_bytes(content)
        load_settings()
    assert [path.name for path in _kept_files()] == [
        "settings.json.broken-20250102-030405",
        "settings.json.broken-20250102-030405-2",
    ]
    assert [path.read_bytes() for path in _kept_files()] == [b"{", b"[]"]


def test_an_unreadable_file_is_left_alone_and_never_overwritten() -> None:
    settings_path().mkdir()  # reading it fails
    settings, warning, may_save = load_settings()
    assert settings == Settings() and not may_save
    assert warning is not None and warning.startswith("settings.json could not be read (")
    assert settings_path().is_dir() and not _kept_files()


def test_save_is_atomic_and_leaves_no_temporary_files() -> None:
    for theme in ("sa-light", "sa-dark"):
        assert save_settings(Settings(theme=theme))
    assert [path.name for path in settings_path().parent.iterdir() if "settings" in path.name] == [
        "settings.json"
    ]


def test_the_build_form_uses_only_remembered_values_of_the_right_type() -> None:
    form = form_with_saved(
        {"model": "builtin:gemma3-270m", "shots": "many", "methods": ["io", 3], "seed": True}
    )
    assert form == {**DEFAULT_FORM, "model": "builtin:gemma3-270m"}
    assert form_with_saved({"methods": ["io"], "keywords": 6}) == {
        **DEFAULT_FORM,
        "methods": ["io"],
        "keywords": 6,
    }


async def test_the_app_says_so_once_and_saves_a_valid_file_next(make_app) -> None:
    content = b'{"theme": "sa-light", oops}'
    settings_path().write_bytes(content)
    app = make_app(remember=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        warnings = [n for n in app._notifications if n.severity == "warning"]
        assert len(warnings) == 1
        assert re.fullmatch(
            rf"settings\.json could not be read \(it is not valid JSON: .+\); using defaults, "
            rf"the file was kept as {BROKEN_NAME}\.",
            warnings[0].message,
        )
        assert app.theme == "sa-dark"  # the default
        [kept] = _kept_files()
        assert kept.read_bytes() == content
        await pilot.press("t")
        await settle(pilot)
    assert json.loads(settings_path().read_text(encoding="utf-8"))["theme"] == app.theme
    assert load_settings().warning is None
    assert _kept_files() == [kept]
