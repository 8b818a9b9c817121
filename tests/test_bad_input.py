"""Bad input, across every command, keeps the promise "nothing lost, nothing deleted": one
sentence on stderr (``error: ...``, exactly one such line, no traceback), exit status 2, and
nothing changed: the database's ``iterdump()`` is identical before and after (or there is no
database before and after; a damaged file stays byte-identical), no new file under
``$SA_TUI_HOME`` but ``logs/`` and the database's ``-wal``/``-shm``, and the user's files
untouched. Argparse usage errors exit 2 too, with argparse's own usage + error lines.

Most cases call ``sa_tui.cli.main`` in-process; a few run ``python -m sa_tui`` where the real
process matters (exactly one ``error:`` line and no warnings on a real terminal-less stderr).
The prepared store (a catalogued tiny model and dataset, a finished run, runs that share an id
prefix, a lineage with two versions, an experiment) is built once through the real commands
and the Store API, then copied into each test's fresh ``$SA_TUI_HOME``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import tiny
from tests.store.store_helpers import content, corrupt_header, db_dump, make_model_folder

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "sa-tui.db"
LINEAGE = "tiny.tinyset.ph_cot.success.n2"
MODEL_NAME = "tiny"
DATASET_NAME = "tinyset"
# tiny_dataset_dir: 24 pool samples, 8 test samples


# ------------------------------------------------------------------------------------ the store
@dataclass(frozen=True)
class Template:
    """The prepared data directory (copied into each test's home) and what it holds."""

    home: Path
    done_run: str
    failed_run: str
    shared_prefix: str
    experiment: str


def _in_process(argv: list[str]) -> tuple[int, str, str]:
    """Run the CLI here, capturing its streams without pytest's help (session fixtures)."""
    from sa_tui.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 2
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def template(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_model_dir: Path,
    tiny_dataset_dir: Path,
    tiny_dataset_file: Path,
) -> Template:
    from core.config import RunConfig
    from store.facade import Store

    home = tmp_path_factory.mktemp("bad-input-template")
    previous = os.environ.get("SA_TUI_HOME")
    os.environ["SA_TUI_HOME"] = str(home)
    try:
        with _quiet_logging():
            for argv in (
                ["models", "add", str(tiny_model_dir), "--name", MODEL_NAME],
                ["datasets", "add", str(tiny_dataset_file), "--name", DATASET_NAME],
                # a real one-cell experiment: a done run, its prompt versions and scores
                [
                    "experiment",
                    "--model",
                    str(tiny_model_dir),
                    "--dataset",
                    str(tiny_dataset_dir),
                    "--method",
                    "io",
                    "--shots",
                    "2",
                    "--seeds",
                    "0",
                    "--test-limit",
                    "2",
                    "--eval-tokens",
                    "4",
                    "--device",
                    "cpu",
                ],
            ):
                code, _, err = _in_process(argv)
                assert code == 0, err
        with Store.open() as store:
            (experiment,) = store.list_experiments()
            (done,) = store.list_runs()
            assert done.status == "done"
            config = RunConfig.from_dict(done.config)
            store.ensure_builtins()
            # a lineage with two versions, made by a run of its own (not the experiment's)
            other = store.start_run({**config.to_dict(), "seed": 9}, versions={}, device="cpu")
            first = store.save_prompt_version(
                LINEAGE, content(2, context="first\n"), run_id=other.id
            )
            store.save_prompt_version(LINEAGE, content(2, context="second\n"), run_id=other.id)
            store.save_score(
                first.id, run_id=other.id, metric="accuracy", value=0.5, n=4, ci95=(0.2, 0.8)
            )
            store.finish_run(other.id, "done")
            failed = store.start_run({**config.to_dict(), "seed": 1}, versions={}, device="cpu")
            store.finish_run(failed.id, "failed", error="out of memory")
            # runs until two ids share their first character: an ambiguous prefix
            seen: dict[str, str] = {}
            shared = None
            for run in (done, other, failed):
                if run.id[0] in seen:
                    shared = run.id[0]
                seen[run.id[0]] = run.id
            seed = 2
            while shared is None:
                extra = store.start_run(
                    {**config.to_dict(), "seed": seed}, versions={}, device="cpu"
                )
                store.finish_run(extra.id, "cancelled", error="cancelled by the user")
                seed += 1
                if extra.id[0] in seen:
                    shared = extra.id[0]
                seen[extra.id[0]] = extra.id
        assert not (home / f"{DB_NAME}-wal").exists()
        return Template(home, done.id, failed.id, shared, experiment.id)
    finally:
        if previous is None:
            os.environ.pop("SA_TUI_HOME", None)
        else:
            os.environ["SA_TUI_HOME"] = previous


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``sa-tui run`` and ``experiment`` point the root logger at their log file and capture
    warnings: put both back after each in-process call."""
    with _quiet_logging():
        yield


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.captureWarnings(False)


# ------------------------------------------------------------------------------------ snapshots
def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(root: Path) -> dict[str, str]:
    """Every entry below ``root``: files by content hash, folders and links marked."""
    if not root.exists():
        return {}
    found: dict[str, str] = {}
    for entry in sorted(root.rglob("*")):
        name = entry.relative_to(root).as_posix()
        if entry.is_symlink():
            found[name] = f"link:{os.readlink(entry)}"
        elif entry.is_dir():
            found[name] = "dir"
        else:
            found[name] = _sha(entry)
    return found


def _home_state(home: Path, *, raw_db: bool) -> dict[str, Any]:
    """The data directory as the promise sees it: the database's content (its bytes when it is
    damaged), and every other file but logs/ and the database's -wal/-shm."""
    database = home / DB_NAME
    if not database.exists():
        db: Any = None
    elif raw_db:
        db = _sha(database)
    else:
        db = db_dump(database)
    others = {
        name: value
        for name, value in _tree(home).items()
        if name != DB_NAME
        and name != "logs"
        and not name.startswith("logs/")
        and not name.endswith(("-wal", "-shm"))
    }
    return {"db": db, "files": others}


