"""Import contracts: store/ never imports the UI or the heavy ML libraries, not even lazily, and
the catalogue commands run without loading them."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import store

FORBIDDEN = ("textual", "torch", "transformers", "captum", "shap")
STORE_DIR = Path(store.__file__).parent
COMMANDS_DIR = STORE_DIR.parent / "sa_tui" / "commands"


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_no_forbidden_import_anywhere_in_store_or_the_commands() -> None:
    files = sorted(STORE_DIR.glob("*.py")) + sorted(COMMANDS_DIR.glob("*.py"))
    assert len(files) > 10
    for path in files:
        bad = imported_modules(path) & set(FORBIDDEN)
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_store_core_imports_are_the_torch_free_ones() -> None:
    allowed = {
        "core.atomic",
        "core.errors",
        "core.cache",
        "core.paths",
        "core.datasets",
        "core.models.builtin",
        "core.samples",
    }
    for path in sorted(STORE_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("core"):
                assert node.module in allowed, f"{path.name} imports {node.module}"


CHECK = textwrap.dedent(
    """
    import json, sys, importlib, pkgutil
    import store, sa_tui.commands
    for package in (store, sa_tui.commands):
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{info.name}")
    from pathlib import Path
    from sa_tui.commands import datasets, export, models, prompts, runs
    import argparse
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    for module in (models, datasets, runs, prompts, export):
        module.register(sub)
    from store.facade import Store
    with Store.open() as s:
        s.save_prompt_version("l", {"context": "c", "shots": [{"id": "1", "question": "q", "choices": [], "answer": "A"}]})
    for argv in (["models", "list"], ["datasets", "add", "builtin:snarks"], ["prompts", "list"],
                 ["export", "l", "--format", "hf-dataset", "-o", sys.argv[1]]):
        args = parser.parse_args(argv)
        assert args.func(args) == 0, argv
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN_NAMES)))
    """
).replace("FORBIDDEN_NAMES", repr(FORBIDDEN))


def test_importing_and_running_the_commands_loads_no_heavy_library(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(tmp_path / "ds")],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
