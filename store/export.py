"""Exporting a prompt version to the formats other tools read.

Formats (``FORMATS``):

- ``jsonl``: one JSON object per shot, no header line, so any JSON-lines reader (including
  ``datasets.load_dataset("json")``) sees a clean table: ``id, question, choices [{label, text}],
  answer, rationale`` (``rationale`` is null for plain input-output shots).
- ``markdown``: a readable page: the version's facts, instruction, shots and the context text.
- ``text``: the rendered context exactly as the model sees it (``content["context"]``).
- ``chat-json``: the OpenAI-style messages list ``[{"role": "system"|"user"|"assistant",
  "content": str}, ...]``: the n-shot context without the test question; append your question
  as a final user message and pass it to a chat template or a chat-completions API.
- ``hf-dataset``: a folder written by ``datasets.Dataset.save_to_disk`` (one row per shot, the
  ``jsonl`` columns), opened by ``datasets.load_from_disk``.
- ``dspy``: a DSPy state file (the JSON that ``Module.save(path.json)`` writes and
  ``Module.load`` reads) whose demos are the shots with fields ``question``, ``choices`` (the
  lettered options as text), ``reasoning`` (the rationale) and ``answer``, and whose signature
  instructions are the version's instruction. The file holds the state twice, so that both
  ``dspy.Predict("question, choices -> answer").load(path)`` (which reads a Predict state at the
  top level) and ``dspy.ChainOfThought("question, choices -> answer").load(path)`` (which reads
  it under ``predict``, with the ``reasoning`` field) work; ``metadata.dependency_versions`` is
  empty, so DSPy warns about no version mismatch. Checked against DSPy 3.4.1.

Keyword methods' versions (deeplift, kernelshap, leave_one_out, random, self_topk, amplify) also
carry each shot's faithfulness, read from the version's latest score that measured it
(:func:`version_faithfulness`): ``jsonl`` and ``hf-dataset`` rows gain ``comprehensiveness`` and
``sufficiency`` (AOPC over k = 1..K, core/faithfulness.py) and ``faithfulness_k``; ``markdown``
shows them under each rationale. Other versions' rows are unchanged.

Writing never leaves the path given and is atomic. An existing target is replaced only when it
is an unchanged earlier sa-tui export of the same format and ``force`` is given (see
:mod:`store.export_marks`); anything else there is refused, ``force`` or not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core.atomic import write_text_atomic
from store.domain import PromptVersion
from store.errors import StoreError
from store.export_marks import is_own_file, is_own_folder, record_file, write_folder_marker
from store.safe_write import child_path, prepare_target, safe_file_name, write_dir_atomic

FORMATS = ("jsonl", "markdown", "text", "chat-json", "hf-dataset", "dspy")
SUFFIXES = {
    "jsonl": ".jsonl",
    "markdown": ".md",
    "text": ".txt",
    "chat-json": ".json",
    "hf-dataset": "",
    "dspy": ".json",
}


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise StoreError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


Faithfulness = Mapping[str, Mapping[str, Any]]  # shot id -> its figures (core/faithfulness.py)
FAITHFULNESS_COLUMNS = ("comprehensiveness", "sufficiency", "faithfulness_k")


def version_faithfulness(scores: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Per shot id, the faithfulness recorded with the newest of ``scores`` (a version's score
    records) that has it; empty for methods without keywords."""
    for score in sorted(scores, key=lambda s: (s.created_at, s.id), reverse=True):
        extra = score.extra if isinstance(score.extra, dict) else {}
        measured = extra.get("faithfulness")
        shots = measured.get("shots") if isinstance(measured, dict) else None
        if isinstance(shots, list):
            return {str(s.get("id")): dict(s) for s in shots if isinstance(s, dict)}
    return {}


