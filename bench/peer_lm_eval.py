"""sa-tui's cloze scoring against lm-evaluation-harness (lm-eval), its peer, on the same strings.

For N test items and each context (zero-shot, and the n-shot io context of
``bench/cloze_cost.py``), the bench renders every item's full prompt with sa-tui's renderer
(exactly the text sa-tui scores) and every choice's continuation (``core.cloze``), writes them
as a JSON-lines file with an lm-eval task (``output_type: multiple_choice``, ``target_delimiter:
""``, metrics ``acc`` and ``acc_norm``) into a temporary folder, and runs lm-eval's ``hf`` model
on it in a subprocess with lm-eval's own interpreter (``bench/lm_eval_driver.py``): lm-eval is no
dependency of sa-tui. Both sides load the model once, untimed; each repeat times sa-tui's
``evaluate`` (cloze mode, bytes normalisation, cold prefix cache) and lm-eval's ``evaluate``
(``log_samples=True``), alternating which goes first, on the same device, dtype, batch size and
number of torch threads.

Figures per context: seconds of each side, ``ratio`` = lm-eval / sa-tui (> 1: sa-tui is faster;
the median of the per-repeat ratios on the headline clock, see ``bench/common.py``), the
``agreement`` of the predictions (sa-tui's pick against lm-eval's ``acc_norm`` pick: the sum of
log-probabilities divided by the choice's length, in characters for lm-eval and in bytes for
sa-tui, the same for ASCII text), both accuracies, and for each differing item the two sides'
normalised scores.

    python bench/peer_lm_eval.py [--items 100] [--shots 4] [--contexts zero_shot,io]
        [--repeats 1] [--lm-eval-python /work/lmeval-venv/bin/python] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Loaded,
    Timing,
    add_common_arguments,
    emit_json,
    headline_clock,
    load_from_args,
    machine,
    say,
    synchronize,
)

DRIVER = Path(__file__).resolve().parent / "lm_eval_driver.py"
LM_EVAL_PYTHON_ENV = "SA_TUI_LM_EVAL_PYTHON"
DEFAULT_LM_EVAL_PYTHON = "/work/lmeval-venv/bin/python"
CONTEXTS = ("zero_shot", "io")
HOW_TO_GET_LM_EVAL = (
    "make a separate virtual environment with lm-eval and its Hugging Face backend (python -m "
    "venv /work/lmeval-venv && /work/lmeval-venv/bin/pip install 'lm-eval[hf]' torch; the [hf] "
    "extra brings accelerate, which lm-eval's HFLM needs) and pass its interpreter with "
    f"--lm-eval-python or the {LM_EVAL_PYTHON_ENV} environment variable"
)


# ------------------------------------------------------------------------- the task (pure parts)
WARM_UP = "warm_up"
WARM_UP_ITEMS = 2


def task_name(context: str) -> str:
    return f"sa_tui_peer_{context}"


def task_yaml(name: str, data_file: Path) -> str:
    """An lm-eval task over a JSON-lines file whose rows hold ``prompt`` (the full prompt text),
    ``choices`` (each choice's continuation, its leading space included) and ``gold`` (the
    answer's index). ``target_delimiter: ""`` makes lm-eval score exactly ``prompt + choice``;
    ``doc_to_*`` name fields, so the strings go through no template. JSON strings are YAML."""
    return "\n".join(
        [
            f"task: {name}",
            "dataset_path: json",
            "dataset_kwargs:",
            "  data_files:",
            f"    test: {json.dumps(str(data_file))}",
            "test_split: test",
            "output_type: multiple_choice",
            "doc_to_text: prompt",
            "doc_to_choice: choices",
            "doc_to_target: gold",
            'target_delimiter: ""',
            "num_fewshot: 0",
            "metric_list:",
            "  - metric: acc",
            "    aggregation: mean",
            "    higher_is_better: true",
            "  - metric: acc_norm",
            "    aggregation: mean",
            "    higher_is_better: true",
            "metadata:",
            "  version: 1.0",
            "",
        ]
    )


def write_task(folder: Path, name: str, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``name.jsonl`` (one row an item) and ``name.yaml`` into ``folder``; returns the YAML."""
    folder.mkdir(parents=True, exist_ok=True)
    data_file = (folder / f"{name}.jsonl").resolve()
    with data_file.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(dict(row), ensure_ascii=False) + "\n")
    path = folder / f"{name}.yaml"
    path.write_text(task_yaml(name, data_file), encoding="utf-8")
    return path