@dataclass
class Ctx:
    """What a case builds its argv from."""

    user: Path  # the user's own files (all of them must stay untouched)
    home: Path
    model: Path  # the tiny safetensors model (session fixture)
    data_dir: Path  # train.jsonl (24 pool) + test.jsonl (8 test)
    data_file: Path  # one JSONL of 36 rows
    tpl: Template

    def file(self, name: str, text: str | bytes) -> Path:
        path = self.user / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def jsonl(self, name: str, rows: list[dict]) -> Path:
        return self.file(name, "".join(json.dumps(row) + "\n" for row in rows))

    def model_copy(self, name: str) -> Path:
        target = self.user / name
        shutil.copytree(self.model, target)
        return target

    def run(self, *extra: str, method: str = "io") -> list[str]:
        """A valid `sa-tui run` (tiny model and dataset) plus ``extra``, which spoils it."""
        return [
            "run",
            "--model",
            str(self.model),
            "--dataset",
            str(self.data_dir),
            "--method",
            method,
            "--shots",
            "2",
            "--keywords",
            "2",
            "--steps",
            "1",
            "--test-limit",
            "4",
            "--shap-samples",
            "8",
            "--rationale-tokens",
            "4",
            "--eval-tokens",
            "4",
            *extra,
        ]

    def experiment(self, *extra: str, model: str | None = None) -> list[str]:
        """A valid one-cell `sa-tui experiment` plus ``extra``."""
        return [
            "experiment",
            "--model",
            model or str(self.model),
            "--dataset",
            str(self.data_dir),
            "--method",
            "io",
            "--shots",
            "2",
            "--seeds",
            "0",
            "--keywords",
            "2",
            "--test-limit",
            "4",
            "--eval-tokens",
            "4",
            *extra,
        ]


# ------------------------------------------------------------------------------------ the cases
Build = Callable[[Ctx], list[str]]


@dataclass(frozen=True)
class Case:
    id: str
    build: Build
    store: str = "filled"  # filled | fresh (no database) | damaged | garbage (not a database)
    usage: bool = False  # an argparse usage error
    xfail: str | None = None


def _no_config(c: Ctx) -> Path:
    folder = c.model_copy("no-config")
    (folder / "config.json").unlink()
    return folder


def _pickle_only(c: Ctx) -> Path:
    folder = c.model_copy("pickled")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04K\x00.")
    return folder


def _auto_map(c: Ctx) -> Path:
    folder = c.model_copy("remote-code")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_evil.py").write_text("raise SystemExit('never run me')\n")
    return folder


def _corrupt_weights(c: Ctx) -> Path:
    folder = c.model_copy("corrupt")
    corrupt_header(folder / "model.safetensors")
    return folder


def _not_a_model(c: Ctx) -> Path:
    c.file("holiday/photo.txt", "not a model\n")
    return c.user / "holiday"


def _empty_jsonl(c: Ctx) -> Path:
    return c.file("empty.jsonl", "")


def _unknown_answer(c: Ctx) -> Path:
    rows = tiny.mc_rows(20, seed=7)
    rows[3]["answer"] = "Z"
    return c.jsonl("unknown-answer.jsonl", rows)


def _csv_missing_columns(c: Ctx) -> Path:
    return c.file("missing.csv", "id,question\nq1,What is up?\nq2,Why?\n")


