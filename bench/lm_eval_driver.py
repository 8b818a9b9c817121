"""lm-evaluation-harness's side of ``bench/peer_lm_eval.py``, run by the interpreter of a separate
virtual environment that has lm-eval installed (sa-tui does not depend on it, nor this file on
sa-tui).

It loads lm-eval's ``hf`` model (``HFLM``) once, prints one ready line, then reads commands on
standard input, one a line:

- ``run TASK``: load the task TASK from ``--include-path`` (untimed), time
  ``lm_eval.evaluator.evaluate`` on it with ``log_samples=True`` (wall clock and this process's
  CPU time), and print one line: the seconds, the accuracies, and each document's predictions
  read from the logged samples' responses;
- ``quit`` (or the end of input): exit.

Protocol lines are JSON objects on the original standard output; anything else lm-eval or
transformers print goes to standard error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO


def first_best(values: Sequence[float]) -> int:
    """Index of the highest value, the first one on a tie (as ``numpy.argmax``)."""
    return max(range(len(values)), key=lambda i: (values[i], -i))


def log_likelihood(response: Any) -> float:
    """The log-likelihood in one request's response: ``resps`` holds, per request, a list of
    ``(log-likelihood, is-greedy)`` pairs (one per repeat); ``filtered_resps`` the pair itself."""
    while (
        isinstance(response, (list, tuple)) and response and isinstance(response[0], (list, tuple))
    ):
        response = response[0]
    return float(response[0])


def read_predictions(
    samples: Iterable[Mapping[str, Any]],
    *,
    text_field: str = "prompt",
    choices_field: str = "choices",
) -> list[dict[str, Any]]:
    """Per document (by ``doc_id``): each choice's log-likelihood, the ``acc`` pick (highest sum)
    and the ``acc_norm`` pick (highest sum / the choice's length in characters, lm-eval's
    normalisation), and whether the scored requests were exactly (prompt, choice) pairs."""
    out = []
    for sample in sorted(samples, key=lambda s: int(s["doc_id"])):
        doc = sample["doc"]
        choices = list(doc[choices_field])
        lls = [log_likelihood(r) for r in sample["resps"]]
        if len(lls) != len(choices):
            raise ValueError(
                f"document {sample['doc_id']}: {len(lls)} responses, {len(choices)} choices"
            )
        normalised = [ll / max(1, len(c)) for ll, c in zip(lls, choices, strict=True)]
        requests = [tuple(a) for a in sample.get("arguments", [])]
        wanted = [(doc[text_field], c) for c in choices]
        out.append(
            {
                "doc_id": int(sample["doc_id"]),
                "lls": lls,
                "acc": first_best(lls),
                "acc_norm": first_best(normalised),
                "exact_requests": [tuple(r[:2]) for r in requests] == wanted,
            }
        )
    return out


def _metric(results: Mapping[str, Any], task: str, name: str) -> float | None:
    values = results.get("results", {}).get(task, {})
    for key in (f"{name},none", name):
        if key in values:
            return float(values[key])
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pretrained", required=True, help="a model folder from_pretrained reads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--include-path", required=True, help="folder of the task YAML files")
    args = parser.parse_args(argv)

    protocol: TextIO = sys.stdout
    sys.stdout = sys.stderr  # whatever the libraries print stays off the protocol stream

    def send(message: Mapping[str, Any]) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    import lm_eval
    from lm_eval.evaluator import evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    started = time.perf_counter()
    lm = HFLM(
        pretrained=args.pretrained,
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
    )
    manager = TaskManager(include_path=args.include_path)
    send(
        {
            "ready": True,
            "load_s": round(time.perf_counter() - started, 3),
            "lm_eval": getattr(lm_eval, "__version__", None) or _version("lm_eval"),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "pid": os.getpid(),
        }
    )
    for line in sys.stdin:
        command, _, task = line.strip().partition(" ")
        if command == "quit":
            break
        if command != "run" or not task:
            send({"error": f"unknown command {line.strip()!r}"})
            continue
        try:
            loading = time.perf_counter()
            task_dict = manager.load([task])  # a fresh task each run: its requests start empty
            load_task_s = time.perf_counter() - loading
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            wall, cpu = time.perf_counter(), time.process_time()
            results = evaluate(lm=lm, task_dict=task_dict, log_samples=True)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            assert results is not None
            send(
                {
                    "task": task,
                    "wall_s": wall,
                    "cpu_s": cpu,
                    "load_task_s": load_task_s,
                    "acc": _metric(results, task, "acc"),
                    "acc_norm": _metric(results, task, "acc_norm"),
                    "predictions": read_predictions(results["samples"][task]),
                }
            )
        except Exception as error:  # reported to the bench, which stops with the message
            send({"error": f"{type(error).__name__}: {error}"})
    return 0


def _version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
