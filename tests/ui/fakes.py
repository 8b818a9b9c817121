"""Test doubles for the UI: an in-memory catalogue and a scripted worker client.

The fake client speaks the same messages as the real worker (see jobs.protocol), posted to the
App as WorkerEvents, with a fixed script, so screens and snapshots are deterministic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from jobs import protocol
from sa_tui.data import (
    CellView,
    ComparisonView,
    DatasetRow,
    EstimateContext,
    ExperimentView,
    ExportPlan,
    MethodView,
    ModelRow,
    PredictionView,
    PromptRow,
    RemovalPlan,
    ReportRowView,
    ReportView,
    RunDetail,
    RunRow,
    ShotView,
    plan_export,
)
from sa_tui.worker_client import WorkerEvent, WorkerProcessState

WORDS = "Which statement is sarcastic? (a) Yes, because everybody loves sitting in traffic for hours. (b) Yes, because nobody loves sitting in traffic for hours.".split()
SCORES = [
    0.02,
    -0.05,
    0.01,
    0.31,
    0.0,
    -0.12,
    0.04,
    0.18,
    0.42,
    0.05,
    -0.02,
    0.22,
    -0.08,
    0.03,
    -0.01,
    0.0,
    0.06,
    -0.09,
    -0.21,
    0.11,
    -0.04,
    0.01,
    0.0,
    -0.03,
    0.02,
]
TOP = ["sarcastic", "everybody", "loves", "traffic"]
PREVIEW_WORDS = (
    "Which is sarcastic? (a) I love waiting in line. (b) I hate waiting in line.".split()
)
PREVIEW_SCORES = [
    0.01,
    0.0,
    0.12,
    0.02,
    -0.03,
    0.35,
    0.21,
    -0.02,
    0.08,
    0.0,
    -0.01,
    0.05,
    0.0,
    -0.02,
    0.04,
]
CONTEXT_V1 = "<|im_start|>system\nAnswer the question.<|im_end|>\n<|im_start|>user\nWhich statement is sarcastic?\n(a) Yes, because everybody loves traffic.\n(b) No.<|im_end|>\n<|im_start|>assistant\n3-step explanation: people hate traffic, the praise is insincere, so (a) mocks. The answer is (a)<|im_end|>\n"
CONTEXT_V2 = CONTEXT_V1.replace("people hate traffic", "nobody enjoys traffic jams")


def demo_prompts() -> list[PromptRow]:
    base = "smollm2-135m.snarks.{}.success.n2"
    return [
        PromptRow(
            1,
            base.format("ph_cot"),
            1,
            "ph_cot",
            "builtin:smollm2-135m",
            "builtin:snarks",
            0.5,
            6,
            (0.19, 0.81),
            "2025-01-02T10:00:00",
            "run0001aaaa",
            (),
        ),
        PromptRow(
            2,
            base.format("ph_cot"),
            2,
            "ph_cot",
            "builtin:smollm2-135m",
            "builtin:snarks",
            0.6667,
            6,
            (0.3, 0.9),
            "2025-01-03T10:00:00",
            "run0002bbbb",
            ("latest",),
        ),
        PromptRow(
            3,
            base.format("io"),
            1,
            "io",
            "builtin:smollm2-135m",
            "builtin:snarks",
            0.3333,
            6,
            (0.1, 0.7),
            "2025-01-03T10:01:00",
            "run0002bbbb",
            ("latest",),
        ),
        PromptRow(
            4,
            base.format("deeplift"),
            1,
            "deeplift",
            "builtin:smollm2-135m",
            "builtin:snarks",
            0.5,
            6,
            (0.19, 0.81),
            "2025-01-03T10:02:00",
            "run0002bbbb",
            ("latest",),
        ),
    ]


def demo_runs() -> list[RunRow]:
    config = {
        "model": "builtin:smollm2-135m",
        "dataset": "builtin:snarks",
        "methods": ["ph_cot"],
        "shots": 2,
        "test_limit": 6,
        "seed": 0,
        "strategy": "success",
    }
    return [
        RunRow(
            "run0001aaaa",
            "done",
            "builtin:smollm2-135m",
            "builtin:snarks",
            "ph_cot",
            "2025-01-02T10:00:00",
            "evaluate:ph_cot",
            6,
            6,
            61.0,
            "",
            config,
        ),
        RunRow(
            "run0002bbbb",
            "done",
            "builtin:smollm2-135m",
            "builtin:snarks",
            "ph_cot,io,deeplift",
            "2025-01-03T10:00:00",
            "evaluate:deeplift",
            6,
            6,
            80.0,
            "",
            {**config, "methods": ["ph_cot", "io", "deeplift"]},
        ),
        RunRow(
            "run0003cccc",
            "cancelled",
            "builtin:smollm2-135m",
            "builtin:causal-judgment",
            "kernelshap",
            "2025-01-04T09:00:00",
            "rationales:kernelshap",
            1,
            4,
            12.0,
            "cancelled by the user",
            config,
        ),
    ]


GRID_METHODS = ("zero_shot", "io", "deeplift", "kernelshap", "self_topk", "ph_cot", "auto_cot")
GRID_SEEDS = (0, 1, 2)
GRID_RUN_IDS = ("run0101dddd", "run0102eeee", "run0103ffff")


def demo_experiments() -> list[ExperimentView]:
    """Newest first: a finished 3-seed grid, a running one with no finished cell, and an
    interrupted 2-dataset grid."""
    shared = {"methods": GRID_METHODS, "strategies": ("success",), "shots": (2,)}
    return [
        ExperimentView(
            "x5e1f00d", "done", 3, 3, ("builtin:smollm2-135m",), ("builtin:snarks",),
            seeds=GRID_SEEDS, created="2025-01-05T11:00:00", updated="2025-01-05T12:00:00",
            **shared,
        ),
        ExperimentView(
            "x77aa01b", "running", 2, 0, ("builtin:gemma3-270m",), ("builtin:snarks",),
            seeds=(0, 1), created="2025-01-04T09:00:00", updated="2025-01-04T09:01:00",
            **shared,
        ),
        ExperimentView(
            "x0c0ffee", "interrupted", 4, 1, ("builtin:smollm2-135m",),
            ("builtin:snarks", "builtin:commonsense-qa"), seeds=(0, 1),
            created="2025-01-03T08:00:00", updated="2025-01-03T08:30:00", **shared,
        ),
    ]  # fmt: skip


# method: (accuracy, CI, Δ vs io (mean, CI, p Holm), Δ vs zero_shot, wins/ties/losses vs io, unparsed)
GRID_FIGURES: dict[str, tuple[Any, ...]] = {
    "zero_shot": (0.400, (0.31, 0.49), (0.053, (-0.02, 0.12), 0.41), None, (2, 0, 1), 0),
    "io": (0.347, (0.27, 0.43), None, (-0.053, (-0.12, 0.02), 0.41), None, 0),
    "deeplift": (0.450, (0.36, 0.53), (0.103, (0.04, 0.17), 0.012), (0.05, (-0.01, 0.11), 0.3), (3, 0, 0), 2),
    "kernelshap": (0.410, (0.33, 0.50), (0.063, (-0.01, 0.13), 0.21), (0.01, (-0.05, 0.07), 1.0), (2, 1, 0), 1),
    "self_topk": (0.380, (0.30, 0.46), (0.033, (-0.03, 0.10), 0.64), (-0.02, (-0.09, 0.05), 1.0), (2, 0, 1), 0),
    "ph_cot": (0.280, (0.20, 0.36), (-0.067, (-0.12, -0.02), 0.0004), (-0.12, (-0.19, -0.05), 0.003), (0, 0, 3), 44),
    "auto_cot": (0.430, (0.35, 0.51), (0.083, (0.01, 0.15), 0.09), (0.03, (-0.03, 0.09), 0.88), (3, 0, 0), 3),
}  # fmt: skip


def _comparison(baseline: str, figures: Any, wtl: tuple[int, int, int]) -> ComparisonView:
    mean, (low, high), p = figures
    return ComparisonView(baseline, mean, low, high, p, p < 0.05, *wtl)


def demo_report() -> ReportView:
    rows = []
    for method, (acc, (low, high), vs_io, vs_zero, wtl, unparsed) in GRID_FIGURES.items():
        comparisons = {}
        if vs_io is not None:
            comparisons["io"] = _comparison("io", vs_io, wtl)
        if vs_zero is not None:
            comparisons["zero_shot"] = _comparison("zero_shot", vs_zero, (1, 0, 2))
        rows.append(
            ReportRowView(
                "builtin:smollm2-135m",
                "builtin:snarks",
                "success",
                2,
                method,
                3,
                81,
                acc,
                low,
                high,
                unparsed,
                41.5,
                comparisons,
            )  # fmt: skip
        )
    return ReportView("x5e1f00d", rows, cells_finished=3, cells_total=3, comparison_count=11)


def demo_cells() -> dict[str, list[CellView]]:
    accuracies = [
        {m: round(GRID_FIGURES[m][0] + (seed - 1) * 0.02, 3) for m in GRID_METHODS}
        for seed in GRID_SEEDS
    ]
    finished = [
        CellView("builtin:smollm2-135m", "builtin:snarks", "success", 2, seed, "done", run, acc)
        for seed, run, acc in zip(GRID_SEEDS, GRID_RUN_IDS, accuracies, strict=True)
    ]
    running = [
        CellView(
            "builtin:gemma3-270m", "builtin:snarks", "success", 2, 0, "running", "run0201aaaa"
        ),
        CellView("builtin:gemma3-270m", "builtin:snarks", "success", 2, 1, "pending"),
    ]
    interrupted = [
        CellView("builtin:smollm2-135m", dataset, "success", 2, seed, state, run)
        for dataset, seed, state, run in (
            ("builtin:snarks", 0, "done", "run0301aaaa"),
            ("builtin:snarks", 1, "interrupted", "run0302aaaa"),
            ("builtin:commonsense-qa", 0, "failed", "run0303aaaa"),
            ("builtin:commonsense-qa", 1, "pending", ""),
        )
    ]
    return {"x5e1f00d": finished, "x77aa01b": running, "x0c0ffee": interrupted}


def grid_runs() -> list[RunRow]:
    """The runs of the finished grid's cells (found by run_detail; not in the Runs list)."""
    return [
        RunRow(
            run_id, "done", "builtin:smollm2-135m", "builtin:snarks", ",".join(GRID_METHODS),
            f"2025-01-05T1{seed}:00:00", "evaluate:auto_cot", 81, 81, 120.0, "",
            {"model": "builtin:smollm2-135m", "dataset": "builtin:snarks", "shots": 2,
             "seed": seed, "strategy": "success", "methods": list(GRID_METHODS)},
        )
        for seed, run_id in zip(GRID_SEEDS, GRID_RUN_IDS, strict=True)
    ]  # fmt: skip