def _plain_csv(c: Ctx) -> Path:
    lines = ["id,prompt,a,b,c,gold"]
    lines += [f"q{i},What is {i}?,x,y,z,{'abc'[i % 3]}" for i in range(20)]
    return c.file("plain.csv", "\n".join(lines) + "\n")


def _user_report(c: Ctx) -> Path:
    c.file("reports/report.md", "# my own notes\n\nkeep me\n")
    return c.user / "reports"


def _user_folder(c: Ctx) -> Path:
    c.file("mine/notes.txt", "my notes\n")
    c.file("mine/data/arrow.bin", b"\x00\x01\x02")
    c.file("mine/dataset_info.json", '{"mine": true}\n')
    return c.user / "mine"


def _user_file(c: Ctx, name: str = "context.json") -> Path:
    return c.file(name, '{"my": "own file"}\n')


RUN_CASES = [
    Case("run-seed-negative", lambda c: c.run("--seed", "-1")),
    Case("run-shots-0", lambda c: c.run("--shots", "0")),
    Case("run-shots-beyond-pool", lambda c: c.run("--shots", "25")),
    Case("run-test-limit-beyond-test", lambda c: c.run("--test-limit", "9")),
    Case("run-test-limit-0", lambda c: c.run("--test-limit", "0")),
    Case("run-keywords-0", lambda c: c.run("--keywords", "0", method="deeplift")),
    Case("run-keywords-too-many", lambda c: c.run("--keywords", "500", method="kernelshap")),
    Case("run-steps-0", lambda c: c.run("--steps", "0", method="ph_cot")),
    Case("run-shap-samples-3", lambda c: c.run("--shap-samples", "3", method="kernelshap")),
    Case("run-rationale-tokens-0", lambda c: c.run("--rationale-tokens", "0")),
    Case("run-method-unknown", lambda c: c.run(method="io,telepathy")),
    Case("run-method-repeated", lambda c: c.run(method="io,ph_cot,io")),
    Case("run-method-empty", lambda c: c.run(method="")),
    Case("run-method-only-commas", lambda c: c.run(method=" , ,")),
    Case("run-answer-mode-bad", lambda c: c.run("--answer-mode", "guess"), usage=True),
    Case("run-cloze-norm-bad", lambda c: c.run("--cloze-norm", "chars"), usage=True),
    Case("run-cloze-choices-bad", lambda c: c.run("--cloze-choices", "all"), usage=True),
    Case("run-span-bad", lambda c: c.run("--span", "choices", method="deeplift"), usage=True),
    Case(
        "run-span-too-narrow-for-k",
        lambda c: c.run("--span", "question", "--keywords", "40", method="deeplift"),
    ),
    Case("run-strategy-bad", lambda c: c.run("--strategy", "best"), usage=True),
    Case("run-shots-not-a-number", lambda c: c.run("--shots", "two"), usage=True),
    Case("run-unknown-flag", lambda c: c.run("--turbo"), usage=True),
    Case("run-missing-model", lambda c: ["run", "--dataset", str(c.data_dir), "--method", "io"]),
    Case("run-model-missing-path", lambda c: c.run("--model", str(c.user / "no-such-model"))),
    Case("run-model-no-config", lambda c: c.run("--model", str(_no_config(c)))),
    Case("run-model-pickle-only", lambda c: c.run("--model", str(_pickle_only(c)))),
    Case("run-model-auto-map", lambda c: c.run("--model", str(_auto_map(c)))),
    Case("run-model-not-a-model", lambda c: c.run("--model", str(_not_a_model(c)))),
    Case("run-model-builtin-unknown", lambda c: c.run("--model", "builtin:nope-1b")),
    Case(
        "run-model-corrupt-safetensors",
        lambda c: c.run("--model", str(_corrupt_weights(c))),
    ),
    Case("run-model-hub-id-offline", lambda c: c.run("--model", "nobody-sa-tui/no-such-model")),
    Case(
        "run-model-gguf-garbage",
        lambda c: c.run("--model", str(c.file("x.gguf", b"GGUF" + b"\0" * 60))),
    ),
    Case("run-dataset-missing-file", lambda c: c.run("--dataset", str(c.user / "nope.jsonl"))),
    Case("run-dataset-builtin-unknown", lambda c: c.run("--dataset", "builtin:nope")),
    Case("run-dataset-empty-jsonl", lambda c: c.run("--dataset", str(_empty_jsonl(c)))),
    Case("run-dataset-unknown-answer", lambda c: c.run("--dataset", str(_unknown_answer(c)))),
    Case(
        "run-dataset-csv-missing-columns",
        lambda c: c.run("--dataset", str(_csv_missing_columns(c))),
    ),
    Case(
        "run-dataset-empty-folder", lambda c: c.run("--dataset", str(c.file("d/.keep", "").parent))
    ),
    Case("run-dataset-hf-offline", lambda c: c.run("--dataset", "hf:nobody-sa-tui/no-such-data")),
    Case(
        "run-field-map-unknown-key",
        lambda c: c.run("--dataset", str(_plain_csv(c)), "--field-map", "colour=blue"),
    ),
    Case(
        "run-field-map-missing-column",
        lambda c: c.run(
            "--dataset",
            str(_plain_csv(c)),
            "--field-map",
            "id=id,question=prompt,choices=a|b|nope,answer=gold",
        ),
    ),
    Case("run-resume-unknown", lambda c: ["run", "--resume", "ffffffffffff"]),
    Case("run-resume-done", lambda c: ["run", "--resume", c.tpl.done_run]),
    Case("run-resume-no-store", lambda c: ["run", "--resume", c.tpl.failed_run, "--no-store"]),
    Case("run-amplify-without-proxy", lambda c: c.run(method="io,amplify")),
    Case(
        "run-proxy-equals-model",
        lambda c: c.run("--proxy-model", str(c.model), method="amplify"),
    ),
    Case(
        "run-proxy-missing",
        lambda c: c.run("--proxy-model", str(c.user / "no-proxy"), method="amplify"),
    ),
    Case("run-search-0", lambda c: c.run("--search", "0")),
    Case("run-dev-size-too-large", lambda c: c.run("--search", "2", "--dev-size", "24")),
    Case("run-influence-zero-shot", lambda c: c.run("--influence", method="zero_shot")),
    Case("run-influence-dev-size-0", lambda c: c.run("--influence", "--dev-size", "0")),
    Case("run-influence-dev-size-too-large", lambda c: c.run("--influence", "--dev-size", "24")),
    Case("run-batch-size-0", lambda c: c.run("--batch-size", "0")),
    Case("run-eval-tokens-0", lambda c: c.run("--eval-tokens", "0")),
    Case(
        "run-dtype-unknown",
        lambda c: c.run("--dtype", "float8", method="zero_shot"),
    ),
    Case(
        "run-device-unknown",
        lambda c: c.run("--device", "abacus", method="zero_shot"),
    ),
    Case(
        "run-json-is-a-folder",
        lambda c: c.run("--json", str(_user_folder(c)), "--test-limit", "1", method="zero_shot"),
    ),
    Case(
        "run-fresh-home-missing-model",
        lambda c: c.run("--model", str(c.user / "no-such-model")),
        store="fresh",
    ),
]

