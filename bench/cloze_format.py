"""Which cloze format to use: zero-shot accuracy on the *selection pool* (never the test items)
for each way of asking (questions with their choices listed, or the question alone) and of
normalising a choice's log-likelihood (per byte, per token, or not at all).

    python bench/cloze_format.py --dataset builtin:commonsense-qa,builtin:social-iqa --json

Prints one line per dataset and format (accuracy with its 95% Wilson interval), then, with
--json, one JSON line of every figure. The log-likelihoods of a listing variant are computed once
and normalised three ways, so every normalisation is compared on exactly the same numbers.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from common import add_common_arguments, emit_json, load, machine, say


def pool_accuracy(loaded: Any, samples: list[Any], list_choices: bool) -> dict[str, Any]:
    """Zero-shot cloze accuracy of each normalisation on ``samples`` (one listing variant)."""
    from core.cloze import (
        NORMALISATIONS,
        ChoiceScore,
        ClozeFormat,
        choice_continuations,
        choice_log_likelihoods,
        continuation_text,
    )
    from core.evaluation import build_context
    from core.stats import wilson_interval
    from core.token_ids import best_label, shared_prefix

    context = build_context(
        "zero_shot", [], {}, keywords=1, steps=1, cloze=ClozeFormat(list_choices, "bytes")
    )
    renderer = loaded.renderer
    prompts, continuations, texts = [], [], []
    for sample in samples:
        prompt = renderer.render_text(context.messages_for(renderer, sample))
        item_texts = [continuation_text(sample, j) for j in range(len(sample.choices))]
        ids, item_continuations = choice_continuations(renderer.encode, prompt, item_texts)
        prompts.append(ids)
        continuations.append(item_continuations)
        texts.append(item_texts)
    prefix = shared_prefix(prompts)
    started = time.perf_counter()
    sums = choice_log_likelihoods(
        loaded.lm, [p[len(prefix) :] for p in prompts], continuations, prefix=prefix
    )
    seconds = time.perf_counter() - started
    figures: dict[str, Any] = {"seconds": round(seconds, 2)}
    for normalisation in NORMALISATIONS:
        correct = 0
        for sample, values, item_continuations, item_texts in zip(
            samples, sums, continuations, texts, strict=True
        ):
            scores = [
                ChoiceScore(value, len(tokens), len(text.encode("utf-8"))).normalised(normalisation)
                for value, tokens, text in zip(values, item_continuations, item_texts, strict=True)
            ]
            correct += best_label(sample.labels, scores) == sample.answer
        figures[normalisation] = {
            "accuracy": round(correct / len(samples), 4),
            "ci95": wilson_interval(correct, len(samples)),
            "n": len(samples),
        }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.set_defaults(dataset="builtin:commonsense-qa,builtin:social-iqa")
    parser.add_argument(
        "--pool-limit", type=int, default=300, help="pool items per dataset (default: all 300)"
    )
    args = parser.parse_args(argv)
    from core.datasets import load_dataset

    loaded = load(
        args.model,
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
        threads=args.threads,
    )
    results: dict[str, Any] = {}
    for ref in args.dataset.split(","):
        dataset = load_dataset(ref)
        samples = list(dataset.pool[: args.pool_limit])  # the selection pool only
        chance = sum(1 / len(s.choices) for s in samples) / len(samples)
        results[ref] = {"chance": round(chance, 4)}
        for listing, list_choices in (("listed", True), ("hidden", False)):
            figures = pool_accuracy(loaded, samples, list_choices)
            results[ref][listing] = figures
            for norm in ("bytes", "tokens", "none"):
                row = figures[norm]
                say(
                    f"{ref:24} {listing:6} {norm:6} acc {row['accuracy']:.3f} "
                    f"[{row['ci95'][0]:.3f}, {row['ci95'][1]:.3f}] n={row['n']} "
                    f"(chance {chance:.3f}, {figures['seconds']:.0f} s)"
                )
    if args.json:
        emit_json({"model": args.model, "split": "pool", "results": results, "machine": machine()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