# Shown in snapshots: a fixed path that does not exist (nothing is written there by them).
FAKE_EXPORTS = Path("/srv/sa-tui-home/exports")


class FakeData:
    """An in-memory DataSource. Exports are really written (under ``exports_dir`` for plain
    names), and remembered as sa-tui's own, so the overwrite rules can be tested."""

    def __init__(self, *, empty: bool = False, exports_dir: Path = FAKE_EXPORTS) -> None:
        self.model_rows = [
            ModelRow(
                "builtin:smollm2-135m",
                "smollm2-135m",
                "builtin",
                640_000_000,
                "float32",
                134_515_008,
                "2025-01-01T00:00:00",
                "2025-01-03T10:00:00",
                freed_bytes=540_000_000,
                kept_bytes=100_000_000,
            ),
            ModelRow(
                "builtin:gemma3-270m",
                "gemma3-270m",
                "builtin",
                250_000_000,
                "",
                268_000_000,
                "2025-01-01T00:00:00",
                "",
            ),
        ]
        self.dataset_rows = [
            DatasetRow("builtin:snarks", "snarks", "BIG-bench", "pool 100 / test 81", 181, "abc"),
            DatasetRow(
                "builtin:causal-judgment",
                "causal-judgment",
                "BIG-bench",
                "pool 100 / test 90",
                190,
                "def",
            ),
        ]
        self.run_rows = [] if empty else demo_runs()
        self.prompt_rows = [] if empty else demo_prompts()
        self.experiment_rows = [] if empty else demo_experiments()
        self.cell_rows = {} if empty else demo_cells()
        self.grid_run_rows = [] if empty else grid_runs()
        self.report_calls: list[str] = []
        self.exports: list[tuple[str, str, str, bool]] = []
        self.exports_dir = exports_dir
        self.own_exports: set[str] = set()
        self.removed: list[str] = []
        self.context = EstimateContext()
        self.contexts: list[dict[str, Any]] = []
        self.added_datasets: list[tuple[str, str | None]] = []

    def models(self) -> list[ModelRow]:
        return list(self.model_rows)

    def datasets(self) -> list[DatasetRow]:
        return list(self.dataset_rows)

    def add_model(self, ref: str) -> ModelRow:
        if ref.startswith("/nope"):
            raise ValueError(f"the model folder {ref} does not exist")
        row = ModelRow(ref, ref.rsplit("/", 1)[-1], "safetensors", 1000, "float32", 1000)
        self.model_rows.append(row)
        return row

    def needs_pull(self, ref: str) -> bool:
        return False  # the fake catalogue adds every hub id at once (pulls: a real StoreSource)

    def pull_model(self, source: str, **_: Any) -> Any:  # pragma: no cover - needs_pull is False
        raise NotImplementedError

    def add_dataset(self, ref: str, field_map: str | None = None) -> DatasetRow:
        self.added_datasets.append((ref, field_map))
        if ref.endswith(".csv") and not field_map:
            raise ValueError(
                f"{ref}: no column holds the choices; pass a field map "
                "(id=...,question=...,choices=a|b|c,answer=...)"
            )
        row = DatasetRow(ref, ref.rsplit("/", 1)[-1], "file", "pool 10 / test 5", 15)
        self.dataset_rows.append(row)
        return row

    def verify_model(self, ref: str) -> list[str]:
        return []

    def plan_remove_model(self, ref: str) -> RemovalPlan:
        row = next(m for m in self.model_rows if m.ref == ref)
        return RemovalPlan(
            ref, row.freed_bytes or 0, 3, kept_bytes=row.kept_bytes, kept="model.gguf"
        )

    def remove_model(self, ref: str) -> RemovalPlan:
        plan = self.plan_remove_model(ref)
        self.removed.append(ref)
        self.model_rows = [m for m in self.model_rows if m.ref != ref]
        return plan

    def remove_dataset(self, ref: str) -> None:
        self.removed.append(ref)
        self.dataset_rows = [d for d in self.dataset_rows if d.ref != ref]

    def runs(self) -> list[RunRow]:
        return list(self.run_rows)

    def prompts(self) -> list[PromptRow]:
        return list(self.prompt_rows)

    def set_prompt_alias(self, lineage: str, name: str, version: int) -> None:
        if not name[0].isalpha():
            raise ValueError(f"{name!r} is not a valid alias; start with a letter")
        self.prompt_rows = [
            replace(
                row,
                aliases=tuple(a for a in row.aliases if a != name)
                + ((name,) if (row.lineage, row.version) == (lineage, version) else ()),
            )
            if row.lineage == lineage
            else row
            for row in self.prompt_rows
        ]

    def run_detail(self, run_id: str) -> RunDetail:
        run = next(r for r in self.run_rows + self.grid_run_rows if r.id == run_id)
        prompts = [p for p in self.prompt_rows if p.run_id == run_id]
        predictions = [
            PredictionView(
                f"t{i:03d}", "(a)", "(a)" if i % 2 else "(b)", bool(i % 2), "The answer is (a)"
            )
            for i in range(6)
        ]
        return RunDetail(
            run=run,
            versions={"torch": "2.13.0", "transformers": "5.0"},
            device="cpu",
            shots=[
                ShotView(
                    "snarks-017",
                    "deeplift",
                    WORDS,
                    SCORES,
                    TOP,
                    'The 4 keywords "sarcastic", "everybody", "loves" and "traffic" are important to predict that the answer is (a)',
                ),
                ShotView(
                    "snarks-042",
                    "ph_cot",
                    PREVIEW_WORDS,
                    PREVIEW_SCORES,
                    ["love", "waiting"],
                    rationale="3-step explanation: people hate traffic, the praise is insincere, so (a) mocks. The answer is (a)",
                    heatmap_method="deeplift",  # a DeepLift preview: ph_cot has no attribution
                ),
            ],
            methods=[
                MethodView(p, self.prompt_context(str(p.id)), predictions, 0) for p in prompts
            ],
        )

    def shots_for_prompt(self, prompt_id: str, run_id: str | None = None) -> list[ShotView]:
        return self.run_detail("run0002bbbb").shots

    def prompt_context(self, prompt_id: str) -> str:
        return CONTEXT_V2 if prompt_id == "2" else CONTEXT_V1

    def plan_export(self, prompt_ref: str, fmt: str, path: str) -> ExportPlan:
        return plan_export(
            path,
            fmt,
            self.exports_dir,
            default_name=f"{prompt_ref}.{fmt}",
            is_own=lambda target, kind: str(target) in self.own_exports,
        )

    def export(self, prompt_ref: str, fmt: str, path: str, *, force: bool = False) -> str:
        self.exports.append((prompt_ref, fmt, path, force))
        target = Path(path)
        if target.exists() and not (force and path in self.own_exports):
            raise ValueError(f"{path} already exists")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.export_text(prompt_ref, fmt), encoding="utf-8")
        self.own_exports.add(path)
        return path

    def estimate_context(self, config: dict[str, Any]) -> EstimateContext:
        self.contexts.append(dict(config))
        return self.context

    def export_text(self, prompt_ref: str, fmt: str) -> str:
        return f"# {prompt_ref} as {fmt}\n\n{CONTEXT_V1}"

    def experiments(self) -> list[ExperimentView]:
        return list(self.experiment_rows)

    def experiment_cells(self, experiment_id: str) -> list[CellView]:
        return list(self.cell_rows.get(experiment_id, []))

    def experiment_report(self, experiment_id: str) -> ReportView:
        self.report_calls.append(experiment_id)
        if experiment_id == "x5e1f00d":
            return demo_report()
        cells = self.cell_rows.get(experiment_id, [])
        return ReportView(experiment_id, cells_total=len(cells))


