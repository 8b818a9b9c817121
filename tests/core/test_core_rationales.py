"""Rationales: keyword parsing, templates of generated rationales, K checks, cache reuse."""

from __future__ import annotations

import re

import pytest

from core import templates
from core.cache import ATTRIBUTION, RATIONALE, MemoryCache
from core.errors import ConfigError
from core.rationales import (
    RationaleSettings,
    _generation_prompt,
    check_keywords,
    clean_explanation,
    make_rationales,
    parse_keywords,
)
from core.samples import Choice, Sample
from core.workbench import Workbench
from tests import tiny

VERSIONS = {"transformers": "x", "captum": "y", "shap": "z"}


def _make(lm, renderer, shots, method, settings, cache=None, **kwargs):
    bench = Workbench(
        lm=lm,
        renderer=renderer,
        model_key="tiny",
        versions=VERSIONS,
        cache=cache if cache is not None else MemoryCache(),
        **kwargs,
    )
    return make_rationales(bench, shots, method, settings)


@pytest.mark.parametrize(
    ("generated", "k", "expected"),
    [
        ('water", "energy", and "light".', 3, ["water", "energy", "light"]),
        ('water" and "energy" are important', 2, ["water", "energy"]),
        ('water", "energy", "light", "heat"', 2, ["water", "energy"]),
        ('Water", "water", "ice"', 3, ["Water", "ice"]),
        ('sun", "moon",\n"stars"', 3, ["sun", "moon"]),
        ('  iron nails ", ", ", "magnet."', 3, ["iron nails", "magnet"]),
        ("", 3, []),
        ('", "', 2, []),
    ],
)
def test_parse_keywords(generated: str, k: int, expected: list[str]) -> None:
    assert parse_keywords(generated, k) == expected


def test_clean_explanation() -> None:
    assert clean_explanation("  First,  plants\nneed light.  ") == "First, plants need light"
    assert clean_explanation("a;; ") == "a"
    assert clean_explanation("") == ""


def test_k_larger_than_the_words_is_refused_before_any_work(
    tiny_lm, tiny_renderer, monkeypatch
) -> None:
    shot = Sample("short", "Is the sky blue?", (Choice("A", "yes"), Choice("B", "no")), "A")
    # content words: sky, blue, yes ("is", "the", "no" are stop words)
    check_keywords([shot], 3)
    with pytest.raises(
        ConfigError, match="--keywords 4 is more than the 3 content words of shot 'short'"
    ):
        check_keywords([shot], 4)

    def fail(*args, **kwargs):
        raise AssertionError("no model call expected")

    monkeypatch.setattr(tiny_lm, "label_log_probs", fail)
    monkeypatch.setattr(tiny_lm, "generate", fail)
    for method in ("deeplift", "kernelshap", "self_topk"):
        with pytest.raises(ConfigError, match="--keywords 4"):
            _make(tiny_lm, tiny_renderer, [shot], method, RationaleSettings(keywords=4))
    with pytest.raises(ConfigError, match="unknown rationale method"):
        _make(tiny_lm, tiny_renderer, [shot], "magic", RationaleSettings())


def test_attribution_rationales_follow_the_keyword_template(tiny_lm, tiny_renderer) -> None:
    shots = tiny.samples(2, seed=21)
    events: list[tuple[str, dict]] = []
    cache = MemoryCache()
    settings = RationaleSettings(keywords=3, seed=0)
    rationales = _make(
        tiny_lm,
        tiny_renderer,
        shots,
        "deeplift",
        settings,
        cache=cache,
        events=lambda k, p: events.append((k, p)),
    )
    for shot, rationale in zip(shots, rationales, strict=True):
        assert rationale.sample_id == shot.id and rationale.answer == shot.answer
        assert len(rationale.keywords) == 3
        assert rationale.keywords == rationale.attribution["top_words"]
        assert rationale.text == templates.keyword_rationale(rationale.keywords, shot.answer)
        assert rationale.text.startswith("The 3 keywords ")
        assert rationale.text.endswith(f"important to predict that the answer is ({shot.answer})")
        for word in rationale.keywords:
            assert (
                word.lower()
                in (shot.question + " " + " ".join(c.text for c in shot.choices)).lower()
            )
    kinds = sorted({kind for kind, _ in cache._items})
    assert kinds == [ATTRIBUTION, RATIONALE]
    assert [kind for kind, _ in events].count("tokens") == 2


