"""Adaptive KernelSHAP against the fixed-sample paths, on real shots (``attribution_speed.py
--adaptive``).

For each shot (pool questions of each dataset, in order) three runs with the same bound and seed:
- reference: ``kernelshap(batched=False, adaptive=False)``, one forward per coalition (the
  paper's reference path), ``--samples`` coalitions (run on every ``--reference-every``-th shot only, to keep the job short on a shared CPU: it is
  the slowest path, and its values equal the fixed path's to 1e-5);
- fixed: ``kernelshap(batched=True, adaptive=False)``, the same coalitions as a prefix tree;
  its top-k set is the one the adaptive path is compared with (the reference's, checked on the
  shots where the reference runs);
- adaptive: ``kernelshap(batched=True, adaptive=True)``, at most ``--samples`` coalitions.
The order of the runs rotates from shot to shot. Reported: total time of each path and their
ratios, the share of shots whose adaptive top-k set equals the reference's, the samples used.
The fixed path's coalition scores are kept and the stopping rule replayed on them for other
thresholds (no forward pass), so the trade-off between samples and agreement can be read
without another run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from common import Loaded, headline_clock, say, synchronize  # type: ignore[import-not-found]

THRESHOLDS = (0.8, 0.9, 0.95, 0.99)


def _timed(device: str, fn: Callable[[], Any]) -> tuple[float, float, Any]:
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    synchronize(device)
    return time.process_time() - cpu, time.perf_counter() - wall, result


def _recording_scorer(store: dict[bytes, float]) -> Callable[..., Any]:
    """core.attribution.coalition_scorer, keeping f by mask in ``store``."""
    import numpy as np

    import core.attribution as attribution

    original = attribution.coalition_scorer

    def make(*args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        f = original(*args, **kwargs)

        def g(masks: Any) -> Any:
            scores = f(masks)
            for mask, score in zip(np.asarray(masks), scores, strict=True):
                store[np.asarray(mask, dtype=np.int8).tobytes()] = float(score)
            return scores

        return g

    return make


def _replay(target: Any, store: dict[bytes, float], k: int, samples: int, seed: int) -> list[Any]:
    """The adaptive rule at each threshold on the reference's scores: (samples used, top set)."""
    import numpy as np

    from core.attribution import _sample_seed
    from core.kernel_shap import adaptive_kernel_shap, top_set

    def lookup(masks: Any) -> Any:
        return np.array([store[np.asarray(m, dtype=np.int8).tobytes()] for m in masks])

    out = []
    for threshold in THRESHOLDS:
        result = adaptive_kernel_shap(
            lookup,
            target.words,
            k=k,
            samples=samples,
            seed=_sample_seed(seed, target.sample_id),
            threshold=threshold,
        )
        out.append((result.samples_used, top_set(target.words, result.values, k)))
    return out


