"""Faithfulness of every keyword rationale method, per dataset and attribution span.

For ``--shots`` pool questions of each dataset (drawn at random with ``--seed``, so that the draw
does not depend on the model answering them right), each method's rationale is made through the
cached core path (``core.rationales.make_rationales``; AMPLIFY's through
``core.amplify.amplify_rationales`` with ``--proxy-model``, on the same shots) and its
comprehensiveness and sufficiency are measured on the target model
(``core.faithfulness.shot_faithfulness``: AOPC over k = 1..``--keywords``). Printed per dataset,
span and method: the mean of each over shots with a 95% bootstrap interval over shots, and the
mean forward passes and scored prompts per shot of the faithfulness measurement itself.

Higher comprehensiveness and lower sufficiency are more faithful; ``random`` is the floor and
``leave_one_out`` a reference. Every span's keywords are measured over the same words (the
question and all choices: core.faithfulness.MEASURED_SPAN), so spans compare. The span table ranks
each dataset's spans by the mean comprehensiveness AOPC of the attribution methods (deeplift,
kernelshap, leave_one_out) and gives their margin over ``random`` in the same span: the figures
behind core.spans.DEFAULT_SPAN for the dataset's layout. Shots with fewer content words in the span than ``--keywords``
are left out of that span's rows (the count used is shown).

    nice python bench/faithfulness.py --json [--shots 20] [--proxy-model REF] [--store]
        [--datasets builtin:commonsense-qa,builtin:snarks] [--spans question,question+gold]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_MODEL, emit_json, machine, say, workbench  # noqa: E402

DATASETS = "builtin:commonsense-qa,builtin:snarks"
METHODS = "deeplift,kernelshap,leave_one_out,random,self_topk"
SPANS = "question,question+choices,question+gold"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help="target model (default: %(default)s)"
    )
    parser.add_argument("--datasets", default=DATASETS, help="comma-separated dataset references")
    parser.add_argument("--methods", default=METHODS, help="comma-separated keyword methods")
    parser.add_argument("--spans", default=SPANS, help="comma-separated attribution spans")
    parser.add_argument("--proxy-model", default=None, help="adds amplify (its keywords' model)")
    parser.add_argument("--shots", type=int, default=20, help="pool questions per dataset")
    parser.add_argument("--keywords", type=int, default=4, help="K: keywords per rationale")
    parser.add_argument("--shap-samples", type=int, default=350)
    parser.add_argument("--rationale-tokens", type=int, default=128, help="self_topk's budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: default)")
    parser.add_argument(
        "--store", action="store_true", help="cache in the sa-tui store (else in memory)"
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line of all figures")
    return parser.parse_args(argv)


def interval(values: Sequence[float], resamples: int, seed: int) -> tuple[float, float]:
    import numpy as np

    from core.grid_stats import bootstrap_mean_ci

    if len(values) < 2:
        return (float("nan"), float("nan"))
    return bootstrap_mean_ci(np.array([values]), resamples=resamples, seed=seed)


def measure_method(
    target: Any, proxy: Any, shots: Sequence[Any], method: str, settings: Any
) -> list[Any]:
    """Each shot's Faithfulness for ``method`` (its rationales made or read back first)."""
    from core.amplify import amplify_rationales
    from core.faithfulness import shot_faithfulness
    from core.rationales import make_rationales

    if method == "amplify":
        rationales = amplify_rationales(proxy, shots, settings)
    else:
        rationales = make_rationales(target, shots, method, settings)
    measured = []
    for shot, rationale in zip(shots, rationales, strict=True):
        result = shot_faithfulness(target, shot, rationale, settings)
        if result is not None:
            measured.append(result)
    return measured


def summary_row(
    dataset: str, span: str, method: str, shots: int, measured: Sequence[Any], args: Any
) -> dict[str, Any]:
    comp = [m.comprehensiveness_aopc for m in measured]
    suff = [m.sufficiency_aopc for m in measured]
    n = max(1, len(measured))
    return {
        "dataset": dataset,
        "span": span,
        "method": method,
        "shots": shots,
        "measured": len(measured),
        "comprehensiveness": sum(comp) / n,
        "comprehensiveness_ci95": interval(comp, args.resamples, args.seed),
        "sufficiency": sum(suff) / n,
        "sufficiency_ci95": interval(suff, args.resamples, args.seed),
        "forward_passes_per_shot": sum(m.forward_passes for m in measured) / n,
        "rows_per_shot": sum(m.rows for m in measured) / n,
        "unmatched": sum(m.unmatched for m in measured),
        "p_full": sum(m.p_full for m in measured) / n,
    }


SPAN_CHOICE_METHODS = ("deeplift", "kernelshap", "leave_one_out")


