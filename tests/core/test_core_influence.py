"""Per-shot influence: leave-one-shot-out dev accuracy, against a direct computation, on the dev
split only (never a test item, never a shot), through the prediction cache."""

from __future__ import annotations

from typing import Any

import pytest

from core import influence as influence_module
from core import templates
from core.cache import PREDICTION, MemoryCache
from core.config import RunConfig
from core.errors import ConfigError
from core.evaluation import EvalSettings, build_context, evaluate
from core.influence import influence_dev_items, shot_influence
from core.pipeline import run_protocol
from core.run_inputs import load_run_dataset
from core.shot_search import split_dev
from core.stats import mcnemar_exact
from core.workbench import Workbench
from tests import tiny


class CountingCache(MemoryCache):
    """A memory cache that counts how often each prediction is stored."""

    def __init__(self) -> None:
        super().__init__()
        self.puts: dict[str, int] = {}

    def put(self, kind: str, key: str, value: dict[str, Any], *, run_id: str | None = None) -> None:
        if kind == PREDICTION:
            self.puts[key] = self.puts.get(key, 0) + 1
        super().put(kind, key, value, run_id=run_id)


def _bench(tiny_lm, tiny_renderer, cache: MemoryCache | None = None, **kwargs) -> Workbench:
    return Workbench(
        lm=tiny_lm,
        renderer=tiny_renderer,
        model_key="m",
        cache=cache if cache is not None else MemoryCache(),
        **kwargs,
    )


def _split(pool_size: int = 40, dev_size: int = 20, seed: int = 0):
    pool = tiny.samples(pool_size, seed=9)  # shots that change some of the tiny model's answers
    shot_pool, _ = split_dev(pool, size=dev_size, seed=seed)
    shots = shot_pool[:4]
    dev = influence_dev_items(pool, dev_size=dev_size, seed=seed, exclude={s.id for s in shots})
    return pool, shots, dev


@pytest.mark.parametrize(
    ("method", "settings"),
    [
        ("io", EvalSettings()),
        ("io", EvalSettings(answer_mode="cloze")),
        ("deeplift", EvalSettings(answer_mode="cloze", max_new_tokens=2)),
    ],
)
def test_influence_equals_a_direct_computation(tiny_lm, tiny_renderer, method, settings) -> None:
    _, shots, dev = _split()
    rationales = {
        s.id: templates.keyword_rationale(s.question.split()[1:3], s.answer) for s in shots
    }
    cloze = settings.cloze if settings.answer_mode == "cloze" else None
    result = shot_influence(
        _bench(tiny_lm, tiny_renderer),
        method,
        shots,
        rationales,
        dev,
        settings,
        keywords=2,
        steps=1,
        cloze=cloze,
    )

    def direct(context_shots):  # a fresh cache: nothing shared with the run above
        context = build_context(method, context_shots, rationales, keywords=2, steps=1, cloze=cloze)
        return evaluate(_bench(tiny_lm, tiny_renderer), context, dev, settings)

    full = direct(shots)
    assert any(s.helps or s.hurts for s in result.shots)  # the shots change some answers
    assert result.accuracy == full.accuracy and result.dev_ids == [s.id for s in dev]
    assert [s.sample_id for s in result.shots] == [s.id for s in shots]
    for position, shot in enumerate(shots):
        without = direct([s for s in shots if s.id != shot.id])
        figures = result.shots[position]
        assert figures.position == position and figures.n == len(dev)
        assert figures.accuracy_full == full.accuracy
        assert figures.accuracy_without == without.accuracy
        assert figures.influence == pytest.approx(full.accuracy - without.accuracy, abs=1e-4)
        paired = mcnemar_exact(
            [p.correct for p in full.predictions], [p.correct for p in without.predictions]
        )
        assert (figures.helps, figures.hurts) == (paired["only_a"], paired["only_b"])
        assert figures.p_value == paired["p_value"]
        assert figures.influence == pytest.approx((figures.helps - figures.hurts) / len(dev))
        low, high = figures.ci95
        assert low <= figures.influence + 1e-9 and figures.influence - 1e-9 <= high
        record = figures.to_dict()
        assert record["id"] == shot.id and record["influence"] == figures.influence


def test_dev_items_are_the_search_split_less_the_shots_and_test_items() -> None:
    pool = tiny.samples(30, seed=72)
    _, dev = split_dev(pool, size=10, seed=4)
    shots = [dev[0], dev[3]]  # without --search, shots may come from the dev split
    test = [dev[5]]
    chosen = influence_dev_items(
        pool, dev_size=10, seed=4, exclude={s.id for s in shots} | {t.id for t in test}
    )
    assert [s.id for s in chosen] == [s.id for i, s in enumerate(dev) if i not in (0, 3, 5)]
    with pytest.raises(ConfigError, match="--dev-size 30"):
        influence_dev_items(pool, dev_size=30, seed=4)


