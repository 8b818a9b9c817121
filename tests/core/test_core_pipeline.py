"""The whole protocol on a tiny model: every method, determinism, cache reuse, cancellation."""

from __future__ import annotations

import re

import pytest

from core import pipeline
from core.cache import KINDS, MemoryCache
from core.config import ALL_METHODS, RunConfig
from core.errors import CancelledError
from core.progress import CancelToken, Progress
from core.run_inputs import load_run_dataset


def _run(config: RunConfig, loaded, **kwargs):
    return pipeline.run_protocol(config, load_run_dataset(config), loaded, **kwargs)


def _config(model_dir, dataset_dir, **kwargs) -> RunConfig:
    values = dict(
        model=str(model_dir),
        dataset=str(dataset_dir),
        methods=tuple(m for m in ALL_METHODS if m != "amplify"),
        strategy="random",
        shots=2,
        keywords=2,
        steps=1,
        test_limit=3,
        seed=0,
        shap_samples=64,
        rationale_tokens=5,
        eval_tokens=5,
        batch_size=4,
        device="cpu",
    )
    values.update(kwargs)
    return RunConfig(**values)


class CountingForward:
    """Counts the model's forward passes (through a hook)."""

    def __init__(self, model) -> None:
        self.calls = 0
        self.handle = model.register_forward_pre_hook(self._hook)

    def _hook(self, module, args) -> None:
        self.calls += 1

    def close(self) -> None:
        self.handle.remove()


def _numbers(result) -> list:
    return [
        (
            m.method,
            m.score.accuracy,
            m.score.ci95,
            m.score.parse_failures,
            [p.to_dict() for p in m.score.predictions],
            [r.text for r in m.rationales],
            m.context["context"],
        )
        for m in result.methods
    ]


@pytest.fixture(scope="module")
def first_run(tiny_model_dir, tiny_dataset_dir, tiny_loaded):
    cache = MemoryCache()
    reports: list[Progress] = []
    result = _run(
        _config(tiny_model_dir, tiny_dataset_dir),
        tiny_loaded,
        cache=cache,
        progress=reports.append,
    )
    return result, cache, reports


def test_every_method_is_scored_on_the_same_items(first_run) -> None:
    result, cache, reports = first_run
    assert [m.method for m in result.methods] == [m for m in ALL_METHODS if m != "amplify"]
    test_ids = [p.id for p in result.methods[0].score.predictions]
    assert len(test_ids) == 3
    shot_ids = [s.id for s in result.shots]
    assert len(shot_ids) == 2 and not set(shot_ids) & set(test_ids)
    for method in result.methods:
        assert [p.id for p in method.score.predictions] == test_ids
        assert method.score.n == 3
        if method.method == "zero_shot":
            assert method.rationales == [] and method.context["shots"] == []
        else:
            assert [s["id"] for s in method.context["shots"]] == shot_ids
        if method.method in ("zero_shot", "io"):
            assert method.score.parse_failures == 0
        else:
            assert [r.sample_id for r in method.rationales] == shot_ids
        assert (
            method.vs_io is None
            if method.method == "io"
            else set(method.vs_io) == {"only_a", "only_b", "p_value"}
        )
    data = result.to_json()
    for row in data["results"]:
        assert set(row) >= {
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
        assert all(set(p) == {"id", "gold", "pred", "correct"} for p in row["predictions"])
    assert data["selection"]["shots"] == shot_ids
    assert set(data["versions"]) >= {"torch", "transformers", "captum", "shap"}
    stages = {r.stage for r in reports}
    assert {"select", "rationales:deeplift", "evaluate:io"} <= stages
    assert {kind for kind, _ in cache._items} == set(KINDS)


def test_contexts_hold_the_rationales(first_run) -> None:
    result, _, _ = first_run
    by_method = {m.method: m for m in result.methods}
    for method in ("deeplift", "kernelshap", "ph_cot", "auto_cot"):
        for rationale in by_method[method].rationales:
            assert rationale.text in by_method[method].context["context"]
    for rationale in by_method["ph_cot"].rationales:
        assert re.fullmatch(
            r"1-step rationale: .*, therefore the answer is \([A-D]\)", rationale.text, re.S
        )
    for rationale in by_method["kernelshap"].rationales:
        assert rationale.text.startswith("The 2 keywords ")


def test_same_numbers_twice_and_no_model_calls_on_a_cached_rerun(
    first_run, tiny_model_dir, tiny_dataset_dir, tiny_loaded
) -> None:
    result, cache, _ = first_run
    # a fresh cache recomputes everything and gets the same numbers
    fresh = _run(_config(tiny_model_dir, tiny_dataset_dir), tiny_loaded, cache=MemoryCache())
    assert _numbers(fresh) == _numbers(result)
    # the same cache: nothing new is stored and the model is never called
    size = len(cache)
    counter = CountingForward(tiny_loaded.model)
    try:
        cached = _run(_config(tiny_model_dir, tiny_dataset_dir), tiny_loaded, cache=cache)
    finally:
        counter.close()
    assert counter.calls == 0
    assert len(cache) == size
    assert _numbers(cached) == _numbers(result)


def test_cancel_token_stops_the_run(tiny_model_dir, tiny_dataset_dir, tiny_loaded) -> None:
    token = CancelToken()
    stages: list[str] = []

    def progress(report: Progress) -> None:
        stages.append(report.stage)
        if report.stage.startswith("rationales:"):
            token.cancel()

    config = _config(tiny_model_dir, tiny_dataset_dir, methods=("io", "ph_cot", "deeplift"))
    with pytest.raises(CancelledError):
        _run(config, tiny_loaded, cache=MemoryCache(), progress=progress, cancel=token)
    assert "evaluate:ph_cot" not in stages and "rationales:deeplift" not in stages
    stopped = CancelToken()
    stopped.cancel()
    with pytest.raises(CancelledError):
        _run(config, tiny_loaded, cancel=stopped)


def test_tiny_datasets_load_through_the_real_loader(tiny_dataset_dir, tiny_dataset_file) -> None:
    from core.datasets import load_dataset

    folder = load_dataset(str(tiny_dataset_dir))
    assert (len(folder.pool), len(folder.test)) == (24, 8)
    assert folder.split["method"] == "given"
    single = load_dataset(str(tiny_dataset_file))
    assert (len(single.pool), len(single.test)) == (12, 24)
    assert single.split["method"] == "seeded"


def test_plain_text_model_runs_the_protocol(gpt2_model_dir, tiny_dataset_dir, gpt2_loaded) -> None:
    """A base model with no chat template (GPT-2): the plain-text path end to end."""
    config = _config(
        gpt2_model_dir, tiny_dataset_dir, methods=("zero_shot", "io", "deeplift", "ph_cot")
    )
    result = _run(config, gpt2_loaded)
    by_method = {m.method: m for m in result.methods}
    assert "<|im_start|>" not in by_method["io"].context["context"]
    assert by_method["io"].context["context"].startswith("Choose the right answer.\n\n")
    assert all(r.text.startswith("The 2 keywords ") for r in by_method["deeplift"].rationales)
    assert all(m.score.n == 3 for m in result.methods)