def run_adaptive(
    loaded: Loaded,
    datasets: Sequence[Any],
    *,
    shots: int = 20,
    samples: int = 350,
    k: int = 4,
    seed: int = 0,
    reference_every: int = 1,
    quiet: bool = False,
) -> dict[str, Any]:
    import core.attribution as attribution
    from core.attribution import kernelshap
    from core.attribution_target import build_target

    lm, device = loaded.lm, loaded.device
    clock = 0 if headline_clock(device) == "cpu" else 1
    per_dataset = [
        shots // len(datasets) + (i < shots % len(datasets)) for i in range(len(datasets))
    ]
    chosen = [(d.name, s) for d, n in zip(datasets, per_dataset, strict=True) for s in d.pool[:n]]
    totals = dict.fromkeys(
        ("reference", "fixed", "adaptive", "fixed_reference_shots", "adaptive_reference_shots"), 0.0
    )
    rows: list[dict[str, Any]] = []
    replays: list[list[Any]] = []
    for i, (name, sample) in enumerate(chosen):
        target = build_target(lm, loaded.renderer, sample)
        store: dict[bytes, float] = {}
        shap = partial(kernelshap, lm, target, k=k, samples=samples, seed=seed)
        runs: dict[str, Callable[[], Any]] = {
            "fixed": partial(shap, adaptive=False),
            "adaptive": shap,
        }
        if i % reference_every == 0:
            runs["reference"] = partial(shap, batched=False, adaptive=False)
        order = list(runs)
        order = order[i % len(order) :] + order[: i % len(order)]
        seconds: dict[str, float] = {}
        results: dict[str, Any] = {}
        for side in order:
            if side == "fixed":
                saved = attribution.coalition_scorer
                attribution.coalition_scorer = _recording_scorer(store)  # type: ignore[assignment]
                try:
                    timing = _timed(device, runs[side])
                finally:
                    attribution.coalition_scorer = saved  # type: ignore[assignment]
            else:
                timing = _timed(device, runs[side])
            seconds[side], results[side] = timing[clock], timing[2]
            totals[side] += seconds[side]
        if "reference" in seconds:
            totals["fixed_reference_shots"] += seconds["fixed"]
            totals["adaptive_reference_shots"] += seconds["adaptive"]
        ref, ada = results["fixed"], results["adaptive"]
        same = set(ref.top_words) == set(ada.top_words)
        replays.append(
            [
                (used, top == set(ref.top_words))
                for used, top in _replay(target, store, k, samples, seed)
            ]
        )
        row = {
            "dataset": name,
            "id": sample.id,
            "words": len(target.words),
            "seconds": {side: round(s, 3) for side, s in seconds.items()},
            "samples_used": ada.params["samples_used"],
            "samples_max": ada.params["samples_max"],
            "rounds": len(ada.params["rounds"]),
            "stable": ada.params["stable"],
            "same_top_k": same,
            "fixed_top": ref.top_words,
            "adaptive_top": ada.top_words,
        }
        if "reference" in results:
            row["reference_same_top_k"] = set(results["reference"].top_words) == set(ref.top_words)
        rows.append(row)
        say(
            f"{name} {sample.id[:12]} ({row['words']} words): "
            + "  ".join(f"{side} {s:.1f}s" for side, s in seconds.items())
            + f"  adaptive {row['samples_used']}/{row['samples_max']} samples in {row['rounds']} rounds,"
            f" top-{k} {'same' if same else 'DIFFERENT'}",
            quiet=quiet,
        )
    n = len(rows)
    ref_rows = [r for r in rows if "reference" in r["seconds"]]
    figures: dict[str, Any] = {
        "bench": "attribution_speed:adaptive",
        "model": loaded.model_ref,
        "device": device,
        "dtype": loaded.dtype,
        "datasets": [d.name for d in datasets],
        "shots": n,
        "k": k,
        "samples_max": samples,
        "clock": "cpu" if clock == 0 else "wall",
        "seconds": {side: round(s, 2) for side, s in totals.items()},
        "reference_shots": len(ref_rows),
        # each ratio over the shots where both sides ran
        "speedup_adaptive_vs_reference": round(
            totals["reference"] / totals["adaptive_reference_shots"], 3
        )
        if ref_rows
        else None,
        "speedup_adaptive_vs_fixed": round(totals["fixed"] / totals["adaptive"], 3),
        "speedup_fixed_vs_reference": round(
            totals["reference"] / totals["fixed_reference_shots"], 3
        )
        if ref_rows
        else None,
        "top_k_agreement": round(sum(r["same_top_k"] for r in rows) / n, 3),
        "reference_top_k_agreement": round(
            sum(r["reference_same_top_k"] for r in ref_rows) / max(1, len(ref_rows)), 3
        ),
        "mean_samples_used": round(statistics.mean(r["samples_used"] for r in rows), 1),
        "share_stopped_early": round(sum(r["stable"] for r in rows) / n, 3),
        "replay": [
            {
                "threshold": t,
                "mean_samples_used": round(statistics.mean(r[j][0] for r in replays), 1),
                "top_k_agreement": round(sum(r[j][1] for r in replays) / n, 3),
            }
            for j, t in enumerate(THRESHOLDS)
        ],
        "shot_details": rows,
    }
    say(
        f"adaptive KernelSHAP over {n} shots: {figures['speedup_adaptive_vs_reference']}x less "
        f"time than one forward per coalition ({samples} samples, {len(ref_rows)} shots), "
        f"{figures['speedup_adaptive_vs_fixed']}x less than the fixed batched path; "
        f"top-{k} sets identical to the reference's: {figures['top_k_agreement']:.0%}; "
        f"mean samples used {figures['mean_samples_used']} of {samples}",
        quiet=quiet,
    )
    for replay in figures["replay"]:
        say(
            f"  replayed at stability {replay['threshold']}: {replay['mean_samples_used']} samples, "
            f"top-{k} agreement {replay['top_k_agreement']:.0%}",
            quiet=quiet,
        )
    return figures
