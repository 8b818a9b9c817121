"""Every export format read back by the library it targets; overwrite refusal; path safety."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from store import export
from store.domain import PromptVersion
from store.errors import StoreError
from store.export import FORMATS, export_prompt
from store.facade import Store
from store.safe_write import child_path, safe_file_name
from tests.store.store_helpers import CHATML, content

LINEAGE = "smollm2.snarks.ph_cot.success.n2"


@pytest.fixture
def version(store: Store) -> PromptVersion:
    return store.save_prompt_version(
        LINEAGE, content(2, context="<|im_start|>system\nAnswer with a letter.<|im_end|>\n")
    )


def chatml_tokenizer():
    """A tiny fast tokenizer built in code, with a ChatML chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = "question yes no step think about the answer is a b with letter".split()
    vocab = {"<unk>": 0, **{w: i + 1 for i, w in enumerate(words)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = CHATML
    return tokenizer


def test_chat_json_is_accepted_by_a_chat_template(version: PromptVersion, tmp_path: Path) -> None:
    path = export_prompt(version, "chat-json", tmp_path / "ctx.json")
    messages = json.loads(path.read_text())
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant"]
    assert all(set(m) == {"role", "content"} for m in messages)
    tokenizer = chatml_tokenizer()
    conversation = [*messages, {"role": "user", "content": "Question 9?\n(A) yes\n(B) no"}]
    text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nAnswer with a letter.<|im_end|>\n")
    assert text.endswith(
        "<|im_start|>user\nQuestion 9?\n(A) yes\n(B) no<|im_end|>\n<|im_start|>assistant\n"
    )
    assert all(m["content"] in text for m in messages)
    ids = tokenizer.apply_chat_template(conversation, tokenize=True, add_generation_prompt=True)
    ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    assert len(ids) > 10


def test_jsonl_one_shot_per_line(version: PromptVersion, tmp_path: Path) -> None:
    path = export_prompt(version, "jsonl", tmp_path / "shots.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["s0", "s1"]
    assert rows[1] == {
        "id": "s1",
        "question": "Question 1?",
        "choices": [{"label": "A", "text": "yes 1"}, {"label": "B", "text": "no 1"}],
        "answer": "B",
        "rationale": "Step 1: think about 1. The answer is (B).",
    }


def test_hf_dataset_opens_with_load_from_disk(version: PromptVersion, tmp_path: Path) -> None:
    import datasets

    path = export_prompt(version, "hf-dataset", tmp_path / "shots-ds")
    table = datasets.load_from_disk(str(path))
    assert table.num_rows == 2
    assert table[0]["question"] == "Question 0?" and table[0]["choices"][1] == {
        "label": "B",
        "text": "no 0",
    }
    assert table[1]["rationale"].startswith("Step 1")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_hf_dataset_of_a_zero_shot_prompt(store: Store, tmp_path: Path) -> None:
    import datasets

    zero = store.save_prompt_version(
        "m.d.zero_shot", {**content(0), "method": "zero_shot", "context": ""}
    )
    table = datasets.load_from_disk(str(export_prompt(zero, "hf-dataset", tmp_path / "empty")))
    assert table.num_rows == 0 and "rationale" in table.column_names


def test_text_and_markdown(version: PromptVersion, tmp_path: Path) -> None:
    text = export_prompt(version, "text", tmp_path / "ctx.txt").read_text()
    assert text == version.context
    markdown = export_prompt(version, "markdown", tmp_path / "ctx.md").read_text()
    assert markdown.startswith(f"# {LINEAGE} v1\n")
    assert (
        "### 2. s1" in markdown and "- (B) no 1" in markdown and "**Rationale:** Step 1" in markdown
    )
    assert "```text\n<|im_start|>system" in markdown


def test_markdown_fences_survive_backticks(store: Store, tmp_path: Path) -> None:
    tricky = store.save_prompt_version("m.d.io", content(1, context="code: ```python\nx```\n"))
    markdown = export.render(tricky, "markdown")
    assert "````text\ncode: ```python\nx```\n````" in markdown


def test_dspy_state_loads_like_dspy_does(version: PromptVersion, tmp_path: Path) -> None:
    state = json.loads(export_prompt(version, "dspy", tmp_path / "demos.json").read_text())
    assert state["metadata"]["dependency_versions"] == {}  # Module.load compares these
    # dspy.Predict reads the state at the top level; dspy.ChainOfThought under "predict"
    for predictor, fields in (
        (state, ["question", "choices", "answer"]),
        (state["predict"], ["question", "choices", "reasoning", "answer"]),
    ):
        assert (
            set(predictor) >= {"traces", "train", "demos", "signature", "lm"}
            and predictor["lm"] is None
        )
        assert predictor["signature"]["instructions"] == "Answer with a letter."
        assert [f["description"] for f in predictor["signature"]["fields"]] == [
            "${" + f + "}" for f in fields
        ]
        demo = predictor["demos"][0]
        assert demo == {
            "question": "Question 0?",
            "choices": "(A) yes 0\n(B) no 0",
            "answer": "A",
            "reasoning": "Step 1: think about 0. The answer is (A).",
            "augmented": True,
        }


def test_dspy_loads_it_when_installed(version: PromptVersion, tmp_path: Path) -> None:
    dspy = pytest.importorskip("dspy")
    path = export_prompt(version, "dspy", tmp_path / "demos.json")
    for program in (
        dspy.Predict("question, choices -> answer"),
        dspy.ChainOfThought("question, choices -> answer"),
    ):
        program.load(str(path))
        assert len(program.predictors()[0].demos) == 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_refuses_to_overwrite_without_force(
    version: PromptVersion, tmp_path: Path, fmt: str
) -> None:
    target = tmp_path / "exports" / f"out-{fmt}"  # the missing parent is created
    export_prompt(version, fmt, target)
    stamp = (
        {p: p.stat().st_mtime_ns for p in target.rglob("*")}
        if target.is_dir()
        else target.read_bytes()
    )
    with pytest.raises(StoreError, match="is an earlier sa-tui export; pass --force"):
        export_prompt(version, fmt, target)
    after = (
        {p: p.stat().st_mtime_ns for p in target.rglob("*")}
        if target.is_dir()
        else target.read_bytes()
    )
    assert after == stamp
    export_prompt(version, fmt, target, force=True)
    assert target.exists()
    assert sorted(p.name for p in target.parent.iterdir()) == [
        f"out-{fmt}"
    ]  # no temporary files left


def test_force_never_replaces_a_symlink_or_its_target(
    version: PromptVersion, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "link.txt"
    link.symlink_to(victim)
    with pytest.raises(StoreError, match="not an unchanged sa-tui export"):
        export_prompt(version, "text", link, force=True)
    assert victim.read_text() == "keep me" and link.is_symlink()


def _tree(folder: Path) -> dict[str, bytes | None]:
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def test_force_never_deletes_a_folder_sa_tui_did_not_write(
    version: PromptVersion, tmp_path: Path
) -> None:
    """The reported data loss: `export --format hf-dataset -o DIR --force` emptied DIR."""
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "notes.md").write_text("my notes")
    (work / "src" / "train.py").write_text("print('hi')")
    before = _tree(work)
    for force in (False, True):
        with pytest.raises(StoreError, match="never replaces what it did not write"):
            export_prompt(version, "hf-dataset", work, force=force)
    assert _tree(work) == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging


def test_force_replaces_only_an_unchanged_earlier_export(
    version: PromptVersion, tmp_path: Path
) -> None:
    folder = tmp_path / "shots"
    export_prompt(version, "hf-dataset", folder)
    marker = json.loads((folder / "sa-tui-export.json").read_text())
    assert marker["format"] == "hf-dataset" and marker["prompt"] == version.ref
    export_prompt(version, "hf-dataset", folder, force=True)  # an earlier export: replaced
    # a file added to the export, or one changed, makes it someone's folder: kept
    (folder / "mine.txt").write_text("added by hand")
    before = _tree(folder)
    with pytest.raises(StoreError, match="not an unchanged sa-tui export"):
        export_prompt(version, "hf-dataset", folder, force=True)
    assert _tree(folder) == before
    (folder / "mine.txt").unlink()
    data_file = next(p for p in folder.iterdir() if p.suffix == ".arrow")
    data_file.write_bytes(data_file.read_bytes() + b"x")
    with pytest.raises(StoreError, match="not an unchanged sa-tui export"):
        export_prompt(version, "hf-dataset", folder, force=True)
    # an export of another format is not replaced either
    other = tmp_path / "ctx.json"
    export_prompt(version, "chat-json", other)
    with pytest.raises(StoreError, match="not an unchanged sa-tui export"):
        export_prompt(version, "dspy", other, force=True)


def test_force_never_overwrites_a_file_sa_tui_did_not_write_or_that_changed(
    version: PromptVersion, tmp_path: Path
) -> None:
    own = tmp_path / "own.md"
    export_prompt(version, "markdown", own)
    export_prompt(version, "markdown", own, force=True)
    own.write_text(own.read_text() + "\nmy edit\n")
    edited = own.read_bytes()
    with pytest.raises(StoreError, match="not an unchanged sa-tui export"):
        export_prompt(version, "markdown", own, force=True)
    assert own.read_bytes() == edited
    users = tmp_path / "report.md"
    users.write_text("the user's report")
    with pytest.raises(StoreError, match="not an unchanged sa-tui export"):
        export_prompt(version, "markdown", users, force=True)
    assert users.read_text() == "the user's report"


def test_an_empty_folder_receives_a_folder_export(version: PromptVersion, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    written = export_prompt(version, "hf-dataset", empty)
    assert written == empty and (empty / "sa-tui-export.json").is_file()


def test_a_folder_target_receives_a_safe_derived_name(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    version = store.save_prompt_version("model/with.slash:and+plus", content())
    written = export_prompt(version, "jsonl", out)
    assert written.parent == out and written.name == "model_with.slash_and+plus@v1.jsonl"
    # even a hostile lineage (not one the store accepts) cannot climb out of the folder
    hostile = PromptVersion(**{**version.__dict__, "lineage": "../../../etc/passwd"})
    written = export_prompt(hostile, "text", out)
    assert written.parent == out and ".." not in written.name


@pytest.mark.parametrize(
    "name", ["../escape.txt", "..", ".", "a/b.txt", "/etc/passwd", "", "x\x00y"]
)
def test_child_path_rejects_traversal(tmp_path: Path, name: str) -> None:
    with pytest.raises(StoreError, match="would not stay inside"):
        child_path(tmp_path, name)


def test_child_path_rejects_a_symlink_leading_out(tmp_path: Path) -> None:
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "sneaky").symlink_to(tmp_path)
    assert child_path(tmp_path / "inner", "ok.txt").name == "ok.txt"
    with pytest.raises(StoreError):
        child_path(tmp_path / "inner", "sneaky")


def test_safe_file_name() -> None:
    assert safe_file_name("../../x y@v1", suffix=".md") == "x_y@v1.md"
    assert safe_file_name("....") == "export"


def test_kind_mismatches_and_unknown_format(version: PromptVersion, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="is a file, not a dataset folder"):
        export_prompt(version, "hf-dataset", tmp_path / "file", force=True)
    with pytest.raises(StoreError, match="unknown export format"):
        export_prompt(version, "yaml", tmp_path / "x.yaml")
    with pytest.raises(StoreError, match="folder, not text"):
        export.render(version, "hf-dataset")


def test_exported_files_have_normal_permissions(version: PromptVersion, tmp_path: Path) -> None:
    path = export_prompt(version, "text", tmp_path / "ctx.txt")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
