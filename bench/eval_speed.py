"""ICL evaluation: the naive loop against sa-tui's fast path, on the same items.

Naive loop (what the reference code does): for each test item, render the full n-shot prompt,
run it alone (batch 1, no shared cache) and
- label scoring (io): take the full (positions x vocabulary) logits and read the label tokens at
  the last position;
- generation (ph_cot): ``model.generate(max_new_tokens=FIXED, do_sample=False)`` (stopping only
  at end-of-turn tokens, never at the answer pattern), then parse "answer is (X)".
Fast path: ``core.evaluation.evaluate`` itself (shared-prefix key/value cache, length-sorted
batches, last-position logits only, early stop as soon as "answer is (X)" is complete).

Figures: ``speedup_label_scoring``, ``bound_label_scoring`` (= sum of (context + item) tokens /
sum of item tokens: the speedup of skipping the shared context, nothing else),
``fraction_of_bound``, ``speedup_generation``, ``same_predictions``, ``agreement_generation``,
and for each differing prediction where the two token streams part and the logit gap there;
cloze scoring's cost against label scoring and against the naive way (``bench/cloze_cost.py``).

    python bench/eval_speed.py --json [--items 16] [--gen-items 16] [--shots 4] [--phases]
        [--dataset builtin:commonsense-qa] [--max-new-tokens 128] [--batch-size 16] [--device cuda]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cloze_cost  # noqa: E402
from common import (  # noqa: E402
    Loaded,
    add_common_arguments,
    emit_json,
    interleave,
    load_from_args,
    machine,
    say,
)


def demo_rationale(sample: Any, steps: int) -> str:
    """A fixed-text ph_cot demo rationale: cheap to make, and the same shape as a generated one."""
    from core import templates

    parts = ["first, the question is read with each of its choices"]
    if steps >= 3:
        parts.append("second, the choices that do not fit the question are set aside")
    parts.append(
        f'{"third" if steps >= 3 else "second"}, "{sample.answer_text.strip()}" fits the question best'
    )
    parts.extend(f"step {i + 1}, this still holds" for i in range(3, steps))
    return templates.ph_cot_rationale("; ".join(parts), steps, sample.answer)


def pick_best(log_probs: Sequence[float]) -> int:
    """The same tie-break as core.evaluation: highest score, then the first label."""
    return max(range(len(log_probs)), key=lambda i: (log_probs[i], -i))


# ----------------------------------------------------------------------------------- naive loops
def naive_label_scoring(loaded: Loaded, context: Any, items: Sequence[Any]) -> list[dict[str, Any]]:
    import torch

    from core.token_ids import label_continuations

    lm, renderer = loaded.lm, loaded.renderer
    out = []
    for item in items:
        text = renderer.render(context.messages_for(renderer, item)).text
        ids, label_ids = label_continuations(renderer.encode, text, item.labels)
        with torch.inference_mode():
            logits = lm.model(
                input_ids=torch.tensor([ids], device=lm.device)
            ).logits  # every position
            last = torch.log_softmax(lm._apply_softcap(logits[0, -1].float()), dim=-1)
        scores = [float(last[t]) for t in label_ids]
        out.append({"pred": item.labels[pick_best(scores)], "scores": scores})
    return out


def naive_generation(
    loaded: Loaded, context: Any, items: Sequence[Any], max_new_tokens: int
) -> list[dict[str, Any]]:
    import torch

    from core.evaluation import read_answer

    lm, renderer = loaded.lm, loaded.renderer
    stop = sorted(lm.stop_ids)
    out = []
    for item in items:
        ids = renderer.render(context.messages_for(renderer, item)).ids
        input_ids = torch.tensor([ids], device=lm.device)
        with torch.inference_mode():
            generated = lm.model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                eos_token_id=stop,
                pad_token_id=lm.pad_id,
            )
        tokens = generated[0, len(ids) :].tolist()
        while tokens and tokens[-1] in lm.stop_ids:
            tokens.pop()
        text = lm.tokenizer.decode(tokens, skip_special_tokens=True)
        out.append({"pred": read_answer(text, item.labels), "tokens": tokens, "text": text})
    return out


# ------------------------------------------------------------------------------------- fast path
def fast_evaluate(
    loaded: Loaded, context: Any, items: Sequence[Any], max_new_tokens: int
) -> list[Any]:
    from core.cache import MemoryCache
    from core.evaluation import EvalSettings, evaluate
    from core.workbench import Workbench

    loaded.lm.forget_prefix()  # every timed run starts cold: the context's cache is part of the cost
    bench = Workbench(
        lm=loaded.lm, renderer=loaded.renderer, model_key="bench", cache=MemoryCache()
    )
    settings = EvalSettings(answer_mode="parse", max_new_tokens=max_new_tokens)
    score = evaluate(bench, context, items, settings)
    return score.predictions


class GenerationRecorder:
    """Wraps ``lm.generate`` to keep each generation with the full prompt it continued
    (evaluation may reorder items, e.g. by length, so the prompt is what identifies an item)."""

    def __init__(self, lm: Any) -> None:
        self.lm = lm
        self.original: Callable[..., Any] = lm.generate
        self.calls: list[list[tuple[tuple[int, ...], Any]]] = []

    def __enter__(self) -> GenerationRecorder:
        def recording(suffixes: Any, *args: Any, **kwargs: Any) -> Any:
            result = self.original(suffixes, *args, **kwargs)
            prefix = tuple(kwargs.get("prefix", ()))
            self.calls.append(
                [(prefix + tuple(s), g) for s, g in zip(suffixes, result, strict=True)]
            )
            return result

        self.lm.generate = recording
        return self

    def __exit__(self, *exc: object) -> None:
        del self.lm.generate  # back to the class's method


class PhaseTimer:
    """Wraps the fast path's forward passes to add up process CPU time per phase: the context
    (the shared prefix, once), the items (each batch's own tokens) and decoding (one token a row)."""

    def __init__(self, lm: Any) -> None:
        self.lm = lm
        self.phases: dict[str, dict[str, float]] = {}

    def _add(self, phase: str, seconds: float, tokens: int, passes: int = 1) -> None:
        entry = self.phases.setdefault(phase, {"cpu_s": 0.0, "passes": 0, "tokens": 0})
        entry["cpu_s"] += seconds
        entry["passes"] += passes
        entry["tokens"] += tokens

    def __enter__(self) -> PhaseTimer:
        import time

        lm = self.lm
        prefix_cache, extend, expand, forward_last = (
            lm.prefix_cache,
            lm._extend_cache,
            lm._expand,
            lm._forward_last,
        )
        state = {"items": False}

        def timed_prefix(prefix: Any) -> Any:
            started = time.process_time()
            out = prefix_cache(prefix)
            self._add("context", time.process_time() - started, len(prefix))
            return out

        def timed_extend(cache: Any, ids: Any, start: int) -> Any:
            started = time.process_time()
            out = extend(cache, ids, start)
            self._add("context", time.process_time() - started, len(ids) - start)
            return out

        def flag_expand(cache: Any, rows: int) -> Any:
            state["items"] = True  # a batch's first pass (its items' own tokens) comes next
            return expand(cache, rows)

        def timed_forward(ids: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            out = forward_last(ids, *args, **kwargs)
            phase = "items" if state["items"] else "decode"
            state["items"] = False
            self._add(phase, time.process_time() - started, int(ids.numel()))
            return out

        lm.prefix_cache, lm._extend_cache = timed_prefix, timed_extend
        lm._expand, lm._forward_last = flag_expand, timed_forward
        return self

    def __exit__(self, *exc: object) -> None:
        del self.lm.prefix_cache, self.lm._extend_cache, self.lm._expand, self.lm._forward_last

    def summary(self, total: float) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: {n: round(v, 3) for n, v in e.items()} for k, e in self.phases.items()
        }
        out["other_cpu_s"] = round(total - sum(e["cpu_s"] for e in self.phases.values()), 3)
        out["total_cpu_s"] = round(total, 3)
        return out


def breakdown(
    loaded: Loaded,
    context: Any,
    items: Sequence[Any],
    max_new_tokens: int,
    naive: Callable[[], Any],
) -> dict[str, Any]:
    """One more (untimed) run of each side, split into phases: for the naive loop, each item's
    full prompt and then its decoding steps (model forward passes, timed by hooks)."""
    import time

    with PhaseTimer(loaded.lm) as phases:
        started = time.process_time()
        fast_evaluate(loaded, context, items, max_new_tokens)
        total = time.process_time() - started
    fast = phases.summary(total)
    naive_phases = PhaseTimer(loaded.lm)
    clock: dict[str, float] = {}

    def before(module: Any, args: Any, kwargs: Any) -> None:
        clock["started"] = time.process_time()

    def after(module: Any, args: Any, kwargs: Any, output: Any) -> None:
        ids = kwargs.get("input_ids")
        tokens = int(ids.numel()) if ids is not None else 0
        phase = "decode" if ids is not None and ids.shape[1] == 1 else "prompt"
        naive_phases._add(phase, time.process_time() - clock["started"], tokens)

    model = loaded.lm.model
    handles = [
        model.register_forward_pre_hook(before, with_kwargs=True),
        model.register_forward_hook(after, with_kwargs=True),
    ]
    try:
        started = time.process_time()
        naive()
        total = time.process_time() - started
    finally:
        for handle in handles:
            handle.remove()
    return {"fast": fast, "naive": naive_phases.summary(total)}


# --------------------------------------------------------------------------------- the comparison
def divergence(
    loaded: Loaded, prompt_ids: list[int], naive_tokens: list[int], fast_tokens: list[int]
) -> dict[str, Any]:
    """Where two greedy token streams part, and the unbatched logit gap between both picks there."""
    import torch

    lm = loaded.lm
    at = 0
    while at < min(len(naive_tokens), len(fast_tokens)) and naive_tokens[at] == fast_tokens[at]:
        at += 1
    info: dict[str, Any] = {"diverge_at_token": at}
    if at >= len(naive_tokens) or at >= len(fast_tokens):
        info["cause"] = (
            "one stream stopped earlier (end of turn or length), the tokens agree up to there"
        )
        return info
    with torch.inference_mode():
        ids = torch.tensor([prompt_ids + naive_tokens[:at]], device=lm.device)
        logits = lm.model(input_ids=ids, logits_to_keep=1).logits[0, -1].float()
    a, b = naive_tokens[at], fast_tokens[at]
    gap = float(logits[a] - logits[b])
    info.update(
        {
            "naive_token": lm.tokenizer.decode([a]),
            "fast_token": lm.tokenizer.decode([b]),
            "logit_gap": round(gap, 6),
            "cause": "near tie between two tokens: batching/padding changes float rounding"
            if abs(gap) < 1e-2
            else "the logits differ by more than rounding: check the fast path",
        }
    )
    return info


def run(
    loaded: Loaded,
    dataset: Any,
    *,
    items: int = 16,
    gen_items: int = 16,
    shots: int = 4,
    steps: int = 2,
    max_new_tokens: int = 128,
    repeats: int = 2,
    seed: int = 0,
    quiet: bool = False,
    label_scoring: bool = True,
    generation: bool = True,
    cloze: bool = True,
    phases: bool = False,
) -> dict[str, Any]:
    """Both comparisons; returns the figures (the bench's JSON line)."""
    from core.evaluation import build_context
    from core.token_ids import label_continuations, shared_prefix

    renderer = loaded.renderer
    pool = list(dataset.pool)
    demo_shots = random.Random(seed).sample(pool, min(shots, len(pool)))
    figures: dict[str, Any] = {
        "bench": "eval_speed",
        "model": loaded.model_ref,
        "device": loaded.device,
        "dtype": loaded.dtype,
        "dataset": dataset.name,
        "shots": len(demo_shots),
        "batch_size": loaded.lm.batch_size,
        "repeats": repeats,
    }
    same: list[bool] = []

    if label_scoring:
        test = list(dataset.test[:items])
        context = build_context("io", demo_shots, {}, keywords=4, steps=steps)
        prompts = [
            label_continuations(
                renderer.encode, renderer.render(context.messages_for(renderer, s)).text, s.labels
            )[0]
            for s in test
        ]
        prefix = shared_prefix(prompts)
        total = sum(len(p) for p in prompts)
        own = sum(len(p) - len(prefix) for p in prompts)
        bound = total / own
        say(
            f"label scoring (io): {len(test)} items, context {len(prefix)} tokens, items {own / len(test):.1f} tokens on average, bound {bound:.2f}x",
            quiet=quiet,
        )
        pairing, naive, fast = interleave(
            lambda: naive_label_scoring(loaded, context, test),
            lambda: fast_evaluate(loaded, context, test, max_new_tokens),
            repeats=repeats,
            device=loaded.device,
            on_repeat=lambda r, b, f: say(
                f"  repeat {r + 1}: naive {b:.2f}s  fast {f:.2f}s  ({b / f:.2f}x)", quiet=quiet
            ),
        )
        naive_preds = [n["pred"] for n in naive]
        fast_preds = [p.pred for p in fast]
        differ = []
        for item, n, p in zip(test, naive, fast, strict=True):
            if n["pred"] != p.pred:
                ranked = sorted(n["scores"], reverse=True)
                differ.append(
                    {
                        "id": item.id,
                        "naive": n["pred"],
                        "fast": p.pred,
                        "naive_top2_log_prob_gap": round(ranked[0] - ranked[1], 6),
                    }
                )
        speedup = pairing.ratio
        figures.update(
            {
                "items_label_scoring": len(test),
                "context_tokens": len(prefix),
                "item_tokens_mean": round(own / len(test), 2),
                "speedup_label_scoring": round(speedup, 3),
                "bound_label_scoring": round(bound, 3),
                "fraction_of_bound": round(speedup / bound, 3),
                "same_predictions_label_scoring": naive_preds == fast_preds,
                "label_scoring_differences": differ,
                "timings_label_scoring": pairing.summary(),
            }
        )
        same.append(naive_preds == fast_preds)
        say(
            f"  speedup {speedup:.2f}x = {speedup / bound:.0%} of the bound; same predictions: {naive_preds == fast_preds}",
            quiet=quiet,
        )
        if phases:
            figures["phases_label_scoring"] = breakdown(
                loaded,
                context,
                test,
                max_new_tokens,
                lambda: naive_label_scoring(loaded, context, test),
            )
            say(f"  fast path by phase: {figures['phases_label_scoring']}", quiet=quiet)

    if cloze:
        figures.update(
            cloze_cost.measure(
                loaded, dataset, items=items, shots=shots, repeats=repeats, seed=seed, quiet=quiet
            )
        )
        same.append(figures["same_predictions_cloze"])

    if generation:
        test = list(dataset.test[:gen_items])
        rationales = {s.id: demo_rationale(s, steps) for s in demo_shots}
        context = build_context("ph_cot", demo_shots, rationales, keywords=4, steps=steps)
        prompt_ids = [renderer.render(context.messages_for(renderer, s)).ids for s in test]
        say(
            f"generation (ph_cot, {steps} steps): {len(test)} items, prompts {sum(map(len, prompt_ids)) / len(test):.0f} tokens on average, max {max_new_tokens} new tokens",
            quiet=quiet,
        )
        with GenerationRecorder(loaded.lm) as recorder:
            pairing, naive, fast = interleave(
                lambda: naive_generation(loaded, context, test, max_new_tokens),
                lambda: fast_evaluate(loaded, context, test, max_new_tokens),
                repeats=repeats,
                device=loaded.device,
                on_repeat=lambda r, b, f: say(
                    f"  repeat {r + 1}: naive {b:.2f}s  fast {f:.2f}s  ({b / f:.2f}x)", quiet=quiet
                ),
            )
        first_run = dict(_first_run(recorder.calls, len(test)))
        fast_tokens = [list(first_run[tuple(ids)].token_ids) for ids in prompt_ids]
        naive_preds = [n["pred"] for n in naive]
        fast_preds = [p.pred for p in fast]
        agree = sum(a == b for a, b in zip(naive_preds, fast_preds, strict=True)) / len(test)
        same_tokens = sum(
            _same_stream(n["tokens"], f) for n, f in zip(naive, fast_tokens, strict=True)
        ) / len(test)
        differ = []
        for index, (item, n, p) in enumerate(zip(test, naive, fast, strict=True)):
            if n["pred"] != p.pred:
                entry = {"id": item.id, "naive": n["pred"], "fast": p.pred}
                entry.update(divergence(loaded, prompt_ids[index], n["tokens"], fast_tokens[index]))
                differ.append(entry)
        naive_tokens = sum(len(n["tokens"]) for n in naive)
        fast_generated = sum(len(t) for t in fast_tokens)
        speedup = pairing.ratio
        figures.update(
            {
                "items_generation": len(test),
                "max_new_tokens": max_new_tokens,
                "speedup_generation": round(speedup, 3),
                "agreement_generation": round(agree, 4),
                "same_predictions_generation": naive_preds == fast_preds,
                "same_token_streams_generation": round(same_tokens, 4),
                "generated_tokens_naive": naive_tokens,
                "generated_tokens_fast": fast_generated,
                "parse_failures_naive": sum(n["pred"] is None for n in naive),
                "parse_failures_fast": sum(p.parse_failure for p in fast),
                "generation_differences": differ,
                "timings_generation": pairing.summary(),
            }
        )
        same.append(naive_preds == fast_preds)
        say(
            f"  speedup {speedup:.2f}x; agreement {agree:.0%}; tokens generated: naive {naive_tokens}, fast {fast_generated}",
            quiet=quiet,
        )
        if phases:
            figures["phases_generation"] = breakdown(
                loaded,
                context,
                test,
                max_new_tokens,
                lambda: naive_generation(loaded, context, test, max_new_tokens),
            )
            say(f"  fast path by phase: {figures['phases_generation']}", quiet=quiet)

    figures["same_predictions"] = all(same)
    figures["machine"] = machine()
    return figures


def _first_run(calls: list[list[Any]], count: int) -> list[Any]:
    """The generations of the fast path's first timed run (evaluate may call generate per chunk)."""
    flat: list[Any] = []
    for call in calls:
        flat.extend(call)
        if len(flat) >= count:
            break
    return flat[:count]


def _same_stream(naive: list[int], fast: list[int]) -> bool:
    """The fast path's tokens are the naive loop's, up to where the fast path stopped early."""
    return naive[: len(fast)] == fast


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--items", type=int, default=16, help="test items for label scoring")
    parser.add_argument("--gen-items", type=int, default=16, help="test items for generation")
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2, help="ph_cot steps in the demo rationales")
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=128,
        help="the naive loop's fixed budget (and the fast path's cap)",
    )
    parser.add_argument("--only", choices=("label", "cloze", "generation"), default=None)
    parser.add_argument(
        "--phases",
        action="store_true",
        help="one more fast run, timed by phase (context, items, decoding)",
    )
    args = parser.parse_args(argv)

    loaded, dataset = load_from_args(args)
    figures = run(
        loaded,
        dataset,
        items=args.items,
        gen_items=args.gen_items,
        shots=args.shots,
        steps=args.steps,
        max_new_tokens=args.max_new_tokens,
        repeats=args.repeats,
        seed=args.seed,
        label_scoring=args.only in (None, "label"),
        generation=args.only in (None, "generation"),
        cloze=args.only in (None, "cloze"),
        phases=args.phases,
    )
    if args.json:
        emit_json(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
