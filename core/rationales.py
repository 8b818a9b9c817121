"""Step 2 of Self-AMPLIFY: rationales for the chosen shots, always conditioned on the gold answer.

- attribution methods (deeplift, kernelshap, leave_one_out, random): top-k words -> keyword template;
- self_topk: the model names the k most important keywords given the answer;
- ph_cot: the model writes a p-step explanation given the answer;
- auto_cot: the model's own "Let's think step by step" reasoning (a baseline; not given the answer).
- counterfactual: the smallest verified edit of the span that flips the answer (core/counterfactual.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from core import templates
from core.attribution import ATTRIBUTION_METHODS, explain
from core.cache import ATTRIBUTION, RATIONALE, content_hash
from core.errors import ConfigError
from core.kernel_shap import ADAPTIVE_RULE
from core.progress import Progress
from core.prompts import PromptRenderer, format_question, strip_special_tokens
from core.samples import Sample, sample_key
from core.spans import content_words
from core.workbench import Workbench

GENERATED_METHODS = ("self_topk", "ph_cot", "auto_cot")
COUNTERFACTUAL = (
    "counterfactual"  # the smallest edit that flips the answer (core/counterfactual.py)
)
RATIONALE_METHODS = ATTRIBUTION_METHODS + GENERATED_METHODS + (COUNTERFACTUAL,)
KEYWORD_METHODS = ATTRIBUTION_METHODS + ("self_topk",)


@dataclass(frozen=True)
class RationaleSettings:
    keywords: int = 4
    steps: int = 3
    shap_samples: int = 350
    shap_adaptive: bool = True  # KernelSHAP stops once its top-k words are stable
    max_new_tokens: int = 128
    seed: int = 0
    span: str = "question+choices"  # the attribution span (core/spans.py), never "auto" here


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
    counterfactual: dict[str, Any] | None = None  # the edit's details (counterfactual method)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_keywords(samples: Sequence[Sample], k: int, span: str = "question+choices") -> None:
    """Refuse k larger than the number of content words of any shot."""
    for sample in samples:
        available = content_words(sample, span)
        if k > available:
            raise ConfigError(
                f"--keywords {k} is more than the {available} content words of shot {sample.id!r} "
                f"in the attribution span {span!r}; use a smaller k or a wider --span"
            )


def make_rationales(
    bench: Workbench, shots: Sequence[Sample], method: str, settings: RationaleSettings
) -> list[Rationale]:
    """The rationale of each shot for ``method`` (stored ones are reused), in shot order."""
    if method not in RATIONALE_METHODS:
        raise ConfigError(
            f"unknown rationale method {method!r}; use one of {', '.join(RATIONALE_METHODS)}"
        )
    if method in ATTRIBUTION_METHODS or method == COUNTERFACTUAL:
        check_keywords(shots, settings.keywords, settings.span)
    elif method in KEYWORD_METHODS:
        check_keywords(shots, settings.keywords)
    stage = f"rationales:{method}"
    keys = [_rationale_key(method, shot, settings, bench) for shot in shots]
    results: dict[int, Rationale] = {}
    for i, key in enumerate(keys):
        hit = bench.cache.get(RATIONALE, key)
        if hit is not None:
            results[i] = Rationale(**hit)
    todo = [i for i in range(len(shots)) if i not in results]
    bench.progress(Progress(stage, len(results), len(shots)))

    def keep(i: int, rationale: Rationale) -> None:
        results[i] = rationale
        bench.cache.put(RATIONALE, keys[i], rationale.to_dict(), run_id=bench.run_id)
        final = {"stage": stage, "sample_id": shots[i].id, "text": rationale.text, "final": True}
        bench.events("text", final)
        bench.progress(Progress(stage, len(results), len(shots), shots[i].id))

    if method in ATTRIBUTION_METHODS:
        for i in todo:
            bench.check_cancelled()
            keep(i, _attribution_rationale(bench, shots[i], method, settings))
    elif method == COUNTERFACTUAL:
        from core.counterfactual import counterfactual_rationale, summarize  # imports this module

        for i in todo:
            bench.check_cancelled()
            keep(i, counterfactual_rationale(bench, shots[i], settings))
        records = [results[i].counterfactual for i in range(len(shots))]
        bench.events("counterfactual_summary", {"stage": stage, **summarize(records)})
    elif todo:
        generated = _generate(bench, [shots[i] for i in todo], method, settings)
        for i, rationale in zip(todo, generated, strict=True):
            keep(i, rationale)
    return [results[i] for i in range(len(shots))]


def _rationale_key(method: str, shot: Sample, settings: RationaleSettings, bench: Workbench) -> str:
    model_key, versions = bench.model_key, bench.versions
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
        if settings.shap_adaptive:  # fixed-sample keys stay as they were
            relevant["adaptive"] = ADAPTIVE_RULE
    if method == "deeplift":
        relevant["captum"] = versions.get("captum")
    if method == "random":
        relevant["seed"] = settings.seed
    if method in ATTRIBUTION_METHODS:
        # v2: punctuation no longer lifts a word, and the span is a parameter
        relevant.update(v=2, span=settings.span)
    if method == COUNTERFACTUAL:
        from core.counterfactual import VERSION, edit_bound

        relevant.update(
            k=settings.keywords,
            bound=edit_bound(settings.keywords),
            span=settings.span,
            counterfactual=VERSION,
            captum=versions.get("captum"),
        )
    return content_hash(relevant)


def shot_attribution(
    bench: Workbench,
    shot: Sample,
    method: str,
    settings: RationaleSettings,
    *,
    stage: str | None = None,
) -> dict[str, Any]:
    """The stored attribution of a shot's gold label (computed once), emitted as a heatmap."""
    key = content_hash(
        {
            "kind": ATTRIBUTION,
            "v": 2,  # v2: punctuation no longer lifts a word, and the span is a parameter
            "span": settings.span,
            "method": method,
            "model": bench.model_key,
            "sample": sample_key(shot),
            "k": settings.keywords,
            "samples": settings.shap_samples if method == "kernelshap" else None,
            "seed": settings.seed if method in ("kernelshap", "random") else None,
            "library": bench.versions.get("captum" if method == "deeplift" else "shap"),
            **(
                {"adaptive": ADAPTIVE_RULE}
                if method == "kernelshap" and settings.shap_adaptive
                else {}
            ),
        }
    )
    stored = bench.cache.get(ATTRIBUTION, key)
    if stored is None:
        attribution = explain(
            bench.lm,
            bench.renderer,
            shot,
            method,
            k=settings.keywords,
            shap_samples=settings.shap_samples,
            shap_adaptive=settings.shap_adaptive,
            seed=settings.seed,
            span=settings.span,
            cancel=bench.cancel,
        )
        stored = {"model": bench.model_key, **attribution.to_dict()}
        bench.cache.put(ATTRIBUTION, key, stored, run_id=bench.run_id)
    bench.events(
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
    bench: Workbench, shot: Sample, method: str, settings: RationaleSettings
) -> Rationale:
    stored = shot_attribution(bench, shot, method, settings)
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
    bench: Workbench, shots: Sequence[Sample], settings: RationaleSettings
) -> None:
    """DeepLift heatmaps of the shots for a watcher (the TUI) when no attribution method runs:
    one forward and one backward pass per shot; stored, so later runs reuse them."""
    for done, shot in enumerate(shots, start=1):
        bench.check_cancelled()
        k = max(1, min(settings.keywords, content_words(shot, settings.span)))
        shot_attribution(bench, shot, "deeplift", replace(settings, keywords=k), stage="heatmaps")
        bench.progress(Progress("heatmaps", done, len(shots), shot.id))


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
    bench: Workbench, shots: Sequence[Sample], method: str, settings: RationaleSettings
) -> list[Rationale]:
    started = time.perf_counter()
    prompts = [_generation_prompt(bench.renderer, shot, method, settings) for shot in shots]
    stage = f"rationales:{method}"

    def on_text(index: int, text: str) -> None:
        partial = {"stage": stage, "sample_id": shots[index].id, "text": text, "final": False}
        bench.events("text", partial)

    generations = bench.lm.generate(
        prompts,
        max_new_tokens=settings.max_new_tokens,
        stop_rule=_stop_rule(method, settings),
        cancel=bench.cancel,
        on_text=on_text,
    )
    seconds = round((time.perf_counter() - started) / max(1, len(shots)), 4)
    out: list[Rationale] = []
    for shot, generation in zip(shots, generations, strict=True):
        raw = strip_special_tokens(generation.text, bench.lm.tokenizer)
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
