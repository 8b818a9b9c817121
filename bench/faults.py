"""Fault injection: `sa-tui run` killed with SIGKILL at random moments, on a full disk, and on a
database locked by another process; nothing completed may be lost and nothing may be corrupted.

1. One uninterrupted reference run (its own SA_TUI_HOME) gives the expected results and records.
2. ``--trials`` kill trials, each in a fresh SA_TUI_HOME: the same run is started, killed with
   SIGKILL at a seeded random moment (one draw in each of ``trials`` equal slices of
   [0.2 s, the reference's duration], shuffled, so every stage is hit), and then
   (a) the records of the six append-only tables present right after the kill are snapshotted,
   (b) ``PRAGMA integrity_check`` runs on the database,
   (c) the run is resumed (``sa-tui run --resume RUN_ID``; run again when the kill came before
       the run record existed or after it was done), and its results (accuracies, per-item
       predictions, contexts) and stored records (keys, scores with every generated output)
       are compared with the reference's; every snapshotted record must still be there,
       unchanged, and no score may be saved twice by the same run.
3. A full disk (root on Linux only): SA_TUI_HOME on a tmpfs about half as large as the
   reference's peak footprint; the run must fail cleanly (non-zero exit status, one ``error:``
   line, no traceback), the database must pass the integrity check, and once the tmpfs is
   remounted bigger, ``--resume`` must finish with the reference's results.
4. A locked database: another process holds ``BEGIN EXCLUSIVE`` on a fresh database for
   ``--lock-seconds`` while the run starts; the run either waits (busy_timeout) and completes
   with the reference's results, or fails with one sentence and exit status 2.

Figures (stdout holds one JSON line; progress goes to stderr unless ``--json``):
``killed_in_stage`` (the stage the run record showed when the run was killed),
``completed_records_checked``, ``completed_records_lost``, ``integrity_checks_failed``,
``resumed_identical``, ``scores_doubled``, ``failed_trials`` (what differed, first ten),
``full_disk``, ``locked_database``, ``source_changed_during_suite`` (someone edited sa-tui's
code meanwhile: then runs minutes apart may differ for that reason), ``seconds``. Exit status 0
only when no record was lost, every integrity check passed, every trial resumed identically,
no score was doubled, and the full-disk and lock faults (when run) kept the data safe; how
cleanly they failed is reported, not judged.

Launchers: ``exec`` (default) starts ``python -m sa_tui`` for every run, exactly as a user does;
``fork`` forks each run from this process after it has imported sa-tui, torch and transformers
(the same code writes the store, but no run pays those imports again: for quick checks).

    python bench/faults.py --json [--trials 50] [--seed 0] [--launcher exec|fork]
        [--faults kill,full-disk,lock] [--model DIR --dataset DIR] [--lock-seconds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, emit_json  # noqa: E402

from store.engine import DB_NAME  # noqa: E402
from tests.test_resume import _sa_tui, _strip  # noqa: E402  (the kill-and-resume test's helpers)

RECORD_TABLES = (
    "selections",
    "attributions",
    "rationales",
    "predictions",
    "prompt_versions",
    "scores",
)
CACHE_TABLES = RECORD_TABLES[:4]
# What must be the same in the store of a resumed run and of the reference: the records' keys
# (a key hashes every input of a record), the prompt versions, and each score of each prompt
# version with its per-item predictions and generated outputs. Timings, ids and a score's extra
# (the forward passes it cost: fewer when a resumed run finds predictions stored) are left out.
SIGNATURE_QUERIES = {
    **{table: f"SELECT key_hash FROM {table}" for table in CACHE_TABLES},
    "prompt_versions": "SELECT lineage, version, content_hash FROM prompt_versions",
    "scores": "SELECT p.content_hash, s.metric, s.value, s.n, s.ci_low, s.ci_high, "
    "s.parse_failures, s.predictions FROM scores AS s JOIN prompt_versions AS p "
    "ON p.id = s.prompt_version_id",
}
# Scores beyond the first of a prompt version, metric and run: a resumed run must not save again
# a score its first process had saved.
DOUBLED_SCORES = (
    "SELECT COUNT(*) - COUNT(DISTINCT run_id || '/' || prompt_version_id || '/' || metric) "
    "FROM scores WHERE run_id IS NOT NULL"
)
FAULTS = ("kill", "full-disk", "lock")
EARLIEST_KILL_S = 0.2
RUN_TIMEOUT_S = 600.0
POLL_S = 0.01
FULL_DISK_FRACTION = 0.5  # of the reference's peak footprint
FULL_DISK_ATTEMPTS = 4
ROOMY_TMPFS = "256m"
MAX_LISTED_FAILURES = 10
SOURCE_PACKAGES = ("core", "jobs", "store", "sa_tui")
# Imported once by the fork launcher, so that forked runs start without paying for them.
PRELOADED = (
    "torch",
    "transformers",
    "captum.attr",
    "accelerate",
    "safetensors.torch",
    "scipy.stats",
    "sa_tui.cli",
    "jobs.headless",
    "jobs.run",
    "core.pipeline",
    "core.attribution",
    "core.datasets",
    "store.facade",
)
LOCK_HOLDER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
print(f"released {time.time()}", flush=True)
connection.close()
"""
MODEL_BUILDER = "import sys; from pathlib import Path; from tests import tiny; tiny.build_model(Path(sys.argv[1]))"