def build_script(job_id: str) -> list[dict[str, Any]]:
    """The messages a 2-shot ph_cot + deeplift build sends, in order."""
    m = protocol.message
    return [
        m("started", job_id=job_id, run_id="run0009zzzz"),
        m("progress", job_id=job_id, stage="dataset", done=1, total=1, detail="100 pool / 81 test"),
        m(
            "progress",
            job_id=job_id,
            stage="model",
            done=1,
            total=1,
            detail="134.5M parameters on cpu",
        ),
        m("progress", job_id=job_id, stage="select", done=2, total=2, detail="snarks-042"),
        m("shots", job_id=job_id, shots=["snarks-017", "snarks-042"]),
        m(
            "progress",
            job_id=job_id,
            stage="rationales:deeplift",
            done=1,
            total=2,
            detail="snarks-017",
        ),
        m(
            "tokens",
            job_id=job_id,
            stage="rationales:deeplift",
            sample_id="snarks-017",
            words=WORDS,
            scores=SCORES,
            top=TOP,
        ),
        m(
            "text",
            job_id=job_id,
            stage="rationales:deeplift",
            sample_id="snarks-017",
            text='The 4 keywords "sarcastic", "everybody", "loves" and "traffic" are important to predict that the answer is (a)',
            final=True,
        ),
        m(
            "text",
            job_id=job_id,
            stage="rationales:ph_cot",
            sample_id="snarks-042",
            text="3-step explanation: people hate",
            final=False,
        ),
        m("progress", job_id=job_id, stage="evaluate:ph_cot", done=3, total=6, detail=""),
    ]


