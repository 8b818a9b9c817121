"""Library logs and warnings go to a file in ``<data dir>/logs``, never to the user's terminal
(the worker's stdout is its protocol stream; a headless run's terminal shows only sa-tui)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from core.paths import logs_dir

QUIET_LIBRARIES = {
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "TQDM_DISABLE": "1",
}


def log_to_file(name: str) -> Path:
    """Send the root logger and Python warnings to ``logs/<name>``; return its path."""
    path = logs_dir() / name
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    # a log write that fails (a full disk) must never print a traceback on the user's terminal
    logging.raiseExceptions = False
    for variable, value in QUIET_LIBRARIES.items():
        os.environ.setdefault(variable, value)
    return path
