"""Counterfactual rationales: how often a verified counterfactual is found, and how small it is.

For each dataset of ``--datasets``, ``--shots`` pool questions are chosen as a run chooses its
shots (``core.selection.select_shots`` with ``--strategy``, seeded: ``success`` by default, the
questions the model answers right, the only ones whose answer an edit can flip), and each one's
counterfactual rationale is made through the core path (``core.rationales.make_rationales`` with
method ``counterfactual``; its DeepLift attribution included, cached in memory unless
``--store``). Printed per dataset and span: the shots, the share with a verified counterfactual,
the mean words changed (over those found), the removal / replacement shares, the shots the model
did not answer right (nothing to flip) and the wall-clock seconds per shot.

    nice python bench/counterfactual.py --json [--shots 20] [--keywords 4]
        [--datasets builtin:commonsense-qa,builtin:snarks] [--spans auto]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_MODEL, emit_json, machine, say, workbench  # noqa: E402

DATASETS = "builtin:commonsense-qa,builtin:snarks"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model (default: %(default)s)")
    parser.add_argument("--datasets", default=DATASETS, help="comma-separated dataset references")
    parser.add_argument(
        "--spans", default="auto", help="comma-separated spans (auto: each dataset's default)"
    )
    parser.add_argument("--shots", type=int, default=20, help="pool questions per dataset")
    parser.add_argument("--strategy", default="success", help="success, error or random")
    parser.add_argument("--keywords", type=int, default=4, help="k: the edit bound (at most 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: default)")
    parser.add_argument(
        "--store", action="store_true", help="cache in the sa-tui store (else in memory)"
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line of all figures")
    return parser.parse_args(argv)


def measure(bench: Any, shots: Sequence[Any], settings: Any) -> dict[str, Any]:
    """The counterfactual rationales of ``shots`` and their summary (core.counterfactual)."""
    from core.counterfactual import summarize
    from core.rationales import make_rationales

    started = time.perf_counter()
    rationales = make_rationales(bench, shots, "counterfactual", settings)
    seconds = time.perf_counter() - started
    records = [r.counterfactual for r in rationales]
    summary = summarize(records)
    return {
        **summary,
        "not_predicted": sum(1 for r in records if r and r.get("reason") == "not_predicted"),
        "seconds_per_shot": round(seconds / max(1, len(shots)), 3),
        "examples": [r.text for r in rationales[:3]],
    }


def table(rows: Sequence[dict[str, Any]]) -> str:
    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    header = f"{'dataset':<24} {'span':<17} {'n':>3} {'found':>5} {'rate':>5} {'words':>5} "
    header += f"{'remove':>6} {'repl':>5} {'unpred':>6} {'s/shot':>7}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['dataset']:<24} {row['span']:<17} {row['shots']:>3} {row['found']:>5} "
            f"{share(row['success_rate']):>5} {share(row['mean_words_changed']):>5} "
            f"{share(row['removal_share']):>6} {share(row['replacement_share']):>5} "
            f"{row['not_predicted']:>6} {row['seconds_per_shot']:>7.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from core.cache import MemoryCache
    from core.counterfactual import edit_bound
    from core.datasets import load_dataset
    from core.rationales import RationaleSettings
    from core.selection import select_shots
    from core.spans import content_words, resolve_span

    args = parse_args(argv)
    store = None
    if args.store:
        from store.facade import Store

        store = Store.open()
    started = time.perf_counter()
    bench = workbench(args.model, args, store if store is not None else MemoryCache())
    rows: list[dict[str, Any]] = []
    try:
        for ref in [d for d in args.datasets.split(",") if d]:
            dataset = load_dataset(ref)
            pool = list(dataset.pool)
            shots, _ = select_shots(
                bench, pool, strategy=args.strategy, n=min(args.shots, len(pool)), seed=args.seed
            )
            for span in [s for s in args.spans.split(",") if s]:
                concrete = resolve_span(span, pool)
                usable = [s for s in shots if content_words(s, concrete) >= args.keywords]
                settings = RationaleSettings(keywords=args.keywords, seed=args.seed, span=concrete)
                say(f"{ref} · {concrete}: {len(usable)} shots", quiet=args.json)
                measured = measure(bench, usable, settings)
                rows.append(
                    {"dataset": ref, "span": concrete, "bound": edit_bound(args.keywords)}
                    | measured
                )
    finally:
        if store is not None:
            store.close()
    say(table(rows))
    for row in rows:
        for example in row["examples"]:
            say(f"  {row['dataset']}: {example}", quiet=args.json)
    if args.json:
        emit_json(
            {
                "model": args.model,
                "strategy": args.strategy,
                "keywords": args.keywords,
                "shots": args.shots,
                "seed": args.seed,
                "rows": rows,
                "seconds": round(time.perf_counter() - started, 2),
                "machine": machine(),
            }
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
