"""End to end: the real ``python -m jobs.worker`` on a tiny random model, driven by the UI's
WorkerClient, from submit to records in the store; then a cancel, then model reuse."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

from jobs import protocol
from sa_tui.worker_client import WorkerClient, WorkerEvent


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def post_message(self, message: Any) -> bool:
        if isinstance(message, WorkerEvent):
            self.events.append(message.data)
        return True

    def of(self, kind: str, job: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e.get("type") == kind and (job is None or e.get("job_id") == job)
        ]

    async def until(self, predicate, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            errors = self.of("error")
            if errors:
                raise AssertionError(f"worker error: {errors[-1]}")
            if loop.time() > deadline:
                raise AssertionError(
                    f"timed out; last events: {[e.get('type') for e in self.events[-10:]]}"
                )
            await asyncio.sleep(0.05)


def config(model: Path, data: Path, methods: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "model": str(model),
        "dataset": str(data),
        "methods": methods,
        "shots": 2,
        "keywords": 2,
        "steps": 2,
        "test_limit": 4,
        "rationale_tokens": 8,
        "eval_tokens": 8,
        "device": "cpu",
        **extra,
    }


async def test_worker_end_to_end_cancel_and_reuse(
    tiny_model_dir: Path, tiny_dataset_dir: Path, tmp_path: Path
) -> None:
    recorder = Recorder()
    client = WorkerClient(recorder, log_dir=tmp_path, grace=20.0)  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(client.start(), 30)
        assert client.versions.get("torch") and client.versions.get("transformers")

        # 1. A 2-shot ph_cot build: progress, streamed rationales, saved, done.
        job = await client.submit(config(tiny_model_dir, tiny_dataset_dir, ["ph_cot"]))
        await recorder.until(lambda: recorder.of("done", job), 120)
        stages = {e["stage"] for e in recorder.of("progress", job)}
        assert {"dataset", "model", "select", "rationales:ph_cot", "evaluate:ph_cot"} <= stages
        finals = [
            e for e in recorder.of("text", job) if e["stage"] == "rationales:ph_cot" and e["final"]
        ]
        assert len(finals) == 2 and all(e["text"].startswith("2-step") for e in finals)
        assert len(recorder.of("shots", job)[0]["shots"]) == 2
        saved = recorder.of("saved", job)
        assert len(saved) == 1 and saved[0]["lineage"] == "tiny-chat.tiny-mc.ph_cot.success.n2"
        done = recorder.of("done", job)[0]
        run_id = done["run_id"]
        assert done["results"][0]["method"] == "ph_cot" and done["results"][0]["n"] == 4

        from store.facade import Store

        with Store.open() as store:
            run = store.get_run(run_id)
            assert run.status == "done" and run.config["methods"] == ["ph_cot"]
            version = store.resolve_prompt(saved[0]["lineage"] + "@latest")
            assert str(version.id) == saved[0]["prompt_version_id"] and version.run_id == run_id
            scores = store.scores_for(version.id)
            assert scores and scores[0].n == 4 and len(scores[0].predictions) == 4
            counts = store.record_counts(run_id)
            assert (
                counts.get("selection", 0) > 0
                and counts.get("rationale") == 2
                and counts.get("prediction") == 4
            )

        # 2. Cancel a long KernelSHAP build while it runs: the worker stops at its next check.
        job = await client.submit(
            config(tiny_model_dir, tiny_dataset_dir, ["kernelshap"], shap_samples=20000, seed=1)
        )
        await recorder.until(
            lambda: any(
                e["stage"] == "rationales:kernelshap" for e in recorder.of("progress", job)
            ),
            60,
        )
        started = asyncio.get_running_loop().time()
        await client.cancel(job)
        await recorder.until(lambda: recorder.of("cancelled", job), 20)
        assert asyncio.get_running_loop().time() - started < 20
        assert not recorder.of("cancelled", job)[0].get("forced")
        assert client.alive
        cancelled_run = recorder.of("started", job)[0]["run_id"]
        with Store.open() as store:
            assert store.get_run(cancelled_run).status == "cancelled"

        # 3. The same model again: kept loaded, and stored work is reused.
        job = await client.submit(config(tiny_model_dir, tiny_dataset_dir, ["io"]))
        await recorder.until(lambda: recorder.of("done", job), 60)
        model_stage = [e for e in recorder.of("progress", job) if e["stage"] == "model"]
        assert any("reusing the loaded" in e["detail"] for e in model_stage), model_stage
    finally:
        await client.stop()
    assert not client.alive


def test_stray_prints_never_reach_the_protocol_stream() -> None:
    code = (
        "import os, sys\n"
        "from jobs.worker import private_stdout\n"
        "stream = private_stdout()\n"
        "print('stray print from a library')\n"
        "os.write(1, b'stray write to fd 1\\n')\n"
        "from jobs import protocol\n"
        "stream.write(protocol.encode(protocol.message('pong')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=30, check=True
    )
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 1 and protocol.decode(lines[0])["type"] == "pong"
    assert b"stray print" in result.stderr and b"stray write" in result.stderr


def test_protocol_round_trip_and_refusals() -> None:
    line = protocol.encode(protocol.message("submit", job_id="j", kind="run", config={"a": 1}))
    assert protocol.decode(line) == {
        "v": 1,
        "type": "submit",
        "job_id": "j",
        "kind": "run",
        "config": {"a": 1},
    }
    for bad, why in (
        (b'{"v": 2, "type": "ping"}', "version"),
        (b"[1]", "object"),
        (b"nope", "JSON"),
        (b'{"v":1,"type":"x"}', "unknown"),
    ):
        try:
            protocol.decode(bad)
        except protocol.ProtocolError as error:
            assert why in str(error)
        else:
            raise AssertionError(f"{bad!r} was accepted")