EXPERIMENT_CASES = [
    Case("experiment-seeds-not-numbers", lambda c: c.experiment("--seeds", "a")),
    Case("experiment-seeds-repeated", lambda c: c.experiment("--seeds", "0,1,0")),
    Case("experiment-shots-empty", lambda c: c.experiment("--shots", "")),
    Case("experiment-shots-0", lambda c: c.experiment("--shots", "0")),
    Case("experiment-strategy-bad", lambda c: c.experiment("--strategy", "success,best")),
    Case("experiment-method-unknown", lambda c: c.experiment("--method", "io,nope")),
    Case("experiment-test-limit-beyond-test", lambda c: c.experiment("--test-limit", "99")),
    Case(
        "experiment-model-list-with-missing",
        lambda c: c.experiment(model=f"{c.model},{c.user / 'absent-model'}"),
    ),
    Case("experiment-model-empty", lambda c: c.experiment(model=" , ")),
    Case(
        "experiment-report-holds-user-file",
        lambda c: c.experiment("--report", str(_user_report(c))),
    ),
    Case(
        "experiment-report-is-a-file",
        lambda c: c.experiment("--report", str(_user_file(c, "report.txt"))),
    ),
    Case(
        "experiment-report-unwritable",
        lambda c: c.experiment("--report", "/proc/sa-tui-nowhere"),
    ),
    Case(
        "experiment-missing-dataset", lambda c: ["experiment", "--model", str(c.model)], usage=True
    ),
    Case("experiments-show-unknown", lambda c: ["experiments", "show", "xdeadbeef"]),
    Case("experiments-show-empty-id", lambda c: ["experiments", "show", ""]),
    Case(
        "experiments-show-report-unwritable",
        lambda c: ["experiments", "show", c.tpl.experiment, "--report", "/proc/sa-tui-nowhere"],
    ),
    Case("experiments-unknown-action", lambda c: ["experiments", "delete"], usage=True),
    Case(
        "experiments-show-report-holds-user-file",
        lambda c: ["experiments", "show", c.tpl.experiment, "--report", str(_user_report(c))],
    ),
]