def influence_shot(sample_id: str, influence: float, p_value: float, n: int) -> dict[str, Any]:
    """One shot's record in an ``influence`` event (core.influence.ShotInfluence.to_dict)."""
    return {
        "id": sample_id,
        "position": 0 if sample_id == "snarks-017" else 1,
        "accuracy_full": 0.55,
        "accuracy_without": round(0.55 - influence, 4),
        "influence": influence,
        "n": n,
        "helps": 3,
        "hurts": 1,
        "p_value": p_value,
        "ci95": [-0.05, 0.15],
    }


def influence_script(job_id: str, config: dict[str, Any]) -> list[dict[str, Any]]:
    """The influence events of a build with ``influence`` on: each method with shots, measured on
    the dev split less the two shots (snarks-017 helps, snarks-042 hurts)."""
    m = protocol.message
    n = int(config.get("dev_size", 50)) - 2
    script = []
    for method in config.get("methods", []):
        if method == "zero_shot":
            continue
        total = 3 * n
        script.append(
            m("progress", job_id=job_id, stage=f"influence:{method}", done=total, total=total)
        )
        shots = [
            influence_shot("snarks-017", 0.06, 0.02, n),
            influence_shot("snarks-042", -0.04, 0.5, n),
        ]
        script.append(
            m("influence", job_id=job_id, method=method, dev_items=n, accuracy=0.55, shots=shots)
        )
    return script


