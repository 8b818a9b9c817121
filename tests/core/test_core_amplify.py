"""The AMPLIFY baseline: shots the target gets wrong, ranked by the proxy's misclassification
confidence, explained by the proxy's attributions, used in the target's context."""

from __future__ import annotations

import pytest

from core import templates
from core.amplify import (
    CANDIDATES_PER_SHOT,
    misclassification_confidence,
    select_amplify_shots,
)
from core.cache import MemoryCache
from core.config import RunConfig
from core.errors import ConfigError
from core.evaluation import build_context
from core.lm import LanguageModel
from core.pipeline import lineage_name, run_protocol
from core.prompts import PromptRenderer
from core.run_inputs import load_run_dataset
from core.selection import Candidate, score_candidates
from core.workbench import Workbench


def _bench(loaded, cache, key: str) -> Workbench:
    return Workbench(
        lm=LanguageModel(loaded.model, loaded.tokenizer, batch_size=4),
        renderer=PromptRenderer(loaded.tokenizer),
        model_key=key,
        cache=cache,
    )


def test_misclassification_confidence_is_best_wrong_minus_gold() -> None:
    candidate = Candidate("s", "B", "A", {"A": 0.2, "B": 0.5, "C": 0.3}, 0.2)
    assert misclassification_confidence(candidate) == pytest.approx(0.3)
    sure_right = Candidate("t", "A", "A", {"A": 0.9, "B": 0.06, "C": 0.04}, 0.84)
    assert misclassification_confidence(sure_right) == pytest.approx(-0.84)


def test_shots_are_the_targets_errors_the_proxy_is_surest_of(
    tiny_loaded, gpt2_loaded, tiny_dataset_dir
) -> None:
    config = RunConfig(model="m", dataset=str(tiny_dataset_dir), methods=("io",))
    pool = list(load_run_dataset(config).pool)
    cache = MemoryCache()
    target, proxy = _bench(tiny_loaded, cache, "target"), _bench(gpt2_loaded, cache, "proxy")
    picked = select_amplify_shots(target, proxy, pool, n=2, seed=3)
    assert len(picked) == 2 and len({p.sample.id for p in picked}) == 2
    candidates = pool[: CANDIDATES_PER_SHOT * 2]  # the pool has 24: all of it here, shuffled
    wrong = [
        s
        for s, c in zip(candidates, score_candidates(target, candidates), strict=True)
        if not c.correct
    ]
    confidences = {
        s.id: misclassification_confidence(c)
        for s, c in zip(wrong, score_candidates(proxy, wrong), strict=True)
    }
    assert all(not p.target.correct for p in picked)
    assert [p.confidence for p in picked] == sorted(confidences.values(), reverse=True)[:2]
    assert all(confidences[p.sample.id] == pytest.approx(p.confidence) for p in picked)
    with pytest.raises(ConfigError, match="answers wrongly"):
        select_amplify_shots(target, proxy, pool, n=len(pool), seed=3)


def test_amplify_runs_in_the_protocol_with_its_own_shots(
    tiny_model_dir, gpt2_model_dir, tiny_dataset_dir, tiny_loaded, gpt2_loaded
) -> None:
    config = RunConfig(
        model=str(tiny_model_dir),
        dataset=str(tiny_dataset_dir),
        methods=("io", "amplify"),
        strategy="success",
        shots=2,
        keywords=2,
        test_limit=3,
        eval_tokens=5,
        batch_size=4,
        device="cpu",
        proxy_model=str(gpt2_model_dir),
        answer_mode="cloze",
    )
    dataset = load_run_dataset(config)
    result = run_protocol(config, dataset, tiny_loaded, cache=MemoryCache(), proxy=gpt2_loaded)
    by_method = {m.method: m for m in result.methods}
    amplify = by_method["amplify"]
    assert amplify.score.n == 3
    assert [r.method for r in amplify.rationales] == ["amplify", "amplify"]
    for rationale, shot in zip(amplify.rationales, amplify.context["shots"], strict=True):
        assert rationale.text.startswith("The key words ")
        assert rationale.text.endswith(f"that the answer is ({shot['answer']})")
        assert len(rationale.keywords) == 2
    assert amplify.context["prefill"] == templates.AMPLIFY_OPENING
    assert amplify.context["config"]["proxy_model"] == str(gpt2_model_dir)
    success_shots = {s.id for s in result.shots}
    amplify_shots = {s["id"] for s in amplify.context["shots"]}
    assert not success_shots & amplify_shots  # success shots are right, AMPLIFY's are wrong
    assert lineage_name(config, "amplify") == "tiny-chat.tiny-mc.amplify.tiny-gpt2.n2"


def test_amplify_demos_and_prefill_agree() -> None:
    from tests import tiny

    shots = tiny.samples(2, seed=51)
    rationales = {s.id: templates.amplify_rationale(["iron", "nail"], s.answer) for s in shots}
    context = build_context("amplify", shots, rationales, keywords=2, steps=1)
    for turn in context.demos[1::2]:
        assert turn["content"].startswith(context.prefill)
    assert context.prefill == "The key words"


def test_amplify_needs_a_different_proxy_model() -> None:
    with pytest.raises(ConfigError, match="needs --proxy-model"):
        RunConfig(model="a", dataset="d", methods=("amplify",)).validate()
    with pytest.raises(ConfigError, match="different model"):
        RunConfig(model="a", dataset="d", methods=("amplify",), proxy_model="a").validate()