# ------------------------------------------------------------------------------------ rows
def shot_rows(
    version: PromptVersion, faithfulness: Faithfulness | None = None
) -> list[dict[str, Any]]:
    """One row per shot: id, question, choices [{label, text}], answer, rationale (and, given
    the version's ``faithfulness``, comprehensiveness, sufficiency and faithfulness_k)."""
    rows: list[dict[str, Any]] = []
    for index, shot in enumerate(version.shots):
        choices = shot.get("choices") or []
        rows.append(
            {
                "id": str(shot.get("id", index)),
                "question": str(shot.get("question", "")),
                "choices": [
                    {"label": str(choice.get("label", "")), "text": str(choice.get("text", ""))}
                    for choice in choices
                    if isinstance(choice, dict)
                ],
                "answer": str(shot.get("answer", "")),
                "rationale": None if shot.get("rationale") is None else str(shot["rationale"]),
            }
        )
        if faithfulness:
            figures = faithfulness.get(str(rows[-1]["id"])) or {}
            rows[-1].update(
                comprehensiveness=_number(figures.get("comprehensiveness")),
                sufficiency=_number(figures.get("sufficiency")),
                faithfulness_k=int(figures["k"]) if figures.get("k") is not None else None,
            )
    return rows


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def chat_messages(version: PromptVersion) -> list[dict[str, str]]:
    """The stored context messages; built from instruction and shots if none were stored."""
    stored = version.messages
    if stored:
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in stored]
    messages: list[dict[str, str]] = []
    if version.instruction:
        messages.append({"role": "system", "content": version.instruction})
    for row in shot_rows(version):
        messages.append({"role": "user", "content": _question_text(row)})
        answer = f"The answer is ({row['answer']})."
        messages.append(
            {
                "role": "assistant",
                "content": f"{row['rationale']} {answer}" if row["rationale"] else answer,
            }
        )
    return messages


def _question_text(row: dict[str, Any]) -> str:
    options = "\n".join(f"({c['label']}) {c['text']}" for c in row["choices"])
    return f"{row['question']}\n{options}" if options else row["question"]


# ------------------------------------------------------------------------------------ renderers
def render_jsonl(version: PromptVersion, faithfulness: Faithfulness | None = None) -> str:
    rows = shot_rows(version, faithfulness)
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def render_text(version: PromptVersion) -> str:
    text = version.context
    if not text:
        text = "\n\n".join(f"{m['role']}: {m['content']}" for m in chat_messages(version))
    return text if text.endswith("\n") else text + "\n"


def render_chat_json(version: PromptVersion) -> str:
    return json.dumps(chat_messages(version), ensure_ascii=False, indent=2) + "\n"


def _fence(text: str) -> str:
    longest, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def render_markdown(version: PromptVersion, faithfulness: Faithfulness | None = None) -> str:
    lines = [f"# {version.lineage} v{version.version}", ""]
    facts = [
        ("method", version.method),
        ("model", version.model),
        ("dataset", version.dataset),
        ("shots", str(version.n_shots)),
        ("aliases", ", ".join(version.aliases)),
        ("content hash", version.content_hash[:16]),
        ("created", version.created_at.isoformat(timespec="seconds")),
    ]
    lines += ["| | |", "|---|---|"]
    lines += [f"| {key} | {_cell(value)} |" for key, value in facts if value]
    if version.instruction:
        lines += ["", "## Instruction", "", version.instruction]
    rows = shot_rows(version, faithfulness)
    if rows:
        lines += ["", "## Shots"]
        for number, row in enumerate(rows, 1):
            lines += ["", f"### {number}. {row['id']}", "", row["question"], ""]
            lines += [f"- ({c['label']}) {c['text']}" for c in row["choices"]]
            lines += ["", f"**Answer:** {row['answer']}"]
            if row["rationale"]:
                lines += ["", f"**Rationale:** {row['rationale']}"]
            if row.get("comprehensiveness") is not None:
                lines += ["", _faithfulness_text(row)]
    context = version.context
    if context:
        fence = _fence(context)
        lines += ["", "## Context", "", f"{fence}text", context.rstrip("\n"), fence]
    return "\n".join(lines) + "\n"


def _faithfulness_text(row: dict[str, Any]) -> str:
    k = row.get("faithfulness_k") or 1
    return (
        f"**Faithfulness** (AOPC over k = 1..{k}; higher comprehensiveness and lower sufficiency "
        f"are more faithful): comprehensiveness {row['comprehensiveness']:.3f}, "
        f"sufficiency {row['sufficiency']:.3f}"
    )


def _cell(value: str) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _choices_text(row: dict[str, Any]) -> str:
    return "\n".join(f"({c['label']}) {c['text']}" for c in row["choices"])


