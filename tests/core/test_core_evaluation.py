"""Evaluation: contexts consistent with their pre-fills, answer parsing, scoring, statistics."""

from __future__ import annotations

import pytest
import torch

from core import templates
from core.cache import MemoryCache
from core.errors import ConfigError
from core.evaluation import EVAL_METHODS, EvalSettings, build_context, evaluate, read_answer
from core.lm import Generation
from core.rationales import RationaleSettings, make_rationales
from core.stats import mcnemar_exact, wilson_interval
from core.workbench import Workbench
from tests import tiny


def _rationale_for(method: str, shot, k: int, p: int) -> str:
    if method in ("deeplift", "kernelshap", "leave_one_out", "random", "self_topk"):
        return templates.keyword_rationale(shot.question.split()[1 : 1 + k], shot.answer)
    if method == "ph_cot":
        return templates.ph_cot_rationale("Magnets pull iron. Nails are iron", p, shot.answer)
    return templates.auto_cot_rationale("Magnets pull iron.", shot.answer)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("method", EVAL_METHODS)
def test_demos_and_test_prefill_are_consistent(method: str, k: int, tiny_renderer) -> None:
    shots = tiny.samples(2, seed=31)
    test_item = tiny.samples(1, seed=32, prefix="t")[0]
    rationales = {s.id: _rationale_for(method, s, k, 2) for s in shots}
    context = build_context(method, shots, rationales, keywords=k, steps=2)
    if method == "zero_shot":
        assert context.demos == [] and context.prefill == "The answer is ("
    else:
        assert [d["role"] for d in context.demos] == ["user", "assistant"] * 2
        for shot, answer_turn in zip(shots, context.demos[1::2], strict=True):
            assert answer_turn["content"].startswith(context.prefill)
            assert answer_turn["content"].lower().endswith(f"the answer is ({shot.answer})".lower())
            assert read_answer(answer_turn["content"], shot.labels) == shot.answer
        assert [s["id"] for s in context.shots] == [s.id for s in shots]
        assert [s["rationale"] for s in context.shots] == (
            [None, None] if method == "io" else [rationales[s.id] for s in shots]
        )
    text = tiny_renderer.render_text(context.messages_for(tiny_renderer, test_item))
    assert text.endswith("<|im_start|>assistant\n" + context.prefill)
    assert text.count(test_item.question) == 1
    content = context.to_content(tiny_renderer)
    assert test_item.question not in content["context"]
    assert content["prefill"] == context.prefill


def test_instructions_match_the_method() -> None:
    shots = tiny.samples(1, seed=33)
    sid, y = shots[0].id, shots[0].answer
    ph = build_context(
        "ph_cot", shots, {sid: templates.ph_cot_rationale("x", 3, y)}, keywords=2, steps=3
    )
    assert (
        ph.instruction == templates.INSTRUCTION_PH_COT.format(p=3)
        and ph.prefill == "3-step rationale:"
    )
    kw = build_context(
        "kernelshap",
        shots,
        {sid: templates.keyword_rationale(["a", "b", "c", "d"], y)},
        keywords=4,
        steps=3,
    )
    assert "4 most important keywords" in kw.instruction and kw.prefill == "The 4 keywords"
    assert (
        build_context(
            "auto_cot", shots, {sid: templates.auto_cot_rationale("x.", y)}, keywords=2, steps=3
        ).prefill
        == "Let's think step by step."
    )
    with pytest.raises(ConfigError, match="unknown method"):
        build_context("cot", shots, {}, keywords=2, steps=2)


def test_self_topk_demos_start_with_the_prefill_even_when_parsing_is_short(
    tiny_lm, tiny_renderer, monkeypatch
) -> None:
    shots = tiny.samples(2, seed=34)
    outputs = iter(['water" is it', "no quotes here"])

    def fake_generate(prompts, **kwargs):
        return [Generation(next(outputs), (), "rule") for _ in prompts]

    monkeypatch.setattr(tiny_lm, "generate", fake_generate)
    bench = Workbench(lm=tiny_lm, renderer=tiny_renderer, model_key="m", cache=MemoryCache())
    rationales = make_rationales(bench, shots, "self_topk", RationaleSettings(keywords=2))
    context = build_context(
        "self_topk", shots, {r.sample_id: r.text for r in rationales}, keywords=2, steps=1
    )
    for turn in context.demos[1::2]:
        assert turn["content"].startswith(context.prefill), turn["content"]


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("so the answer is (B).", ("A", "B"), "B"),
        ("The answer is (b)", ("A", "B"), "B"),
        ("THE ANSWER IS ( C )", ("A", "B", "C"), "C"),
        ("answer is (E)", ("A", "B", "C", "D"), None),
        ("the answer is (A) or the answer is (B)", ("A", "B"), "A"),
        ("the answer is (", ("A", "B"), None),
        ("the answer is (A", ("A", "B"), None),
        ("the answer: (A)", ("A", "B"), None),
        ("", ("A",), None),
        ("Therefore, the answer is (Yes)", ("Yes", "No"), "Yes"),
        ("the answer is (no)", ("Yes", "No"), "No"),
        ("the answer is (3)", ("1", "2", "3", "4"), "3"),
        ("the answer is ((A))", ("A", "B"), None),
        ("the answer is\n(A)", ("A", "B"), None),
    ],
)
def test_read_answer(text: str, labels: tuple[str, ...], expected: str | None) -> None:
    assert read_answer(text, labels) == expected