MODEL_CASES = [
    Case("models-add-missing-path", lambda c: ["models", "add", str(c.user / "nowhere")]),
    Case("models-add-not-a-model", lambda c: ["models", "add", str(_not_a_model(c))]),
    Case("models-add-builtin-unknown", lambda c: ["models", "add", "builtin:nope"]),
    Case("models-add-no-config", lambda c: ["models", "add", str(_no_config(c))]),
    Case("models-add-pickle-only", lambda c: ["models", "add", str(_pickle_only(c))]),
    Case("models-add-auto-map", lambda c: ["models", "add", str(_auto_map(c))]),
    Case("models-add-corrupt-safetensors", lambda c: ["models", "add", str(_corrupt_weights(c))]),
    Case(
        "models-add-gguf-garbage",
        lambda c: ["models", "add", str(c.file("x.gguf", b"GGUF" + b"\0" * 60))],
    ),
    Case("models-add-hub-id-offline", lambda c: ["models", "add", "nobody-sa-tui/no-such-model"]),
    Case(
        "models-add-name-taken",
        lambda c: ["models", "add", str(make_model_folder(c.user / "m2")), "--name", MODEL_NAME],
    ),
    Case(
        "models-add-name-blank",
        lambda c: ["models", "add", str(make_model_folder(c.user / "m3")), "--name", "  "],
    ),
    Case("models-verify-unknown", lambda c: ["models", "verify", "nope"]),
    Case("models-rm-unknown", lambda c: ["models", "rm", "nope"]),
    Case("models-rm-unknown-dry-run", lambda c: ["models", "rm", "nope", "--dry-run"]),
    Case(
        "models-verify-rehash-and-no-checksums",
        lambda c: ["models", "verify", MODEL_NAME, "--rehash", "--no-checksums"],
        usage=True,
    ),
    Case("models-add-missing-source", lambda c: ["models", "add"], usage=True),
]

DATASET_CASES = [
    Case("datasets-add-missing-file", lambda c: ["datasets", "add", str(c.user / "gone.jsonl")]),
    Case(
        "datasets-add-field-map-unknown-key",
        lambda c: ["datasets", "add", str(_plain_csv(c)), "--field-map", "colour=blue"],
    ),
    Case(
        "datasets-add-field-map-garbage",
        lambda c: ["datasets", "add", str(_plain_csv(c)), "--field-map", "id"],
    ),
    Case(
        "datasets-add-bad-name",
        lambda c: ["datasets", "add", str(c.data_file), "--name", "my data@v1"],
    ),
    Case("datasets-add-empty-jsonl", lambda c: ["datasets", "add", str(_empty_jsonl(c))]),
    Case("datasets-add-unknown-answer", lambda c: ["datasets", "add", str(_unknown_answer(c))]),
    Case(
        "datasets-add-csv-missing-columns",
        lambda c: ["datasets", "add", str(_csv_missing_columns(c))],
    ),
    Case(
        "datasets-add-not-utf8",
        lambda c: ["datasets", "add", str(c.file("latin.jsonl", b'{"q": "caf\xe9"}\n'))],
    ),
    Case(
        "datasets-add-garbage-parquet",
        lambda c: ["datasets", "add", str(c.file("x.parquet", b"PAR1 not really"))],
    ),
    Case(
        "datasets-add-not-json",
        lambda c: ["datasets", "add", str(c.file("x.jsonl", "{not json\n"))],
    ),
    Case("datasets-add-builtin-unknown", lambda c: ["datasets", "add", "builtin:nope"]),
    Case("datasets-rm-unknown", lambda c: ["datasets", "rm", "nope"]),
    Case("datasets-list-format-bad", lambda c: ["datasets", "list", "--format", "xml"], usage=True),
]

RUNS_CASES = [
    Case("runs-show-unknown", lambda c: ["runs", "show", "nope"]),
    Case("runs-show-ambiguous-prefix", lambda c: ["runs", "show", c.tpl.shared_prefix]),
    Case("runs-show-empty-id", lambda c: ["runs", "show", ""]),
    Case("runs-list-status-bad", lambda c: ["runs", "list", "--status", "lost"], usage=True),
    Case("runs-list-limit-not-a-number", lambda c: ["runs", "list", "--limit", "ten"], usage=True),
]

