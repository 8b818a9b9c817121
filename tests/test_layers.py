"""Layering: four floors, sa_tui > jobs > store > core; a floor imports only the floors below.

- core never imports store, jobs or sa_tui, not even inside a function; store never imports jobs
  or sa_tui; jobs never imports sa_tui; core, store and jobs never import Textual.
- sa_tui never imports torch & co., nor Ray (only `--executor ray` loads it, in the jobs layer).

Static checks read every module's syntax tree (imports anywhere, also inside functions, and
``importlib.import_module("...")`` with a constant name); dynamic checks import the UI modules and
run ``sa-tui --help`` in a fresh interpreter and look at ``sys.modules``.

sa_tui may import a core module anywhere when importing it loads no heavy library (its import-time
closure: module-level imports, followed through core and store). Core modules that do load torch
may be imported only inside the functions of ``ALLOWED_HEAVY_CORE_IMPORTS`` (the headless run).
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "captum", "shap", "ray")
FLOORS = ("core", "store", "jobs", "sa_tui")  # bottom to top
UI_ONLY = ("textual",)
# Functions of sa_tui whose bodies may import core modules that load torch when imported.
ALLOWED_HEAVY_CORE_IMPORTS: dict[str, set[str]] = {"sa_tui/cli.py": {"handle_run"}}


def _modules(package: str) -> list[Path]:
    folder = ROOT / package
    return (
        sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)
        if folder.is_dir()
        else []
    )


def _imports(path: Path) -> Iterator[tuple[str, int, tuple[str, ...]]]:
    """(imported module, line, enclosing function names) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def visit(node: ast.AST, scope: tuple[str, ...]) -> Iterator[tuple[str, int, tuple[str, ...]]]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, scope
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                yield node.module, node.lineno, scope
                for alias in node.names:  # ``from core import lm`` imports the module core.lm
                    if _module_file(f"{node.module}.{alias.name}") is not None:
                        yield f"{node.module}.{alias.name}", node.lineno, scope
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from (item for child in node.orelse for item in visit(child, scope))
            return
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    yield first.value, node.lineno, scope
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope = (*scope, node.name)
        for child in ast.iter_child_nodes(node):
            yield from visit(child, scope)

    yield from visit(tree, ())


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_file(module: str) -> Path | None:
    """The source file of a first-party module (core, store, sa_tui), else None."""
    if _top(module) not in FLOORS:
        return None
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def heavy_at_import(module: str, _seen: set[str] | None = None) -> list[str]:
    """The import chain by which importing ``module`` loads a heavy library ([] when none)."""
    seen = _seen if _seen is not None else set()
    if _top(module) in HEAVY:
        return [module]
    parts = module.split(".")
    for depth in range(1, len(parts) + 1):  # the parent packages' __init__ run first
        name = ".".join(parts[:depth])
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name)
        if path is None:
            continue
        for imported, _, scope in _imports(path):
            if scope:
                continue
            chain = heavy_at_import(imported, seen)
            if chain:
                return [name, *chain]
    return []


def _top(module: str) -> str:
    return module.split(".")[0]


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_scanner_finds_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text(
        "import os\n"
        "def f():\n"
        "    import torch.nn\n"
        "    class C:\n"
        "        def g(self):\n"
        "            from shap import KernelExplainer\n"
        "    importlib.import_module('captum.attr')\n"
    )
    found = [(m, scope) for m, _, scope in _imports(sample)]
    assert found == [
        ("os", ()),
        ("torch.nn", ("f",)),
        ("shap", ("f", "g")),
        ("captum.attr", ("f",)),
    ]
    guarded = tmp_path / "g.py"
    guarded.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\nelse:\n    import json\n"
    )
    assert [m for m, _, _ in _imports(guarded)] == ["typing", "json"]


def upward_imports(root: Path) -> list[str]:
    """Every import of a floor above the importing module's own (anywhere in the file)."""
    offenders = []
    for rank, floor in enumerate(FLOORS):
        folder = root / floor
        files = sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)
        for path in files:
            tree_imports = _imports(path)
            for module, line, _ in tree_imports:
                top = _top(module)
                if top in FLOORS and FLOORS.index(top) > rank:
                    offenders.append(f"{path.relative_to(root).as_posix()}:{line} imports {module}")
    return offenders


def test_no_floor_imports_a_floor_above_it() -> None:
    assert _modules("core") and _modules("jobs"), "core/ or jobs/ was not found"
    assert upward_imports(ROOT) == []


def test_the_floor_check_catches_an_upward_import(tmp_path: Path) -> None:
    """The check fails as soon as anyone adds such an import, also one hidden in a function."""
    for floor in FLOORS:
        (tmp_path / floor).mkdir()
        (tmp_path / floor / "__init__.py").write_text("")
    (tmp_path / "core" / "m.py").write_text("def f():\n    from store.facade import Store\n")
    (tmp_path / "store" / "s.py").write_text("import jobs.run\n")
    (tmp_path / "jobs" / "j.py").write_text("from core import cache\nfrom store import facade\n")
    (tmp_path / "sa_tui" / "u.py").write_text("import jobs.protocol\n")
    assert upward_imports(tmp_path) == [
        "core/m.py:2 imports store.facade",
        "store/s.py:1 imports jobs.run",
    ]