def _settings(**kwargs) -> EvalSettings:
    return EvalSettings(**{"max_new_tokens": 6, **kwargs})


def _evaluate(lm, renderer, context, items, settings=None, cache=None):
    bench = Workbench(
        lm=lm,
        renderer=renderer,
        model_key="tiny",
        cache=cache if cache is not None else MemoryCache(),
    )
    return evaluate(bench, context, items, settings or _settings())


def test_label_scored_methods_match_a_plain_forward_and_never_fail_to_parse(
    tiny_lm, tiny_renderer
) -> None:
    shots = tiny.samples(2, seed=35)
    items = tiny.samples(6, seed=36, prefix="t")
    for method in ("zero_shot", "io"):
        context = build_context(method, shots, {}, keywords=2, steps=1)
        score = _evaluate(tiny_lm, tiny_renderer, context, items)
        assert score.n == 6 and score.parse_failures == 0
        assert [p.id for p in score.predictions] == [i.id for i in items]
        assert score.accuracy == round(sum(p.correct for p in score.predictions) / 6, 4)
        assert score.ci95 == wilson_interval(sum(p.correct for p in score.predictions), 6)
        for item, prediction in zip(items, score.predictions, strict=True):
            ids = tiny_renderer.render(context.messages_for(tiny_renderer, item)).ids
            label_ids = [tiny_renderer.encode(label)[0] for label in item.labels]
            with torch.inference_mode():
                logits = tiny_lm.model(input_ids=torch.tensor([ids])).logits[0, -1]
            assert prediction.pred == item.labels[int(logits[label_ids].argmax())]
            assert prediction.correct == (prediction.pred == item.answer)


def test_parsed_answers_and_parse_failures(tiny_lm, tiny_renderer, monkeypatch) -> None:
    shots = tiny.samples(2, seed=37)
    items = tiny.samples(4, seed=38, prefix="t")
    outputs = [
        f" so the answer is ({items[0].answer})",
        " the answer is (Z)",
        " blah",
        " the answer is (b)",
    ]
    seen: dict = {}

    def fake_generate(suffixes, *, prefix=(), max_new_tokens=0, stop_rule=None, **kwargs):
        seen.update(
            prefix=list(prefix), max_new_tokens=max_new_tokens, stop_rule=stop_rule, n=len(suffixes)
        )
        # evaluation may reorder items (by length): answer each by the question it carries
        texts = [tiny_renderer.tokenizer.decode(list(suffix)) for suffix in suffixes]
        owner = [next(j for j, item in enumerate(items) if item.question in t) for t in texts]
        return [Generation(outputs[j], (), "rule") for j in owner]

    monkeypatch.setattr(tiny_lm, "generate", fake_generate)
    context = build_context(
        "ph_cot",
        shots,
        {s.id: templates.ph_cot_rationale("x", 1, s.answer) for s in shots},
        keywords=2,
        steps=1,
    )
    score = _evaluate(tiny_lm, tiny_renderer, context, items, _settings(max_new_tokens=11))
    assert seen["n"] == 4 and seen["max_new_tokens"] == 11 and len(seen["prefix"]) > 10
    assert seen["stop_rule"]("... the answer is (A)") and not seen["stop_rule"]("the answer is (")
    preds = [p.pred for p in score.predictions]
    assert preds == [items[0].answer, None, None, "B"]
    assert score.parse_failures == 2
    assert [p.parse_failure for p in score.predictions] == [False, True, True, False]
    assert sum(p.correct for p in score.predictions) == 1 + (items[3].answer == "B")
    assert not any(p.correct for p in score.predictions if p.pred is None)