def dspy_state(version: PromptVersion) -> dict[str, Any]:
    demos = []
    for row in shot_rows(version):
        demo: dict[str, Any] = {
            "question": row["question"],
            "choices": _choices_text(row),
            "answer": row["answer"],
        }
        if row["rationale"]:
            demo["reasoning"] = row["rationale"]
            demo["augmented"] = True  # DSPy's mark for demos that carry generated fields
        demos.append(demo)
    instruction = (
        version.instruction
        or "Answer the multiple-choice question with the label of the right choice."
    )

    def field(prefix: str, name: str) -> dict[str, str]:
        return {"prefix": prefix, "description": "${" + name + "}"}

    def predictor(fields: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "traces": [],
            "train": [],
            "demos": demos,
            "signature": {"instructions": instruction, "fields": fields},
            "lm": None,
        }

    plain = [
        field("Question:", "question"),
        field("Choices:", "choices"),
        field("Answer:", "answer"),
    ]
    with_reasoning = [plain[0], plain[1], field("Reasoning:", "reasoning"), plain[2]]
    return {
        **predictor(plain),  # dspy.Predict saves and loads its state at the top level
        "predict": predictor(with_reasoning),  # dspy.ChainOfThought keeps it under "predict"
        "metadata": {
            "dependency_versions": {},
            "sa_tui": {"prompt": version.ref, "content_hash": version.content_hash},
        },
    }


def render_dspy(version: PromptVersion) -> str:
    return json.dumps(dspy_state(version), ensure_ascii=False, indent=2) + "\n"


TEXT_RENDERERS = {
    "jsonl": render_jsonl,
    "markdown": render_markdown,
    "text": render_text,
    "chat-json": render_chat_json,
    "dspy": render_dspy,
}


def render(version: PromptVersion, fmt: str, faithfulness: Faithfulness | None = None) -> str:
    """The export as text (every format but hf-dataset), e.g. for the clipboard."""
    check_format(fmt)
    if fmt not in TEXT_RENDERERS:
        raise StoreError(f"the {fmt} format is a folder, not text; export it to a path instead")
    if fmt == "jsonl":
        return render_jsonl(version, faithfulness)
    if fmt == "markdown":
        return render_markdown(version, faithfulness)
    return TEXT_RENDERERS[fmt](version)


def default_name(version: PromptVersion, fmt: str) -> str:
    """A file name derived from the version (used when the target is an existing folder)."""
    return safe_file_name(f"{version.lineage}@v{version.version}", suffix=SUFFIXES[fmt])


def _write_hf_dataset(
    version: PromptVersion, folder: Path, faithfulness: Faithfulness | None = None
) -> None:
    try:
        import datasets
    except ImportError:  # pragma: no cover - a declared dependency
        raise StoreError("the hf-dataset export needs the datasets package") from None
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "question": datasets.Value("string"),
            "choices": datasets.List(
                {"label": datasets.Value("string"), "text": datasets.Value("string")}
            ),
            "answer": datasets.Value("string"),
            "rationale": datasets.Value("string"),
            **(
                {
                    "comprehensiveness": datasets.Value("float64"),
                    "sufficiency": datasets.Value("float64"),
                    "faithfulness_k": datasets.Value("int64"),
                }
                if faithfulness
                else {}
            ),
        }
    )
    rows = shot_rows(version, faithfulness)
    columns = {
        name: [row[name] for row in rows] for name in features
    }  # keeps the schema when empty
    table = datasets.Dataset.from_dict(columns, features=features)
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # no bar on the terminal (or under the TUI)
    try:
        table.save_to_disk(str(folder), num_shards=1)  # one shard, also when empty
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def export_prompt(
    version: PromptVersion,
    fmt: str,
    path: Path,
    *,
    force: bool = False,
    faithfulness: Faithfulness | None = None,
) -> Path:
    """Write ``version`` in format ``fmt`` to ``path``; return the path written. ``faithfulness``:
    the version's per-shot figures (:func:`version_faithfulness`), for keyword methods.

    For the file formats, an existing folder as ``path`` receives a file named after the version
    (``<lineage>@v<N>.<ext>``). For ``hf-dataset``, ``path`` is the dataset folder itself.
    """
    check_format(fmt)
    given = Path(path).expanduser()
    if fmt == "hf-dataset":
        target = prepare_target(
            given, force=force, folder=True, is_own=lambda p: is_own_folder(p, fmt)
        )

        def build(staging: Path) -> None:
            _write_hf_dataset(version, staging, faithfulness)
            write_folder_marker(staging, fmt, version.ref)

        return write_dir_atomic(target, build)
    if given.is_dir() and not given.is_symlink():
        given = child_path(given, default_name(version, fmt))
    target = prepare_target(given, force=force, folder=False, is_own=lambda p: is_own_file(p, fmt))
    write_text_atomic(target, render(version, fmt, faithfulness))
    record_file(target, fmt, version.ref)
    return target
