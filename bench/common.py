"""Shared set-up of the benchmarks: arguments, model loading, interleaved timing, JSON output.

Every figure a benchmark prints is a ratio between a baseline and the fast path measured in the
same process, on the same inputs, alternating which one runs first in each repeat; the reported
ratio is the median of the per-repeat ratios, so that load from other processes on a shared
machine disturbs both sides alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/x.py` from a checkout, without installing
    sys.path.insert(0, str(ROOT))

DEFAULT_MODEL = "builtin:smollm2-135m"
DEFAULT_DATASET = "builtin:commonsense-qa"


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help="model reference (default: %(default)s)"
    )
    parser.add_argument(
        "--dataset", default=DEFAULT_DATASET, help="dataset reference (default: %(default)s)"
    )
    parser.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:1 or auto (default: %(default)s)"
    )
    parser.add_argument("--dtype", default="auto", help="float32, bfloat16, float16 or auto")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: on a small shared machine a second thread stalls "
        "whenever another process holds the other core; 0: torch's default)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=16,
        help="fast path's batch size (default: %(default)s, sa-tui's default)",
    )
    parser.add_argument(
        "--repeats", type=int, default=2, help="timed repeats of each side, interleaved"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="end with one JSON line of all figures")


@dataclass
class Loaded:
    lm: Any  # core.lm.LanguageModel
    renderer: Any  # core.prompts.PromptRenderer
    device: str
    dtype: str
    model_ref: str


def load(
    model_ref: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int = 16,
    threads: int = 0,
) -> Loaded:
    """Load a model the way the worker does and wrap it in LanguageModel and PromptRenderer."""
    import torch

    from core.lm import LanguageModel
    from core.models import load_model
    from core.prompts import PromptRenderer

    if threads > 0:
        torch.set_num_threads(threads)
    loaded = load_model(
        model_ref,
        device=None if device == "auto" else device,
        dtype=None if dtype == "auto" else dtype,
    )
    lm = LanguageModel(loaded.model, loaded.tokenizer, batch_size=batch_size)
    return Loaded(
        lm=lm,
        renderer=PromptRenderer(loaded.tokenizer),
        device=loaded.device,
        dtype=loaded.dtype,
        model_ref=model_ref,
    )


def load_from_args(args: argparse.Namespace) -> tuple[Loaded, Any]:
    """The model and dataset named by the common arguments."""
    from core.datasets import load_dataset

    loaded = load(
        args.model,
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
        threads=args.threads,
    )
    return loaded, load_dataset(args.dataset)


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


@dataclass
class Pairing:
    """Seconds of each side in each repeat; ratio = baseline / fast (> 1: the fast path wins)."""

    baseline: list[float] = field(default_factory=list)
    fast: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [b / f for b, f in zip(self.baseline, self.fast, strict=True) if f > 0]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios) if self.ratios else float("nan")

    def extend(self, other: Pairing) -> None:
        self.baseline.extend(other.baseline)
        self.fast.extend(other.fast)

    def inverted(self) -> Pairing:
        return Pairing(list(self.fast), list(self.baseline))

    def summary(self) -> dict[str, Any]:
        return {
            "baseline_s": [round(s, 4) for s in self.baseline],
            "fast_s": [round(s, 4) for s in self.fast],
            "ratios": [round(r, 3) for r in self.ratios],
        }


@dataclass
class Timing:
    """The same repeats on two clocks: the process's CPU time and the wall clock."""

    cpu: Pairing = field(default_factory=Pairing)
    wall: Pairing = field(default_factory=Pairing)
    clock: str = "wall"  # the one the headline ratio uses

    @property
    def main(self) -> Pairing:
        return self.cpu if self.clock == "cpu" else self.wall

    @property
    def ratio(self) -> float:
        return self.main.ratio

    def extend(self, other: Timing) -> None:
        self.cpu.extend(other.cpu)
        self.wall.extend(other.wall)
        self.clock = other.clock

    def inverted(self) -> Timing:
        return Timing(self.cpu.inverted(), self.wall.inverted(), self.clock)

    def summary(self) -> dict[str, Any]:
        return {
            "clock": self.clock,
            "cpu": self.cpu.summary(),
            "wall": self.wall.summary(),
            "ratio_cpu": round(self.cpu.ratio, 3),
            "ratio_wall": round(self.wall.ratio, 3),
        }


def headline_clock(device: str) -> str:
    """CPU time of the process on a CPU run with one thread (what an idle machine's wall clock
    would show; insensitive to other processes taking turns on the cores), else the wall clock."""
    import torch

    return "cpu" if device == "cpu" and torch.get_num_threads() == 1 else "wall"


def interleave(
    baseline: Callable[[], Any],
    fast: Callable[[], Any],
    *,
    repeats: int,
    device: str = "cpu",
    on_repeat: Callable[[int, float, float], None] | None = None,
) -> tuple[Timing, Any, Any]:
    """Time both sides ``repeats`` times, alternating which runs first; returns the timings (on
    both clocks) and the first result of each side. ``on_repeat`` gets the headline clock's."""
    timing = Timing(clock=headline_clock(device))
    first: dict[str, Any] = {}

    def timed(name: str, fn: Callable[[], Any]) -> tuple[float, float]:
        synchronize(device)
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        synchronize(device)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        first.setdefault(name, result)
        return cpu, wall

    for repeat in range(max(1, repeats)):
        if repeat % 2 == 0:
            b = timed("baseline", baseline)
            f = timed("fast", fast)
        else:
            f = timed("fast", fast)
            b = timed("baseline", baseline)
        timing.cpu.baseline.append(b[0])
        timing.cpu.fast.append(f[0])
        timing.wall.baseline.append(b[1])
        timing.wall.fast.append(f[1])
        if on_repeat is not None:
            index = 0 if timing.clock == "cpu" else 1
            on_repeat(repeat, b[index], f[index])
    return timing, first["baseline"], first["fast"]


def machine() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:  # pragma: no cover
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on every platform
        pass
    return info


def say(message: str, *, quiet: bool = False) -> None:
    if not quiet:
        print(message, flush=True)


def emit_json(figures: dict[str, Any]) -> None:
    print(json.dumps(figures, sort_keys=False, separators=(",", ":"), default=str), flush=True)


def workbench(ref: str, args: argparse.Namespace, cache: Any) -> Any:
    """A core Workbench on ``ref`` (``args``: device, dtype, batch_size, threads) with the
    model key a run of it would have, so work stored by runs and benches is shared."""
    import torch

    from core.lm import LanguageModel
    from core.models import load_model
    from core.pipeline import model_key
    from core.prompts import PromptRenderer
    from core.versions import library_versions
    from core.workbench import Workbench

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    loaded = load_model(
        ref,
        device=None if args.device == "auto" else args.device,
        dtype=None if args.dtype == "auto" else args.dtype,
    )
    versions = library_versions()
    return Workbench(
        lm=LanguageModel(loaded.model, loaded.tokenizer, batch_size=args.batch_size),
        renderer=PromptRenderer(loaded.tokenizer),
        model_key=model_key(ref, loaded.info, loaded.device, loaded.dtype, versions),
        cache=cache,
        versions=versions,
    )