PROMPT_CASES = [
    Case("prompts-show-unknown-lineage", lambda c: ["prompts", "show", "tiny.tinyset.io.error.n9"]),
    Case("prompts-show-unknown-version", lambda c: ["prompts", "show", f"{LINEAGE}@v9"]),
    Case("prompts-show-unknown-alias", lambda c: ["prompts", "show", f"{LINEAGE}@champion"]),
    Case("prompts-show-malformed-ref", lambda c: ["prompts", "show", f"{LINEAGE}@@v1"]),
    Case("prompts-diff-unknown-b", lambda c: ["prompts", "diff", f"{LINEAGE}@v1", "nope.lineage"]),
    Case("prompts-diff-unknown-a", lambda c: ["prompts", "diff", "nope.lineage", LINEAGE]),
    Case(
        "prompts-alias-unknown-lineage", lambda c: ["prompts", "alias", "nope.lineage", "best", "1"]
    ),
    Case("prompts-alias-invalid-name", lambda c: ["prompts", "alias", LINEAGE, "my best", "1"]),
    Case("prompts-alias-name-is-a-version", lambda c: ["prompts", "alias", LINEAGE, "v3", "1"]),
    Case("prompts-alias-unknown-version", lambda c: ["prompts", "alias", LINEAGE, "best", "9"]),
    Case("prompts-alias-invalid-version", lambda c: ["prompts", "alias", LINEAGE, "best", "v-1"]),
    Case(
        "prompts-alias-missing-version", lambda c: ["prompts", "alias", LINEAGE, "best"], usage=True
    ),
    Case(
        "prompts-list-limit-not-a-number", lambda c: ["prompts", "list", "--limit", "x"], usage=True
    ),
]

EXPORT_CASES = [
    Case(
        "export-unknown-lineage",
        lambda c: ["export", "nope.lineage", "--format", "text", "-o", str(c.user / "x.txt")],
    ),
    Case(
        "export-unknown-version",
        lambda c: ["export", f"{LINEAGE}@v7", "--format", "jsonl", "-o", str(c.user / "x.jsonl")],
    ),
    Case(
        "export-unknown-format",
        lambda c: ["export", LINEAGE, "--format", "yaml", "-o", str(c.user / "x.yaml")],
        usage=True,
    ),
    Case("export-missing-output", lambda c: ["export", LINEAGE, "--format", "text"], usage=True),
    Case(
        "export-hf-dataset-over-user-folder-force",
        lambda c: [
            "export",
            LINEAGE,
            "--format",
            "hf-dataset",
            "-o",
            str(_user_folder(c)),
            "--force",
        ],
    ),
    Case(
        "export-over-user-file-force",
        lambda c: ["export", LINEAGE, "--format", "chat-json", "-o", str(_user_file(c)), "--force"],
    ),
    Case(
        "export-over-user-file",
        lambda c: ["export", LINEAGE, "--format", "jsonl", "-o", str(_user_file(c, "mine.jsonl"))],
    ),
    Case(
        "export-hf-dataset-over-user-file-force",
        lambda c: [
            "export",
            LINEAGE,
            "--format",
            "hf-dataset",
            "-o",
            str(_user_file(c)),
            "--force",
        ],
    ),
    Case(
        "export-under-a-user-file",
        lambda c: ["export", LINEAGE, "--format", "text", "-o", str(_user_file(c) / "ctx.txt")],
    ),
    Case(
        "export-into-unwritable-location",
        lambda c: ["export", LINEAGE, "--format", "text", "-o", "/proc/sa-tui-nowhere/ctx.txt"],
    ),
]

DB_CASES = [
    Case("db-backup-over-existing-file", lambda c: ["db", "backup", str(_user_file(c, "b.db"))]),
    Case("db-backup-into-missing-folder", lambda c: ["db", "backup", str(c.user / "no" / "b.db")]),
    Case(
        "db-backup-without-database",
        lambda c: ["db", "backup", str(c.user / "b.db")],
        store="fresh",
    ),
    Case("db-unknown-action", lambda c: ["db", "vacuum"], usage=True),
]

