"""Concurrency: two processes writing runs, records and prompt versions while a third reads in a
loop: no "database is locked", every row present, no duplicates, versions numbered without gaps.
Also: several processes opening (and migrating) a brand-new database at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from store.facade import Store

ITERATIONS = 48
RECORDS_PER_RUN = 4

WRITER = textwrap.dedent(
    """
    import json, sys, time
    from store.facade import Store
    name, iterations, per_run = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = Store.open()
    started, writes = time.perf_counter(), 0
    for i in range(iterations):
        run = store.start_run({"writer": name, "i": i}, versions={"torch": "x"}, device="cpu")
        for j in range(per_run):
            # half the keys are shared with the other writer: both try, one row must win
            key = f"shared-{i}-{j}" if j % 2 == 0 else f"{name}-{i}-{j}"
            store.put("prediction", key, {"id": f"t{j}", "writer": name}, run_id=run.id)
            writes += 1
        store.update_progress(run.id, "evaluate", i + 1, iterations)
        # every third content is the same in both writers: it must be stored once
        text = f"shared context {i}" if i % 3 == 0 else f"context of {name} {i}"
        store.save_prompt_version("race.lineage", {"context": text, "method": "io"}, run_id=run.id)
        store.finish_run(run.id, "done")
        writes += 4
    print(json.dumps({"writer": name, "writes": writes, "seconds": time.perf_counter() - started}))
    """
)

READER = textwrap.dedent(
    """
    import json, os, sys, time
    from store.facade import Store
    stop = sys.argv[1]
    store = Store.open()
    started, reads = time.perf_counter(), 0
    while not os.path.exists(stop) and time.perf_counter() - started < 60:
        store.list_runs(limit=20)
        store.list_prompt_versions(lineage="race.lineage", limit=20)
        store.get("prediction", "shared-0-0")
        store.count_records("prediction")
        reads += 4
    print(json.dumps({"reads": reads, "seconds": time.perf_counter() - started}))
    """
)


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def test_two_writers_and_a_reader(_isolated_home: Path, tmp_path: Path) -> None:
    Store.open().close()  # migrate first; the racing open is tested below
    stop = tmp_path / "stop"
    started = time.perf_counter()
    reader = _spawn(READER, str(stop))
    writers = [_spawn(WRITER, name, str(ITERATIONS), str(RECORDS_PER_RUN)) for name in ("w1", "w2")]
    outputs = [w.communicate(timeout=120) for w in writers]
    stop.touch()
    reader_out, reader_err = reader.communicate(timeout=120)
    elapsed = time.perf_counter() - started
    for process, (_out, err) in zip(writers, outputs, strict=True):
        assert process.returncode == 0, err
        assert "locked" not in err and "busy" not in err
    assert reader.returncode == 0, reader_err
    assert "locked" not in reader_err

    stats = [json.loads(out) for out, _ in outputs]
    reads = json.loads(reader_out)
    with Store.open() as store:
        runs = store.list_runs(limit=1000)
        assert len(runs) == 2 * ITERATIONS and all(r.status == "done" for r in runs)
        shared = ITERATIONS * (RECORDS_PER_RUN // 2)
        own = 2 * ITERATIONS * (RECORDS_PER_RUN - RECORDS_PER_RUN // 2)
        assert store.count_records("prediction") == shared + own  # each shared key stored once
        versions = store.list_prompt_versions(lineage="race.lineage", limit=10_000)
        distinct = len({v.content_hash for v in versions})
        assert distinct == len(versions) == ITERATIONS // 3 + 2 * (ITERATIONS - ITERATIONS // 3)
        assert sorted(v.version for v in versions) == list(
            range(1, len(versions) + 1)
        )  # no gaps, no clashes
        assert store.resolve_prompt("race.lineage").version == len(versions)
    writes = sum(s["writes"] for s in stats)
    per_writer = ", ".join(f"{s['writer']} {s['seconds']:.2f}s" for s in stats)
    print(
        f"\nconcurrency: {writes} write transactions from 2 processes "
        f"({per_writer}), "
        f"{reads['reads']} reads in {reads['seconds']:.2f}s by a third; {len(runs)} runs, "
        f"{shared + own} records, {len(versions)} versions; 0 'database is locked', 0 retries; total {elapsed:.2f}s"
    )
    assert elapsed < 60


OPENER = textwrap.dedent(
    """
    from store.facade import Store
    with Store.open() as store:
        store.start_run({}, versions={}, device="cpu")
    """
)


def test_many_processes_open_a_new_database_at_once(_isolated_home: Path) -> None:
    openers = [_spawn(OPENER) for _ in range(3)]
    for process in openers:
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
    with Store.open() as store:
        assert len(store.list_runs()) == 3
    assert not list(_isolated_home.glob("*.bak-*"))  # a new database needs no backup
