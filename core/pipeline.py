"""The whole Self-AMPLIFY protocol for one configuration: select, explain, build, evaluate.

Every intermediate result goes through a ResultCache, so a re-run of the same configuration
reuses stored work and an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from core.amplify import amplify_rationales, select_amplify_shots
from core.attribution import ATTRIBUTION_METHODS
from core.cache import MemoryCache, ResultCache, content_hash
from core.cloze import ClozeFormat
from core.config import RunConfig
from core.counterfactual import summarize as summarize_counterfactuals
from core.errors import ConfigError
from core.evaluation import EvalSettings, MethodScore, build_context, evaluate
from core.faithfulness import FAITHFULNESS_METHODS, method_faithfulness
from core.influence import method_influence
from core.progress import CancelToken, EventSink, ProgressCallback, no_events, no_progress
from core.rationales import (
    RATIONALE_METHODS,
    Rationale,
    RationaleSettings,
    make_rationales,
    preview_heatmaps,
)
from core.run_inputs import test_items
from core.samples import Dataset, Sample
from core.selection import Candidate, select_shots
from core.shot_search import SearchResult, search_shots
from core.spans import SPAN_METHODS, resolve_span
from core.stats import mcnemar_exact
from core.versions import library_versions
from core.workbench import Workbench

if TYPE_CHECKING:
    from core.models import LoadedModel


@dataclass
class MethodResult:
    method: str
    score: MethodScore
    context: dict[str, Any]  # the prompt-version content: messages, context text, shots, prefill
    rationales: list[Rationale]
    rationale_seconds: float
    vs_io: dict[str, Any] | None = None
    dev_accuracy: float | None = None  # with --search: the chosen shots' io accuracy on dev
    influence: list[dict[str, Any]] | None = None  # with --influence: per shot (core/influence.py)
    faithfulness: dict[str, Any] | None = None  # keyword methods: core/faithfulness.py summary

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "accuracy": self.score.accuracy,
            "ci95": list(self.score.ci95),
            "n": self.score.n,
            "parse_failures": self.score.parse_failures,
            "seconds": round(self.score.seconds + self.rationale_seconds, 3),
            "eval_seconds": self.score.seconds,
            "rationale_seconds": round(self.rationale_seconds, 3),
            "context": self.context["context"],
            "shots": [{"id": s["id"], "rationale": s["rationale"]} for s in self.context["shots"]],
            "predictions": [
                {"id": p.id, "gold": p.gold, "pred": p.pred, "correct": p.correct}
                for p in self.score.predictions
            ],
            "vs_io": self.vs_io,
            "dev_accuracy": self.dev_accuracy,
            "influence": self.influence,
            "faithfulness": self.faithfulness,
            "counterfactual": (  # share of shots with a verified counterfactual, words changed
                summarize_counterfactuals([r.counterfactual for r in self.rationales])
                if self.method == "counterfactual"
                else None
            ),
        }


@dataclass
class RunResult:
    config: RunConfig
    model_info: dict[str, Any]
    dataset_info: dict[str, Any]
    versions: dict[str, str]
    device: str
    shots: list[Sample]
    candidates: list[Candidate]
    methods: list[MethodResult] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.config.model,
            "dataset": self.config.dataset,
            "seed": self.config.seed,
            "config": self.config.to_dict(),
            "device": self.device,
            "versions": self.versions,
            "model_info": self.model_info,
            "dataset_info": self.dataset_info,
            "selection": {
                "strategy": self.config.strategy,
                "shots": [s.id for s in self.shots],
                "candidates_scored": len(self.candidates),
            },
            "results": [m.to_json() for m in self.methods],
            "seconds": round(self.seconds, 3),
        }


def model_key(
    ref: str, info: dict[str, Any], device: str, dtype: str, versions: dict[str, str]
) -> str:
    return content_hash(
        {
            "ref": ref,
            "path": info.get("path"),
            "parameters": info.get("parameters"),
            "device": device.split(":")[0],
            "dtype": dtype,
            "transformers": versions.get("transformers"),
            "torch": versions.get("torch"),
        }
    )


def lineage_name(config: RunConfig, method: str) -> str:
    """A readable, stable lineage: model.dataset.method.strategy.nN (no path separators)."""

    def short(ref: str) -> str:
        tail = ref.split(":", 1)[-1].rstrip("/").split("/")[-1]
        return "".join(
            ch if ch.isalnum() or ch in "-_" else "-" for ch in tail.removesuffix(".gguf")
        )

    if method == "zero_shot":  # no shots: strategy and n say nothing about it
        return f"{short(config.model)}.{short(config.dataset)}.zero_shot"
    if method == "amplify":  # the proxy chooses the shots: the strategy says nothing about them
        proxy = short(config.proxy_model or "proxy")
        return f"{short(config.model)}.{short(config.dataset)}.amplify.{proxy}.n{config.shots}"
    return (
        f"{short(config.model)}.{short(config.dataset)}.{method}.{config.strategy}.n{config.shots}"
    )


def run_protocol(
    config: RunConfig,
    dataset: Dataset,
    loaded: LoadedModel,
    *,
    cache: ResultCache | None = None,
    run_id: str | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    events: EventSink = no_events,
    on_method: Callable[[MethodResult], None] | None = None,
    proxy: LoadedModel | None = None,
) -> RunResult:
    """Select, explain, build and evaluate with an already loaded dataset and model (the jobs
    layer loads them, so that bad input is refused before any model is loaded)."""
    import numpy as np
    import torch

    from core.lm import LanguageModel
    from core.prompts import PromptRenderer

    config.validate()
    cache = cache if cache is not None else MemoryCache()
    started = time.perf_counter()
    items = test_items(dataset, config)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    versions = library_versions()
    key = model_key(config.model, loaded.info, loaded.device, loaded.dtype, versions)
    lm = LanguageModel(loaded.model, loaded.tokenizer, batch_size=config.batch_size)
    renderer = PromptRenderer(loaded.tokenizer)
    bench = Workbench(
        lm=lm,
        renderer=renderer,
        model_key=key,
        cache=cache,
        versions=versions,
        run_id=run_id,
        progress=progress,
        cancel=cancel,
        events=events,
    )
    cloze = ClozeFormat(config.cloze_choices == "listed", config.cloze_norm)
    eval_settings = EvalSettings(
        answer_mode=config.answer_mode, max_new_tokens=config.eval_tokens, cloze=cloze
    )
    context_cloze = cloze if config.answer_mode == "cloze" else None
    shots: list[Sample] = []
    candidates: list[Candidate] = []
    search: SearchResult | None = None
    if config.needs_shots and config.search > 1:
        search = search_shots(
            bench,
            dataset.pool,
            strategy=config.strategy,
            n=config.shots,
            seed=config.seed,
            candidates=config.search,
            dev_size=config.dev_size,
            settings=eval_settings,
            balance_labels=config.balance_labels,
            cloze=context_cloze,
        )
        shots, candidates = search.shots, search.candidates
    elif config.needs_shots:
        shots, candidates = select_shots(
            bench,
            dataset.pool,
            strategy=config.strategy,
            n=config.shots,
            seed=config.seed,
            balance_labels=config.balance_labels,
        )
        events("shots", {"shots": [s.id for s in shots]})
    settings = RationaleSettings(
        keywords=config.keywords,
        steps=config.steps,
        shap_samples=config.shap_samples,
        shap_adaptive=config.shap_adaptive,
        max_new_tokens=config.rationale_tokens,
        seed=config.seed,
        span=resolve_span(config.span, dataset.pool),
    )
    if shots and events is not no_events and not set(config.methods) & set(ATTRIBUTION_METHODS):
        preview_heatmaps(bench, shots, settings)
    result = RunResult(
        config=config,
        model_info={**loaded.info, "dtype": loaded.dtype},
        dataset_info={
            "name": dataset.name,
            "source": dataset.source,
            "pool": len(dataset.pool),
            "test": len(dataset.test),
            "split": dataset.split,
        },
        versions=versions,
        device=loaded.device,
        shots=shots,
        candidates=candidates,
    )
    proxy_bench = _proxy_bench(config, proxy, bench) if "amplify" in config.methods else None
    for method in config.methods:
        bench.check_cancelled()
        rationales: list[Rationale] = []
        method_shots = shots
        rationale_started = time.perf_counter()
        if method in RATIONALE_METHODS:
            rationales = make_rationales(bench, shots, method, settings)
        elif method == "amplify" and proxy_bench is not None:
            picked = select_amplify_shots(
                bench, proxy_bench, dataset.pool, n=config.shots, seed=config.seed
            )
            method_shots = [shot.sample for shot in picked]
            rationales = amplify_rationales(proxy_bench, method_shots, settings)
        rationale_seconds = time.perf_counter() - rationale_started
        faithfulness = (  # on the model that reads the rationales (amplify's too)
            method_faithfulness(bench, method_shots, rationales, settings)
            if method in FAITHFULNESS_METHODS
            else None
        )
        context = build_context(
            method,
            method_shots,
            {r.sample_id: r.text for r in rationales},
            keywords=config.keywords,
            steps=config.steps,
            cloze=context_cloze,
        )
        score = evaluate(bench, context, items, eval_settings)
        influence = method_influence(
            bench,
            config,
            dataset,
            method,
            method_shots,
            {r.sample_id: r.text for r in rationales},
            items,
            eval_settings,
            context_cloze,
        )
        content = context.to_content(renderer)
        content.update(
            model=config.model,
            dataset=config.dataset,
            config={
                "strategy": config.strategy,
                "shots": config.shots if method != "zero_shot" else 0,
                "keywords": config.keywords,
                "steps": config.steps,
                "seed": config.seed,
                "shap_samples": config.shap_samples,
                "shap_adaptive": config.shap_adaptive,
                "rationale_tokens": config.rationale_tokens,
                "balance_labels": config.balance_labels,
                **({"span": settings.span} if method in SPAN_METHODS else {}),
                **({"proxy_model": config.proxy_model} if method == "amplify" else {}),
                **({"search": search.to_dict()} if search and method_shots is shots else {}),
            },
        )
        dev_accuracy = search.dev_accuracy if search and method_shots is shots else None
        method_result = MethodResult(
            method,
            score,
            content,
            rationales,
            rationale_seconds,
            dev_accuracy=dev_accuracy,
            influence=influence,
            faithfulness=faithfulness,
        )
        result.methods.append(method_result)
        if on_method is not None:
            on_method(method_result)
    _paired_tests(result)
    result.seconds = time.perf_counter() - started
    return result


def _proxy_bench(config: RunConfig, proxy: LoadedModel | None, target: Workbench) -> Workbench:
    """The proxy model's workbench for AMPLIFY (its own key: its results are stored apart)."""
    from core.lm import LanguageModel
    from core.prompts import PromptRenderer

    if proxy is None or not config.proxy_model:
        raise ConfigError("the amplify method needs a loaded proxy model (--proxy-model)")
    return replace(
        target,
        lm=LanguageModel(proxy.model, proxy.tokenizer, batch_size=config.batch_size),
        renderer=PromptRenderer(proxy.tokenizer),
        model_key=model_key(
            config.proxy_model, proxy.info, proxy.device, proxy.dtype, target.versions
        ),
    )


def _paired_tests(result: RunResult) -> None:
    io = next((m for m in result.methods if m.method == "io"), None)
    if io is None:
        return
    baseline = [p.correct for p in io.score.predictions]
    for method in result.methods:
        if method is not io:
            method.vs_io = mcnemar_exact([p.correct for p in method.score.predictions], baseline)