# Every command that opens the store, on a damaged database file: refused, file byte-identical.
OPENS_THE_STORE: list[tuple[str, Build]] = [
    ("run", lambda c: c.run()),
    ("run-resume", lambda c: ["run", "--resume", c.tpl.failed_run]),
    ("experiment", lambda c: c.experiment()),
    ("experiments-list", lambda c: ["experiments", "list"]),
    ("experiments-show", lambda c: ["experiments", "show", c.tpl.experiment]),
    ("models-add", lambda c: ["models", "add", str(make_model_folder(c.user / "m"))]),
    ("models-list", lambda c: ["models", "list"]),
    ("models-verify", lambda c: ["models", "verify", MODEL_NAME]),
    ("models-rm", lambda c: ["models", "rm", MODEL_NAME]),
    ("datasets-add", lambda c: ["datasets", "add", str(c.data_file), "--name", "again"]),
    ("datasets-list", lambda c: ["datasets", "list"]),
    ("datasets-rm", lambda c: ["datasets", "rm", DATASET_NAME]),
    ("runs-list", lambda c: ["runs", "list"]),
    ("runs-show", lambda c: ["runs", "show", c.tpl.done_run]),
    ("prompts-list", lambda c: ["prompts", "list"]),
    ("prompts-show", lambda c: ["prompts", "show", LINEAGE]),
    ("prompts-diff", lambda c: ["prompts", "diff", f"{LINEAGE}@v1", LINEAGE]),
    ("prompts-alias", lambda c: ["prompts", "alias", LINEAGE, "best", "1"]),
    ("export", lambda c: ["export", LINEAGE, "--format", "text", "-o", str(c.user / "ctx.txt")]),
    ("db-check", lambda c: ["db", "check"]),
    ("db-backup", lambda c: ["db", "backup", str(c.user / "backup.db")]),
]
DAMAGED_CASES = [
    Case(f"damaged-db-{name}", build, store="damaged") for name, build in OPENS_THE_STORE
]
DAMAGED_CASES += [
    Case(f"not-a-database-{name}", build, store="garbage")
    for name, build in OPENS_THE_STORE
    if name in ("run", "models-list", "prompts-show", "db-check")
]

FRESH_CASES = [
    Case(
        "fresh-runs-show-unknown",
        lambda c: ["runs", "show", "nope"],
        store="fresh",
    ),
    Case(
        "fresh-models-verify-unknown",
        lambda c: ["models", "verify", "nope"],
        store="fresh",
    ),
    Case(
        "fresh-export-unknown-lineage",
        lambda c: ["export", "nope.lineage", "--format", "text", "-o", str(c.user / "x.txt")],
        store="fresh",
    ),
    Case(
        "fresh-experiment-seeds-not-numbers", lambda c: c.experiment("--seeds", "a"), store="fresh"
    ),
    Case(
        "fresh-experiment-report-holds-user-file",
        lambda c: c.experiment("--report", str(_user_report(c))),
        store="fresh",
    ),
]

CASES = (
    RUN_CASES
    + EXPERIMENT_CASES
    + MODEL_CASES
    + DATASET_CASES
    + RUNS_CASES
    + PROMPT_CASES
    + EXPORT_CASES
    + DB_CASES
    + DAMAGED_CASES
    + FRESH_CASES
)


