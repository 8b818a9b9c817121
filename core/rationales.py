"""Step 2 of Self-AMPLIFY: rationales for the chosen shots, always conditioned on the gold answer.

- attribution methods (deeplift, kernelshap, leave_one_out, random): top-k words -> keyword template;
- self_topk: the model names the k most important keywords given the answer;
- ph_cot: the model writes a p-step explanation given the answer;
- auto_cot: the model's own "Let's think step by step" reasoning (a baseline; not given the answer).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from core import templates
from core.attribution import ATTRIBUTION_METHODS, explain
from core.cache import ATTRIBUTION, RATIONALE, ResultCache, content_hash
from core.errors import ConfigError
from core.lm import LanguageModel
from core.progress import CancelToken, Progress, ProgressCallback, no_progress
from core.prompts import PromptRenderer, format_question, question_layout, strip_special_tokens
from core.samples import Sample
from core.selection import sample_key
from core.words import count_rankable, split_words

GENERATED_METHODS = ("self_topk", "ph_cot", "auto_cot")
RATIONALE_METHODS = ATTRIBUTION_METHODS + GENERATED_METHODS
KEYWORD_METHODS = ATTRIBUTION_METHODS + ("self_topk",)

EventSink = Callable[[str, dict[str, Any]], None]


def no_events(kind: str, payload: dict[str, Any]) -> None:
    """An event sink that drops everything."""


@dataclass(frozen=True)
class RationaleSettings:
    keywords: int = 4
    steps: int = 3
    shap_samples: int = 350
    max_new_tokens: int = 128
    seed: int = 0


@dataclass(frozen=True)
class Rationale:
    method: str
    sample_id: str
    answer: str
    text: str  # the demo's assistant turn: rationale and "the answer is (y)"
    keywords: list[str] = field(default_factory=list)
    generated: str = ""  # raw model output, for generated methods
    attribution: dict[str, Any] | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_keywords(samples: Sequence[Sample], k: int) -> None:
    """Refuse k larger than the number of content words of any shot."""
    for sample in samples:
        text, segments = question_layout(sample)
        available = count_rankable(split_words(text, segments))
        if k > available:
            raise ConfigError(
                f"--keywords {k} is more than the {available} content words of shot {sample.id!r}; use a smaller k"
            )


def make_rationales(
    lm: LanguageModel,
    renderer: PromptRenderer,
    shots: Sequence[Sample],
    method: str,
    settings: RationaleSettings,
    *,
    model_key: str,
    versions: dict[str, str],
    cache: ResultCache,
    run_id: str | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    events: EventSink = no_events,
) -> list[Rationale]:
    if method not in RATIONALE_METHODS:
        raise ConfigError(
            f"unknown rationale method {method!r}; use one of {', '.join(RATIONALE_METHODS)}"
        )
    if method in KEYWORD_METHODS:
        check_keywords(shots, settings.keywords)
    keys = [_rationale_key(method, shot, settings, model_key, versions) for shot in shots]
    results: dict[int, Rationale] = {}
    for i, key in enumerate(keys):
        hit = cache.get(RATIONALE, key)
        if hit is not None:
            results[i] = Rationale(**hit)
    todo = [i for i in range(len(shots)) if i not in results]
    done = len(results)
    progress(Progress(f"rationales:{method}", done, len(shots)))
    if method in ATTRIBUTION_METHODS:
        for i in todo:
            if cancel is not None:
                cancel.raise_if_cancelled()
            results[i] = _attribution_rationale(
                lm,
                renderer,
                shots[i],
                method,
                settings,
                model_key,
                versions,
                cache,
                run_id,
                cancel,
                events,
            )
            cache.put(RATIONALE, keys[i], results[i].to_dict(), run_id=run_id)
            done += 1
            events(
                "text",
                {
                    "stage": f"rationales:{method}",
                    "sample_id": shots[i].id,
                    "text": results[i].text,
                    "final": True,
                },
            )
            progress(Progress(f"rationales:{method}", done, len(shots), shots[i].id))
    elif todo:
        generated = _generate(
            lm, renderer, [shots[i] for i in todo], method, settings, cancel, events
        )
        for i, rationale in zip(todo, generated, strict=True):
            results[i] = rationale
            cache.put(RATIONALE, keys[i], rationale.to_dict(), run_id=run_id)
            events(
                "text",
                {
                    "stage": f"rationales:{method}",
                    "sample_id": shots[i].id,
                    "text": rationale.text,
                    "final": True,
                },
            )
        progress(Progress(f"rationales:{method}", len(shots), len(shots)))
    return [results[i] for i in range(len(shots))]


def _rationale_key(
    method: str, shot: Sample, settings: RationaleSettings, model_key: str, versions: dict[str, str]
) -> str:
    relevant: dict[str, Any] = {
        "kind": RATIONALE,
        "v": 1,
        "method": method,
        "model": model_key,
        "sample": sample_key(shot),
    }
    if method in KEYWORD_METHODS:
        relevant["k"] = settings.keywords
    if method == "ph_cot":
        relevant["p"] = settings.steps
    if method in GENERATED_METHODS:
        relevant["max_new_tokens"] = settings.max_new_tokens
        relevant["transformers"] = versions.get("transformers")
    if method == "kernelshap":
        relevant.update(
            samples=settings.shap_samples, seed=settings.seed, shap=versions.get("shap")
        )
    if method == "deeplift":
        relevant["captum"] = versions.get("captum")
    if method == "random":
        relevant["seed"] = settings.seed
    return content_hash(relevant)


def shot_attribution(
    lm: LanguageModel,
    renderer: PromptRenderer,
    shot: Sample,
    method: str,
    settings: RationaleSettings,
    *,
    model_key: str,
    versions: dict[str, str],
    cache: ResultCache,
    run_id: str | None = None,
    cancel: CancelToken | None = None,
    events: EventSink = no_events,
    stage: str | None = None,
) -> dict[str, Any]:
    """The stored attribution of a shot's gold label (computed once), emitted as a heatmap."""
    key = content_hash(
        {
            "kind": ATTRIBUTION,
            "v": 1,
            "method": method,
            "model": model_key,
            "sample": sample_key(shot),
            "k": settings.keywords,
            "samples": settings.shap_samples if method == "kernelshap" else None,
            "seed": settings.seed if method in ("kernelshap", "random") else None,
            "library": versions.get("captum" if method == "deeplift" else "shap"),
        }
    )
    stored = cache.get(ATTRIBUTION, key)
    if stored is None:
        attribution = explain(
            lm,
            renderer,
            shot,
            method,
            k=settings.keywords,
            shap_samples=settings.shap_samples,
            seed=settings.seed,
            cancel=cancel,
        )
        stored = {"model": model_key, **attribution.to_dict()}
        cache.put(ATTRIBUTION, key, stored, run_id=run_id)
    events(
        "tokens",
        {
            "stage": stage or f"rationales:{method}",
            "sample_id": shot.id,
            "method": method,
            "words": stored["words"],
            "scores": stored["word_scores"],
            "top": stored["top_words"],
        },
    )
    return stored