def finish_script(job_id: str) -> list[dict[str, Any]]:
    m = protocol.message
    return [
        m(
            "text",
            job_id=job_id,
            stage="rationales:ph_cot",
            sample_id="snarks-042",
            text="3-step explanation: people hate traffic, the praise is insincere, so (a) mocks. The answer is (a)",
            final=True,
        ),
        m("progress", job_id=job_id, stage="evaluate:ph_cot", done=6, total=6, detail=""),
        m(
            "saved",
            job_id=job_id,
            run_id="run0009zzzz",
            method="ph_cot",
            lineage="smollm2-135m.snarks.ph_cot.success.n2",
            version=3,
            prompt_version_id="7",
            accuracy=0.5,
            n=6,
        ),
        m(
            "done",
            job_id=job_id,
            run_id="run0009zzzz",
            results=[
                {
                    "method": "ph_cot",
                    "accuracy": 0.5,
                    "ci95": [0.19, 0.81],
                    "n": 6,
                    "parse_failures": 0,
                    "seconds": 50.0,
                    "vs_io": None,
                }
            ],
            seconds=52.0,
        ),
    ]


class FakeClient:
    """A WorkerClient stand-in: ``submit`` plays ``build_script``; ``finish`` or ``cancel`` ends it."""

    def __init__(
        self,
        app: Any,
        *,
        auto_finish: bool = False,
        fail_with: str | None = None,
        cached: bool = False,
    ) -> None:
        self.cached = cached
        self.app = app
        self.state = "stopped"
        self.pid = 4242
        self.active_job: str | None = None
        self.submitted: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.auto_finish = auto_finish
        self.fail_with = fail_with
        self.started = 0

    def _post(self, messages: Iterable[dict[str, Any]]) -> None:
        for data in messages:
            self.app.post_message(WorkerEvent(data))

    async def start(self) -> None:
        self.started += 1
        self.state = "ready"
        self.app.post_message(WorkerProcessState("ready"))

    async def submit(self, config: dict[str, Any], *, job_id: str | None = None) -> str:
        job_id = job_id or protocol.new_job_id()
        self.submitted.append(config)
        self.active_job = job_id
        self.app.post_message(WorkerProcessState("busy"))
        if self.fail_with:
            self._post(
                [
                    protocol.message(
                        "error",
                        job_id=job_id,
                        message=self.fail_with,
                        hint="Pick another model on the Build screen.",
                    )
                ]
            )
            self.active_job = None
            return job_id
        if self.cached:  # everything reused from the store: no live tokens or text
            script = build_script(job_id) + self._finish_script(job_id)
            self._post([m for m in script if m["type"] not in ("tokens", "text")])
            self.active_job = None
            return job_id
        self._post(build_script(job_id))
        if self.auto_finish:
            self.finish()
        await asyncio.sleep(0)
        return job_id

    def _finish_script(self, job_id: str) -> list[dict[str, Any]]:
        """The end of the build; with ``influence`` in the submitted config, each method's
        influence event comes before its ``saved`` one, as from the real worker."""
        script = finish_script(job_id)
        config = self.submitted[-1] if self.submitted else {}
        if config.get("influence"):
            at = next(i for i, m in enumerate(script) if m["type"] == "saved")
            script[at:at] = influence_script(job_id, config)
        return script

    def finish(self) -> None:
        if self.active_job:
            self._post(self._finish_script(self.active_job))
            self.active_job = None
            self.app.post_message(WorkerProcessState("ready"))

    async def cancel(self, job_id: str | None = None) -> None:
        job_id = job_id or self.active_job
        if job_id and job_id == self.active_job:
            self.cancelled.append(job_id)
            self._post([protocol.message("cancelled", job_id=job_id, run_id="run0009zzzz")])
            self.active_job = None
            self.app.post_message(WorkerProcessState("ready"))

    async def stop(self) -> None:
        self.state = "stopped"
