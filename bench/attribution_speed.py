"""Post hoc attribution: one-forward-per-coalition KernelSHAP against the batched path, and
DeepLift's cost against one forward + backward pass of the same input.

KernelSHAP: ``core.attribution.kernelshap(batched=False)`` (the reference's path: every
coalition is a full prompt run alone) against ``batched=True`` (sa-tui's path), with the same
number of samples and the same seed. The coalitions that each path scores are recorded and
compared: they must be identical, so that ``max_abs_diff`` between the two sets of SHAP values
measures only float rounding.

DeepLift: ``core.attribution.deeplift`` against one forward (last position's logits) and one
backward pass (gradient of the label's logit with respect to the input embeddings) of the same
prompt, batch of one. Also reported: captum's own DeepLift (batch of two: input and baseline) and
the largest difference between its attributions and sa-tui's.

    python bench/attribution_speed.py --json [--samples 128] [--examples 2]
        [--dataset builtin:commonsense-qa] [--device cuda]

Adaptive KernelSHAP (``--adaptive``, see bench/adaptive_shap.py): on pool questions of each of
``--datasets``, adaptive KernelSHAP against one forward per coalition and against the fixed
batched path at ``--samples`` (use 350, the reference's), with the top-k agreement:

    nice python bench/attribution_speed.py --adaptive --samples 350 --shots 20 \
        --datasets builtin:commonsense-qa,builtin:snarks --reference-every 4 --json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Loaded,
    Timing,
    add_common_arguments,
    emit_json,
    interleave,
    load,
    load_from_args,
    machine,
    say,
)


class CoalitionRecorder:
    """Wraps ``core.attribution.coalition_scorer`` to keep the mask matrices each path scores."""

    def __init__(self) -> None:
        import core.attribution as attribution

        self.module = attribution
        self.original = attribution.coalition_scorer
        self.masks: dict[bool, list[list[Any]]] = {True: [], False: []}

    def __enter__(self) -> CoalitionRecorder:
        import numpy as np

        original = self.original

        def recording(*args: Any, **kwargs: Any) -> Callable[[Any], Any]:
            f = original(*args, **kwargs)
            calls: list[Any] = []
            self.masks[bool(kwargs.get("batched", True))].append(calls)

            def g(masks: Any) -> Any:
                calls.append(np.array(masks, copy=True))
                return f(masks)

            return g

        self.module.coalition_scorer = recording
        return self

    def __exit__(self, *exc: object) -> None:
        self.module.coalition_scorer = self.original

    def same(self) -> bool:
        """Every run of both paths scored the same coalitions, in the same order."""
        runs = self.masks[True] + self.masks[False]
        first = runs[0]
        return all(
            len(run) == len(first)
            and all(
                a.shape == b.shape and bool((a == b).all()) for a, b in zip(run, first, strict=True)
            )
            for run in runs
        )

    def count(self) -> int:
        return sum(m.shape[0] for m in self.masks[True][0])


def work_accounting(lm: Any, target: Any, masks: Any) -> dict[str, Any]:
    """Tokens and forward passes each path runs for these coalitions: one forward per coalition
    (every coalition whole), the flat batched path (shared prefix once, then every coalition's
    rest), and the prefix tree that the batched path uses (each distinct segment once)."""
    import numpy as np

    sequences = []
    for mask in masks:
        ids = list(target.prompt_ids)
        for p in target.explained_positions:
            if mask[target.token_words[p]] < 0.5:
                ids[p] = lm.pad_id
        sequences.append(ids)
    seqs = np.asarray(sequences, dtype=np.int64)
    n, length = seqs.shape
    first = target.explained_positions[0] if target.explained_positions else length - 1
    kv_bytes = lm._kv_bytes_per_position()
    _, counts = lm._tree_groups(seqs)
    cuts = lm._tree_cuts(counts, length, kv_bytes)
    tree_tokens = sum(
        counts[end] * (end - start) for start, end in zip(cuts, cuts[1:], strict=False)
    )
    tree_forwards = sum(
        -(-counts[end] // lm._tree_rows(end - start, end, kv_bytes))
        for start, end in zip(cuts, cuts[1:], strict=False)
    )
    return {
        "tokens_one_forward_per_coalition": n * length,
        "tokens_flat_batched": first + n * (length - first),
        "tokens_prefix_tree": tree_tokens,
        "tokens_all_distinct_prefixes": sum(counts[1:]),
        "forwards_one_per_coalition": n,
        "forwards_prefix_tree": tree_forwards,
        "tree_levels": len(cuts) - 1,
        "token_ratio": round(n * length / tree_tokens, 3),
    }


def forward_backward(lm: Any, target: Any) -> Any:
    """One forward (last position only) and one backward pass to the input embeddings."""
    import torch

    ids = torch.tensor([target.prompt_ids], device=lm.device)
    embedding = lm.model.get_input_embeddings()
    with torch.no_grad():
        embeds = embedding(ids).detach()
    embeds.requires_grad_(True)
    with torch.enable_grad():
        logits = lm.model(inputs_embeds=embeds, use_cache=False, logits_to_keep=1).logits
        (gradient,) = torch.autograd.grad(logits[0, -1, target.label_id], embeds)
    return gradient.sum().item()


def captum_deeplift(lm: Any, target: Any) -> list[float]:
    """captum's DeepLift on the same scorer, input and baseline as core.attribution.deeplift."""
    import torch
    from captum.attr import DeepLift

    from core.attribution import _LastLogit, deeplift_inputs

    embeds, baseline = deeplift_inputs(lm, target)
    explainer = DeepLift(_LastLogit(lm.model))
    with torch.enable_grad():
        attributions = explainer.attribute(
            embeds.requires_grad_(True), baselines=baseline, target=target.label_id
        )
    return attributions[0].sum(dim=-1).detach().float().cpu().tolist()


