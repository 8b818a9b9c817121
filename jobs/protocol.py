"""The JSON-lines protocol between the UI and the worker process (``python -m jobs.worker``).

One message per line, UTF-8 JSON objects with a ``"v"`` protocol version and a ``"type"``.
This module is import-light (standard library only) so the UI process can use it without torch.

Client -> worker:
    submit {job_id, kind: "run", config}   cancel {job_id}   ping {}   shutdown {}
Worker -> client:
    ready {pid, versions}          progress {job_id, stage, done, total, detail}
    tokens {job_id, stage, sample_id, words, scores, top}
    text {job_id, stage, sample_id, text, final}        shots {job_id, shots}
    influence {job_id, method, dev_items, accuracy, shots: [{id, influence, p_value, ...}]}
    faithfulness {job_id, stage, sample_id, method, comprehensiveness, sufficiency, k, unmatched}
    started {job_id, run_id}       saved {job_id, run_id, lineage, version, prompt_version_id,
                                          method, accuracy, n}
    done {job_id, run_id, results} cancelled {job_id, run_id}
    error {job_id, message, hint}  log {level, message}   pong {}
"""

from __future__ import annotations

import json
import uuid
from typing import Any

PROTOCOL_VERSION = 1

# client -> worker
SUBMIT = "submit"
CANCEL = "cancel"
PING = "ping"
SHUTDOWN = "shutdown"
CLIENT_TYPES = (SUBMIT, CANCEL, PING, SHUTDOWN)

# worker -> client
READY = "ready"
PROGRESS = "progress"
TOKENS = "tokens"
TEXT = "text"
SHOTS = "shots"
INFLUENCE = "influence"
FAITHFULNESS = "faithfulness"
STARTED = "started"
SAVED = "saved"
DONE = "done"
CANCELLED = "cancelled"
ERROR = "error"
LOG = "log"
PONG = "pong"
WORKER_TYPES = (
    READY,
    PROGRESS,
    TOKENS,
    TEXT,
    SHOTS,
    INFLUENCE,
    FAITHFULNESS,
    STARTED,
    SAVED,
    DONE,
    CANCELLED,
    ERROR,
    LOG,
    PONG,
)

# Messages that end a job.
FINAL_TYPES = (DONE, CANCELLED, ERROR)

MAX_LINE = 16 * 1024 * 1024  # a line longer than this is refused (a runaway payload, not a message)


class ProtocolError(ValueError):
    """A line that is not a valid message of this protocol version."""


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


def message(kind: str, /, **fields: Any) -> dict[str, Any]:
    """A message dict with the protocol version and type set."""
    return {"v": PROTOCOL_VERSION, "type": kind, **fields}


def encode(msg: dict[str, Any]) -> bytes:
    """One protocol line (ending in a newline). Non-JSON values are turned into strings."""
    if "type" not in msg:
        raise ProtocolError("a message needs a 'type'")
    data = {"v": PROTOCOL_VERSION, **msg}
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode(
        "utf-8"
    )


def decode(line: bytes | str) -> dict[str, Any]:
    """Parse one line; raise ProtocolError (one sentence) when it is not a message we understand."""
    if isinstance(line, bytes):
        if len(line) > MAX_LINE:
            raise ProtocolError(f"a protocol line of {len(line)} bytes is too long")
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("a protocol line is not UTF-8") from None
    line = line.strip()
    if not line:
        raise ProtocolError("an empty protocol line")
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        raise ProtocolError(f"not a JSON message: {line[:80]!r}") from None
    if not isinstance(data, dict):
        raise ProtocolError("a protocol message must be a JSON object")
    version = data.get("v")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version {version!r} is not supported (this side speaks {PROTOCOL_VERSION}); "
            "the UI and the worker come from different sa-tui installs"
        )
    kind = data.get("type")
    if kind not in CLIENT_TYPES and kind not in WORKER_TYPES:
        raise ProtocolError(f"unknown message type {kind!r}")
    return data
