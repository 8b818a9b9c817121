"""``sa-tui experiment``: run a grid of runs (one per model, dataset, strategy, shots and seed)
and report whether each method helps; ``sa-tui experiments list|show``: the stored grids."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sa_tui.commands.common import (
    add_output_format,
    guarded,
    open_store,
    print_json,
    print_table,
    short_time,
    wants_json,
)
from sa_tui.commands.run_args import add_run_settings, catalogued_models, settings_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    grid = subparsers.add_parser(
        "experiment",
        help="run a grid over models, datasets, strategies, shots and seeds, then report",
        description="One run per (model, dataset, strategy, shots, seed) cell, each scoring every "
        "--method on the same test items; finished cells and stored results are reused, so the "
        "same command continues a stopped grid. The report gives each method's mean accuracy over "
        "seeds with a 95%% interval and its paired difference from io and zero_shot, with "
        "p-values corrected for the number of comparisons (Holm).",
    )
    grid.add_argument("--model", required=True, help="one or more models, comma-separated")
    grid.add_argument("--dataset", required=True, help="one or more datasets, comma-separated")
    grid.add_argument(
        "--strategy", default="success", help="success, error and/or random (default success)"
    )
    grid.add_argument("--shots", default="4", help="one or more shot counts (default 4)")
    grid.add_argument("--seeds", default="0,1,2", help="seeds, comma-separated (default 0,1,2)")
    add_run_settings(grid)
    grid.add_argument(
        "--report", type=Path, metavar="DIR", help="also write report.md, .csv and .json here"
    )
    grid.add_argument(
        "--executor",
        default="local",
        choices=("local", "ray"),
        help="local: the cells one after the other in this process (default); ray: on the "
        "actors of a Ray cluster, this process alone writing the store (needs the ray extra)",
    )
    grid.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="the Ray cluster to use (auto: the one started on this machine with `ray start "
        "--head`; default: start Ray here for this grid)",
    )
    grid.add_argument(
        "--ray-actors",
        type=int,
        metavar="N",
        help="Ray actors, each keeping a model loaded (default: one per GPU, else 2)",
    )
    grid.set_defaults(func=handle_experiment)

    stored = subparsers.add_parser(
        "experiments", help="stored experiment grids: list, show", description=__doc__
    )
    commands = stored.add_subparsers(dest="experiments_command", metavar="ACTION", required=True)
    listing = commands.add_parser("list", help="list experiments, newest first")
    add_output_format(listing)
    listing.set_defaults(func=handle_list)
    show = commands.add_parser("show", help="the report of an experiment's finished cells")
    show.add_argument("experiment_id", metavar="ID", help="the experiment id (a prefix is enough)")
    show.add_argument("--report", type=Path, metavar="DIR", help="also write the report files")
    show.set_defaults(func=handle_show)


def _split(text: str, flag: str, kind: type = str) -> tuple[Any, ...]:
    values = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not values:
        raise ValueError(f"{flag} needs at least one value")
    try:
        return tuple(kind(value) for value in values)
    except ValueError:
        raise ValueError(f"{flag} takes whole numbers, not {text!r}") from None


def handle_experiment(args: argparse.Namespace) -> int:
    from core.config import RunConfig
    from core.errors import SaTuiError
    from jobs.executors import ExecutorChoice
    from jobs.experiment import Grid
    from jobs.experiment_headless import run_experiment_headless

    try:
        *named, proxy_model = catalogued_models([*_split(args.model, "--model"), args.proxy_model])
        models = tuple(str(m) for m in named)
        datasets = _split(args.dataset, "--dataset")
        grid = Grid(
            models=models,
            datasets=datasets,
            strategies=_split(args.strategy, "--strategy"),
            shots=_split(args.shots, "--shots", int),
            seeds=_split(args.seeds, "--seeds", int),
            template=RunConfig(
                model=models[0],
                dataset=datasets[0],
                **{**settings_from_args(args), "proxy_model": proxy_model},
            ),
        ).validate()
        executor = ExecutorChoice(args.executor, args.ray_address, args.ray_actors).validate()
    except (ValueError, SaTuiError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return run_experiment_headless(grid, report_dir=args.report, executor=executor)


@guarded
def handle_list(args: argparse.Namespace) -> int:
    with open_store(reading=True) as store:
        experiments = store.list_experiments()
    if wants_json(args):
        print_json([e.to_dict() for e in experiments])
        return 0
    rows = [
        {
            "id": e.id,
            "status": e.status,
            "cells": f"{e.cells_done}/{e.cells}",
            "models": ",".join(e.config.get("models", [])),
            "datasets": ",".join(e.config.get("datasets", [])),
            "seeds": ",".join(str(s) for s in e.config.get("seeds", [])),
            "updated": short_time(e.updated_at),
        }
        for e in experiments
    ]
    columns = [(key, key.upper()) for key in ("id", "status", "cells", "models", "datasets")]
    print_table(
        rows, [*columns, ("seeds", "SEEDS"), ("updated", "UPDATED")], empty="no experiments yet"
    )
    return 0


def handle_show(args: argparse.Namespace) -> int:
    from jobs.experiment_headless import show_report

    return show_report(args.experiment_id, report_dir=args.report)