def run(
    loaded: Loaded,
    dataset: Any,
    *,
    examples: int = 2,
    samples: int = 128,
    repeats: int = 2,
    deeplift_repeats: int = 5,
    seed: int = 0,
    quiet: bool = False,
) -> dict[str, Any]:
    import warnings

    import numpy as np

    from core.attribution import deeplift, kernelshap
    from core.attribution_target import build_target

    warnings.filterwarnings("ignore", message=".*hooks.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="shap")
    lm, renderer = loaded.lm, loaded.renderer
    chosen = list(dataset.test[:examples])
    targets = [build_target(lm, renderer, sample) for sample in chosen]
    figures: dict[str, Any] = {
        "bench": "attribution_speed",
        "model": loaded.model_ref,
        "device": loaded.device,
        "dtype": loaded.dtype,
        "dataset": dataset.name,
        "examples": len(targets),
        "samples": samples,
        "batch_size": lm.batch_size,
        "repeats": repeats,
    }

    # ---------------------------------------------------------------- KernelSHAP
    kernel = Timing()
    max_diff = 0.0
    same_coalitions = True
    details = []
    for sample, target in zip(chosen, targets, strict=True):
        n_tokens = len(target.prompt_ids)
        say(
            f"kernelshap on {sample.id}: {len(target.words)} words, {len(target.explained_positions)} of {n_tokens} tokens explained, {samples} samples",
            quiet=quiet,
        )
        with CoalitionRecorder() as recorder:
            timed, slow, fast = interleave(
                lambda t=target: kernelshap(
                    lm, t, k=4, samples=samples, seed=seed, batched=False, adaptive=False
                ),
                lambda t=target: kernelshap(
                    lm, t, k=4, samples=samples, seed=seed, batched=True, adaptive=False
                ),
                repeats=repeats,
                device=loaded.device,
                on_repeat=lambda r, b, f: say(
                    f"  repeat {r + 1}: one forward per coalition {b:.2f}s  batched {f:.2f}s  ({b / f:.2f}x)",
                    quiet=quiet,
                ),
            )
        same = recorder.same()
        same_coalitions = same_coalitions and same
        diff = float(np.max(np.abs(np.array(slow.word_scores) - np.array(fast.word_scores))))
        max_diff = max(max_diff, diff)
        coalitions = recorder.count()
        kernel.extend(timed)
        work = work_accounting(lm, target, np.concatenate(recorder.masks[True][0]))
        cpu = timed.main
        work["ms_per_token_one_forward_per_coalition"] = round(
            1000 * min(cpu.baseline) / work["tokens_one_forward_per_coalition"], 3
        )
        work["ms_per_token_prefix_tree"] = round(
            1000 * min(cpu.fast) / work["tokens_prefix_tree"], 3
        )
        details.append(
            {
                "id": sample.id,
                "words": len(target.words),
                "prompt_tokens": n_tokens,
                "explained_tokens": len(target.explained_positions),
                "coalitions": coalitions,
                "same_coalitions": same,
                "max_abs_diff": diff,
                "ratios": [round(r, 3) for r in timed.main.ratios],
                "work": work,
            }
        )
        say(
            f"  same coalitions: {same} ({coalitions}); max |difference| of SHAP values {diff:.2e}",
            quiet=quiet,
        )
        say(
            f"  tokens run: one forward per coalition {work['tokens_one_forward_per_coalition']}, "
            f"flat batches {work['tokens_flat_batched']}, prefix tree {work['tokens_prefix_tree']} "
            f"({work['token_ratio']:.2f}x fewer, {work['tree_levels']} levels, {work['forwards_prefix_tree']} passes); "
            f"ms per token: {work['ms_per_token_one_forward_per_coalition']:.2f} vs {work['ms_per_token_prefix_tree']:.2f}",
            quiet=quiet,
        )
    figures.update(
        {
            "speedup_kernelshap": round(kernel.ratio, 3),
            "max_abs_diff": max_diff,
            "same_coalitions": same_coalitions,
            "kernelshap_examples": details,
            "timings_kernelshap": kernel.summary(),
        }
    )

    # ---------------------------------------------------------------- DeepLift
    deep = Timing()
    captum = Timing()
    captum_diff = 0.0
    for target in targets:
        ours = deeplift(lm, target, k=4)
        theirs = captum_deeplift(lm, target)
        explained = target.explained_positions
        reference = [theirs[i] for i in explained]
        captum_diff = max(
            captum_diff, max(abs(a - b) for a, b in zip(ours.token_scores, reference, strict=True))
        )
        forward_backward(lm, target)  # warm
        timed, _, _ = interleave(
            lambda t=target: forward_backward(lm, t),
            lambda t=target: deeplift(lm, t, k=4),
            repeats=deeplift_repeats,
            device=loaded.device,
        )
        deep.extend(timed.inverted())  # ratio = deeplift / (forward + backward)
        timed_captum, _, _ = interleave(
            lambda t=target: forward_backward(lm, t),
            lambda t=target: captum_deeplift(lm, t),
            repeats=max(1, deeplift_repeats // 2),
            device=loaded.device,
        )
        captum.extend(timed_captum.inverted())
    figures.update(
        {
            "deeplift_cost_ratio": round(deep.ratio, 3),
            "deeplift_captum_cost_ratio": round(captum.ratio, 3),
            "deeplift_max_abs_diff_vs_captum": captum_diff,
            "timings_deeplift": deep.summary(),  # baseline: deeplift, fast: forward + backward
            "timings_deeplift_captum": captum.summary(),
        }
    )
    say(
        f"deeplift: {deep.ratio:.2f}x one forward + backward (captum's batch of two: {captum.ratio:.2f}x); max |difference| from captum {captum_diff:.2e}",
        quiet=quiet,
    )
    say(
        f"kernelshap: {kernel.ratio:.2f}x faster batched; max |difference| {max_diff:.2e}; same coalitions: {same_coalitions}",
        quiet=quiet,
    )
    figures["machine"] = machine()
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--examples", type=int, default=2, help="test items explained")
    parser.add_argument("--samples", type=int, default=128, help="KernelSHAP samples (coalitions)")
    parser.add_argument("--deeplift-repeats", type=int, default=5)
    parser.add_argument("--adaptive", action="store_true", help="adaptive KernelSHAP mode")
    parser.add_argument("--datasets", help="adaptive mode: comma-separated dataset references")
    parser.add_argument("--shots", type=int, default=20, help="adaptive mode: pool questions")
    parser.add_argument("--keywords", type=int, default=4, help="adaptive mode: k")
    parser.add_argument(
        "--reference-every",
        type=int,
        default=1,
        help="adaptive mode: run the reference every Nth shot",
    )
    parser.set_defaults(repeats=1)  # per example: each example is one more interleaved pair
    args = parser.parse_args(argv)

    if args.adaptive:
        from adaptive_shap import run_adaptive

        from core.datasets import load_dataset

        loaded = load(
            args.model,
            device=args.device,
            dtype=args.dtype,
            batch_size=args.batch_size,
            threads=args.threads,
        )
        refs = (args.datasets or args.dataset).split(",")
        figures = run_adaptive(
            loaded,
            [load_dataset(ref.strip()) for ref in refs],
            shots=args.shots,
            samples=args.samples,
            k=args.keywords,
            seed=args.seed,
            reference_every=max(1, args.reference_every),
        )
        figures["machine"] = machine()
        if args.json:
            emit_json(figures)
        return 0
    loaded, dataset = load_from_args(args)
    figures = run(
        loaded,
        dataset,
        examples=args.examples,
        samples=args.samples,
        repeats=args.repeats,
        deeplift_repeats=args.deeplift_repeats,
        seed=args.seed,
    )
    if args.json:
        emit_json(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
