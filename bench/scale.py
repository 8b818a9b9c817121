"""Ray's overhead on one machine: the same small grid with the local executor and with the Ray
executor on a local cluster of CPU actors, on a tiny random model built like ``tests/tiny.py``.

Every run starts from an empty store, so both sides compute everything. One JSON line reports:

- ``same_predictions``: every cell's per-item predictions (id, gold, prediction, correct, parse
  failure, generated text) are the same on both sides, and ``same_prompts``: so are the prompt
  versions' content hashes; ``max_score_difference`` is the largest difference of a stored
  log-likelihood (cells that run side by side batch other items; see tests/jobs/test_jobs_ray.py);
- wall seconds of the grid on each side, *cold* (``local_cold_s``: the model is loaded first;
  ``ray_cold_s``: the actor processes start, import torch and load the model first) and *warm*
  (the same executor again on a new empty store: the model is already loaded, in this process or
  in every actor); ``ray_init_s``: Ray's own start-up (``ray.init``), measured apart;
- ``ratio_wall_cold`` and ``ratio_wall_warm``: ray / local, the median over repeats (target at
  most 1.25), and ``ratio_wall_cold_with_init``: the first cold ratio with Ray's start-up added.

    python bench/scale.py [--seeds 0,1] [--methods zero_shot,io,ph_cot] [--test-limit 8]
                          [--actors 2] [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import emit_json, machine, say  # also puts the checkout on sys.path

SIDES = ("local_cold", "local_warm", "ray_cold", "ray_warm")


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1", help="the grid's seeds (default 0,1)")
    parser.add_argument("--methods", default="zero_shot,io,ph_cot")
    parser.add_argument("--test-limit", type=int, default=8)
    parser.add_argument("--actors", type=int, default=2, help="Ray CPU actors (default 2)")
    parser.add_argument("--cpus", type=int, default=2, help="ray.init(num_cpus=...) (default 2)")
    parser.add_argument("--repeats", type=int, default=1, help="timed repeats of each side")
    parser.add_argument("--quiet", action="store_true", help="print the JSON line only")
    return parser.parse_args(argv)


def build_grid(work: Path, args: argparse.Namespace) -> Any:
    from core.config import RunConfig
    from jobs.experiment import Grid
    from tests import tiny

    model = tiny.build_model(work / "tiny-model")
    dataset = tiny.write_dataset(work / "tiny-data", pool=24, test=args.test_limit)
    template = RunConfig(
        model=str(model),
        dataset=str(dataset),
        methods=tuple(m for m in args.methods.split(",") if m),
        strategy="random",
        shots=2,
        steps=1,
        test_limit=args.test_limit,
        rationale_tokens=8,
        eval_tokens=8,
        answer_mode="cloze",
        batch_size=4,
        device="cpu",
    )
    return Grid(
        models=(str(model),),
        datasets=(str(dataset),),
        strategies=("random",),
        shots=(2,),
        seeds=tuple(int(s) for s in args.seeds.split(",") if s),
        template=template,
    ).validate()


def run_side(grid: Any, database: Path, executor: Any) -> tuple[float, dict[str, Any]]:
    """Wall seconds of the grid on a fresh store, and what it stored per cell and method."""
    from core.progress import CancelToken
    from jobs.experiment import run_grid
    from store.facade import Store

    with Store.open(database) as store:
        started = time.perf_counter()
        _, outcomes = run_grid(
            grid, store, cancel=CancelToken(), progress=lambda _: None, executor=executor
        )
        seconds = time.perf_counter() - started
        stored: dict[str, Any] = {}
        for outcome in outcomes:
            assert outcome.run_id is not None
            methods = {}
            for method, score in store.method_scores_for_run(outcome.run_id).items():
                version = store.get_prompt_version(score.prompt_version_id)
                methods[method] = (version.content_hash, score.predictions)
            stored[outcome.cell.config_hash] = methods
    return seconds, stored


def compare(local: dict[str, Any], ray: dict[str, Any]) -> dict[str, Any]:
    fields = ("id", "gold", "pred", "correct", "parse_failure", "output")
    same_predictions = same_prompts = set(local) == set(ray)
    largest = 0.0
    for cell, methods in local.items():
        other = ray.get(cell, {})
        same_predictions &= set(methods) == set(other)
        for method, (content_hash, predictions) in methods.items():
            if method not in other:
                continue
            other_hash, other_predictions = other[method]
            same_prompts &= content_hash == other_hash
            same_predictions &= [{k: p.get(k) for k in fields} for p in predictions] == [
                {k: p.get(k) for k in fields} for p in other_predictions
            ]
            for a, b in zip(predictions, other_predictions, strict=False):
                scores = zip(
                    a.get("choice_scores") or [], b.get("choice_scores") or [], strict=False
                )
                for x, y in scores:
                    largest = max(largest, abs(float(x) - float(y)))
    return {
        "same_predictions": same_predictions,
        "same_prompts": same_prompts,
        "max_score_difference": largest,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # tiny models: one thread is fastest
    os.environ.pop("SA_TUI_DEVICE", None)
    with tempfile.TemporaryDirectory(prefix="sa-tui-scale-") as folder:
        work = Path(folder)
        os.environ["SA_TUI_HOME"] = str(work / "home")  # the actors inherit it
        import torch

        torch.set_num_threads(1)  # as each CPU actor (one CPU: one thread)
        import ray

        from jobs.executors.local import LocalExecutor
        from jobs.executors.ray_executor import RayExecutor

        grid = build_grid(work, args)
        started = time.perf_counter()
        ray.init(
            num_cpus=args.cpus,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
        ray_init = time.perf_counter() - started
        say(f"ray.init: {ray_init:.1f} s", quiet=args.quiet)
        times: dict[str, list[float]] = {side: [] for side in SIDES}
        comparisons: list[dict[str, Any]] = []
        try:
            for repeat in range(max(1, args.repeats)):
                order = ["local", "ray"] if repeat % 2 == 0 else ["ray", "local"]
                stored: dict[str, Any] = {}
                for kind in order:
                    executor = (
                        LocalExecutor() if kind == "local" else RayExecutor(actors=args.actors)
                    )
                    with executor:  # cold: a new model slot / new actors; warm: the same again
                        for temperature in ("cold", "warm"):
                            side = f"{kind}_{temperature}"
                            database = work / f"{side}-{repeat}.db"
                            seconds, stored[side] = run_side(grid, database, executor)
                            times[side].append(seconds)
                            say(f"repeat {repeat}: {side} {seconds:.1f} s", quiet=args.quiet)
                for temperature in ("cold", "warm"):
                    comparisons.append(
                        compare(stored[f"local_{temperature}"], stored[f"ray_{temperature}"])
                    )
        finally:
            ray.shutdown()

    def ratio(temperature: str) -> float:
        pairs = zip(times[f"ray_{temperature}"], times[f"local_{temperature}"], strict=True)
        return round(statistics.median(r / local for r, local in pairs), 3)

    figures: dict[str, Any] = {
        "bench": "scale",
        "cells": len(grid.cells()),
        "methods": list(grid.template.methods),
        "test_limit": args.test_limit,
        "actors": args.actors,
        "ray_cpus": args.cpus,
        "same_predictions": all(c["same_predictions"] for c in comparisons),
        "same_prompts": all(c["same_prompts"] for c in comparisons),
        "max_score_difference": max(c["max_score_difference"] for c in comparisons),
        **{f"{side}_s": [round(x, 2) for x in times[side]] for side in SIDES},
        "ray_init_s": round(ray_init, 2),
        "ratio_wall_cold": ratio("cold"),
        "ratio_wall_warm": ratio("warm"),
        "ratio_wall_cold_with_init": round(
            (times["ray_cold"][0] + ray_init) / times["local_cold"][0], 3
        ),
        "target_ratio": 1.25,
        "machine": machine(),
    }
    emit_json(figures)
    return 0 if figures["same_predictions"] and figures["same_prompts"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
