"""The attribution methods: post hoc scores for the words of an attribution target (the prompt,
the gold label's token and the words of the attribution span: core/attribution_target.py).

The explained output is the score of the gold label's token at the last position of the
zero-shot prompt whose assistant turn is pre-filled with "The answer is (":
- DeepLift (captum) explains the pre-softmax logit, with the explained words' embeddings replaced
  by the pad token's embedding as the baseline. On transformer LMs captum's rescale rules cover
  few layer types (not SiLU/GELU, attention or RMSNorm). When the model has none of them,
  captum's DeepLift equals (x - x') * gradient at the embeddings, computed here directly in one
  forward and one backward pass of the input alone; otherwise captum runs (batch of two).
- KernelSHAP (shap) explains the log-probability; features are words, a word is removed by
  replacing its tokens with the pad token; coalitions are evaluated many per forward pass as a
  prefix tree: the prompt before the first explained token, and every prefix that several
  coalitions share, runs once (``LanguageModel.label_log_probs_tree``). By default they are
  scored in rounds until the top-k words are stable, ``samples`` being the bound
  (``core.kernel_shap``); ``adaptive=False`` scores all of them.
- leave_one_out (feature ablation) and random are sanity baselines.
A word's score is the sum of its own sub-tokens' scores; ``explain`` builds the target and runs
one method.
"""

from __future__ import annotations

import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch

# coalition_scorer is looked up here at call time, so the benches can wrap it
from core.attribution_target import AttributionTarget, build_target, coalition_scorer
from core.errors import ConfigError
from core.lm import LanguageModel
from core.progress import CancelToken
from core.prompts import PromptRenderer
from core.samples import Sample
from core.words import min_shap_samples, top_k_words, word_scores

ATTRIBUTION_METHODS = ("deeplift", "kernelshap", "leave_one_out", "random")


@dataclass(frozen=True)
class Attribution:
    method: str
    sample_id: str
    label: str
    words: list[str]
    word_scores: list[float]
    tokens: list[str]  # the explained tokens, in order
    token_scores: list[float]
    token_words: list[int]  # for each explained token, its word index
    top_words: list[str]
    seconds: float
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attribution:
        return cls(**data)


def _finish(
    method: str,
    target: AttributionTarget,
    token_level: list[float],
    per_word: list[float],
    k: int,
    started: float,
    params: dict[str, Any],
) -> Attribution:
    positions = target.explained_positions
    top = top_k_words(target.words, per_word, k)
    return Attribution(
        method=method,
        sample_id=target.sample_id,
        label=target.label,
        words=[w.text for w in target.words],
        word_scores=[float(s) for s in per_word],
        tokens=[target.tokens[i] for i in positions],
        token_scores=[float(token_level[i]) for i in positions],
        token_words=[target.token_words[i] for i in positions],
        top_words=[w.clean for w in top],
        seconds=round(time.perf_counter() - started, 4),
        params=params,
    )


def _spread(target: AttributionTarget, per_word: list[float]) -> list[float]:
    """Token-level view of word scores: each word's score shared among its tokens."""
    counts = [0] * len(target.words)
    for w in target.token_words:
        if w >= 0:
            counts[w] += 1
    return [per_word[w] / counts[w] if w >= 0 and counts[w] else 0.0 for w in target.token_words]


def deeplift_inputs(
    lm: LanguageModel, target: AttributionTarget
) -> tuple[torch.Tensor, torch.Tensor]:
    """The prompt's input embeddings and DeepLift's baseline: the same with every explained
    token's embedding replaced by the pad token's."""
    ids = torch.tensor([target.prompt_ids], device=lm.device)
    embedding = lm.model.get_input_embeddings()
    with torch.no_grad():
        embeds = embedding(ids).detach()
        pad_vector = embedding(torch.tensor([lm.pad_id], device=lm.device))[0]
    baseline = embeds.clone()
    for position in target.explained_positions:
        baseline[0, position] = pad_vector
    return embeds, baseline


def _has_deeplift_rules(model: Any) -> bool:
    """Whether captum's DeepLift would apply a rescale rule inside ``model`` (a layer type it
    supports, e.g. ReLU, Sigmoid, Tanh, Softmax modules). Without one, captum's DeepLift equals
    (input - baseline) x the gradient at the input."""
    try:
        from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR
    except ImportError:  # a captum that moved it: take captum's own path
        return True
    supported = tuple(SUPPORTED_NON_LINEAR)
    return any(type(module) in supported for module in model.modules())


def deeplift(lm: LanguageModel, target: AttributionTarget, *, k: int) -> Attribution:
    started = time.perf_counter()
    embeds, baseline = deeplift_inputs(lm, target)
    scorer = _LastLogit(lm.model)
    if _has_deeplift_rules(lm.model):
        from captum.attr import DeepLift

        explainer = DeepLift(scorer)
        with torch.enable_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
            attributions = explainer.attribute(
                embeds.requires_grad_(True), baselines=baseline, target=target.label_id
            )
    else:
        # What captum computes here, without its batch of two (input and baseline): no layer
        # has a rescale rule, so the multipliers are the gradient at the input. One forward
        # (last position only) and one backward pass, batch of one.
        inputs = embeds.requires_grad_(True)
        with torch.enable_grad():
            logit = scorer(inputs)[0, target.label_id]
            (gradient,) = torch.autograd.grad(logit, inputs)
        attributions = (inputs.detach() - baseline) * gradient
    token_level = attributions[0].sum(dim=-1).detach().float().cpu().tolist()
    per_word = word_scores(token_level, target.token_words, len(target.words))
    return _finish(
        "deeplift",
        target,
        token_level,
        per_word,
        k,
        started,
        {"baseline": "pad_embedding", "output": "logit"},
    )


