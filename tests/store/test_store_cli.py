"""The catalogue commands, called through a small argparse built here from each module's
``register`` (cli.py wires the same functions): outputs, exit codes, one-line errors, and bad
input leaving the database unchanged."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from core.paths import data_dir
from sa_tui.commands import datasets, export, models, prompts, runs
from store.facade import Store
from tests.store.store_helpers import content, db_dump, make_model_folder

LINEAGE = "tiny.snarks.ph_cot.success.n2"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="sa-tui")
    subparsers = root.add_subparsers(dest="command", required=True)
    for module in (models, datasets, runs, prompts, export):
        module.register(subparsers)
    return root


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    args = parser().parse_args(list(argv))
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def db() -> Path:
    return data_dir() / "sa-tui.db"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def mc_rows(count: int) -> list[dict]:
    return [
        {
            "id": f"q{i}",
            "question": f"What is {i}?",
            "choices": {"label": ["A", "B", "C"], "text": ["x", "y", "z"]},
            "answer": "ABC"[i % 3],
        }
        for i in range(count)
    ]


@pytest.fixture
def filled(_isolated_home: Path) -> str:
    """A store with one finished run, two versions of a lineage, and a score."""
    with Store.open() as store:
        run = store.start_run(
            {"model": "builtin:smollm2-135m", "dataset": "builtin:snarks", "methods": ["ph_cot"]},
            versions={},
            device="cpu",
        )
        store.put("selection", "k", {"sample_id": "s0"}, run_id=run.id)
        v1 = store.save_prompt_version(LINEAGE, content(2, context="first\n"), run_id=run.id)
        store.save_prompt_version(LINEAGE, content(2, context="second\n"), run_id=run.id)
        store.save_score(v1.id, run_id=run.id, metric="accuracy", value=0.5, n=10, ci95=(0.2, 0.8))
        store.finish_run(run.id, "done")
        store.list_models()  # seed the built-ins
        return run.id


# ------------------------------------------------------------------------------------ models
def test_models_add_list_verify_rm(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "my-model")
    code, out, _ = cli(capsys, "models", "add", str(folder), "--name", "mine")
    assert code == 0 and out.startswith("added mine (safetensors, 24 parameters")
    code, out, _ = cli(capsys, "models", "list")
    assert (
        code == 0
        and "mine" in out
        and "smollm2-135m" in out
        and "on disk (shared files counted once)" in out
    )
    code, out, _ = cli(capsys, "models", "list", "--format", "json")
    listed = json.loads(out)
    assert {m["name"] for m in listed} == {"mine", "smollm2-135m"}
    code, out, _ = cli(capsys, "models", "verify", "mine")
    assert code == 0 and out.startswith("ok: ")
    (folder / "model.safetensors").write_bytes(b"\0" * 16)
    code, out, _ = cli(capsys, "models", "verify", "mine", "--format", "json")
    assert code == 1 and json.loads(out)["ok"] is False
    code, out, _ = cli(capsys, "models", "rm", "mine", "--dry-run")
    assert code == 0 and "would remove mine" in out and f"kept {folder}" in out
    code, out, _ = cli(capsys, "models", "rm", "mine")
    assert code == 0 and folder.is_dir()
    code, _, err = cli(capsys, "models", "verify", "mine")
    assert code == 2 and err.startswith("error: there is no model 'mine'") and err.count("\n") == 1


def test_models_bad_input_is_one_line_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, filled: str
) -> None:
    pickled = make_model_folder(tmp_path / "pickled", weights=False)
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04")
    no_tokenizer = make_model_folder(tmp_path / "no-tokenizer", tokenizer=False)
    before = db_dump(db())
    for source, message in (
        (str(pickled), "only pickle weights"),
        (str(no_tokenizer), "no tokenizer files"),
        (str(tmp_path / "absent"), "does not exist"),
    ):
        code, out, err = cli(capsys, "models", "add", source)
        assert (
            code == 2
            and out == ""
            and message in err
            and err.count("\n") == 1
            and "Traceback" not in err
        )
    assert db_dump(db()) == before
    code, out, _ = cli(capsys, "models", "add", str(pickled), "--allow-pickle")
    assert code == 0 and "added pickled (pickle" in out


def test_models_add_refuses_remote_code_unless_trusted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, filled: str
) -> None:
    from store.model_files import remote_code_refusal

    folder = make_model_folder(tmp_path / "custom")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_x.XForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    before = db_dump(db())
    code, out, err = cli(capsys, "models", "add", str(folder))
    assert (code, out) == (2, "")
    assert err == f"error: {remote_code_refusal(folder.resolve())}\n"
    assert db_dump(db()) == before
    code, out, err = cli(capsys, "models", "add", str(folder), "--trust-remote-code")
    assert code == 0, err
    assert "each run of it needs sa-tui run --trust-remote-code" in out
    code, out, _ = cli(capsys, "models", "list", "--format", "json")
    [entry] = [m for m in json.loads(out) if m["name"] == "custom"]
    assert entry["details"]["trust_remote_code"] is True


def test_models_verify_compares_until_rehashed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, filled: str
) -> None:
    folder = make_model_folder(tmp_path / "my-model")
    assert cli(capsys, "models", "add", str(folder), "--name", "mine")[0] == 0
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    before = db_dump(db())
    for _ in range(2):  # the first verify after tampering takes nothing as a baseline
        code, out, _ = cli(capsys, "models", "verify", "mine")
        assert code == 1
        assert out == "problem: model.safetensors does not match its recorded sha256 checksum\n"
    assert db_dump(db()) == before
    code, out, _ = cli(capsys, "models", "verify", "mine", "--rehash")
    assert code == 0 and out.startswith("re-baselined mine: recorded the current sha256 of 1 ")
    code, out, _ = cli(capsys, "models", "verify", "mine", "--format", "json")
    assert code == 0 and json.loads(out)["ok"] is True
    with pytest.raises(SystemExit):  # argparse: not allowed with each other
        cli(capsys, "models", "verify", "mine", "--rehash", "--no-checksums")


# ------------------------------------------------------------------------------------ datasets
def test_datasets_add_list_rm(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "tiny-mc.jsonl", mc_rows(30))
    code, out, err = cli(capsys, "datasets", "add", str(path))
    assert code == 0, err
    assert out.startswith("added tiny-mc: 30 rows")
    code, out, _ = cli(capsys, "datasets", "list", "--format", "json")
    entry = next(d for d in json.loads(out) if d["name"] == "tiny-mc")
    assert entry["rows"] == 30 and entry["splits"]["pool"] + entry["splits"]["test"] == 30
    assert (
        entry["kind"] == "file"
        and entry["ref"] == str(path.resolve())
        and len(entry["checksum"]) == 64
    )
    assert {d["name"] for d in json.loads(out)} >= {"snarks", "arc-challenge", "tiny-mc"}
    # the same data gives the same checksum; a field map is recorded
    renamed = write_jsonl(
        tmp_path / "renamed.jsonl",
        [
            {"qid": r["id"], "q": r["question"], "opts": r["choices"], "gold": r["answer"]}
            for r in mc_rows(30)
        ],
    )
    code, out, err = cli(
        capsys,
        "datasets",
        "add",
        str(renamed),
        "--name",
        "mapped",
        "--field-map",
        "id=qid,question=q,choices=opts,answer=gold",
        "--format",
        "json",
    )
    assert code == 0, err
    mapped = json.loads(out)
    assert mapped["checksum"] == entry["checksum"] and mapped["field_map"]["spec"].startswith(
        "id=qid"
    )
    code, out, _ = cli(capsys, "datasets", "list")
    assert "tiny-mc" in out and "mapped" in out
    code, out, _ = cli(capsys, "datasets", "rm", "mapped")
    assert code == 0 and renamed.is_file()
    code, _, err = cli(capsys, "datasets", "rm", "mapped")
    assert code == 2 and "no dataset 'mapped'" in err


def test_datasets_builtin(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "datasets", "add", "builtin:snarks", "--format", "json")
    assert code == 0, err
    entry = json.loads(out)
    assert entry["name"] == "snarks" and entry["rows"] == 181 and entry["kind"] == "builtin"


def _unknown_answer(tmp_path: Path) -> Path:
    rows = mc_rows(20)
    rows[3]["answer"] = "Z"
    return write_jsonl(tmp_path / "bad-answer.jsonl", rows)


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    return path


def _not_utf8(tmp_path: Path) -> Path:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(
        json.dumps(mc_rows(1)[0]).replace("What", "Qu\\u00e9").encode()
        + b"\n"
        + '{"question": "caf\xe9"}\n'.encode("latin-1")
    )
    return path


def _not_json(tmp_path: Path) -> Path:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"question": "x",\n')
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_unknown_answer, "answer key 'Z'"),
        (_empty, "empty"),
        (_not_utf8, "not UTF-8"),
        (_not_json, ""),
    ],
)
def test_bad_datasets_are_refused_and_change_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, filled: str, make, message: str
) -> None:
    path = make(tmp_path)
    before = db_dump(db())
    code, out, err = cli(capsys, "datasets", "add", str(path))
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert db_dump(db()) == before


def test_datasets_bad_field_map(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, filled: str
) -> None:
    path = write_jsonl(tmp_path / "ok.jsonl", mc_rows(10))
    before = db_dump(db())
    code, _, err = cli(capsys, "datasets", "add", str(path), "--field-map", "colour=blue")
    assert code == 2 and "unknown field map key" in err
    assert db_dump(db()) == before


# ------------------------------------------------------------------------------------ runs
def test_runs_list_and_show(capsys: pytest.CaptureFixture[str], filled: str) -> None:
    code, out, _ = cli(capsys, "runs", "list")
    assert code == 0 and filled in out and "done" in out and "ph_cot" in out
    code, out, _ = cli(capsys, "runs", "list", "--format", "json")
    assert [r["id"] for r in json.loads(out)] == [filled]
    code, out, _ = cli(capsys, "runs", "show", filled, "--format", "json")
    shown = json.loads(out)
    assert shown["records"]["selection"] == 1 and len(shown["prompt_versions"]) == 2
    assert shown["scores"][0]["prompt"] == f"{LINEAGE}@v1" and shown["scores"][0]["value"] == 0.5
    code, out, _ = cli(capsys, "runs", "show", filled[:4])
    assert code == 0 and f"run {filled}  done" in out and f"{LINEAGE}@v1" in out
    code, out, _ = cli(capsys, "runs", "list", "--status", "failed")
    assert code == 0 and "no runs" in out
    code, _, err = cli(capsys, "runs", "show", "nope")
    assert code == 2 and "there is no run 'nope'" in err


# ------------------------------------------------------------------------------------ prompts
def test_prompts_list_show_diff_alias(capsys: pytest.CaptureFixture[str], filled: str) -> None:
    code, out, _ = cli(capsys, "prompts", "list", "--format", "json")
    listed = json.loads(out)
    assert [p["ref"] for p in listed] == [f"{LINEAGE}@v2", f"{LINEAGE}@v1"]
    assert listed[1]["score"]["value"] == 0.5 and listed[0]["aliases"] == ["latest"]
    code, out, _ = cli(capsys, "prompts", "list", "--lineages", "--format", "json")
    assert [(s["lineage"], s["versions"]) for s in json.loads(out)] == [(LINEAGE, 2)]
    code, out, _ = cli(capsys, "prompts", "list", "--search", "snarks")
    assert code == 0 and f"{LINEAGE}@v2" in out
    code, out, _ = cli(capsys, "prompts", "show", LINEAGE)
    assert code == 0 and out.startswith(f"{LINEAGE}@v2") and out.rstrip().endswith("second")
    code, out, _ = cli(capsys, "prompts", "show", f"{LINEAGE}@v1", "--format", "json")
    assert json.loads(out)["content"]["context"] == "first\n"
    code, out, _ = cli(capsys, "prompts", "diff", f"{LINEAGE}@v1", LINEAGE)
    assert code == 0 and "-first" in out and "+second" in out
    code, out, _ = cli(capsys, "prompts", "alias", LINEAGE, "best", "v1")
    assert code == 0 and out.strip() == f"{LINEAGE}@best -> v1"
    code, out, _ = cli(capsys, "prompts", "show", f"{LINEAGE}@best", "--format", "json")
    assert json.loads(out)["version"] == 1
    before = db_dump(db())
    code, _, err = cli(capsys, "prompts", "alias", LINEAGE, "v3", "1")
    assert code == 2 and "not a valid alias" in err
    code, _, err = cli(capsys, "prompts", "show", "tiny.snarks.ph_cot.success.n3")
    assert code == 2 and f"did you mean {LINEAGE}" in err
    assert db_dump(db()) == before


# ------------------------------------------------------------------------------------ export
def test_export(capsys: pytest.CaptureFixture[str], tmp_path: Path, filled: str) -> None:
    target = tmp_path / "ctx.json"
    code, out, _ = cli(
        capsys, "export", f"{LINEAGE}@latest", "--format", "chat-json", "-o", str(target)
    )
    assert code == 0 and out.strip().endswith(str(target))
    assert json.loads(target.read_text())[0]["role"] == "system"
    code, _, err = cli(capsys, "export", LINEAGE, "--format", "chat-json", "-o", str(target))
    assert code == 2 and "is an earlier sa-tui export; pass --force" in err
    code, _, _ = cli(
        capsys, "export", LINEAGE, "--format", "chat-json", "-o", str(target), "--force"
    )
    assert code == 0
    code, _, err = cli(
        capsys, "export", "missing.lineage", "--format", "text", "-o", str(tmp_path / "x.txt")
    )
    assert code == 2 and "no prompt lineage" in err and not (tmp_path / "x.txt").exists()
    code, out, _ = cli(
        capsys, "export", LINEAGE, "--format", "hf-dataset", "-o", str(tmp_path / "ds")
    )
    assert code == 0 and (tmp_path / "ds" / "dataset_info.json").is_file()