def task_rows(renderer: Any, context: Any, items: Sequence[Any]) -> list[dict[str, Any]]:
    """Each item's full prompt as sa-tui renders it, each choice's cloze continuation, the gold."""
    from core.cloze import continuation_text

    return [
        {
            "id": item.id,
            "prompt": renderer.render(context.messages_for(renderer, item)).text,
            "choices": [continuation_text(item, j) for j in range(len(item.choices))],
            "gold": item.labels.index(item.answer),
        }
        for item in items
    ]


def lm_eval_split(
    encode: Callable[[str], list[int]], prompt: str, continuation: str
) -> tuple[list[int], list[int]]:
    """How lm-eval's causal ``hf`` model splits a request into ids (its documented behaviour:
    trailing spaces of the context move to the continuation, the whole text is encoded, and the
    continuation is what follows the context's own encoding)."""
    stripped = prompt.rstrip()
    continuation = prompt[len(stripped) :] + continuation
    context_ids = encode(stripped)
    return context_ids, encode(stripped + continuation)[len(context_ids) :]


def compare(
    ours: Sequence[int],
    theirs: Sequence[int],
    our_scores: Sequence[Sequence[float]] = (),
    their_scores: Sequence[Sequence[float]] = (),
    ids: Sequence[str] = (),
) -> dict[str, Any]:
    """Agreement of two prediction lists (choice indices, item by item) and, for each differing
    item, both sides' normalised scores of the two picks (when given)."""
    if len(ours) != len(theirs):
        raise ValueError(f"{len(ours)} predictions against {len(theirs)}")
    differ = []
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if a == b:
            continue
        entry: dict[str, Any] = {"item": ids[i] if ids else i, "sa_tui": a, "lm_eval": b}
        if our_scores and their_scores:
            entry["sa_tui_scores"] = [round(our_scores[i][a], 6), round(our_scores[i][b], 6)]
            entry["lm_eval_scores"] = [round(their_scores[i][a], 6), round(their_scores[i][b], 6)]
        differ.append(entry)
    same = len(ours) - len(differ)
    return {
        "agreement": round(same / len(ours), 4) if ours else 1.0,
        "same": same,
        "differences": differ,
    }


def max_score_gap(ours: Sequence[Sequence[float]], theirs: Sequence[Sequence[float]]) -> float:
    """The largest difference between the two sides' normalised score of any choice."""
    return max(
        (abs(a - b) for x, y in zip(ours, theirs, strict=True) for a, b in zip(x, y, strict=True)),
        default=0.0,
    )


# ------------------------------------------------------------------------------- lm-eval's side
def lm_eval_python(requested: str | None) -> str:
    return requested or os.environ.get(LM_EVAL_PYTHON_ENV) or DEFAULT_LM_EVAL_PYTHON


def has_lm_eval(python: str) -> bool:
    if not Path(python).is_file():
        return False
    probe = subprocess.run(
        [python, "-c", "import lm_eval.evaluator, lm_eval.models.huggingface"],
        capture_output=True,
        timeout=300,
        check=False,
    )
    return probe.returncode == 0


def model_folder(ref: str) -> Path:
    """The folder ``from_pretrained`` reads for a model reference (a built-in model's converted
    copy under the sa-tui data directory, a folder, or a hub snapshot already downloaded)."""
    from core.errors import ModelError
    from core.models.builtin import ensure_converted
    from core.models.loading import parse_model_ref, resolve_hub

    parsed = parse_model_ref(ref)
    if parsed.kind == "builtin":
        return ensure_converted(parsed.value)
    if parsed.kind == "folder":
        return Path(parsed.value)
    if parsed.kind == "hub":
        return resolve_hub(parsed.value, parsed.revision)
    raise ModelError(f"lm-eval's hf model needs a model folder; {ref!r} is a GGUF file")


