"""A rough cost estimate of a build, shown before it starts.

Work is counted in two units: *passes* (a forward pass over a prompt: scoring a candidate, one
KernelSHAP coalition batch row, a label-scored test item) and *steps* (one generated token for a
batch of rows). Seconds come from per-unit costs: assumed defaults for a ~135M model on CPU,
replaced by the costs measured on this machine after each finished build (kept in settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Assumed costs (seconds) for a ~135M-parameter model on a laptop-class CPU.
DEFAULT_PASS_SECONDS = 0.12
DEFAULT_STEP_SECONDS = 0.05
LOAD_SECONDS = 3.0
SELECTION_FACTOR = 3  # candidates scored per shot found (the model is right about 1 in 3)
TYPICAL_ANSWER_STEPS = 40  # generated tokens before "the answer is (X)" stops a test answer
LABEL_SCORED = ("zero_shot", "io")
GENERATION_STEPS = {"ph_cot": 1.0, "auto_cot": 1.0, "self_topk": 0.25}


@dataclass(frozen=True)
class Estimate:
    passes: int
    steps: int
    seconds: float
    measured: bool

    def describe(self) -> str:
        minutes, seconds = divmod(int(round(self.seconds)), 60)
        when = f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
        basis = "measured here" if self.measured else "assumed CPU speed"
        return f"≈ {self.passes:,} passes + {self.steps:,} gen. steps\n≈ {when} ({basis})"


def estimate(config: dict[str, Any], costs: dict[str, float] | None = None) -> Estimate:
    """Count the forward passes and generation steps of a run configuration."""
    methods = list(config.get("methods") or [])
    shots = int(config.get("shots") or 0)
    test = int(config.get("test_limit") or 0)
    batch = max(1, int(config.get("batch_size") or 16))
    shap = int(config.get("shap_samples") or 350)
    rationale_tokens = int(config.get("rationale_tokens") or 128)
    eval_tokens = int(config.get("eval_tokens") or 256)
    needs_shots = any(m != "zero_shot" for m in methods)
    passes = shots * SELECTION_FACTOR if needs_shots else 0
    steps = 0
    for method in methods:
        if method == "kernelshap":
            passes += shots * shap
        elif method == "leave_one_out":
            passes += shots * 40
        elif method == "deeplift":
            passes += shots * 3
        elif method in GENERATION_STEPS:
            steps += int(rationale_tokens * GENERATION_STEPS[method]) * max(1, -(-shots // batch))
        if method in LABEL_SCORED:
            passes += test
        else:
            batches = max(1, -(-test // batch))
            steps += batches * min(eval_tokens, TYPICAL_ANSWER_STEPS * 2)
    costs = costs or {}
    pass_cost = float(costs.get("pass", DEFAULT_PASS_SECONDS))
    step_cost = float(costs.get("step", DEFAULT_STEP_SECONDS))
    seconds = LOAD_SECONDS + passes * pass_cost + steps * step_cost
    return Estimate(passes, steps, seconds, measured=bool(costs))


def calibrate(
    previous: dict[str, float] | None, config: dict[str, Any], seconds: float
) -> dict[str, float]:
    """New per-unit costs after a build of ``config`` took ``seconds`` (scaled, then smoothed)."""
    guess = estimate(config, previous)
    work = guess.seconds - LOAD_SECONDS
    if work <= 0 or seconds <= LOAD_SECONDS:
        return dict(previous or {})
    ratio = max(0.05, min(20.0, (seconds - LOAD_SECONDS) / work))
    base = previous or {"pass": DEFAULT_PASS_SECONDS, "step": DEFAULT_STEP_SECONDS}
    smooth = 0.5 if previous else 1.0
    return {key: base[key] * (1 - smooth + smooth * ratio) for key in ("pass", "step")}