def note(message: str, *, quiet: bool) -> None:
    """Progress on stderr: stdout is kept for the figures."""
    if not quiet:
        print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------ processes
@dataclass
class Outcome:
    """How one run of `sa-tui` ended (returncode < 0: killed by that signal)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    @property
    def traceback_shown(self) -> bool:
        return "Traceback (most recent call last)" in self.stderr

    @property
    def clean_failure(self) -> bool:
        """A non-zero exit status, one `error:` line and no traceback."""
        return self.returncode > 0 and len(self.error_lines) == 1 and not self.traceback_shown

    def last_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1][:300] if lines else ""


class Child(Protocol):
    pid: int
    started: float

    def poll(self) -> int | None: ...

    def finish(self, timeout: float = RUN_TIMEOUT_S) -> Outcome: ...


class Launcher(Protocol):
    name: str

    def start(self, home: Path, args: Sequence[str]) -> Child: ...


class ExecChild:
    """`python -m sa_tui ...` started by the kill-and-resume test's helper (pipes for output)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.pid = process.pid
        self.started = time.monotonic()

    def poll(self) -> int | None:
        return self.process.poll()

    def finish(self, timeout: float = RUN_TIMEOUT_S) -> Outcome:
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, stderr = self.process.communicate()
        return Outcome(self.process.returncode, stdout, stderr, time.monotonic() - self.started)


class ExecLauncher:
    name = "exec"

    def start(self, home: Path, args: Sequence[str]) -> Child:
        return ExecChild(_sa_tui(home, *args, wait=False))


class ForkChild:
    """A forked run; its stdout and stderr go to files until it ends."""

    def __init__(self, pid: int, out: Path, err: Path) -> None:
        self.pid = pid
        self.out, self.err = out, err
        self.started = time.monotonic()
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def finish(self, timeout: float = RUN_TIMEOUT_S) -> Outcome:
        deadline = self.started + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
                break
            time.sleep(POLL_S)
        seconds = time.monotonic() - self.started
        stdout, stderr = (path.read_text(errors="replace") for path in (self.out, self.err))
        self.out.unlink()
        self.err.unlink()
        return Outcome(
            self.returncode if self.returncode is not None else -1, stdout, stderr, seconds
        )


class ForkLauncher:
    """Runs forked from this process once it has imported what every run imports."""

    name = "fork"

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.count = 0
        for module in PRELOADED:
            with contextlib.suppress(ImportError):
                __import__(module)
        threads = running_threads()
        if threads > 1:  # a thread holding a lock at fork time leaves the child deadlocked
            raise SystemExit(f"cannot fork runs: this process runs {threads} threads; use exec")

    def start(self, home: Path, args: Sequence[str]) -> Child:
        self.count += 1
        out = self.scratch / f"child-{self.count}.out"
        err = self.scratch / f"child-{self.count}.err"
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            run_cli_and_exit(home, args, out, err)
        return ForkChild(pid, out, err)