def test_refuses_dev_items_that_are_shots_or_no_dev_items(tiny_lm, tiny_renderer) -> None:
    _, shots, dev = _split()
    bench = _bench(tiny_lm, tiny_renderer)
    with pytest.raises(ConfigError, match="one of the context's shots"):
        shot_influence(
            bench, "io", shots, {}, [*dev, shots[0]], EvalSettings(), keywords=1, steps=1
        )
    with pytest.raises(ConfigError, match="--dev-size"):
        shot_influence(bench, "io", shots, {}, [], EvalSettings(), keywords=1, steps=1)
    with pytest.raises(ConfigError, match="needs shots"):
        shot_influence(bench, "io", [], {}, dev, EvalSettings(), keywords=1, steps=1)


def test_the_full_context_is_scored_once_through_the_cache(tiny_lm, tiny_renderer) -> None:
    _, shots, dev = _split()
    cache = CountingCache()
    bench = _bench(tiny_lm, tiny_renderer, cache)
    full = evaluate(bench, build_context("io", shots, {}, keywords=1, steps=1), dev, EvalSettings())
    stored = len(cache.puts)
    assert stored == len(dev)
    first = shot_influence(bench, "io", shots, {}, dev, EvalSettings(), keywords=1, steps=1)
    # only the leave-one-out contexts were new; the full context's predictions were reused
    assert len(cache.puts) == stored + len(shots) * len(dev)
    assert all(count == 1 for count in cache.puts.values())
    assert first.accuracy == full.accuracy
    again = shot_influence(bench, "io", shots, {}, dev, EvalSettings(), keywords=1, steps=1)
    assert all(count == 1 for count in cache.puts.values()) and again == first


def _config(model_dir, dataset_dir, **kwargs) -> RunConfig:
    values: dict[str, Any] = dict(
        model=str(model_dir),
        dataset=str(dataset_dir),
        methods=("zero_shot", "io", "random"),
        strategy="random",
        shots=2,
        keywords=2,
        steps=1,
        test_limit=4,
        seed=0,
        rationale_tokens=5,
        eval_tokens=3,
        batch_size=4,
        device="cpu",
        answer_mode="label",
        influence=True,
        dev_size=8,
    )
    values.update(kwargs)
    return RunConfig(**values)


def test_pipeline_measures_each_methods_influence_on_dev_only(
    tiny_model_dir, tiny_dataset_dir, tiny_loaded, monkeypatch
) -> None:
    seen: list[str] = []
    real_evaluate = influence_module.evaluate

    def recording(bench, context, items, settings):
        seen.extend(item.id for item in items)
        return real_evaluate(bench, context, items, settings)

    monkeypatch.setattr(influence_module, "evaluate", recording)
    events: list[tuple[str, dict[str, Any]]] = []
    config = _config(tiny_model_dir, tiny_dataset_dir)
    dataset = load_run_dataset(config)
    result = run_protocol(
        config,
        dataset,
        tiny_loaded,
        cache=MemoryCache(),
        events=lambda kind, payload: events.append((kind, payload)),
    )
    shot_ids = {s.id for s in result.shots}
    assert seen and not set(seen) & {s.id for s in dataset.test} and not set(seen) & shot_ids
    assert set(seen) <= {s.id for s in dataset.pool}
    by_method = {m.method: m for m in result.methods}
    assert by_method["zero_shot"].influence is None
    for method in ("io", "random"):
        measured = by_method[method].influence
        assert measured is not None and [s["id"] for s in measured] == [s.id for s in result.shots]
        assert all(0 < s["n"] <= 8 and s["helps"] + s["hurts"] <= s["n"] for s in measured)
        assert by_method[method].to_json()["influence"] == measured
    announced = [payload for kind, payload in events if kind == "influence"]
    assert [p["method"] for p in announced] == ["io", "random"]
    assert announced[0]["shots"] == by_method["io"].influence
    plain = run_protocol(
        _config(tiny_model_dir, tiny_dataset_dir, influence=False),
        dataset,
        tiny_loaded,
        cache=MemoryCache(),
    )
    assert all(m.influence is None for m in plain.methods)
    # the test scores do not depend on --influence
    assert [m.score.accuracy for m in plain.methods] == [m.score.accuracy for m in result.methods]


def test_with_search_the_io_influence_is_the_chosen_sets_on_the_search_dev_split(
    tiny_model_dir, tiny_dataset_dir, tiny_loaded
) -> None:
    config = _config(
        tiny_model_dir, tiny_dataset_dir, methods=("io",), search=3, answer_mode="cloze"
    )
    result = run_protocol(config, load_run_dataset(config), tiny_loaded, cache=MemoryCache())
    io = result.methods[0]
    assert io.influence is not None and io.dev_accuracy is not None
    # the same dev items and context as the winning candidate: the same dev accuracy
    assert all(s["accuracy_full"] == io.dev_accuracy and s["n"] == 8 for s in io.influence)


def test_config_refuses_influence_without_shots() -> None:
    with pytest.raises(ConfigError, match="--influence needs a method with shots"):
        RunConfig(model="m", dataset="d", methods=("zero_shot",), influence=True).validate()
    config = RunConfig(model="m", dataset="d", methods=("io",), influence=True).validate()
    assert RunConfig.from_dict(config.to_dict()) == config