def _attribution_rationale(
    lm: LanguageModel,
    renderer: PromptRenderer,
    shot: Sample,
    method: str,
    settings: RationaleSettings,
    model_key: str,
    versions: dict[str, str],
    cache: ResultCache,
    run_id: str | None,
    cancel: CancelToken | None,
    events: EventSink,
) -> Rationale:
    stored = shot_attribution(
        lm,
        renderer,
        shot,
        method,
        settings,
        model_key=model_key,
        versions=versions,
        cache=cache,
        run_id=run_id,
        cancel=cancel,
        events=events,
    )
    keywords = list(stored["top_words"])
    return Rationale(
        method=method,
        sample_id=shot.id,
        answer=shot.answer,
        text=templates.keyword_rationale(keywords, shot.answer),
        keywords=keywords,
        attribution=stored,
        seconds=float(stored.get("seconds", 0.0)),
    )


def preview_heatmaps(
    lm: LanguageModel,
    renderer: PromptRenderer,
    shots: Sequence[Sample],
    settings: RationaleSettings,
    *,
    model_key: str,
    versions: dict[str, str],
    cache: ResultCache,
    run_id: str | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    events: EventSink = no_events,
) -> None:
    """DeepLift heatmaps of the shots for a watcher (the TUI) when no attribution method runs:
    one forward and one backward pass per shot; stored, so later runs reuse them."""
    for done, shot in enumerate(shots, start=1):
        if cancel is not None:
            cancel.raise_if_cancelled()
        text, segments = question_layout(shot)
        k = max(1, min(settings.keywords, count_rankable(split_words(text, segments))))
        shot_attribution(
            lm,
            renderer,
            shot,
            "deeplift",
            replace(settings, keywords=k),
            model_key=model_key,
            versions=versions,
            cache=cache,
            run_id=run_id,
            cancel=cancel,
            events=events,
            stage="heatmaps",
        )
        progress(Progress("heatmaps", done, len(shots), shot.id))