def test_ph_cot_rationales_are_generated_text_in_the_template(tiny_lm, tiny_renderer) -> None:
    shots = tiny.samples(3, seed=22)
    settings = RationaleSettings(steps=2, max_new_tokens=6)
    rationales = _make(tiny_lm, tiny_renderer, shots, "ph_cot", settings)
    for shot, rationale in zip(shots, rationales, strict=True):
        match = re.fullmatch(
            r"2-step rationale: (.*), therefore the answer is \(([A-D])\)", rationale.text, re.S
        )
        assert match, rationale.text
        assert match.group(2) == shot.answer
        assert match.group(1) == clean_explanation(rationale.generated)
        assert "<|im_end|>" not in rationale.text and "\n" not in rationale.text
    assert any(r.generated.strip() for r in rationales), "the model generated some text"
    prompt = tiny_renderer.tokenizer.decode(
        _generation_prompt(tiny_renderer, shots[0], "ph_cot", settings)
    )
    assert "generate a concise 2-step explanation" in prompt
    assert prompt.endswith(f"The answer is ({shots[0].answer}), 2-step explanation: ")


def test_self_topk_and_auto_cot_templates(tiny_lm, tiny_renderer) -> None:
    shots = tiny.samples(2, seed=23)
    settings = RationaleSettings(keywords=2, max_new_tokens=8)
    for rationale, shot in zip(
        _make(tiny_lm, tiny_renderer, shots, "self_topk", settings), shots, strict=True
    ):
        assert rationale.keywords == parse_keywords(rationale.generated, 2)
        if rationale.keywords:
            assert rationale.text == templates.keyword_rationale(rationale.keywords, shot.answer)
        else:
            assert rationale.text == f"The answer is ({shot.answer})"
    prompt = tiny_renderer.tokenizer.decode(
        _generation_prompt(tiny_renderer, shots[0], "self_topk", settings)
    )
    assert prompt.endswith(
        f'The answer is ({shots[0].answer}), the 2 most important keywords to make the prediction are "'
    )
    for rationale, shot in zip(
        _make(tiny_lm, tiny_renderer, shots, "auto_cot", settings), shots, strict=True
    ):
        assert rationale.text.startswith("Let's think step by step. ")
        assert rationale.text.endswith(f"Therefore, the answer is ({shot.answer})")
    prompt = tiny_renderer.tokenizer.decode(
        _generation_prompt(tiny_renderer, shots[0], "auto_cot", settings)
    )
    assert prompt.endswith("<|im_start|>assistant\nLet's think step by step.")


def test_rationales_are_reused_from_the_cache(tiny_lm, tiny_renderer, monkeypatch) -> None:
    shots = tiny.samples(2, seed=24)
    cache = MemoryCache()
    settings = RationaleSettings(keywords=2, steps=1, max_new_tokens=5, shap_samples=64)
    first = {
        m: _make(tiny_lm, tiny_renderer, shots, m, settings, cache=cache)
        for m in ("ph_cot", "random", "leave_one_out")
    }
    size = len(cache)

    def fail(*args, **kwargs):
        raise AssertionError("a cached rationale was recomputed")

    monkeypatch.setattr(tiny_lm, "label_log_probs", fail)
    monkeypatch.setattr(tiny_lm, "generate", fail)
    for method, rationales in first.items():
        assert _make(tiny_lm, tiny_renderer, shots, method, settings, cache=cache) == rationales
    assert len(cache) == size
    # a different seed is a different random rationale (not served from the cache)
    other = _make(
        tiny_lm, tiny_renderer, shots, "random", RationaleSettings(keywords=2, seed=9), cache=cache
    )
    assert [r.keywords for r in other] != [r.keywords for r in first["random"]] or len(cache) > size