def test_label_answer_mode_scores_labels_after_the_open_answer(
    tiny_lm, tiny_renderer, monkeypatch
) -> None:
    shots = tiny.samples(2, seed=39)
    items = tiny.samples(3, seed=40, prefix="t")
    original = tiny_lm.generate

    def fake_generate(suffixes, **kwargs):
        assert kwargs["stop_rule"]("so the answer is (")
        return [Generation("Step one, so the answer is (", (), "rule") for _ in suffixes]

    monkeypatch.setattr(tiny_lm, "generate", fake_generate)
    context = build_context(
        "auto_cot",
        shots,
        {s.id: templates.auto_cot_rationale("r.", s.answer) for s in shots},
        keywords=2,
        steps=1,
    )
    score = _evaluate(tiny_lm, tiny_renderer, context, items, _settings(answer_mode="label"))
    assert score.parse_failures == 0
    assert all(p.pred in ("A", "B", "C", "D") for p in score.predictions)
    assert all(p.output == f"Step one, so the answer is ({p.pred})" for p in score.predictions)
    monkeypatch.setattr(tiny_lm, "generate", original)
    with pytest.raises(ConfigError, match="unknown answer mode"):
        _evaluate(tiny_lm, tiny_renderer, context, items, _settings(answer_mode="guess"))


def test_generated_predictions_on_the_tiny_model_and_cache_reuse(
    tiny_lm, tiny_renderer, monkeypatch
) -> None:
    shots = tiny.samples(2, seed=41)
    items = tiny.samples(5, seed=42, prefix="t")
    context = build_context(
        "ph_cot",
        shots,
        {s.id: templates.ph_cot_rationale("x", 2, s.answer) for s in shots},
        keywords=2,
        steps=2,
    )
    cache = MemoryCache()
    score = _evaluate(tiny_lm, tiny_renderer, context, items, cache=cache)
    assert score.n == 5 and len(cache) == 5
    assert score.parse_failures == sum(p.pred is None for p in score.predictions)
    assert all(p.output for p in score.predictions)

    def fail(*args, **kwargs):
        raise AssertionError("cached predictions were recomputed")

    monkeypatch.setattr(tiny_lm, "generate", fail)
    monkeypatch.setattr(tiny_lm, "label_log_probs", fail)
    again = _evaluate(tiny_lm, tiny_renderer, context, items, cache=cache)
    assert again.predictions == score.predictions and len(cache) == 5


# ------------------------------------------------------------------------------------ statistics
def test_wilson_interval_by_hand() -> None:
    # p = 0.5, n = 10, z = 1.96: centre 0.5, half-width 1.96 * sqrt(0.025 + 0.0096) / 1.3841 = 0.2634
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    # 0 of 10: upper bound z^2 / (n + z^2) = 3.8415 / 13.8415
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    # 8 of 20: centre (0.4 + 0.096) / 1.19207 = 0.41609, half 1.96 * sqrt(0.012 + 0.0024) / 1.19207 = 0.19731
    assert wilson_interval(8, 20) == pytest.approx((0.2188, 0.6134), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 0.0)


def test_mcnemar_by_hand() -> None:
    t, f = True, False
    # 3 discordant pairs, all favouring a: two-sided p = 2 * (1/2)^3 = 0.25
    assert mcnemar_exact([t, t, t, f, t], [f, f, f, f, t]) == {
        "only_a": 3,
        "only_b": 0,
        "p_value": 0.25,
    }
    # 5 vs 1: p = 2 * (C(6,0) + C(6,1)) / 2^6 = 14 / 64 = 0.21875
    result = mcnemar_exact([t] * 5 + [f], [f] * 5 + [t])
    assert result == {"only_a": 5, "only_b": 1, "p_value": 0.21875}
    # balanced discordance: p capped at 1
    assert mcnemar_exact([t, f], [f, t])["p_value"] == 1.0
    assert mcnemar_exact([t, f], [t, f]) == {"only_a": 0, "only_b": 0, "p_value": 1.0}
    # 10 vs 0: 2 / 1024
    assert mcnemar_exact([t] * 10, [f] * 10)["p_value"] == pytest.approx(0.001953, abs=1e-6)
    with pytest.raises(ValueError):
        mcnemar_exact([t], [t, f])


def test_evaluation_reports_its_own_work(tiny_lm, tiny_renderer) -> None:
    shots, items = tiny.samples(2, seed=71), tiny.samples(3, seed=72, prefix="t")
    rationales = {s.id: templates.ph_cot_rationale("Iron is magnetic", 1, s.answer) for s in shots}
    context = build_context("ph_cot", shots, rationales, keywords=2, steps=1)
    cache = MemoryCache()
    settings = EvalSettings(max_new_tokens=6)
    first = _evaluate(tiny_lm, tiny_renderer, context, items, settings, cache)
    assert first.forward_passes > 0 and 3 <= first.generated_tokens <= 18
    again = _evaluate(tiny_lm, tiny_renderer, context, items, settings, cache)
    assert again.forward_passes == 0 and again.generated_tokens == 0  # all reused
    io = _evaluate(
        tiny_lm, tiny_renderer, build_context("io", shots, {}, keywords=2, steps=1), items
    )
    assert io.forward_passes >= 1 and io.generated_tokens == 0