def test_lower_floors_never_load_upper_floors_when_imported() -> None:
    """The static verdict, checked by really importing every core and store module."""
    for floor, above in (("core", ("store", "jobs", "sa_tui")), ("store", ("jobs", "sa_tui"))):
        modules = [
            _relative(p).removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            for p in _modules(floor)
        ]
        code = (
            "import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {above!r})\n"
            "print('LOADED=' + ','.join(loaded))\n"
        )
        process = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert process.returncode == 0, process.stderr[-2000:]
        assert "LOADED=\n" in process.stdout, f"importing {floor} loaded {process.stdout}"


def test_core_store_and_jobs_never_import_textual() -> None:
    offenders = [
        f"{_relative(path)}:{line} imports {module}"
        for package in ("core", "store", "jobs")
        for path in _modules(package)
        for module, line, _ in _imports(path)
        if _top(module) in UI_ONLY
    ]
    assert _modules("core"), "core/ was not found"
    assert offenders == []


def test_sa_tui_never_imports_heavy_libraries() -> None:
    offenders = [
        f"{_relative(path)}:{line} imports {module}"
        for path in _modules("sa_tui")
        for module, line, _ in _imports(path)
        if _top(module) in HEAVY
    ]
    assert _modules("sa_tui"), "sa_tui/ was not found"
    assert offenders == []


def _core_imports_in_sa_tui() -> list[tuple[str, str, int, tuple[str, ...]]]:
    """Imports of lower floors (core, store, jobs) by sa_tui."""
    return [
        (_relative(path), module, line, scope)
        for path in _modules("sa_tui")
        for module, line, scope in _imports(path)
        if _top(module) in ("core", "store", "jobs")
    ]


def test_heavy_at_import_follows_module_level_imports_only() -> None:
    assert heavy_at_import("core.lm")[-1] == "torch"
    chain = heavy_at_import("core.evaluation")
    assert chain[0] == "core.evaluation" and chain[-1] == "torch"
    assert heavy_at_import("core.errors") == []
    assert heavy_at_import("jobs.headless") == [], "jobs.headless imports the pipeline lazily"
    assert heavy_at_import("jobs.protocol") == [] and heavy_at_import("jobs.timings") == []


def test_sa_tui_imports_heavy_core_modules_only_inside_allowed_functions() -> None:
    offenders = [
        f"{file}:{line} imports {module} ({' -> '.join(heavy_at_import(module))}) in "
        f"{'.'.join(scope) or 'the module body'}"
        for file, module, line, scope in _core_imports_in_sa_tui()
        if heavy_at_import(module)
        and not (scope and scope[0] in ALLOWED_HEAVY_CORE_IMPORTS.get(file, set()))
    ]
    assert offenders == []


def _heavy_modules_after(code: str, *argv: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run ``code`` in a fresh interpreter; return the process and the heavy modules it loaded."""
    wrapper = (
        "import sys\n"
        f"{code}\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "sys.stderr.write('\\nHEAVY=' + ','.join(heavy) + '\\n')\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", wrapper, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    marker = [line for line in process.stderr.splitlines() if line.startswith("HEAVY=")]
    assert marker, process.stderr[-2000:]
    heavy = [m for m in marker[-1].removeprefix("HEAVY=").split(",") if m]
    return process, heavy


def test_importing_the_ui_modules_does_not_import_torch() -> None:
    names = ["sa_tui", "sa_tui.cli"]
    if importlib.util.find_spec("sa_tui.app") is not None:
        names.append("sa_tui.app")
    process, heavy = _heavy_modules_after("\n".join(f"import {name}" for name in names))
    assert process.returncode == 0, process.stderr[-2000:]
    assert heavy == [], f"importing {', '.join(names)} loaded {', '.join(heavy[:5])}"


def test_core_modules_imported_by_sa_tui_are_torch_free() -> None:
    """The static verdict, checked by really importing every light core module sa_tui uses."""
    imported = {module for _, module, _, _ in _core_imports_in_sa_tui()} | {"core", "jobs.headless"}
    modules = sorted(m for m in imported if not heavy_at_import(m))
    process, heavy = _heavy_modules_after("\n".join(f"import {name}" for name in modules))
    assert process.returncode == 0, process.stderr[-2000:]
    assert heavy == [], f"importing {', '.join(modules)} loaded {', '.join(heavy[:5])}"


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"]])
def test_help_runs_without_torch(argv: list[str]) -> None:
    code = "from sa_tui.cli import main\ntry:\n    code = main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code"
    process, heavy = _heavy_modules_after(
        code + "\nsys.stdout.flush()\nif code: sys.exit(code)", *argv
    )
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.startswith("usage: sa-tui")
    assert heavy == []


def test_console_script_help() -> None:
    script = Path(sys.executable).parent / "sa-tui"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "sa_tui"]
    process = subprocess.run(
        [*command, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert process.returncode == 0, process.stderr[-2000:]
    assert "usage: sa-tui" in process.stdout and "run" in process.stdout
    assert "Traceback" not in process.stderr