def running_threads() -> int:
    """Threads of this process, native ones included (1 where /proc is missing)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def run_cli_and_exit(home: Path, args: Sequence[str], out: Path, err: Path) -> NoReturn:
    """In a forked child: `sa-tui ARGS` with SA_TUI_HOME=home, then exit without running the
    parent's exit handlers (they would remove its temporary folders)."""
    code = 1
    try:
        os.environ["SA_TUI_HOME"] = str(home)
        for fd, path in ((1, out), (2, err)):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        from sa_tui.cli import main

        code = main(list(args))
    except SystemExit as exit_request:  # argparse's usage errors, --help
        code = exit_request.code if isinstance(exit_request.code, int) else 0
        if exit_request.code is not None and not isinstance(exit_request.code, int):
            print(exit_request.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def run_to_end(launcher: Launcher, home: Path, args: Sequence[str]) -> Outcome:
    return launcher.start(home, args).finish()


def kill_after(child: Child, seconds: float) -> bool:
    """SIGKILL the child ``seconds`` after it started; False when it had already exited."""
    deadline = child.started + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        if child.poll() is not None:
            return False
        time.sleep(min(POLL_S, remaining))
    if child.poll() is not None:
        return False
    os.kill(child.pid, signal.SIGKILL)
    return True


# ------------------------------------------------------------------------------------ database
@contextlib.contextmanager
def read_only(database: Path) -> Iterator[sqlite3.Connection]:
    """A connection that cannot write, so it neither checkpoints nor removes the write-ahead log
    a killed run left behind: the resumed run finds the files exactly as the kill left them."""
    uri = f"{database.resolve().as_uri()}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, timeout=30)
    try:
        yield connection
    finally:
        connection.close()


def integrity_ok(database: Path) -> bool:
    """``PRAGMA integrity_check`` says ok (a database not created yet is sound)."""
    if not database.exists():
        return True
    try:
        with read_only(database) as connection:
            return connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    except sqlite3.DatabaseError:
        return False


def has_table(connection: sqlite3.Connection, table: str) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return connection.execute(query, (table,)).fetchone() is not None


Snapshot = dict[str, dict[int, tuple[Any, ...]]]


def snapshot(database: Path) -> Snapshot:
    """Every row of the append-only tables, by table and id (nothing from an unreadable file:
    the integrity check reports that)."""
    if not database.exists():
        return {}
    try:
        with read_only(database) as connection:
            return {
                table: {row[0]: tuple(row) for row in connection.execute(f"SELECT * FROM {table}")}
                for table in RECORD_TABLES
                if has_table(connection, table)
            }
    except sqlite3.DatabaseError:
        return {}


def count_records(records: Snapshot) -> int:
    return sum(len(rows) for rows in records.values())


def count_lost(before: Snapshot, after: Snapshot) -> int:
    """Rows of ``before`` missing from ``after`` or changed there."""
    return sum(
        1
        for table, rows in before.items()
        for row_id, row in rows.items()
        if after.get(table, {}).get(row_id) != row
    )


def record_signature(database: Path) -> dict[str, list[tuple[Any, ...]]] | None:
    try:
        with read_only(database) as connection:
            return {
                table: sorted(set(connection.execute(query)))
                for table, query in SIGNATURE_QUERIES.items()
            }
    except sqlite3.DatabaseError:
        return None


@dataclass(frozen=True)
class RunState:
    run_id: str
    status: str
    stage: str
    done: int
    total: int


def run_state(database: Path) -> RunState | None:
    """The (only) run record of a trial's database, or None when none was written."""
    if not database.exists():
        return None
    try:
        with read_only(database) as connection:
            if not has_table(connection, "runs"):
                return None
            row = connection.execute(
                "SELECT id, status, stage, done, total FROM runs ORDER BY started_at DESC LIMIT 1"
            ).fetchone()
    except sqlite3.DatabaseError:
        return None
    return RunState(*row) if row else None


def stage_label(state: RunState | None, killed: bool) -> str:
    """The stage the run record showed when the run was killed. The record is written at most
    once a second and whenever a stage completes, so "model (complete)" mostly means that
    selection was under way, and "X (complete)" that the stage after X had begun."""
    if not killed:
        return "exited before the kill"
    if state is None:
        return "before the run record"
    if state.status == "done":
        return "after done"
    if not state.stage:
        return "run record, no stage yet"
    return f"{state.stage} (complete)" if 0 < state.total <= state.done else state.stage


def footprint(home: Path) -> int:
    """Bytes the files under ``home`` take on disk."""
    total = 0
    for path in home.rglob("*"):
        with contextlib.suppress(OSError):
            total += path.lstat().st_blocks * 512
    return total


# ------------------------------------------------------------------------------------ set-up
def run_arguments(model: str, dataset: str, test_limit: int) -> list[str]:
    """Selection, rationales (generated and DeepLIFT) and evaluation, a few seconds on CPU."""
    return [
        "run",
        "--model",
        model,
        "--dataset",
        dataset,
        "--method",
        "io,ph_cot,deeplift",
        "--strategy",
        "random",
        "--shots",
        "2",
        "--keywords",
        "2",
        "--steps",
        "1",
        "--test-limit",
        str(test_limit),
        "--seed",
        "0",
        "--rationale-tokens",
        "6",
        "--eval-tokens",
        "16",
        "--batch-size",
        "1",
        "--device",
        "cpu",
    ]


def build_model(folder: Path) -> Path:
    """The tests' tiny random model, built in a child process (so that this one starts no
    tokenizer or torch threads before forking runs)."""
    subprocess.run(
        [sys.executable, "-c", MODEL_BUILDER, str(folder)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=RUN_TIMEOUT_S,
    )
    return folder


def build_dataset(folder: Path, test_limit: int) -> Path:
    from tests import tiny

    return tiny.write_dataset(folder, pool=12, test=test_limit)


def comparable(payload: dict[str, Any]) -> dict[str, Any]:
    """What a resumed run must reproduce: the selection and every method's results (accuracy,
    interval, contexts, per-item predictions), without timings and the run id."""
    return {"selection": payload.get("selection"), "results": _strip(payload.get("results"))}


def read_results(path: Path) -> dict[str, Any] | None:
    try:
        return comparable(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


@dataclass
class Reference:
    args: list[str]
    results: dict[str, Any]
    records: dict[str, list[tuple[Any, ...]]]
    seconds: float
    peak_bytes: int


def run_reference(launcher: Launcher, work: Path, args: list[str]) -> Reference:
    home, out = work / "reference", work / "reference.json"
    child = launcher.start(home, [*args, "--json", str(out)])
    peak = 0
    while child.poll() is None:
        peak = max(peak, footprint(home))
        time.sleep(POLL_S * 2)
    outcome = child.finish()
    results, records = read_results(out), record_signature(home / DB_NAME)
    if outcome.returncode != 0 or results is None or records is None:
        raise SystemExit(f"the reference run failed ({outcome.returncode}):\n{outcome.stderr}")
    return Reference(args, results, records, outcome.seconds, peak)


def first_difference(expected: Any, got: Any, path: str = "") -> str | None:
    """Where two JSON values first differ (a /-separated path and both values), or None."""
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in sorted(set(expected) | set(got), key=str):
            if key not in expected or key not in got:
                return (
                    f"{path}/{key}: only in {'the resumed run' if key in got else 'the reference'}"
                )
            found = first_difference(expected[key], got[key], f"{path}/{key}")
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        for index, (want, have) in enumerate(zip(expected, got, strict=True)):
            found = first_difference(want, have, f"{path}/{index}")
            if found:
                return found
        return None
    return None if expected == got else f"{path or '/'}: {str(expected)[:60]} != {str(got)[:60]}"


def doubled_scores(database: Path) -> int:
    try:
        with read_only(database) as connection:
            return int(connection.execute(DOUBLED_SCORES).fetchone()[0])
    except sqlite3.DatabaseError:
        return 0


def record_differences(home: Path, reference: Reference) -> list[str]:
    """The tables whose records differ from the reference's (every table if unreadable)."""
    signature = record_signature(home / DB_NAME)
    if signature is None:
        return list(SIGNATURE_QUERIES)
    return [table for table in SIGNATURE_QUERIES if signature[table] != reference.records[table]]


def source_fingerprint() -> str:
    """A hash of sa-tui's code: the suite compares runs made minutes apart, so a change to the
    working tree meanwhile (another person editing it) shows up as differing results."""
    digest = hashlib.sha256()
    for package in SOURCE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode())
            with contextlib.suppress(OSError):
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class Check:
    """A finished (resumed or re-run) run against the reference."""

    returncode: int
    results_identical: bool
    records_identical: bool
    doubled_scores: int
    note: str

    @property
    def identical(self) -> bool:
        return self.returncode == 0 and self.results_identical and self.records_identical


def finish_and_compare(
    launcher: Launcher, home: Path, state: RunState | None, reference: Reference
) -> Check:
    """Resume the unfinished run; run again when there was no run record or it was done."""
    out = home.parent / f"{home.name}-resumed.json"
    if state is not None and state.status != "done":
        outcome = run_to_end(launcher, home, ["run", "--resume", state.run_id, "--json", str(out)])
    else:
        outcome = run_to_end(launcher, home, [*reference.args, "--json", str(out)])
    if outcome.returncode != 0:
        return Check(outcome.returncode, False, False, 0, outcome.last_line())
    return compare(outcome.returncode, read_results(out), home, reference)


def compare(
    returncode: int, results: dict[str, Any] | None, home: Path, reference: Reference
) -> Check:
    """A finished run's results and records against the reference's, with what differs."""
    differences = record_differences(home, reference)
    doubled = doubled_scores(home / DB_NAME)
    notes = [f"records differ in {', '.join(differences)}"] if differences else []
    if results is None:
        notes.insert(0, "no results file")
    elif results != reference.results:
        notes.insert(0, f"results differ at {first_difference(reference.results, results)}")
    if doubled:
        notes.append(f"{doubled} score(s) saved twice by the same run")
    identical_results = results is not None and results == reference.results
    return Check(returncode, identical_results, not differences, doubled, "; ".join(notes))


# ------------------------------------------------------------------------------------ kill trials
def kill_times(trials: int, window: tuple[float, float], rng: random.Random) -> list[float]:
    """One uniform draw in each of ``trials`` equal slices of ``window``, in a shuffled order."""
    low, high = window
    width = (high - low) / max(trials, 1)
    times = [round(low + (slot + rng.random()) * width, 3) for slot in range(trials)]
    rng.shuffle(times)
    return times


@dataclass
class Trial:
    index: int
    kill_at: float
    stage: str
    died_alone: bool  # it failed on its own before the kill
    records_before: int
    lost: int
    integrity_ok: bool
    check: Check

    @property
    def passed(self) -> bool:
        return (
            not self.died_alone
            and self.lost == 0
            and self.integrity_ok
            and self.check.identical
            and not self.check.doubled_scores
        )

    def summary(self) -> dict[str, Any]:
        return {
            "trial": self.index,
            "kill_at_s": self.kill_at,
            "stage": self.stage,
            "died_alone": self.died_alone,
            "lost": self.lost,
            "integrity_ok": self.integrity_ok,
            "exit_status": self.check.returncode,
            "results_identical": self.check.results_identical,
            "records_identical": self.check.records_identical,
            "doubled_scores": self.check.doubled_scores,
            "note": self.check.note,
        }


def kill_trial(
    launcher: Launcher, work: Path, reference: Reference, index: int, kill_at: float
) -> Trial:
    home = work / f"trial-{index:03d}"
    child = launcher.start(home, [*reference.args, "--json", str(work / f"{home.name}.json")])
    killed = kill_after(child, kill_at)
    died_alone = child.finish().returncode != 0 and not killed
    database = home / DB_NAME
    state = run_state(database)
    intact = integrity_ok(database)
    before = snapshot(database)
    check = finish_and_compare(launcher, home, state, reference)
    lost = count_lost(before, snapshot(database))
    label = stage_label(state, killed)
    return Trial(index, kill_at, label, died_alone, count_records(before), lost, intact, check)


def kill_figures(trials: Sequence[Trial]) -> dict[str, Any]:
    stages = Counter(trial.stage for trial in trials)
    failed = [trial.summary() for trial in trials if not trial.passed]
    return {
        "trials": len(trials),
        "killed_in_stage": dict(sorted(stages.items())),
        "completed_records_checked": sum(trial.records_before for trial in trials),
        "completed_records_lost": sum(trial.lost for trial in trials),
        "integrity_checks_failed": sum(not trial.integrity_ok for trial in trials),
        "resumed_identical": sum(trial.check.identical for trial in trials),
        "scores_doubled": sum(trial.check.doubled_scores for trial in trials),
        "failed_trials": failed[:MAX_LISTED_FAILURES],
    }


def kill_trials(
    launcher: Launcher, work: Path, reference: Reference, times: Sequence[float], *, quiet: bool
) -> dict[str, Any]:
    trials: list[Trial] = []
    for index, kill_at in enumerate(times):
        started = time.monotonic()
        trial = kill_trial(launcher, work, reference, index, kill_at)
        trials.append(trial)
        if trial.passed:
            shutil.rmtree(work / f"trial-{index:03d}", ignore_errors=True)
        verdict = "ok" if trial.passed else f"FAILED {trial.summary()}"
        note(
            f"trial {index + 1}/{len(times)}: killed at {kill_at:.2f} s in {trial.stage}; "
            f"{trial.records_before} records kept; {verdict} ({time.monotonic() - started:.1f} s)",
            quiet=quiet,
        )
    return kill_figures(trials)


# ------------------------------------------------------------------------------------ full disk
def mount_tmpfs(folder: Path, size: str, *, remount: bool = False) -> None:
    if remount:
        command = ["mount", "-o", f"remount,size={size}", str(folder)]
    else:
        command = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=30)


def unmount(folder: Path) -> None:
    done = subprocess.run(["umount", str(folder)], capture_output=True, timeout=30)
    if done.returncode != 0:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def full_disk_skip_reason() -> str | None:
    if not sys.platform.startswith("linux"):
        return "needs Linux (tmpfs)"
    if os.geteuid() != 0:
        return "needs root to mount a tmpfs"
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return "mount/umount not found"
    return None


def tmpfs_size(size_bytes: int) -> str:
    return f"{max(64, -(-size_bytes // 4096) * 4)}k"  # whole 4 KiB pages


@dataclass
class DiskAttempt:
    size: str
    outcome: Outcome
    state: RunState | None

    @property
    def filled_mid_run(self) -> bool:
        return self.outcome.returncode != 0 and self.state is not None

    def summary(self) -> dict[str, Any]:
        return {
            "tmpfs_size": self.size,
            "exit_status": self.outcome.returncode,
            "stage": self.state.stage if self.state else None,
        }


def next_tmpfs_bytes(size_bytes: int, attempt: DiskAttempt) -> int | None:
    """None once the disk filled mid-run; else smaller when the run fitted, larger when the
    disk filled before the run record existed."""
    if attempt.filled_mid_run:
        return None
    return int(size_bytes * (0.6 if attempt.outcome.returncode == 0 else 1.5))


def attempt_on_full_disk(
    launcher: Launcher, mount_point: Path, size: str, reference: Reference, out: Path
) -> DiskAttempt:
    mount_tmpfs(mount_point, size)
    home = mount_point / "home"
    outcome = run_to_end(launcher, home, [*reference.args, "--json", str(out)])
    return DiskAttempt(size, outcome, run_state(home / DB_NAME))


def full_disk(
    launcher: Launcher, work: Path, reference: Reference, *, quiet: bool
) -> dict[str, Any]:
    """Run on a tmpfs too small for the run's records, then free space and resume."""
    reason = full_disk_skip_reason()
    if reason is not None:
        return {"skipped": reason}
    mount_point = work / "full-disk"
    mount_point.mkdir(exist_ok=True)
    size_bytes: int | None = int(reference.peak_bytes * FULL_DISK_FRACTION)
    attempts: list[DiskAttempt] = []
    try:
        while size_bytes is not None and len(attempts) < FULL_DISK_ATTEMPTS:
            if attempts:
                unmount(mount_point)
            try:
                attempt = attempt_on_full_disk(
                    launcher, mount_point, tmpfs_size(size_bytes), reference, work / "full.json"
                )
            except (subprocess.SubprocessError, OSError) as error:
                return {"skipped": f"cannot mount a tmpfs ({error})"}
            attempts.append(attempt)
            note(f"full disk: {attempt.summary()}", quiet=quiet)
            size_bytes = next_tmpfs_bytes(size_bytes, attempt)
        figures = full_disk_figures(launcher, mount_point, attempts[-1], reference)
        return {**figures, "attempts": [attempt.summary() for attempt in attempts]}
    finally:
        unmount(mount_point)


def full_disk_figures(
    launcher: Launcher, mount_point: Path, attempt: DiskAttempt, reference: Reference
) -> dict[str, Any]:
    home = mount_point / "home"
    database = home / DB_NAME
    intact = integrity_ok(database)
    before = snapshot(database)
    mount_tmpfs(mount_point, ROOMY_TMPFS, remount=True)
    check = finish_and_compare(launcher, home, attempt.state, reference)
    lost = count_lost(before, snapshot(database))
    outcome = attempt.outcome
    return {
        "tmpfs_size": attempt.size,
        "filled_mid_run": attempt.filled_mid_run,
        "stage_when_full": attempt.state.stage if attempt.state else None,
        "exit_status": outcome.returncode,
        "error": outcome.error_lines[0] if outcome.error_lines else None,
        "error_lines": len(outcome.error_lines),
        "traceback_on_stderr": outcome.traceback_shown,
        "clean_failure": outcome.clean_failure,
        "integrity_ok": intact,
        "records_before_resume": count_records(before),
        "records_lost": lost,
        "resume_exit_status": check.returncode,
        "resumed_identical": check.identical,
        "scores_doubled": check.doubled_scores,
        "difference": check.note or None,
        "data_safe": intact and lost == 0 and check.identical and not check.doubled_scores,
    }


# ------------------------------------------------------------------------------------ lock
def migrated_home(home: Path) -> Path:
    """A home whose database exists (migrated, empty), so that another process can lock it."""
    from store.migrations import migrate

    home.mkdir(parents=True)
    migrate(home / DB_NAME)
    return home


def hold_lock(database: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding ``BEGIN EXCLUSIVE`` on ``database`` for ``seconds``; returns
    once the lock is taken."""
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(database), str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    if holder.stdout.readline().strip() != "locked":
        holder.kill()
        raise SystemExit(f"could not lock {database}: {holder.communicate()[1]}")
    return holder


def released_at(holder: subprocess.Popen[str]) -> float | None:
    """The wall-clock time the holder committed, or None if it never did."""
    stdout, _ = holder.communicate(timeout=RUN_TIMEOUT_S)
    for line in stdout.splitlines():
        if line.startswith("released "):
            return float(line.split()[1])
    return None


def lock_outcome(outcome: Outcome, finished_after_release: bool) -> str:
    if outcome.returncode == 0:
        return "waited, then completed" if finished_after_release else "completed during the lock"
    if outcome.returncode == 2 and outcome.clean_failure:
        return "failed cleanly"
    return "failed"


def locked_database(
    launcher: Launcher, work: Path, reference: Reference, seconds: float, *, quiet: bool
) -> dict[str, Any]:
    home = migrated_home(work / "locked")
    database = home / DB_NAME
    out = work / "locked.json"
    holder = hold_lock(database, seconds)
    outcome = run_to_end(launcher, home, [*reference.args, "--json", str(out)])
    finished = time.time()
    release = released_at(holder)
    finished_after_release = release is not None and finished >= release
    intact = integrity_ok(database)
    if outcome.returncode == 0:
        check = compare(0, read_results(out), home, reference)
    else:  # it gave up: what it left must still be sound, and finish once the lock is gone
        check = finish_and_compare(launcher, home, run_state(database), reference)
    result = lock_outcome(outcome, finished_after_release)
    note(f"locked database: {result} (exit status {outcome.returncode})", quiet=quiet)
    return {
        "lock_seconds": seconds,
        "outcome": result,
        "exit_status": outcome.returncode,
        "run_seconds": round(outcome.seconds, 2),
        "reference_seconds": round(reference.seconds, 2),
        "error": outcome.error_lines[0] if outcome.error_lines else None,
        "traceback_on_stderr": outcome.traceback_shown,
        "integrity_ok": intact,
        "identical_to_reference": check.identical,
        "scores_doubled": check.doubled_scores,
        "difference": check.note or None,
        "data_safe": intact and check.identical and not check.doubled_scores,
    }


# ------------------------------------------------------------------------------------ main
def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=50, help="kill trials (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print nothing but the figures' JSON line (no progress lines on stderr)",
    )
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help="comma-separated faults to inject: kill, full-disk, lock (default: all)",
    )
    parser.add_argument(
        "--launcher",
        choices=("exec", "fork"),
        default="exec",
        help="exec: `python -m sa_tui` per run (default); fork: runs forked from this process",
    )
    parser.add_argument("--model", help="a model folder (default: build the tests' tiny model)")
    parser.add_argument("--dataset", help="a dataset (default: a tiny one built here)")
    parser.add_argument(
        "--test-limit", type=int, default=24, help="test items per run (default %(default)s)"
    )
    parser.add_argument(
        "--lock-seconds",
        type=float,
        default=5.0,
        help="how long another process holds the database (default %(default)s; the store "
        "waits 30 s for a lock)",
    )
    parser.add_argument("--workdir", type=Path, help="keep every home here (default: a temp dir)")
    args = parser.parse_args(argv)
    unknown = set(args.faults.split(",")) - set(FAULTS)
    if unknown:
        parser.error(f"unknown fault(s) {', '.join(sorted(unknown))}; use {', '.join(FAULTS)}")
    return args


@contextlib.contextmanager
def workdir(chosen: Path | None) -> Iterator[Path]:
    if chosen is not None:
        chosen.mkdir(parents=True, exist_ok=True)
        yield chosen.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="sa-tui-faults-") as folder:
        yield Path(folder)


def verdict(figures: dict[str, Any]) -> bool:
    kills_ok = (
        figures["completed_records_lost"] == 0
        and figures["integrity_checks_failed"] == 0
        and figures["resumed_identical"] == figures["trials"]
        and figures["scores_doubled"] == 0
    )
    extras = (figures.get("full_disk", {}), figures.get("locked_database", {}))
    return kills_ok and all(extra.get("data_safe", True) for extra in extras)


def inject(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    faults = set(args.faults.split(","))
    quiet = args.json
    model = args.model or str(build_model(work / "model"))
    dataset = args.dataset or str(build_dataset(work / "data", args.test_limit))
    launcher: Launcher = ForkLauncher(work) if args.launcher == "fork" else ExecLauncher()
    reference = run_reference(launcher, work, run_arguments(model, dataset, args.test_limit))
    note(
        f"reference run: {reference.seconds:.1f} s, at most {reference.peak_bytes} bytes",
        quiet=quiet,
    )
    trials = args.trials if "kill" in faults else 0
    window = (EARLIEST_KILL_S, max(reference.seconds, EARLIEST_KILL_S + 0.1))
    times = kill_times(trials, window, random.Random(args.seed))
    figures = kill_trials(launcher, work, reference, times, quiet=quiet)
    not_asked = {"skipped": f"not in --faults {args.faults}"}
    figures["full_disk"] = (
        full_disk(launcher, work, reference, quiet=quiet) if "full-disk" in faults else not_asked
    )
    figures["locked_database"] = (
        locked_database(launcher, work, reference, args.lock_seconds, quiet=quiet)
        if "lock" in faults
        else not_asked
    )
    figures["kill_window_s"] = [round(bound, 2) for bound in window]
    figures["reference_seconds"] = round(reference.seconds, 2)
    figures["launcher"] = launcher.name
    figures["seed"] = args.seed
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # tiny models: one thread is fastest
    os.environ.pop("SA_TUI_DEVICE", None)
    started, source = time.monotonic(), source_fingerprint()
    with workdir(args.workdir) as work:
        figures = inject(args, work)
    figures["source_changed_during_suite"] = source_fingerprint() != source
    figures["seconds"] = round(time.monotonic() - started, 1)
    passed = verdict(figures)
    figures["passed"] = passed
    emit_json(figures)
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
