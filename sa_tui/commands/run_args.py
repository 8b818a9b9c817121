"""The run settings that ``sa-tui run`` and ``sa-tui experiment`` share: their flags, and the
keyword arguments of :class:`core.config.RunConfig` they become (torch-free)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sa_tui.commands.common import open_store

METHODS_HELP = (
    "zero_shot, io, auto_cot, deeplift, kernelshap, self_topk, ph_cot, leave_one_out, random, "
    "counterfactual, amplify (needs --proxy-model)"
)


def add_run_settings(parser: argparse.ArgumentParser) -> None:
    """Every run flag but the grid's axes (model, dataset, strategy, shots, seed)."""
    parser.add_argument(
        "--balance-labels",
        action="store_true",
        help="spread the shots over the gold labels (in the seeded order)",
    )
    parser.add_argument(
        "--search",
        type=int,
        default=1,
        metavar="K",
        help="try K shot sets, keep the best on a dev split of the pool (never the test items); "
        "default 1: no search",
    )
    parser.add_argument(
        "--dev-size",
        type=int,
        default=50,
        help="pool questions held out to score the --search candidates and --influence "
        "(default 50)",
    )
    parser.add_argument(
        "--influence",
        action="store_true",
        help="per shot: the dev accuracy of each context without that shot, and its influence "
        "(accuracy with it minus without it) on the --dev-size dev split of the pool",
    )
    parser.add_argument(
        "--proxy-model",
        metavar="REF",
        help="amplify: the second model that picks and explains the shots (e.g. builtin:gemma3-270m)",
    )
    parser.add_argument("--method", help=f"comma-separated methods: {METHODS_HELP}")
    parser.add_argument(
        "--keywords", type=int, default=4, help="k, keywords per keyword rationale (default 4)"
    )
    parser.add_argument(
        "--steps", type=int, default=3, help="p, steps of a ph_cot rationale (default 3)"
    )
    parser.add_argument(
        "--test-limit", type=int, default=50, help="number of test items scored (default 50)"
    )
    parser.add_argument(
        "--shap-samples",
        type=int,
        default=350,
        help="KernelSHAP coalitions per shot; with adaptive sampling, the most (default 350)",
    )
    parser.add_argument(
        "--shap-fixed",
        action="store_true",
        help="KernelSHAP scores all --shap-samples coalitions (default: adaptive, it stops once "
        "the top-k words are stable)",
    )
    parser.add_argument(
        "--rationale-tokens",
        type=int,
        default=128,
        help="max new tokens of a generated rationale (default 128)",
    )
    parser.add_argument(
        "--eval-tokens",
        type=int,
        default=256,
        help="max new tokens when a test answer is generated (default 256)",
    )
    parser.add_argument(
        "--answer-mode",
        default="parse",
        choices=("parse", "label", "cloze"),
        help="parse 'answer is (X)' from the generation; label: score the labels after 'answer is ('; "
        "cloze: score each choice's text after 'answer is' by its length-normalised log-likelihood "
        "(default parse)",
    )
    parser.add_argument(
        "--cloze-choices",
        default="hidden",
        choices=("listed", "hidden"),
        help="cloze mode: show the question alone, or list its lettered choices (default hidden: "
        "higher zero-shot accuracy on the selection pools, see bench/cloze_format.py)",
    )
    parser.add_argument(
        "--cloze-norm",
        default="bytes",
        choices=("bytes", "tokens", "none"),
        help="cloze mode: divide a choice's log-likelihood by its length in bytes or tokens, or not "
        "(default bytes)",
    )
    parser.add_argument(
        "--span",
        default="auto",
        choices=("auto", "question", "question+choices", "question+gold"),
        help="the words that attributions explain: the question alone, with every choice's text, "
        "or with the gold answer's text (default auto: chosen per dataset layout, see the README)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=16,
        help="items per forward pass; halves itself on out-of-memory (default 16)",
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    parser.add_argument(
        "--dtype", help="float32, bfloat16, float16 (default: bfloat16 on GPU, float32 on CPU)"
    )
    parser.add_argument(
        "--field-map", help="for dataset files: id=...,question=...,choices=a|b|c,answer=..."
    )
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow a model that ships its own Python code (auto_map); recorded in the run",
    )


def catalogued_models(names: Sequence[str | None]) -> list[str | None]:
    """Each model given by a catalogue name or alias (`sa-tui models alias`) as its ref, so a
    run records the ref; other references are kept as given. Reads the catalogue only if it
    exists (nothing is created)."""
    from core.errors import SaTuiError
    from store.engine import default_db_path

    if not any(_may_be_a_name(name) for name in names) or not default_db_path().exists():
        return list(names)
    try:
        with open_store(reading=True) as store:
            return [
                (store.catalogued_ref(name) or name) if name and _may_be_a_name(name) else name
                for name in names
            ]
    except SaTuiError:  # a damaged or locked store: the run's own store check says so
        return list(names)


def _may_be_a_name(ref: str | None) -> bool:
    """Not a built-in, a path on disk or an explicit scheme: maybe a catalogue name or alias."""
    return bool(ref) and ":" not in str(ref) and not Path(str(ref)).expanduser().exists()


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The RunConfig keyword arguments of :func:`add_run_settings`'s flags."""
    return {
        "methods": tuple(m.strip() for m in (args.method or "").split(",") if m.strip()),
        "keywords": args.keywords,
        "steps": args.steps,
        "test_limit": args.test_limit,
        "shap_samples": args.shap_samples,
        "shap_adaptive": not getattr(args, "shap_fixed", False),
        "rationale_tokens": args.rationale_tokens,
        "eval_tokens": args.eval_tokens,
        "answer_mode": args.answer_mode,
        "cloze_choices": args.cloze_choices,
        "cloze_norm": args.cloze_norm,
        "batch_size": args.batch_size,
        "device": args.device,
        "dtype": args.dtype,
        "field_map": args.field_map,
        "trust_remote_code": args.trust_remote_code,
        "proxy_model": args.proxy_model,
        "balance_labels": args.balance_labels,
        "search": args.search,
        "dev_size": args.dev_size,
        "influence": args.influence,
        "span": args.span,
    }
