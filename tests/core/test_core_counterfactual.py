"""Counterfactual rationales on a tiny model: verified flips (re-scored with a plain forward), the
smallest edit, the fallback, cache reuse, the template and the pipeline end to end."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from core import counterfactual as cf
from core import counterfactual_search as search
from core import pipeline, templates
from core.attribution_target import build_target
from core.cache import RATIONALE, MemoryCache
from core.config import RunConfig
from core.evaluation import build_context
from core.rationales import Rationale, RationaleSettings, make_rationales, shot_attribution
from core.run_inputs import load_run_dataset
from core.samples import Sample
from core.workbench import Workbench
from tests import tiny

VERSIONS = {"transformers": "x", "captum": "y", "shap": "z"}


def _bench(lm, renderer, cache=None, **kwargs) -> Workbench:
    return Workbench(
        lm=lm,
        renderer=renderer,
        model_key="tiny",
        versions=VERSIONS,
        cache=cache if cache is not None else MemoryCache(),
        **kwargs,
    )


def _last_logits(lm, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return lm.model(torch.tensor([ids])).logits[0, -1]


def _label_ids(lm, renderer, sample: Sample) -> list[int]:
    return [build_target(lm, renderer, sample, label).label_id for label in sample.labels]


def _plain_prediction(lm, renderer, sample: Sample, ids: list[int]) -> str:
    logits = _last_logits(lm, ids)
    label_ids = _label_ids(lm, renderer, sample)
    return sample.labels[int(torch.argmax(logits[label_ids]))]


def _answered(lm, renderer, samples: list[Sample]) -> list[Sample]:
    """The samples with the gold answer set to the model's own zero-shot answer (a random tiny
    model answers few questions right; only those can be flipped)."""
    out = []
    for sample in samples:
        ids = build_target(lm, renderer, sample).prompt_ids
        out.append(dataclasses.replace(sample, answer=_plain_prediction(lm, renderer, sample, ids)))
    return out


def _scores(lm, renderer, sample: Sample) -> list[float]:
    bench = _bench(lm, renderer)
    return list(
        shot_attribution(bench, sample, "deeplift", RationaleSettings(keywords=3))["word_scores"]
    )


@pytest.fixture
def shots(tiny_lm, tiny_renderer) -> list[Sample]:
    return _answered(tiny_lm, tiny_renderer, tiny.samples(12, seed=5))


def _found(
    lm, renderer, shots: list[Sample], bound: int = 3
) -> list[tuple[Sample, search.Counterfactual]]:
    results = []
    for shot in shots:
        outcome = search.find_counterfactual(
            lm, renderer, shot, _scores(lm, renderer, shot), bound=bound
        )
        results.append((shot, outcome))
    return results


def test_a_found_counterfactual_flips_the_answer_under_a_plain_forward(
    tiny_lm, tiny_renderer, shots
) -> None:
    found = [(s, o) for s, o in _found(tiny_lm, tiny_renderer, shots) if o.found]
    assert found, "the tiny model flips on some shot"
    for shot, outcome in found:
        target = build_target(tiny_lm, tiny_renderer, shot)
        assert _plain_prediction(tiny_lm, tiny_renderer, shot, target.prompt_ids) == shot.answer
        flipped = _plain_prediction(tiny_lm, tiny_renderer, shot, outcome.edited_ids)
        assert flipped != shot.answer
        assert flipped == outcome.new_label
        assert outcome.reason == "flipped" and outcome.p_after is not None
        assert outcome.p_after < outcome.p_before
        assert 1 <= outcome.words_changed <= outcome.bound
        # only the edited words' tokens changed
        edited = {
            w.index for w in target.words if w.clean.lower() in {x.lower() for x in outcome.words}
        }
        for position, (old, new) in enumerate(
            zip(target.prompt_ids, outcome.edited_ids, strict=True)
        ):
            if old != new:
                assert target.token_words[position] in edited
        if outcome.kind == "replacement":
            assert outcome.replacement and outcome.words_changed == 1


def test_a_shot_the_model_answers_otherwise_has_no_counterfactual(tiny_lm, tiny_renderer) -> None:
    sample = tiny.samples(1, seed=5)[0]
    ids = build_target(tiny_lm, tiny_renderer, sample).prompt_ids
    predicted = _plain_prediction(tiny_lm, tiny_renderer, sample, ids)
    wrong = dataclasses.replace(sample, answer=next(x for x in sample.labels if x != predicted))
    scores = _scores(tiny_lm, tiny_renderer, wrong)
    outcome = search.find_counterfactual(tiny_lm, tiny_renderer, wrong, scores, bound=3)
    assert not outcome.found and outcome.reason == "not_predicted"
    assert outcome.prediction_before == predicted and outcome.candidates == 0


def test_the_smallest_removal_is_chosen_among_all_removals(
    tiny_lm, tiny_renderer, shots, monkeypatch
) -> None:
    monkeypatch.setattr(search, "REPLACED_WORDS", 0)  # removals only: enumerate them all here
    checked = 0
    for shot, outcome in _found(tiny_lm, tiny_renderer, shots, bound=3):
        target = build_target(tiny_lm, tiny_renderer, shot)
        groups = search.rank_groups(target, _scores(tiny_lm, tiny_renderer, shot))
        label_ids = _label_ids(tiny_lm, tiny_renderer, shot)
        y = shot.labels.index(shot.answer)
        within = min(3, len(groups))
        edits = [search.Edit("removal", (r,)) for r in range(within)]
        edits += [search.Edit("removal", tuple(range(n))) for n in range(2, within + 1)]
        verified = []
        for edit in edits:
            ids = search.edited_ids(target, groups, edit, tiny_lm.pad_id)
            logits = torch.log_softmax(_last_logits(tiny_lm, ids), -1)[label_ids].tolist()
            p = search.label_probabilities(logits)[y]
            if max(range(len(logits)), key=lambda i: logits[i]) != y and p < outcome.p_before:
                verified.append((len(edit.groups), p, edit))
        if not verified:
            assert not outcome.found
            continue
        size, p, edit = min(verified, key=lambda v: (v[0], v[1]))
        assert outcome.found and outcome.words_changed == size
        assert outcome.words == [groups[r].text for r in edit.groups]
        assert outcome.p_after == pytest.approx(p, abs=1e-4)
        checked += 1
    assert checked


def _scripted(monkeypatch, lm, flips: dict[tuple[int, int], float], y: int, n_labels: int) -> None:
    """label_log_probs_tree answering y for every row but (call, row) -> p(y) in ``flips``
    (there another label wins)."""
    calls = {"n": 0}

    def fake(sequences, label_ids, *, cancel=None):
        call = calls["n"]
        calls["n"] += 1
        rows = []
        for row in range(len(sequences)):
            p_y = flips.get((call, row))
            if p_y is None:
                values = [0.1] * n_labels
                values[y] = 0.7
            else:
                values = [(1 - p_y) / (n_labels - 1)] * n_labels
                values[y] = p_y
            rows.append([float(torch.tensor(v).log()) for v in values])
        return rows

    monkeypatch.setattr(lm, "label_log_probs_tree", fake)


def test_fewest_words_win_then_the_largest_drop(tiny_lm, tiny_renderer, shots, monkeypatch) -> None:
    monkeypatch.setattr(search, "REPLACED_WORDS", 0)
    shot = shots[0]
    y, n = shot.labels.index(shot.answer), len(shot.labels)
    scores = _scores(tiny_lm, tiny_renderer, shot)
    groups = search.rank_groups(build_target(tiny_lm, tiny_renderer, shot), scores)
    # size 1: the second and third single removals flip; the third drops p(y) most
    _scripted(monkeypatch, tiny_lm, {(0, 1): 0.2, (0, 2): 0.05}, y, n)
    outcome = search.find_counterfactual(tiny_lm, tiny_renderer, shot, scores, bound=3)
    assert outcome.found and outcome.words == [groups[2].text] and outcome.candidates == 3
    assert outcome.p_after == pytest.approx(0.05)
    # no single removal flips: top-2 and top-3 together both do; two words beat three
    _scripted(monkeypatch, tiny_lm, {(1, 0): 0.2, (1, 1): 0.01}, y, n)
    outcome = search.find_counterfactual(tiny_lm, tiny_renderer, shot, scores, bound=3)
    assert outcome.found and outcome.words_changed == 2 and outcome.candidates == 5
    assert outcome.words == [groups[0].text, groups[1].text]
    # nothing flips
    _scripted(monkeypatch, tiny_lm, {}, y, n)
    outcome = search.find_counterfactual(tiny_lm, tiny_renderer, shot, scores, bound=3)
    assert not outcome.found and outcome.reason == "none_within_bound"


def test_bound_zero_falls_back_to_the_deeplift_keywords(tiny_lm, tiny_renderer, shots) -> None:
    bench = _bench(tiny_lm, tiny_renderer)
    settings = RationaleSettings(keywords=3)
    rationale = cf.counterfactual_rationale(bench, shots[0], settings, bound=0)
    stored = shot_attribution(bench, shots[0], "deeplift", settings)
    assert rationale.counterfactual is not None
    assert rationale.counterfactual["found"] is False
    assert rationale.counterfactual["candidates"] == 0
    assert rationale.keywords == stored["top_words"]
    assert rationale.text == templates.keyword_rationale(stored["top_words"], shots[0].answer)


def test_rationales_are_stored_and_reused(tiny_lm, tiny_renderer, shots) -> None:
    cache = MemoryCache()
    events: list[tuple[str, dict]] = []
    bench = _bench(tiny_lm, tiny_renderer, cache, events=lambda k, p: events.append((k, p)))
    settings = RationaleSettings(keywords=2)
    first = make_rationales(bench, shots[:3], "counterfactual", settings)
    summary = [p for k, p in events if k == "counterfactual_summary"]
    assert summary and summary[-1]["shots"] == 3
    assert summary[-1]["found"] == sum(1 for r in first if r.counterfactual["found"])
    assert len([k for k, _ in events if k == "counterfactual"]) == 3
    passes = tiny_lm.forward_passes
    calls = {"n": 0}
    handle = tiny_lm.model.register_forward_pre_hook(
        lambda *_: calls.__setitem__("n", calls["n"] + 1)
    )
    try:
        again = make_rationales(bench, shots[:3], "counterfactual", settings)
    finally:
        handle.remove()
    assert again == first and calls["n"] == 0 and tiny_lm.forward_passes == passes
    for rationale in first:
        assert Rationale(**rationale.to_dict()) == rationale
        assert rationale.method == "counterfactual" and rationale.counterfactual is not None
        if rationale.counterfactual["found"]:
            assert rationale.keywords == rationale.counterfactual["words"]
            assert rationale.text.startswith(templates.COUNTERFACTUAL_OPENING)
    # another span is another key
    stored = sum(1 for kind, _ in cache._items if kind == RATIONALE)
    make_rationales(
        bench, shots[:1], "counterfactual", dataclasses.replace(settings, span="question")
    )
    assert sum(1 for kind, _ in cache._items if kind == RATIONALE) == stored + 1


def test_template_text() -> None:
    assert templates.counterfactual_rationale(["magnet"], "A", "C") == (
        'The answer depends on "magnet": without it, the answer would be (C); '
        "as written, the answer is (A)"
    )
    assert templates.counterfactual_rationale(["cold", "iron"], "B", "A") == (
        'The answer depends on "cold" and "iron": without them, the answer would be (A); '
        "as written, the answer is (B)"
    )
    assert templates.counterfactual_rationale(["wood"], "B", "D", "metal") == (
        'The answer depends on "wood": if it were "metal", the answer would be (D); '
        "as written, the answer is (B)"
    )


def test_context_prefill_and_summary(shots) -> None:
    texts = {
        shots[0].id: templates.counterfactual_rationale(["a"], shots[0].answer, "B"),
        shots[1].id: templates.counterfactual_rationale(["b"], shots[1].answer, "C", "c"),
    }
    context = build_context("counterfactual", shots[:2], texts, keywords=2, steps=1)
    assert context.prefill == templates.COUNTERFACTUAL_OPENING
    assert context.instruction == templates.INSTRUCTION_COUNTERFACTUAL
    records = [
        {"found": True, "kind": "removal", "words_changed": 2, "seconds": 1.0},
        {"found": True, "kind": "replacement", "words_changed": 1, "seconds": 2.0},
        {"found": False, "kind": None, "words_changed": 0, "seconds": 3.0},
        None,
    ]
    summary = cf.summarize(records)
    assert summary["shots"] == 3 and summary["found"] == 2
    assert summary["success_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert summary["mean_words_changed"] == 1.5
    assert summary["removal_share"] == 0.5 and summary["mean_seconds"] == 2.0


def test_pipeline_runs_counterfactual_end_to_end(
    tiny_model_dir, tiny_dataset_dir, tiny_loaded
) -> None:
    config = RunConfig(
        model=str(tiny_model_dir),
        dataset=str(tiny_dataset_dir),
        methods=("counterfactual",),
        strategy="random",
        shots=3,
        keywords=2,
        steps=1,
        test_limit=2,
        rationale_tokens=5,
        eval_tokens=8,
        batch_size=4,
        device="cpu",
        span="question+choices",
    )
    events: list[tuple[str, dict]] = []
    result = pipeline.run_protocol(
        config,
        load_run_dataset(config),
        tiny_loaded,
        cache=MemoryCache(),
        events=lambda k, p: events.append((k, p)),
    )
    (method,) = result.methods
    assert method.method == "counterfactual" and len(method.rationales) == 3
    assert all(r.counterfactual is not None for r in method.rationales)
    data = method.to_json()
    assert data["counterfactual"]["shots"] == 3
    assert data["counterfactual"]["found"] == sum(
        r.counterfactual["found"] for r in method.rationales
    )
    assert method.score.n == 2
    assert any(k == "counterfactual_summary" for k, _ in events)
    for shot in data["shots"]:
        assert shot["rationale"].endswith(")") and "the answer is (" in shot["rationale"]


def test_bench_runs_and_reports(tiny_model_dir, tiny_dataset_dir, capsys) -> None:
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "counterfactual.py"
    spec = importlib.util.spec_from_file_location("bench_counterfactual", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = ["--model", str(tiny_model_dir), "--datasets", str(tiny_dataset_dir), "--shots", "2"]
    args += ["--strategy", "random", "--keywords", "2", "--spans", "question+choices,question"]
    args += ["--device", "cpu", "--batch-size", "4", "--json"]
    assert module.main(args) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [row["span"] for row in figures["rows"]] == ["question+choices", "question"]
    for row in figures["rows"]:
        assert row["shots"] == 2 and 0 <= row["found"] <= 2 and row["bound"] == 2
        assert row["seconds_per_shot"] > 0