class Peer:
    """lm-eval's driver process: model loaded once, one ``run TASK`` at a time."""

    def __init__(
        self,
        python: str,
        *,
        folder: Path,
        device: str,
        dtype: str,
        batch_size: int,
        threads: int,
        include_path: Path,
        scratch: Path,
    ) -> None:
        env = dict(os.environ)
        env.update(
            {
                "HF_DATASETS_OFFLINE": "1",
                "HF_HUB_OFFLINE": "1",
                "HF_DATASETS_CACHE": str(scratch / "hf-datasets"),
                "TOKENIZERS_PARALLELISM": "false",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.log_path = scratch / "lm-eval.log"
        self._log: IO[str] = self.log_path.open("w", encoding="utf-8")
        command = [python, str(DRIVER), "--pretrained", str(folder), "--device", device]
        command += ["--dtype", dtype, "--batch-size", str(batch_size), "--threads", str(threads)]
        command += ["--include-path", str(include_path)]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
        )
        self.ready = self._receive()

    def _receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            raise RuntimeError(f"lm-eval's driver stopped; its log:\n{self.log_tail()}")
        message: dict[str, Any] = json.loads(line)
        if "error" in message:
            raise RuntimeError(f"lm-eval: {message['error']}; its log:\n{self.log_tail()}")
        return message

    def run(self, task: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(f"run {task}\n")
        self.process.stdin.flush()
        return self._receive()

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
                self.process.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self._log.close()


# ----------------------------------------------------------------------------------- sa-tui's side
@dataclass
class Side:
    seconds: tuple[float, float]  # (cpu, wall)
    result: Any


def time_sa_tui(loaded: Loaded, context: Any, items: Sequence[Any]) -> Side:
    import cloze_cost

    synchronize(loaded.device)
    wall, cpu = time.perf_counter(), time.process_time()
    predictions = cloze_cost._evaluate(loaded, context, items, "cloze")  # cold prefix cache
    synchronize(loaded.device)
    return Side((time.process_time() - cpu, time.perf_counter() - wall), predictions)


def time_lm_eval(peer: Peer, task: str) -> Side:
    reply = peer.run(task)
    return Side((float(reply["cpu_s"]), float(reply["wall_s"])), reply)


def measure_context(
    loaded: Loaded,
    peer: Peer,
    context: Any,
    items: Sequence[Any],
    task: str,
    *,
    repeats: int,
    quiet: bool = False,
) -> dict[str, Any]:
    timing = Timing(clock=headline_clock(loaded.device))
    first: dict[str, Side] = {}
    for repeat in range(max(1, repeats)):
        if repeat % 2 == 0:
            ours = time_sa_tui(loaded, context, items)
            theirs = time_lm_eval(peer, task)
        else:
            theirs = time_lm_eval(peer, task)
            ours = time_sa_tui(loaded, context, items)
        first.setdefault("ours", ours)
        first.setdefault("theirs", theirs)
        timing.cpu.baseline.append(theirs.seconds[0])
        timing.cpu.fast.append(ours.seconds[0])
        timing.wall.baseline.append(theirs.seconds[1])
        timing.wall.fast.append(ours.seconds[1])
        index = 0 if timing.clock == "cpu" else 1
        say(
            f"  repeat {repeat + 1}: sa-tui {ours.seconds[index]:.2f}s  lm-eval "
            f"{theirs.seconds[index]:.2f}s  ({theirs.seconds[index] / ours.seconds[index]:.2f}x)",
            quiet=quiet,
        )
    predictions = first["ours"].result
    reply = first["theirs"].result
    peer_predictions = reply["predictions"]
    ours_index = [item.labels.index(p.pred) for item, p in zip(items, predictions, strict=True)]
    theirs_index = [p["acc_norm"] for p in peer_predictions]
    our_scores = [list(p.choice_scores) for p in predictions]
    their_scores = [
        [ll / max(1, len(c)) for ll, c in zip(p["lls"], row_choices(item), strict=True)]
        for p, item in zip(peer_predictions, items, strict=True)
    ]
    compared = compare(
        ours_index, theirs_index, our_scores, their_scores, [item.id for item in items]
    )
    sa_tui_accuracy = sum(p.correct for p in predictions) / len(predictions)
    return {
        "items": len(items),
        "choices": sum(len(item.choices) for item in items),
        "sa_tui_s": round(statistics.median(timing.main.fast), 3),
        "lm_eval_s": round(statistics.median(timing.main.baseline), 3),
        "ratio": round(timing.ratio, 3),
        "agreement": compared["agreement"],
        "sa_tui_accuracy": round(sa_tui_accuracy, 4),
        "lm_eval_acc_norm": reply["acc_norm"],
        "lm_eval_acc": reply["acc"],
        "exact_requests": sum(p["exact_requests"] for p in peer_predictions) / len(items),
        "max_score_gap": round(max_score_gap(our_scores, their_scores), 6),
        "differences": compared["differences"],
        "lm_eval_task_load_s": round(float(reply["load_task_s"]), 3),
        "timings": timing.summary(),
    }


def row_choices(item: Any) -> list[str]:
    from core.cloze import continuation_text

    return [continuation_text(item, j) for j in range(len(item.choices))]


def token_split_mismatches(renderer: Any, rows: Sequence[Mapping[str, Any]]) -> int:
    """Requests whose continuation ids differ between sa-tui's split and lm-eval's."""
    from core.cloze import choice_continuations

    count = 0
    for row in rows:
        _, ours = choice_continuations(renderer.encode, row["prompt"], row["choices"])
        for choice, own in zip(row["choices"], ours, strict=True):
            if lm_eval_split(renderer.encode, row["prompt"], choice)[1] != own:
                count += 1
    return count


def build_contexts(dataset: Any, names: Sequence[str], shots: int, seed: int) -> dict[str, Any]:
    """The cloze contexts of ``bench/cloze_cost.py`` (choices listed, bytes normalisation)."""
    from core.cloze import ClozeFormat
    from core.evaluation import build_context

    pool = list(dataset.pool)
    demo_shots = random.Random(seed).sample(pool, min(shots, len(pool)))
    cloze = ClozeFormat(True, "bytes")
    out = {}
    for name in names:
        chosen = [] if name == "zero_shot" else demo_shots
        out[name] = build_context(name, chosen, {}, keywords=4, steps=1, cloze=cloze)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.set_defaults(repeats=1)
    parser.add_argument("--items", type=int, default=100, help="test items (default: %(default)s)")
    parser.add_argument("--shots", type=int, default=4, help="shots of the io context")
    parser.add_argument(
        "--contexts",
        default=",".join(CONTEXTS),
        help="comma-separated, of zero_shot and io (default: %(default)s)",
    )
    parser.add_argument(
        "--lm-eval-python",
        default=None,
        help=f"an interpreter that imports lm_eval (default: ${LM_EVAL_PYTHON_ENV} or "
        f"{DEFAULT_LM_EVAL_PYTHON})",
    )
    parser.add_argument("--keep", type=Path, default=None, help="write the task files here")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.contexts.split(",") if name.strip()]
    if not names or any(name not in CONTEXTS for name in names):
        parser.error(f"--contexts takes {' and '.join(CONTEXTS)}")

    python = lm_eval_python(args.lm_eval_python)
    if not has_lm_eval(python):
        print(f"lm-eval is not importable by {python}: {HOW_TO_GET_LM_EVAL}.", file=sys.stderr)
        return 2

    import torch

    loaded, dataset = load_from_args(args)
    folder = model_folder(args.model)
    test = list(dataset.test[: args.items])
    contexts = build_contexts(dataset, names, args.shots, args.seed)
    figures: dict[str, Any] = {
        "bench": "peer_lm_eval",
        "model": loaded.model_ref,
        "model_folder": str(folder),
        "device": loaded.device,
        "dtype": loaded.dtype,
        "dataset": dataset.name,
        "shots": args.shots,
        "batch_size": loaded.lm.batch_size,
        "repeats": args.repeats,
    }
    with tempfile.TemporaryDirectory(prefix="sa-tui-peer-") as scratch:
        tasks_dir = args.keep or Path(scratch) / "tasks"
        rows = {}
        for name, context in contexts.items():
            rows[name] = task_rows(loaded.renderer, context, test)
            write_task(tasks_dir, task_name(name), rows[name])
        first = next(iter(contexts))
        write_task(tasks_dir, task_name(WARM_UP), rows[first][:WARM_UP_ITEMS])
        peer = Peer(
            python,
            folder=folder,
            device=loaded.device,
            dtype=loaded.dtype,
            batch_size=loaded.lm.batch_size,
            threads=torch.get_num_threads(),
            include_path=tasks_dir,
            scratch=Path(scratch),
        )
        try:
            figures["lm_eval"] = peer.ready.get("lm_eval")
            figures["lm_eval_torch_threads"] = peer.ready.get("torch_threads")
            # one untimed run of each side on a few items: one-time costs (lazy imports, first
            # allocations) stay out of the timed runs
            time_sa_tui(loaded, contexts[first], test[:WARM_UP_ITEMS])
            time_lm_eval(peer, task_name(WARM_UP))
            for name, context in contexts.items():
                choices = sum(len(r["choices"]) for r in rows[name])
                say(f"cloze ({name}): {len(test)} items, {choices} choices", quiet=False)
                result = measure_context(
                    loaded, peer, context, test, task_name(name), repeats=args.repeats
                )
                result["token_split_mismatches"] = token_split_mismatches(
                    loaded.renderer, rows[name]
                )
                figures[name] = result
                say(
                    f"  items {result['items']}, choices {result['choices']}: sa-tui "
                    f"{result['sa_tui_s']:.2f}s, lm-eval {result['lm_eval_s']:.2f}s, ratio "
                    f"lm-eval/sa-tui {result['ratio']:.2f}x ({result['timings']['clock']} time); "
                    f"agreement {result['agreement']:.0%}; accuracy sa-tui "
                    f"{result['sa_tui_accuracy']:.2f}, lm-eval acc_norm "
                    f"{result['lm_eval_acc_norm']:.2f} (acc {result['lm_eval_acc']:.2f})",
                    quiet=False,
                )
                for entry in result["differences"]:
                    say(f"    differs: {entry}", quiet=False)
        finally:
            peer.close()
    figures["machine"] = machine()
    if args.json:
        emit_json(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
