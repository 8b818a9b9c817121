"""Converting a built-in model is safe across processes: one conversion, whole folders only, and
nothing trusted after a crash (the converter is a stand-in that writes slowly)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from core.models import builtin

    log = Path(sys.argv[1])
    mode = sys.argv[2]

    def slow(name, folder):
        with log.open("a") as out:
            out.write(f"convert {os.getpid()}\\n")
        (folder / "config.json").write_text("{}")
        time.sleep(0.6)
        if mode == "crash":
            os._exit(9)  # dies mid-conversion, like kill -9
        (folder / "model.safetensors").write_bytes(b"w" * 4096)

    print(builtin.ensure_converted("smollm2-135m", slow), flush=True)
    """
)

READER = textwrap.dedent(
    """
    import sys, time
    from core.models.builtin import converted_dir
    target = converted_dir("smollm2-135m")
    end = time.monotonic() + float(sys.argv[1])
    seen = partial = 0
    while time.monotonic() < end:
        if target.exists():
            seen += 1
            files = sorted(p.name for p in target.iterdir())
            if files != ["config.json", "model.safetensors"]:
                partial += 1
            elif (target / "model.safetensors").stat().st_size != 4096:
                partial += 1
        time.sleep(0.002)
    print(seen, partial, flush=True)
    """
)


def _spawn(code: str, *args: str, home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "SA_TUI_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _converted_dir(home: Path) -> Path:
    import transformers

    return home / "models" / "smollm2-135m" / f"transformers-{transformers.__version__}"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def test_concurrent_first_runs_convert_once_and_readers_see_whole_folders(
    home: Path, tmp_path: Path
) -> None:
    log = tmp_path / "conversions.log"
    reader = _spawn(READER, "12", home=home)
    time.sleep(1.0)
    runs = [_spawn(CHILD, str(log), "ok", home=home) for _ in range(3)]
    outputs = [run.communicate(timeout=120) for run in runs]
    for run, (_stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stderr[-2000:]
    paths = {stdout.strip() for stdout, _ in outputs}
    assert paths == {str(_converted_dir(home))}
    assert log.read_text().count("convert") == 1, log.read_text()
    seen, partial = map(int, reader.communicate(timeout=60)[0].split())
    assert seen > 0 and partial == 0
    leftovers = [p.name for p in _converted_dir(home).parent.iterdir() if p.name.startswith(".c")]
    assert leftovers == [".convert.lock"]


def test_a_crash_mid_conversion_leaves_nothing_a_later_run_trusts(
    home: Path, tmp_path: Path
) -> None:
    log = tmp_path / "conversions.log"
    crashed = _spawn(CHILD, str(log), "crash", home=home)
    crashed.communicate(timeout=120)
    assert crashed.returncode == 9
    target = _converted_dir(home)
    assert not target.exists()
    assert any(p.name.startswith(".converting-") for p in target.parent.iterdir())

    again = _spawn(CHILD, str(log), "ok", home=home)
    stdout, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr[-2000:]
    assert stdout.strip() == str(target)
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "model.safetensors"]
    assert not any(p.name.startswith(".converting-") for p in target.parent.iterdir())
    assert log.read_text().count("convert") == 2


def test_a_failed_conversion_is_cleaned_up_and_reported(
    monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    from core.errors import ModelError
    from core.models import builtin

    monkeypatch.setenv("SA_TUI_HOME", str(home))

    def disk_full(name: str, folder: Path) -> None:
        (folder / "config.json").write_text("{}")
        raise OSError(28, "No space left on device")

    with pytest.raises(ModelError, match="No space left on device"):
        builtin.ensure_converted("smollm2-135m", disk_full)
    target = builtin.converted_dir("smollm2-135m")
    assert not target.exists()
    assert not any(p.name.startswith(".converting-") for p in target.parent.iterdir())
