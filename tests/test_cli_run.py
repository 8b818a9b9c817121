"""`sa-tui run` end to end in a subprocess: the JSON contract, determinism, and clean errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import tiny

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_RESULT_FIELDS = {
    "method",
    "accuracy",
    "ci95",
    "n",
    "parse_failures",
    "seconds",
    "context",
    "shots",
    "predictions",
}
TIMING_FIELDS = {"seconds", "eval_seconds", "rationale_seconds"}


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "sa_tui", "run", *args]


def _start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        _command(*args),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _finish(process: subprocess.Popen, timeout: int = 300) -> subprocess.CompletedProcess:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"sa-tui run did not finish in {timeout} s: {err[-2000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMING_FIELDS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


# ------------------------------------------------------------------------------------ e2e, tiny
def _tiny_args(model: Path, dataset: Path, out: Path) -> list[str]:
    return [
        "--model",
        str(model),
        "--dataset",
        str(dataset),
        "--method",
        "zero_shot,io,deeplift,ph_cot",
        "--shots",
        "2",
        "--keywords",
        "2",
        "--steps",
        "1",
        "--test-limit",
        "4",
        "--seed",
        "0",
        "--json",
        str(out),
        "--no-store",
        "--shap-samples",
        "16",
        "--eval-tokens",
        "8",
        "--rationale-tokens",
        "8",
    ]


def test_run_writes_the_json_contract_and_repeats_exactly(
    tiny_model_dir, tiny_dataset_file, tmp_path
) -> None:
    outs = [tmp_path / "out1.json", tmp_path / "out2.json"]
    processes = [_start(_tiny_args(tiny_model_dir, tiny_dataset_file, out)) for out in outs]
    finished = [_finish(p) for p in processes]
    for done in finished:
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Traceback" not in done.stderr
    first, second = (json.loads(out.read_text(encoding="utf-8")) for out in outs)
    assert first["model"] == str(tiny_model_dir) and first["dataset"] == str(tiny_dataset_file)
    assert first["seed"] == 0 and "run_id" not in first
    assert [r["method"] for r in first["results"]] == ["zero_shot", "io", "deeplift", "ph_cot"]
    test_ids = [p["id"] for p in first["results"][0]["predictions"]]
    assert len(test_ids) == 4
    for row in first["results"]:
        assert set(row) >= CONTRACT_RESULT_FIELDS
        assert row["n"] == 4 and 0.0 <= row["accuracy"] <= 1.0
        assert len(row["ci95"]) == 2 and row["ci95"][0] <= row["accuracy"] <= row["ci95"][1]
        assert isinstance(row["parse_failures"], int) and row["seconds"] >= 0
        assert [p["id"] for p in row["predictions"]] == test_ids
        for prediction in row["predictions"]:
            assert set(prediction) == {"id", "gold", "pred", "correct"}
            assert prediction["correct"] == (prediction["pred"] == prediction["gold"])
        assert row["accuracy"] == round(sum(p["correct"] for p in row["predictions"]) / 4, 4)
        if row["method"] == "zero_shot":
            assert row["shots"] == [] and row["parse_failures"] == 0
        else:
            assert len(row["shots"]) == 2 and set(row["shots"][0]) == {"id", "rationale"}
    by_method = {row["method"]: row for row in first["results"]}
    assert [s["rationale"] for s in by_method["io"]["shots"]] == [None, None]
    for shot in by_method["deeplift"]["shots"]:
        assert re.fullmatch(
            r'The 2 keywords "[^"]+" and "[^"]+" are important to predict that the answer is \([A-D]\)',
            shot["rationale"],
        )
        assert shot["rationale"] in by_method["deeplift"]["context"]
    for shot in by_method["ph_cot"]["shots"]:
        assert re.fullmatch(
            r"1-step rationale: .*, therefore the answer is \([A-D]\)", shot["rationale"], re.S
        )
    assert first["selection"]["strategy"] == "success"
    assert _without_timings(first) == _without_timings(second)
    # the table is printed on stdout
    assert "zero_shot" in finished[0].stdout and "ph_cot" in finished[0].stdout


# ------------------------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def bad_label_file(tmp_path_factory) -> Path:
    rows = tiny.mc_rows(12, seed=9)
    rows[4]["answer"] = "F"
    return tiny.write_jsonl(tmp_path_factory.mktemp("bad") / "bad-label.jsonl", rows)


BAD_INPUTS = {
    "unknown model": (["--model", "builtin:nope"], r"unknown built-in model 'builtin:nope'"),
    "unknown dataset": (["--dataset", "builtin:nope"], r"no built-in dataset 'nope'"),
    "more keywords than words": (
        ["--keywords", "50"],
        r"--keywords 50 is more than the \d+ content words",
    ),
    "test limit too large": (
        ["--test-limit", "100000"],
        r"--test-limit 100000 is more than the \d+ test items",
    ),
    "invalid answer label": (
        ["--dataset", "BAD_LABEL"],
        r"row 5: the answer key 'F' is not one of the labels",
    ),
    "unknown method": (["--method", "io,telepathy"], r"unknown method 'telepathy'"),
}


def _bad_args(model: Path, dataset: Path, overrides: list[str]) -> list[str]:
    values = {
        "--model": str(model),
        "--dataset": str(dataset),
        "--method": "io,deeplift",
        "--shots": "2",
        "--keywords": "2",
        "--test-limit": "2",
        "--strategy": "random",
    }
    for flag, value in zip(overrides[::2], overrides[1::2], strict=True):
        values[flag] = value
    return [*(item for pair in values.items() for item in pair), "--no-store"]


def _check_one_sentence(name: str, code: int, stderr: str) -> None:
    pattern = BAD_INPUTS[name][1]
    assert code != 0, f"{name}: exit code 0"
    assert "Traceback" not in stderr, f"{name}: {stderr[-2000:]}"
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, f"{name}: {stderr[-2000:]}"
    assert re.search(pattern, errors[0]), f"{name}: {errors[0]}"
    # the sentence is the last thing printed, on one line (not wrapped at the console width)
    assert stderr.strip().splitlines()[-1] == errors[0], f"{name}: {stderr[-2000:]}"


def _overrides(name: str, bad_label_file: Path) -> list[str]:
    return [str(bad_label_file) if item == "BAD_LABEL" else item for item in BAD_INPUTS[name][0]]


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_exits_with_one_clear_sentence(
    name, tiny_model_dir, tiny_dataset_file, bad_label_file, capsys
) -> None:
    """In-process (fast: torch is already imported): main() returns non-zero, no exception."""
    from sa_tui.cli import main

    code = main(
        ["run", *_bad_args(tiny_model_dir, tiny_dataset_file, _overrides(name, bad_label_file))]
    )
    _check_one_sentence(name, code, capsys.readouterr().err)


def test_bad_input_in_a_real_process(tiny_model_dir, tiny_dataset_file, bad_label_file) -> None:
    processes = {
        name: _start(_bad_args(tiny_model_dir, tiny_dataset_file, _overrides(name, bad_label_file)))
        for name in ("invalid answer label", "unknown model")
    }
    for name, process in processes.items():
        done = _finish(process, timeout=180)
        _check_one_sentence(name, done.returncode, done.stderr)


# ------------------------------------------------------------------------------------ slow, real
SLOW_HOME = Path("/tmp/sa-tui-slow-home")


@pytest.mark.slow
def test_real_builtin_model_end_to_end(tmp_path: Path) -> None:
    """The issue's acceptance command on SmolLM2-135M and BIG-bench Snarks (minutes on CPU)."""
    out = tmp_path / "out.json"
    env = {"SA_TUI_HOME": str(SLOW_HOME), "OMP_NUM_THREADS": os.environ.get("SLOW_THREADS", "2")}
    args = [
        "--model",
        "builtin:smollm2-135m",
        "--dataset",
        "builtin:snarks",
        "--method",
        "zero_shot,io,deeplift,kernelshap,self_topk,ph_cot",
        "--strategy",
        "success",
        "--shots",
        "2",
        "--keywords",
        "3",
        "--steps",
        "2",
        "--test-limit",
        "6",
        "--seed",
        "0",
        "--json",
        str(out),
        "--no-store",
    ]
    done = _finish(_start(args, env), timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    payload = json.loads(out.read_text(encoding="utf-8"))
    by_method = {row["method"]: row for row in payload["results"]}
    assert list(by_method) == ["zero_shot", "io", "deeplift", "kernelshap", "self_topk", "ph_cot"]
    for row in payload["results"]:
        assert row["n"] == 6 and len(row["predictions"]) == 6

    # the keyword rationales hold the top words of real attributions: recompute DeepLift here
    os.environ["SA_TUI_HOME"] = str(SLOW_HOME)  # (restored by the autouse fixture's monkeypatch)
    from core.attribution import explain
    from core.datasets import load_dataset
    from core.lm import LanguageModel
    from core.models import load_model
    from core.prompts import PromptRenderer

    loaded = load_model("builtin:smollm2-135m")
    lm, renderer = LanguageModel(loaded.model, loaded.tokenizer), PromptRenderer(loaded.tokenizer)
    dataset = load_dataset("builtin:snarks")
    samples = {s.id: s for s in dataset.pool}
    shot_ids = payload["selection"]["shots"]
    for shot in by_method["deeplift"]["shots"]:
        attribution = explain(lm, renderer, samples[shot["id"]], "deeplift", k=3)
        quoted = re.findall(r'"([^"]+)"', shot["rationale"])
        assert quoted == attribution.top_words, shot["rationale"]
    for shot in by_method["kernelshap"]["shots"]:
        sample = samples[shot["id"]]
        quoted = re.findall(r'"([^"]+)"', shot["rationale"])
        assert len(quoted) == 3
        text = sample.question + " " + " ".join(c.text for c in sample.choices)
        assert all(word in text for word in quoted), shot["rationale"]
    # ph_cot rationales are generated text, different for each shot
    explanations = []
    for shot in by_method["ph_cot"]["shots"]:
        match = re.fullmatch(
            r"2-step rationale: (.+), therefore the answer is \((.+)\)", shot["rationale"], re.S
        )
        assert match, shot["rationale"]
        assert len(match.group(1).split()) >= 3
        explanations.append(match.group(1))
    assert len(set(explanations)) == len(explanations) == len(shot_ids) == 2
