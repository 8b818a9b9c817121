"""The `sa-tui` command: the TUI by default, `run` for headless jobs, and the catalogue commands.

This module stays light: heavy modules are imported inside the handlers, so `sa-tui --help`
starts fast and the UI process never loads torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from sa_tui.commands.run_args import add_run_settings, catalogued_models, settings_from_args

CATALOGUE_COMMANDS = ("experiment", "models", "datasets", "runs", "prompts", "export", "db")


EPILOG = """exit status: 0 done; 2 bad input or usage (one sentence, nothing changed); 1 a run or
command failed once work had begun (the traceback is in the data directory's logs/); 130
interrupted (Ctrl-C or SIGTERM; a run is then resumable with `sa-tui run --resume RUN_ID`)"""


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sa-tui")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sa-tui",
        description="Self-AMPLIFY workbench: improve small language models with their own post hoc explanations. "
        "With no command, opens the terminal UI.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--theme", help="UI theme (sa-dark, sa-light, sa-contrast); remembered")
    parser.add_argument("--version", action="version", version=f"sa-tui {package_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_run_command(subparsers)
    for name in CATALOGUE_COMMANDS:
        try:
            module = importlib.import_module(f"sa_tui.commands.{name}")
        except ImportError:
            continue
        module.register(subparsers)
    return parser


def add_run_command(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run",
        help="run the Self-AMPLIFY protocol headless (select, explain, build, evaluate)",
        description="Select shots, explain them, build each method's n-shot context and score it on the "
        "same test items. Results go to the store; --json also writes them to a file.",
    )
    run.add_argument(
        "--model", help="builtin:smollm2-135m, a model folder, a .gguf file, or a hub id"
    )
    run.add_argument(
        "--dataset",
        help="builtin:snarks (or arc-challenge, commonsense-qa, social-iqa, causal-judgment), a .jsonl/.csv/.parquet file, a datasets folder, or hf:owner/name",
    )
    add_run_settings(run)
    run.add_argument(
        "--strategy",
        default="success",
        choices=("success", "error", "random"),
        help="which pool samples become shots (default success)",
    )
    run.add_argument("--shots", type=int, default=4, help="n, the number of shots (default 4)")
    run.add_argument(
        "--seed", type=int, default=0, help="seed for selection and sampling (default 0)"
    )
    run.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    run.add_argument(
        "--resume", metavar="RUN_ID", help="finish an interrupted run with its stored configuration"
    )
    run.add_argument(
        "--no-store",
        action="store_true",
        help="keep nothing in the store (results only on screen / in --json)",
    )
    run.set_defaults(func=handle_run)


def handle_run(args: argparse.Namespace) -> int:
    from core.config import RunConfig
    from core.errors import SaTuiError
    from jobs.headless import run_headless

    config = None
    if not args.resume:
        missing = [
            flag
            for flag, value in (
                ("--model", args.model),
                ("--dataset", args.dataset),
                ("--method", args.method),
            )
            if not value
        ]
        if missing:
            print(
                f"error: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required (or --resume RUN_ID)",
                file=sys.stderr,
            )
            return 2
        model, proxy_model = catalogued_models([args.model, args.proxy_model])
        config = RunConfig(
            model=str(model),
            dataset=args.dataset,
            strategy=args.strategy,
            shots=args.shots,
            seed=args.seed,
            **{**settings_from_args(args), "proxy_model": proxy_model},
        )
        try:
            config.validate()
        except SaTuiError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    return run_headless(
        config, json_path=args.json, resume=args.resume, use_store=not args.no_store
    )


def launch_tui(args: argparse.Namespace) -> int:
    try:
        app_module = importlib.import_module("sa_tui.app")
    except ImportError as error:
        print(f"error: the terminal UI is not available ({error})", file=sys.stderr)
        return 2
    return int(app_module.run_app(theme=args.theme) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        return launch_tui(args)
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
