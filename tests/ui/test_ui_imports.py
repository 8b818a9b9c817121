"""The UI process never imports torch, transformers, captum or shap, even after visiting every
screen against a real store; ``sa-tui --help`` loads neither Textual nor the heavy libraries."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HEAVY = ("torch", "transformers", "captum", "shap")

VISIT_ALL_SCREENS = textwrap.dedent(
    """
    import asyncio, sys
    from sa_tui.app import SaTuiApp

    async def main():
        app = SaTuiApp(start_worker=False, remember=False)
        async with app.run_test(size=(80, 24)) as pilot:
            for key in ("1", "2", "3", "4", "5", "3", "p", "question_mark", "escape"):
                await pilot.press(key)
                await app.workers.wait_for_complete()
                await pilot.pause()
            assert "builtin:smollm2-135m" in [m.ref for m in app.data.models()]
        heavy = [name for name in HEAVY if name in sys.modules]
        print("HEAVY", heavy)

    HEAVY = __HEAVY__
    asyncio.run(main())
    """
).replace("__HEAVY__", repr(HEAVY))


def test_the_ui_never_imports_the_heavy_libraries() -> None:
    result = subprocess.run(
        [sys.executable, "-c", VISIT_ALL_SCREENS], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "HEAVY []" in result.stdout, result.stdout


def test_help_is_light() -> None:
    code = (
        "import sys\n"
        "from sa_tui.cli import build_parser\n"
        "build_parser().format_help()\n"
        "print([m for m in ('textual', 'torch', 'transformers', 'sqlalchemy') if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