def _generation_prompt(
    renderer: PromptRenderer, shot: Sample, method: str, settings: RationaleSettings
) -> list[int]:
    y, k, p = shot.answer, settings.keywords, settings.steps
    if method == "self_topk":
        instruction, prefill = (
            templates.INSTRUCTION_KEYWORDS.format(k=k),
            templates.SELF_TOPK_PREFILL.format(y=y, k=k),
        )
    elif method == "ph_cot":
        instruction, prefill = (
            templates.INSTRUCTION_PH_COT.format(p=p),
            templates.PH_COT_PREFILL.format(y=y, p=p),
        )
    else:
        instruction, prefill = templates.INSTRUCTION_AUTO_COT, templates.AUTO_COT_OPENING
    messages = renderer.messages(
        instruction, [{"role": "user", "content": format_question(shot)}], prefill
    )
    return renderer.render(messages).ids


def _stop_rule(method: str, settings: RationaleSettings) -> Callable[[str], bool]:
    if method == "self_topk":
        return lambda text: "\n" in text or text.count('"') >= 2 * settings.keywords - 1
    if method == "auto_cot":
        return lambda text: "answer is" in text.lower() or "\n\n" in text
    return lambda text: "\n\n" in text


def _generate(
    lm: LanguageModel,
    renderer: PromptRenderer,
    shots: Sequence[Sample],
    method: str,
    settings: RationaleSettings,
    cancel: CancelToken | None,
    events: EventSink,
) -> list[Rationale]:
    started = time.perf_counter()
    prompts = [_generation_prompt(renderer, shot, method, settings) for shot in shots]

    def on_text(index: int, text: str) -> None:
        events(
            "text",
            {
                "stage": f"rationales:{method}",
                "sample_id": shots[index].id,
                "text": text,
                "final": False,
            },
        )

    generations = lm.generate(
        prompts,
        max_new_tokens=settings.max_new_tokens,
        stop_rule=_stop_rule(method, settings),
        cancel=cancel,
        on_text=on_text,
    )
    seconds = round((time.perf_counter() - started) / max(1, len(shots)), 4)
    out: list[Rationale] = []
    for shot, generation in zip(shots, generations, strict=True):
        raw = strip_special_tokens(generation.text, lm.tokenizer)
        if method == "self_topk":
            keywords = parse_keywords(raw, settings.keywords)
            text = (
                templates.keyword_rationale(keywords, shot.answer)
                if keywords
                else templates.io_answer(shot.answer)
            )
            out.append(Rationale(method, shot.id, shot.answer, text, keywords, raw, None, seconds))
        elif method == "ph_cot":
            explanation = clean_explanation(raw)
            out.append(
                Rationale(
                    method,
                    shot.id,
                    shot.answer,
                    templates.ph_cot_rationale(explanation, settings.steps, shot.answer),
                    [],
                    raw,
                    None,
                    seconds,
                )
            )
        else:
            reasoning = clean_explanation(re.split(r"(?i)(therefore,?\s*)?the answer is", raw)[0])
            if reasoning and not reasoning.endswith((".", "!", "?")):
                reasoning += "."
            out.append(
                Rationale(
                    method,
                    shot.id,
                    shot.answer,
                    templates.auto_cot_rationale(reasoning, shot.answer),
                    [],
                    raw,
                    None,
                    seconds,
                )
            )
    return out


_SEPARATOR = re.compile(r"^[\s,;.]*(and|or)?[\s,;.]*$", re.IGNORECASE)


def parse_keywords(generated: str, k: int) -> list[str]:
    """Keywords from a continuation of `... are "`: `w1", "w2", and "w3".` -> [w1, w2, w3]."""
    line = generated.split("\n", 1)[0]
    pieces = ('"' + line).split('"')
    quoted = [pieces[i] for i in range(1, len(pieces), 2)]
    keywords: list[str] = []
    for piece in quoted:
        word = piece.strip().strip(",.;:")
        if (
            word
            and not _SEPARATOR.match(word)
            and word.lower() not in (w.lower() for w in keywords)
        ):
            keywords.append(word)
        if len(keywords) == k:
            break
    return keywords


def clean_explanation(text: str) -> str:
    """One line of text: whitespace collapsed, trailing separators removed."""
    text = " ".join(text.split())
    return text.rstrip(" ,;:").rstrip(".") if text else text
