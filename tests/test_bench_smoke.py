"""Smoke tests of the benchmarks (bench/) on a tiny random model, and of the fast paths they
measure: prefix-tree coalition scoring, in-place cache growth while decoding, the kept prefix."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _json_line(capsys: pytest.CaptureFixture[str]) -> dict:
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    return json.loads(lines[-1])


# ------------------------------------------------------------------------------------ benches
def test_eval_speed_bench_runs_and_reports(
    tiny_model_dir: Path, tiny_dataset_dir: Path, capsys
) -> None:
    bench = _bench("eval_speed")
    args = ["--model", str(tiny_model_dir), "--dataset", str(tiny_dataset_dir)]
    args += ["--items", "4", "--gen-items", "3", "--shots", "2", "--max-new-tokens", "6"]
    args += ["--repeats", "1", "--batch-size", "2", "--phases", "--json"]
    assert bench.main(args) == 0
    figures = _json_line(capsys)
    assert figures["same_predictions_cloze"] is True
    assert figures["cloze_vs_label_cost"] > 0 and figures["speedup_cloze"] > 0
    for key in (
        "speedup_label_scoring",
        "bound_label_scoring",
        "fraction_of_bound",
        "speedup_generation",
        "agreement_generation",
        "same_predictions",
        "same_predictions_label_scoring",
        "same_predictions_generation",
        "label_scoring_differences",
        "generation_differences",
        "timings_label_scoring",
        "timings_generation",
        "machine",
    ):
        assert key in figures, key
    assert figures["items_label_scoring"] == 4 and figures["items_generation"] == 3
    assert figures["bound_label_scoring"] > 1
    assert figures["speedup_label_scoring"] > 0 and figures["speedup_generation"] > 0
    assert figures["same_predictions"] is True, figures
    assert figures["agreement_generation"] == 1.0
    assert figures["timings_label_scoring"]["clock"] in ("cpu", "wall")
    phases = figures["phases_generation"]
    assert phases["fast"]["context"]["passes"] >= 1 and phases["fast"]["items"]["passes"] >= 2
    assert phases["naive"]["prompt"]["passes"] == 3  # one full prompt per item


def test_attribution_speed_bench_runs_and_reports(
    tiny_model_dir: Path, tiny_dataset_dir: Path, capsys
) -> None:
    bench = _bench("attribution_speed")
    args = ["--model", str(tiny_model_dir), "--dataset", str(tiny_dataset_dir)]
    args += ["--examples", "1", "--samples", "32", "--repeats", "1", "--deeplift-repeats", "1"]
    args += ["--batch-size", "4", "--json"]
    assert bench.main(args) == 0
    figures = _json_line(capsys)
    for key in (
        "speedup_kernelshap",
        "max_abs_diff",
        "same_coalitions",
        "deeplift_cost_ratio",
        "deeplift_captum_cost_ratio",
        "deeplift_max_abs_diff_vs_captum",
        "kernelshap_examples",
        "machine",
    ):
        assert key in figures, key
    assert figures["same_coalitions"] is True
    assert figures["max_abs_diff"] < 1e-4
    assert figures["deeplift_max_abs_diff_vs_captum"] < 1e-5
    assert figures["speedup_kernelshap"] > 0 and figures["deeplift_cost_ratio"] > 0


def test_interleave_alternates_and_takes_the_median() -> None:
    common = _bench("common")
    order: list[str] = []
    timing, first_baseline, first_fast = common.interleave(
        lambda: order.append("b") or "B", lambda: order.append("f") or "F", repeats=3
    )
    assert order == ["b", "f", "f", "b", "b", "f"]
    assert (first_baseline, first_fast) == ("B", "F")
    assert len(timing.cpu.ratios) == len(timing.wall.ratios) == 3
    pairing = common.Pairing([4.0, 6.0, 100.0], [1.0, 2.0, 1.0])
    assert pairing.ratio == 4.0  # median of 4, 3, 100
    assert pairing.inverted().ratios == pytest.approx([0.25, 1 / 3, 0.01])


# ------------------------------------------------------------------------------------ fast paths
def _coalitions(n_words: int, count: int, seed: int = 0) -> np.ndarray:
    """KernelSHAP-like coalitions: all, none, singletons, leave-one-outs, then random ones."""
    rng = np.random.default_rng(seed)
    masks = [np.ones(n_words), np.zeros(n_words)]
    for w in range(n_words):
        one = np.zeros(n_words)
        one[w] = 1
        masks += [one, 1 - one]
    while len(masks) < count:
        masks.append((rng.random(n_words) > 0.5).astype(float))
    return np.array(masks[:count])


@pytest.fixture
def target(tiny_lm, tiny_renderer):
    from core.attribution_target import build_target
    from core.samples import Choice, Sample

    sample = Sample(
        "tree-1",
        "Which metal does the magnet pull in the cold garden of the old farmer?",
        (Choice("A", "iron nails"), Choice("B", "dry wood"), Choice("C", "paper")),
        "A",
    )
    return build_target(tiny_lm, tiny_renderer, sample)


@pytest.mark.parametrize("memory", [None, 20_000])
def test_prefix_tree_scores_equal_one_forward_per_coalition(
    tiny_lm, target, monkeypatch, memory
) -> None:
    import core.lm
    import core.prefix_tree
    from core.attribution_target import coalition_scorer

    if memory is not None:  # force several trees and a row cap per pass
        monkeypatch.setattr(core.prefix_tree, "TREE_MEMORY_BYTES", memory)
    chunks: list[int] = []
    original = core.lm.LanguageModel._tree_run

    def spy(self, seqs, *args, **kwargs):
        chunks.append(len(seqs))
        return original(self, seqs, *args, **kwargs)

    monkeypatch.setattr(core.lm.LanguageModel, "_tree_run", spy)
    masks = _coalitions(len(target.words), 40)
    tiny_lm.batch_size = 3
    tree = coalition_scorer(tiny_lm, target, batched=True)(masks)
    assert chunks and sum(chunks) == len(masks), "the prefix tree ran"
    if memory is not None:
        assert len(chunks) > 1
    single = coalition_scorer(tiny_lm, target, batched=False)(masks)
    np.testing.assert_allclose(tree, single, atol=1e-4)
    assert tiny_lm.batch_size == 3


def test_prefix_tree_cuts_follow_the_cost_model(tiny_lm) -> None:
    # 4 rows share 10 tokens, part at column 10 into two groups, and at column 20 into four.
    counts = [1] * 11 + [2] * 10 + [4] * 10
    cuts = tiny_lm._tree_cuts(counts, 30, 1000)
    assert cuts[0] == 0 and cuts[-1] == 30
    assert set(cuts) <= {0, 10, 20, 30}


def test_tree_falls_back_for_sequences_of_different_lengths(tiny_lm) -> None:
    scores = tiny_lm.label_log_probs_tree([[5, 6, 7], [5, 6, 8, 9]], [[1], [2]])
    flat = tiny_lm.label_log_probs([[5, 6, 7], [5, 6, 8, 9]], [[1], [2]])
    np.testing.assert_allclose(scores, flat, atol=1e-5)


def test_decoding_in_place_gives_the_same_tokens(
    tiny_lm, tiny_renderer, mc_samples, monkeypatch
) -> None:
    import core.lm
    from core.prompts import format_question
    from core.templates import ANSWER_OPENING, INSTRUCTION_PLAIN
    from core.token_ids import shared_prefix

    ids = []
    for sample in mc_samples[:5]:
        messages = tiny_renderer.messages(
            INSTRUCTION_PLAIN,
            [{"role": "user", "content": format_question(sample)}],
            ANSWER_OPENING,
        )
        ids.append(tiny_renderer.render(messages).ids)
    prefix = shared_prefix(ids)
    suffixes = [i[len(prefix) :] for i in ids]
    seen: list[int] = []

    def stop_some(text: str) -> bool:  # rows leave the batch at different steps
        seen.append(1)
        return len(seen) % 7 == 0

    tiny_lm.batch_size = 5
    monkeypatch.setattr(core.lm, "GROWTH_ROOM", 2)  # outgrow the spare room several times
    grown = tiny_lm.generate(suffixes, prefix=prefix, max_new_tokens=9, stop_rule=stop_some)
    monkeypatch.setattr(core.lm, "grow_in_place", lambda cache, room: False)
    seen.clear()
    tiny_lm.forget_prefix()
    plain = tiny_lm.generate(suffixes, prefix=prefix, max_new_tokens=9, stop_rule=stop_some)
    assert [g.token_ids for g in grown] == [g.token_ids for g in plain]
    assert [g.stop_reason for g in grown] == [g.stop_reason for g in plain]
    assert any(g.stop_reason == "rule" for g in grown)


def test_the_last_prefix_cache_is_kept_between_calls(tiny_lm, tiny_renderer, mc_samples) -> None:
    from core.selection import zero_shot_prompt

    prompts = [zero_shot_prompt(tiny_renderer, s) for s in mc_samples[:4]]
    ids = [p for p, _ in prompts]
    labels = [i for _, i in prompts]
    prefix = ids[0][:8]
    suffixes = [i[8:] for i in ids]
    forwards: list[int] = []
    handle = tiny_lm.model.register_forward_pre_hook(
        lambda module, args, kwargs: forwards.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    try:
        first = tiny_lm.label_log_probs(suffixes, labels, prefix=prefix)
        again = tiny_lm.label_log_probs(suffixes, labels, prefix=prefix)
        tiny_lm.forget_prefix()
        cold = tiny_lm.label_log_probs(suffixes, labels, prefix=prefix)
    finally:
        handle.remove()
    assert forwards.count(8) == 2, "the prefix ran once, then again after forget_prefix()"
    assert first == again
    assert torch.tensor(cold).allclose(torch.tensor(first), atol=1e-6)


def test_a_new_prefix_reuses_the_part_it_shares_with_the_kept_one(
    tiny_lm, tiny_renderer, mc_samples
) -> None:
    from core.selection import zero_shot_prompt

    prompts = [zero_shot_prompt(tiny_renderer, s) for s in mc_samples[:3]]
    ids = [p for p, _ in prompts]
    labels = [i for _, i in prompts]
    widths: list[int] = []
    handle = tiny_lm.model.register_forward_pre_hook(
        lambda module, args, kwargs: widths.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    try:
        results = {}
        for cut in (10, 14, 6):  # longer: run 4 more tokens; shorter: no prefix pass at all
            widths.clear()
            results[cut] = tiny_lm.label_log_probs(
                [i[cut:] for i in ids], labels, prefix=ids[0][:cut]
            )
            prefix_passes = widths[:-1]  # the last pass is the items' batch
            assert prefix_passes == {10: [10], 14: [4], 6: []}[cut]
    finally:
        handle.remove()
    tiny_lm.forget_prefix()
    for cut, got in results.items():
        cold = tiny_lm.label_log_probs([i[cut:] for i in ids], labels, prefix=ids[0][:cut])
        assert torch.tensor(got).allclose(torch.tensor(cold), atol=1e-5)


def test_attribution_speed_adaptive_mode_runs_and_reports(
    tiny_model_dir: Path, tiny_dataset_dir: Path, capsys
) -> None:
    bench = _bench("attribution_speed")
    args = ["--model", str(tiny_model_dir), "--dataset", str(tiny_dataset_dir), "--adaptive"]
    args += ["--shots", "2", "--samples", "40", "--keywords", "2", "--reference-every", "2"]
    args += ["--batch-size", "4", "--json"]
    assert bench.main(args) == 0
    figures = _json_line(capsys)
    assert figures["shots"] == 2 and figures["samples_max"] == 40
    for key in ("speedup_adaptive_vs_reference", "speedup_adaptive_vs_fixed", "top_k_agreement"):
        assert figures[key] > 0, key
    assert figures["reference_top_k_agreement"] == 1.0  # same coalitions as the fixed path
    assert figures["speedup_fixed_vs_reference"] > 0 and figures["reference_shots"] == 1
    assert 0 < figures["mean_samples_used"] <= 40
    assert [r["threshold"] for r in figures["replay"]] == [0.8, 0.9, 0.95, 0.99]
    details = figures["shot_details"]
    assert "reference" in details[0]["seconds"] and "reference" not in details[1]["seconds"]


def test_faithfulness_bench_runs_and_reports(
    tiny_model_dir: Path, plain_model_dir: Path, tiny_dataset_dir: Path, capsys
) -> None:
    bench = _bench("faithfulness")
    args = ["--model", str(tiny_model_dir), "--datasets", str(tiny_dataset_dir)]
    args += ["--proxy-model", str(plain_model_dir), "--spans", "question+choices"]
    args += ["--shots", "2", "--keywords", "2", "--shap-samples", "40", "--rationale-tokens", "6"]
    args += ["--resamples", "100", "--device", "cpu", "--batch-size", "4", "--json"]
    assert bench.main(args) == 0
    figures = _json_line(capsys)
    rows = {row["method"]: row for row in figures["rows"]}
    assert set(rows) >= {"deeplift", "kernelshap", "leave_one_out", "random", "amplify"}
    for method in ("deeplift", "kernelshap", "leave_one_out", "random", "amplify"):
        row = rows[method]
        assert row["measured"] == 2, row
        assert 0 < row["forward_passes_per_shot"] <= 2 * 2 + 1
        assert row["rows_per_shot"] <= 2 * 2 + 1
        low, high = row["comprehensiveness_ci95"]
        assert low <= row["comprehensiveness"] + 1e-9 and row["comprehensiveness"] <= high + 1e-9


def test_peer_lm_eval_task_files_and_comparison_need_no_lm_eval(tmp_path: Path, capsys) -> None:
    import yaml

    bench = _bench("peer_lm_eval")
    driver = _bench("lm_eval_driver")
    rows = [
        {"id": "a", "prompt": "Q: one?\nThe answer is", "choices": [" x", " yy"], "gold": 1},
        {"id": "b", "prompt": "Q: two?\nThe answer is", "choices": [" é", " zz"], "gold": 0},
    ]
    path = bench.write_task(tmp_path / "tasks", "sa_tui_peer_io", rows)
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert config["output_type"] == "multiple_choice" and config["target_delimiter"] == ""
    assert (config["doc_to_text"], config["doc_to_choice"], config["doc_to_target"]) == (
        "prompt",
        "choices",
        "gold",
    )
    assert [m["metric"] for m in config["metric_list"]] == ["acc", "acc_norm"]
    data_file = Path(config["dataset_kwargs"]["data_files"]["test"])
    assert data_file.is_absolute() and config["dataset_path"] == "json"
    lines = data_file.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == rows  # the exact strings, unescaped

    # lm-eval's side: picks read from logged samples (resps: per request, [(ll, greedy)])
    samples = [
        {  # out of order on purpose; lm-eval's acc_norm divides by characters, not bytes
            "doc_id": 1,
            "doc": rows[1],
            "arguments": [(rows[1]["prompt"], c) for c in rows[1]["choices"]],
            "resps": [[(-2.0, True)], [(-2.9, False)]],
        },
        {
            "doc_id": 0,
            "doc": rows[0],
            "arguments": [(rows[0]["prompt"], " x"), (rows[0]["prompt"], "yy")],
            "resps": [[[-1.2, False]], [[-1.5, False]]],
        },
    ]
    picks = driver.read_predictions(samples)
    assert [p["doc_id"] for p in picks] == [0, 1]
    assert (picks[0]["acc"], picks[0]["acc_norm"]) == (0, 1)  # -1.5/3 beats -1.2/2
    assert (picks[1]["acc"], picks[1]["acc_norm"]) == (0, 1)  # -2.9/3 beats -2/2 (-2/3 a byte)
    assert [p["exact_requests"] for p in picks] == [False, True]
    assert driver.first_best([-1.0, -0.5, -0.5]) == 1  # a tie goes to the first, as np.argmax

    compared = bench.compare(
        [1, 0, 2],
        [1, 1, 2],
        [[0, 0], [-0.5, -0.6], [0]],
        [[0, 0], [-0.5, -0.4], [0]],
        ["a", "b", "c"],
    )
    assert compared["agreement"] == round(2 / 3, 4) and compared["same"] == 2
    assert compared["differences"] == [
        {
            "item": "b",
            "sa_tui": 0,
            "lm_eval": 1,
            "sa_tui_scores": [-0.5, -0.6],
            "lm_eval_scores": [-0.5, -0.4],
        }
    ]
    assert bench.max_score_gap([[0.0, -0.5]], [[0.0, -0.25]]) == 0.25

    # lm-eval's request split moves the prompt's trailing spaces into the continuation
    def encode(text: str) -> list[int]:
        return [ord(c) for c in text]

    assert bench.lm_eval_split(encode, "is ", "x") == (encode("is"), encode(" x"))

    # no lm-eval: exit 2, one sentence saying how to get it, before any model is loaded
    assert bench.main(["--lm-eval-python", str(tmp_path / "missing" / "python")]) == 2
    message = capsys.readouterr().err.strip()
    assert "pip install 'lm-eval[hf]'" in message and "--lm-eval-python" in message
