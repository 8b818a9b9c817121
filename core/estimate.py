"""A rough cost estimate of a build, shown before it starts.

Work is counted in two units: *passes* (a forward pass over a prompt: scoring a candidate, one
KernelSHAP coalition batch row, a label-scored test item) and *steps* (one generated token for a
batch of rows). Seconds come from per-unit costs: assumed defaults for a ~135M model on CPU,
replaced by the costs measured on this machine after each finished build (kept in settings).

Two things the work count cannot see are given by the caller: the model's load time (measured
here, or a first use that converts a built-in model's GGUF file, or already loaded in the worker)
and reuse (a finished run of the same configuration is stored: only the model loads, everything
else is read back).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Assumed costs (seconds) for a ~135M-parameter model on a laptop-class CPU.
DEFAULT_PASS_SECONDS = 0.12
DEFAULT_STEP_SECONDS = 0.05
LOAD_SECONDS = 3.0  # loading a model with no measurement yet
CONVERT_SECONDS = 60.0  # a built-in model's first use converts its GGUF file ("under a minute")
REUSED_SECONDS = 1.0  # reading a finished run's results back from the store
SELECTION_FACTOR = 3  # candidates scored per shot found (the model is right about 1 in 3)
TYPICAL_ANSWER_STEPS = 40  # generated tokens before "the answer is (X)" stops a test answer
LABEL_SCORED = ("zero_shot", "io")
GENERATION_STEPS = {"ph_cot": 1.0, "auto_cot": 1.0, "self_topk": 0.25}


LOAD_BASES = ("assumed", "measured", "convert-measured", "convert-assumed", "loaded")


def duration(seconds: float) -> str:
    """``1 min 25 s``, ``14 s``."""
    minutes, rest = divmod(int(round(seconds)), 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min {rest:02d} s" if rest else f"{minutes} min"


@dataclass(frozen=True)
class Estimate:
    passes: int
    steps: int
    seconds: float
    measured: bool  # the per-unit costs were measured on this machine
    load_seconds: float = LOAD_SECONDS
    load_basis: str = "assumed"  # one of LOAD_BASES
    reused: bool = False  # a finished run of this configuration is stored

    def describe(self) -> str:
        work = f"≈ {self.passes:,} passes + {self.steps:,} gen. steps"
        if self.reused:
            return (
                f"{work}\n≈ {duration(self.seconds)}: a finished run of these settings is "
                f"reused ({self.load_text()})"
            )
        basis = "measured here" if self.measured else "assumed CPU speed"
        load = self.load_text() if self.load_basis == "loaded" else f"incl. {self.load_text()}"
        return f"{work}\n≈ {duration(self.seconds)} ({basis})\n{load}"

    def load_text(self) -> str:
        """How long getting the model ready takes, and how that is known, in a few words."""
        load = duration(self.load_seconds)
        return {
            "measured": f"model load {load}, measured",
            "assumed": f"model load ≈ {load}, assumed",
            "convert-measured": f"{load} first-use conversion (measured)",
            "convert-assumed": f"≈ {load} first-use conversion",
            "loaded": "model already loaded in the worker",
        }.get(self.load_basis, f"model load {load}")


def estimate(
    config: dict[str, Any],
    costs: dict[str, float] | None = None,
    *,
    load_seconds: float | None = None,
    load_basis: str | None = None,
    reused: bool = False,
) -> Estimate:
    """Count the forward passes and generation steps of a run configuration.

    ``load_seconds`` and ``load_basis`` (see ``LOAD_BASES``) say how long getting the model ready
    takes; by default an assumed ``LOAD_SECONDS``. ``reused``: a finished run of this exact
    configuration is stored, so the estimate is the load alone (plus reading the results back).
    """
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
    if load_basis == "loaded":
        load = 0.0
    elif load_seconds is not None:
        load = max(0.0, float(load_seconds))
    else:
        load = CONVERT_SECONDS if load_basis == "convert-assumed" else LOAD_SECONDS
    basis = load_basis if load_basis in LOAD_BASES else "assumed"
    work = 0.0 if reused else passes * pass_cost + steps * step_cost
    seconds = load + (REUSED_SECONDS if reused else work)
    return Estimate(passes, steps, seconds, bool(costs), load, basis, reused)


def calibrate(
    previous: dict[str, float] | None,
    config: dict[str, Any],
    seconds: float,
    *,
    load_seconds: float = LOAD_SECONDS,
) -> dict[str, float]:
    """New per-unit costs after a build of ``config`` took ``seconds``, of which
    ``load_seconds`` went to getting the model ready (scaled, then smoothed)."""
    guess = estimate(config, previous, load_seconds=0.0, load_basis="measured")
    work = guess.seconds
    if work <= 0 or seconds <= load_seconds:
        return dict(previous or {})
    ratio = max(0.05, min(20.0, (seconds - load_seconds) / work))
    base = previous or {"pass": DEFAULT_PASS_SECONDS, "step": DEFAULT_STEP_SECONDS}
    smooth = 0.5 if previous else 1.0
    return {key: base[key] * (1 - smooth + smooth * ratio) for key in ("pass", "step")}