def _params(cases: list[Case]) -> list[Any]:
    return [
        pytest.param(
            case,
            id=case.id,
            marks=[pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else [],
        )
        for case in cases
    ]


# ------------------------------------------------------------------------------------ the setup
def _damage(database: Path) -> None:
    """Scribble over the second page (a b-tree page of the schema's tables)."""
    with sqlite3.connect(database) as connection:
        page = connection.execute("PRAGMA page_size").fetchone()[0]
    connection.close()
    data = bytearray(database.read_bytes())
    assert len(data) >= 3 * page
    data[page : 2 * page] = bytes([0xA5]) * page
    database.write_bytes(bytes(data))


@pytest.fixture
def ctx(
    _isolated_home: Path,
    tmp_path: Path,
    template: Template,
    tiny_model_dir: Path,
    tiny_dataset_dir: Path,
    tiny_dataset_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Ctx:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing here may reach the network
    try:  # huggingface_hub reads the variable once, when it is first imported
        import huggingface_hub.constants as hub_constants
    except ImportError:  # pragma: no cover
        pass
    else:
        monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("SA_TUI_DEVICE", "cpu")
    user = tmp_path / "user"
    user.mkdir()
    return Ctx(user, _isolated_home, tiny_model_dir, tiny_dataset_dir, tiny_dataset_file, template)


def _prepare(c: Ctx, store: str) -> None:
    if store == "fresh":
        return
    c.home.mkdir(parents=True, exist_ok=True)
    database = c.home / DB_NAME
    shutil.copy2(c.tpl.home / DB_NAME, database)
    if store == "damaged":
        _damage(database)
    elif store == "garbage":
        database.write_bytes(b"these are my shopping notes, not a database\n" * 200)


@dataclass
class Before:
    home: dict[str, Any]
    user: dict[str, str]
    shared: dict[str, str]


def _state(c: Ctx, raw_db: bool) -> Before:
    shared = {
        f"{name}/{k}": v
        for name, root in (("model", c.model), ("data", c.data_dir))
        for k, v in _tree(root).items()
    }
    shared["data-file"] = _sha(c.data_file)
    return Before(_home_state(c.home, raw_db=raw_db), _tree(c.user), shared)


def _assert_unchanged(c: Ctx, before: Before, raw_db: bool) -> None:
    after = _state(c, raw_db)
    assert after.user == before.user, "the user's files changed"
    assert after.shared == before.shared, "the model or dataset files changed"
    assert after.home["files"] == before.home["files"], "files appeared or changed in SA_TUI_HOME"
    if before.home["db"] is None:
        assert after.home["db"] is None, "a database was created"
    else:
        assert after.home["db"] == before.home["db"], "the database changed"


def _assert_one_sentence(code: int, err: str) -> None:
    lines = err.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert code == 2, f"exit {code}; stderr: {err[-2000:]}"
    assert len(errors) == 1, f"expected one error line, got: {err[-2000:]}"
    assert "Traceback" not in err, err[-2000:]
    assert len(errors[0]) > len("error: ") + 10


def _assert_usage(code: int, err: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"exit {code}; stderr: {err[-2000:]}"
    assert lines and lines[0].startswith("usage: sa-tui"), err
    assert lines[-1].startswith("sa-tui") and ": error: " in lines[-1], err
    assert sum(": error: " in line or line.startswith("error:") for line in lines) == 1, err
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------ the tests
def test_there_are_enough_cases() -> None:
    assert len({case.id for case in CASES}) == len(CASES) >= 70
    commands = {case.id.split("-")[0] for case in CASES}
    assert {"run", "experiment", "experiments", "models", "datasets", "runs", "prompts"} <= commands
    assert {"export", "db", "damaged", "fresh"} <= commands


@pytest.mark.parametrize("case", _params(CASES))
def test_bad_input_is_refused_and_changes_nothing(
    case: Case, ctx: Ctx, capsys: pytest.CaptureFixture[str]
) -> None:
    from sa_tui.cli import main

    _prepare(ctx, case.store)
    argv = case.build(ctx)
    raw_db = case.store in ("damaged", "garbage")
    before = _state(ctx, raw_db)
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 2
    _, err = capsys.readouterr()
    if case.usage:
        _assert_usage(code, err)
    else:
        _assert_one_sentence(code, err)
    _assert_unchanged(ctx, before, raw_db)


# The "see sa-tui ..." hint of an unknown-name error names a command that exists.
HINT_CASES = [
    Case("hint-runs-show", lambda c: ["runs", "show", "nope"]),
    Case("hint-models-verify", lambda c: ["models", "verify", "nope"]),
    Case("hint-datasets-rm", lambda c: ["datasets", "rm", "nope"]),
    Case("hint-prompts-diff", lambda c: ["prompts", "diff", "nope.lineage", LINEAGE]),
    Case(
        "hint-experiments-show",
        lambda c: ["experiments", "show", "xdeadbeef"],
    ),
]


@pytest.mark.parametrize("case", _params(HINT_CASES))
def test_error_hints_name_real_commands(
    case: Case, ctx: Ctx, capsys: pytest.CaptureFixture[str]
) -> None:
    from sa_tui.cli import build_parser, main

    _prepare(ctx, case.store)
    code = main(case.build(ctx))
    _, err = capsys.readouterr()
    _assert_one_sentence(code, err)
    hint = re.search(r"see sa-tui ([a-z -]+?)\s*$", err.strip())
    assert hint, err
    try:
        build_parser().parse_args(hint.group(1).split())
    except SystemExit:
        pytest.fail(f"the hint names no command: {hint.group(0)!r}")
    finally:
        capsys.readouterr()


# A real process: one `error:` line on stderr, no warning, no traceback, nothing changed.
PROCESS_CASES = [
    Case("process-run-model-missing-path", lambda c: c.run("--model", str(c.user / "no-model"))),
    Case("process-run-keywords-too-many", lambda c: c.run("--keywords", "500", method="deeplift")),
    Case("process-experiment-seeds-repeated", lambda c: c.experiment("--seeds", "1,1")),
    Case("process-models-list-damaged-db", lambda c: ["models", "list"], store="damaged"),
]


@pytest.mark.parametrize("case", _params(PROCESS_CASES))
def test_bad_input_in_a_real_process(case: Case, ctx: Ctx) -> None:
    _prepare(ctx, case.store)
    argv = case.build(ctx)
    raw_db = case.store in ("damaged", "garbage")
    before = _state(ctx, raw_db)
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    done = subprocess.run(
        [sys.executable, "-m", "sa_tui", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    _assert_one_sentence(done.returncode, done.stderr)
    assert "warning" not in done.stderr.lower(), done.stderr
    assert done.stdout == "", done.stdout
    _assert_unchanged(ctx, before, raw_db)
