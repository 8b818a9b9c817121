"""The cost of cloze scoring, measured in one run (part of ``bench/eval_speed.py``):

- ``cloze_vs_label_cost``: time of cloze scoring (every choice's text after "The answer is")
  divided by label scoring (the label tokens after "The answer is ("), same items and the same
  n-shot io context with the choices listed. Target: at most 1.5.
- ``speedup_cloze``: the naive way (one full forward per choice: context + question + choice,
  batch 1, no cache) over sa-tui's (context cached once, the items' turns in one pass, all
  choices of a batch of items in one more), with the same predictions.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from common import Loaded, interleave, say


def _evaluate(loaded: Loaded, context: Any, items: Sequence[Any], mode: str) -> list[Any]:
    from core.cache import MemoryCache
    from core.cloze import ClozeFormat
    from core.evaluation import EvalSettings, evaluate
    from core.workbench import Workbench

    loaded.lm.forget_prefix()  # every timed run starts cold: the context is part of the cost
    bench = Workbench(
        lm=loaded.lm, renderer=loaded.renderer, model_key="bench", cache=MemoryCache()
    )
    settings = EvalSettings(answer_mode=mode, cloze=ClozeFormat(True, "bytes"))
    return evaluate(bench, context, items, settings).predictions


def naive_cloze(loaded: Loaded, context: Any, items: Sequence[Any]) -> list[str]:
    """One uncached forward of the whole prompt plus choice, per choice."""
    import torch

    from core.cloze import ChoiceScore, choice_continuations, continuation_text
    from core.token_ids import best_label

    renderer, model = loaded.renderer, loaded.lm.model
    predictions = []
    for item in items:
        prompt = renderer.render_text(context.messages_for(renderer, item))
        texts = [continuation_text(item, j) for j in range(len(item.choices))]
        ids, continuations = choice_continuations(renderer.encode, prompt, texts)
        scores = []
        for text, continuation in zip(texts, continuations, strict=True):
            full = torch.tensor([ids + continuation], device=loaded.lm.device)
            with torch.inference_mode():
                logits = model(input_ids=full, use_cache=False).logits[0].float()
            log_probs = torch.log_softmax(loaded.lm._apply_softcap(logits), dim=-1)
            total = sum(
                float(log_probs[len(ids) - 1 + t, token]) for t, token in enumerate(continuation)
            )
            scores.append(
                ChoiceScore(total, len(continuation), len(text.encode())).normalised("bytes")
            )
        predictions.append(best_label(item.labels, scores))
    return predictions


def measure(
    loaded: Loaded,
    dataset: Any,
    *,
    items: int,
    shots: int,
    repeats: int,
    seed: int,
    quiet: bool = False,
) -> dict[str, Any]:
    from core.cloze import ClozeFormat
    from core.evaluation import build_context

    pool = list(dataset.pool)
    demo_shots = random.Random(seed).sample(pool, min(shots, len(pool)))
    test = list(dataset.test[:items])
    label_context = build_context("io", demo_shots, {}, keywords=4, steps=1)
    cloze_context = build_context(
        "io", demo_shots, {}, keywords=4, steps=1, cloze=ClozeFormat(True, "bytes")
    )
    choices = sum(len(item.choices) for item in test) / len(test)
    say(f"cloze scoring (io): {len(test)} items, {choices:.1f} choices each", quiet=quiet)
    against_label, _, cloze = interleave(
        lambda: _evaluate(loaded, cloze_context, test, "cloze"),
        lambda: _evaluate(loaded, label_context, test, "parse"),
        repeats=repeats,
        device=loaded.device,
        on_repeat=lambda r, c, lab: say(
            f"  repeat {r + 1}: cloze {c:.2f}s  label {lab:.2f}s  ({c / lab:.2f}x)", quiet=quiet
        ),
    )
    against_naive, naive, fast = interleave(
        lambda: naive_cloze(loaded, cloze_context, test),
        lambda: _evaluate(loaded, cloze_context, test, "cloze"),
        repeats=repeats,
        device=loaded.device,
        on_repeat=lambda r, b, f: say(
            f"  repeat {r + 1}: naive cloze {b:.2f}s  fast {f:.2f}s  ({b / f:.2f}x)", quiet=quiet
        ),
    )
    same = naive == [p.pred for p in fast]
    say(
        f"  cloze costs {against_label.ratio:.2f}x label scoring; {against_naive.ratio:.2f}x "
        f"faster than the naive way; same predictions: {same}",
        quiet=quiet,
    )
    return {
        "items_cloze": len(test),
        "choices_per_item": round(choices, 2),
        "cloze_vs_label_cost": round(against_label.ratio, 3),
        "speedup_cloze": round(against_naive.ratio, 3),
        "same_predictions_cloze": same,
        "timings_cloze_vs_label": against_label.summary(),
        "timings_cloze": against_naive.summary(),
    }