def span_choice(rows: Sequence[dict[str, Any]], layouts: dict[str, str]) -> list[dict[str, Any]]:
    """Per dataset and span: the attribution methods' mean comprehensiveness and sufficiency
    AOPC, the margin of their comprehensiveness over random's, and the best span by it."""
    out: list[dict[str, Any]] = []
    for dataset in dict.fromkeys(row["dataset"] for row in rows):
        spans: list[dict[str, Any]] = []
        for span in dict.fromkeys(row["span"] for row in rows if row["dataset"] == dataset):
            mine = [r for r in rows if r["dataset"] == dataset and r["span"] == span]
            chosen = [r for r in mine if r["method"] in SPAN_CHOICE_METHODS and r["measured"]]
            floor = [r for r in mine if r["method"] == "random" and r["measured"]]
            if not chosen:
                continue
            comp = sum(r["comprehensiveness"] for r in chosen) / len(chosen)
            suff = sum(r["sufficiency"] for r in chosen) / len(chosen)
            spans.append(
                {
                    "dataset": dataset,
                    "layout": layouts.get(dataset, ""),
                    "span": span,
                    "comprehensiveness": comp,
                    "sufficiency": suff,
                    "over_random": comp - floor[0]["comprehensiveness"] if floor else None,
                    "methods": [r["method"] for r in chosen],
                }
            )
        best = max(spans, key=lambda r: r["comprehensiveness"], default=None)
        for entry in spans:
            entry["best"] = entry is best
        out.extend(spans)
    return out


def span_table(choices: Sequence[dict[str, Any]]) -> str:
    if not choices:
        return ""
    header = f"{'dataset':<24} {'layout':<13} {'span':<17} {'comp':>7} {'suff':>7} {'comp-rnd':>8}"
    lines = ["", "span choice (mean of " + ", ".join(SPAN_CHOICE_METHODS) + ")", header]
    lines.append("-" * len(header))
    for row in choices:
        margin = "" if row["over_random"] is None else f"{row['over_random']:+.3f}"
        lines.append(
            f"{row['dataset']:<24} {row['layout']:<13} {row['span']:<17} "
            f"{row['comprehensiveness']:+.3f} {row['sufficiency']:+.3f} {margin:>8}"
            + ("  ← best" if row["best"] else "")
        )
    return "\n".join(lines)


def table(rows: Sequence[dict[str, Any]]) -> str:
    def ci(value: float, bounds: tuple[float, float]) -> str:
        return f"{value:+.3f} [{bounds[0]:+.3f}, {bounds[1]:+.3f}]"

    header = f"{'dataset':<24} {'span':<17} {'method':<14} {'n':>3} "
    header += f"{'comp AOPC [95% CI]':<27} {'suff AOPC [95% CI]':<27} {'fwd/shot':>8} {'unm':>4}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['dataset']:<24} {row['span']:<17} {row['method']:<14} {row['measured']:>3} "
            f"{ci(row['comprehensiveness'], row['comprehensiveness_ci95']):<27} "
            f"{ci(row['sufficiency'], row['sufficiency_ci95']):<27} "
            f"{row['forward_passes_per_shot']:>8.1f} {row['unmatched']:>4}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from core.cache import MemoryCache
    from core.datasets import load_dataset
    from core.errors import SaTuiError
    from core.rationales import RationaleSettings
    from core.spans import content_words, dataset_layout

    args = parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    if args.proxy_model and "amplify" not in methods:
        methods.append("amplify")
    spans = [s for s in args.spans.split(",") if s]
    store = None
    if args.store:
        from store.facade import Store

        store = Store.open()
    cache = store if store is not None else MemoryCache()
    started = time.perf_counter()
    target = workbench(args.model, args, cache)
    proxy = workbench(args.proxy_model, args, cache) if args.proxy_model else None
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    layouts: dict[str, str] = {}
    try:
        for ref in [d for d in args.datasets.split(",") if d]:
            dataset = load_dataset(ref)
            pool = list(dataset.pool)
            layouts[ref] = dataset_layout(pool)
            shots = random.Random(args.seed).sample(pool, min(args.shots, len(pool)))
            for span in spans:
                usable = [s for s in shots if content_words(s, span) >= args.keywords]
                settings = RationaleSettings(
                    keywords=args.keywords,
                    shap_samples=args.shap_samples,
                    max_new_tokens=args.rationale_tokens,
                    seed=args.seed,
                    span=span,
                )
                if not usable:
                    skipped.append(f"{ref} {span}: no shot has {args.keywords} content words")
                    continue
                for method in methods:
                    print(f"{ref} · {span} · {method}: {len(usable)} shots", file=sys.stderr)
                    try:
                        measured = measure_method(target, proxy, usable, method, settings)
                    except SaTuiError as error:
                        skipped.append(f"{ref} {span} {method}: {error}")
                        continue
                    rows.append(summary_row(ref, span, method, len(usable), measured, args))
    finally:
        if store is not None:
            store.close()
    say(table(rows))
    choices = span_choice(rows, layouts)
    if choices:
        say(span_table(choices))
    for line in skipped:
        say(f"skipped {line}")
    if args.json:
        emit_json(
            {
                "model": args.model,
                "proxy_model": args.proxy_model,
                "keywords": args.keywords,
                "shots": args.shots,
                "seed": args.seed,
                "rows": rows,
                "span_choice": choices,
                "skipped": skipped,
                "seconds": round(time.perf_counter() - started, 2),
                "machine": machine(),
            }
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