class _LastLogit(torch.nn.Module):
    """Wraps a causal LM: input embeddings -> last position's logits (only that position)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        out = self.model(inputs_embeds=inputs_embeds, use_cache=False, logits_to_keep=1)
        return out.logits[:, -1, :]


def kernelshap(
    lm: LanguageModel,
    target: AttributionTarget,
    *,
    k: int,
    samples: int = 350,
    seed: int = 0,
    batched: bool = True,
    adaptive: bool = True,
    cancel: CancelToken | None = None,
) -> Attribution:
    """``samples`` coalitions (shap.KernelExplainer), or with ``adaptive`` at most ``samples``:
    scored in rounds until the top-k words are stable (``core.kernel_shap``)."""
    import shap

    started = time.perf_counter()
    n_words = len(target.words)
    if samples < min_shap_samples(n_words):
        raise ConfigError(
            f"KernelSHAP needs at least {min_shap_samples(n_words)} samples for the {n_words} words "
            f"of sample {target.sample_id!r} (2 per word + 2), not {samples}; raise --shap-samples"
        )
    f = coalition_scorer(lm, target, batched=batched, cancel=cancel)
    if adaptive:
        return _adaptive_kernelshap(target, f, k=k, samples=samples, seed=seed, started=started)
    np.random.seed(_sample_seed(seed, target.sample_id))
    explainer = shap.KernelExplainer(f, np.zeros((1, n_words)))
    values = explainer.shap_values(
        np.ones((1, n_words)), nsamples=samples, l1_reg=False, silent=True
    )
    per_word = [float(v) for v in np.asarray(values).reshape(-1)[:n_words]]
    _check_efficiency(per_word, float(explainer.fx[0] - explainer.fnull[0]), target.sample_id)
    params = {
        "samples": samples,
        "seed": seed,
        "masking": "pad_token",
        "output": "log_prob",
        "l1_reg": False,
    }
    return _finish("kernelshap", target, _spread(target, per_word), per_word, k, started, params)


def _adaptive_kernelshap(
    target: AttributionTarget,
    f: Callable[[np.ndarray], np.ndarray],
    *,
    k: int,
    samples: int,
    seed: int,
    started: float,
) -> Attribution:
    from core.kernel_shap import adaptive_kernel_shap

    result = adaptive_kernel_shap(
        f, target.words, k=k, samples=samples, seed=_sample_seed(seed, target.sample_id)
    )
    _check_efficiency(result.values, result.f_full - result.f_empty, target.sample_id)
    params = {
        "samples": samples,
        "seed": seed,
        "masking": "pad_token",
        "output": "log_prob",
        "l1_reg": False,
        **result.params(),
    }
    values = result.values
    return _finish("kernelshap", target, _spread(target, values), values, k, started, params)


def _check_efficiency(per_word: list[float], total: float, sample_id: str) -> None:
    """SHAP values add up to f(all words) - f(no words); a solution that does not (or is not
    finite) comes from an ill-conditioned regression and must not become a rationale."""
    spread = sum(abs(v) for v in per_word)
    finite = all(np.isfinite(v) for v in per_word)
    if not finite or abs(sum(per_word) - total) > 1e-3 * max(1.0, abs(total)) or spread > 1e6:
        raise ConfigError(
            f"KernelSHAP's regression for sample {sample_id!r} is ill-conditioned; "
            "raise --shap-samples"
        )


def leave_one_out(
    lm: LanguageModel, target: AttributionTarget, *, k: int, cancel: CancelToken | None = None
) -> Attribution:
    started = time.perf_counter()
    n_words = len(target.words)
    masks = np.ones((n_words + 1, n_words))
    for w in range(n_words):
        masks[w + 1, w] = 0
    scores = coalition_scorer(lm, target, cancel=cancel)(masks)
    per_word = [float(scores[0] - scores[w + 1]) for w in range(n_words)]
    return _finish(
        "leave_one_out",
        target,
        _spread(target, per_word),
        per_word,
        k,
        started,
        {"masking": "pad_token", "output": "log_prob"},
    )


def random_attribution(target: AttributionTarget, *, k: int, seed: int = 0) -> Attribution:
    started = time.perf_counter()
    rng = np.random.default_rng(_sample_seed(seed, target.sample_id))
    per_word = [float(v) for v in rng.standard_normal(len(target.words))]
    return _finish(
        "random", target, _spread(target, per_word), per_word, k, started, {"seed": seed}
    )


def _sample_seed(seed: int, sample_id: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(sample_id.encode())) % (2**32)


def explain(
    lm: LanguageModel,
    renderer: PromptRenderer,
    sample: Sample,
    method: str,
    *,
    k: int,
    shap_samples: int = 350,
    seed: int = 0,
    span: str = "question+choices",
    shap_adaptive: bool = True,
    cancel: CancelToken | None = None,
) -> Attribution:
    """Explain the gold label of ``sample`` with ``method`` over the words of ``span``; top-k
    words in reading order."""
    target = build_target(lm, renderer, sample, span=span)
    if not target.explained_positions:
        raise ConfigError(f"sample {sample.id!r} has no words to explain")
    if method == "deeplift":
        result = deeplift(lm, target, k=k)
    elif method == "kernelshap":
        result = kernelshap(
            lm, target, k=k, samples=shap_samples, seed=seed, adaptive=shap_adaptive, cancel=cancel
        )
    elif method == "leave_one_out":
        result = leave_one_out(lm, target, k=k, cancel=cancel)
    elif method == "random":
        result = random_attribution(target, k=k, seed=seed)
    else:
        raise ConfigError(
            f"unknown attribution method {method!r}; use one of {', '.join(ATTRIBUTION_METHODS)}"
        )
    return replace(result, params={**result.params, "span": span})
