"""Step 3 of Self-AMPLIFY: build each method's n-shot chat context and score it on test items.

Demos and the test pre-fill come from the same templates. zero_shot and io are scored by the
label tokens' logits at the last position; methods whose demos carry a rationale generate one and
read "answer is (X)" from it (generation stops as soon as that is complete), or with
``answer_mode="label"`` stop at "answer is (" and take the argmax over the valid labels.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from core import templates
from core.answers import (
    ANSWER_PATTERN,
    CLOZE_ANSWER,
    OPEN_ANSWER,
    MethodScore,
    Prediction,
    read_answer,
)
from core.cache import PREDICTION, content_hash
from core.cloze import DEFAULT_CLOZE, ClozeFormat, cloze_predictions
from core.errors import ConfigError
from core.progress import Progress
from core.prompts import Message, PromptRenderer, Rendered, format_question
from core.rationales import KEYWORD_METHODS, RATIONALE_METHODS
from core.samples import Sample, sample_key
from core.stats import wilson_interval
from core.token_ids import best_label, label_continuations, shared_prefix
from core.workbench import Workbench

LABEL_SCORED = ("zero_shot", "io")
EVAL_METHODS = LABEL_SCORED + RATIONALE_METHODS + ("amplify",)
ANSWER_MODES = ("parse", "label", "cloze")


@dataclass(frozen=True)
class Context:
    """A method's n-shot context: chat messages without the test question, and the pre-fill."""

    method: str
    instruction: str
    demos: list[Message]
    prefill: str
    shots: list[dict[str, Any]] = field(default_factory=list)
    list_choices: bool = True  # False: questions without their choices (a cloze format)

    def messages_for(self, renderer: PromptRenderer, sample: Sample | None) -> list[Message]:
        turns = list(self.demos)
        if sample is not None:
            question = format_question(sample, list_choices=self.list_choices)
            turns.append({"role": "user", "content": question})
        return renderer.messages(
            self.instruction, turns, self.prefill if sample is not None else None
        )

    def to_content(self, renderer: PromptRenderer) -> dict[str, Any]:
        messages = self.messages_for(renderer, None)
        return {
            "method": self.method,
            "instruction": self.instruction,
            "messages": messages,
            "context": renderer.render_text(messages) if messages else "",
            "shots": self.shots,
            "prefill": self.prefill,
        }


def build_context(
    method: str,
    shots: Sequence[Sample],
    rationales: Mapping[str, str],
    *,
    keywords: int,
    steps: int,
    cloze: ClozeFormat | None = None,
) -> Context:
    """The context of ``method`` from shots and, for rationale methods, each shot's demo text.
    With ``cloze``, every answer turn ends "answer is <the gold choice's text>" instead of a
    label, and questions list their choices or not as the format says."""
    if method not in EVAL_METHODS:
        raise ConfigError(f"unknown method {method!r}; use one of {', '.join(EVAL_METHODS)}")
    list_choices = cloze.list_choices if cloze is not None else True
    label_opening = templates.CLOZE_OPENING if cloze is not None else templates.ANSWER_OPENING
    if method == "zero_shot":
        return Context(method, templates.INSTRUCTION_PLAIN, [], label_opening, [], list_choices)
    if method == "io":
        instruction, prefill = templates.INSTRUCTION_PLAIN, label_opening
    elif method in KEYWORD_METHODS:
        instruction, prefill = (
            templates.INSTRUCTION_KEYWORDS.format(k=keywords),
            templates.keyword_opening(keywords),
        )
    elif method == "amplify":
        instruction = templates.INSTRUCTION_KEYWORDS.format(k=keywords)
        prefill = templates.AMPLIFY_OPENING
    elif method == "counterfactual":
        instruction = templates.INSTRUCTION_COUNTERFACTUAL
        prefill = templates.COUNTERFACTUAL_OPENING
    elif method == "ph_cot":
        instruction, prefill = (
            templates.INSTRUCTION_PH_COT.format(p=steps),
            templates.ph_cot_opening(steps),
        )
    else:
        instruction, prefill = templates.INSTRUCTION_AUTO_COT, templates.AUTO_COT_OPENING
    demos: list[Message] = []
    shot_records: list[dict[str, Any]] = []
    for shot in shots:
        answer_turn = templates.io_answer(shot.answer) if method == "io" else rationales[shot.id]
        if cloze is not None:
            answer_turn = templates.cloze_answer(answer_turn, shot.answer_text)
        demos.append({"role": "user", "content": format_question(shot, list_choices=list_choices)})
        demos.append({"role": "assistant", "content": answer_turn})
        shot_records.append(
            {
                "id": shot.id,
                "question": shot.question,
                "choices": [{"label": c.label, "text": c.text} for c in shot.choices],
                "answer": shot.answer,
                "rationale": None if method == "io" else rationales[shot.id],
            }
        )
    answers = [turn["content"] for turn in demos if turn["role"] == "assistant"]
    if any(not answer.startswith(prefill) for answer in answers):
        # A demo worded differently (e.g. self_topk parsed fewer than k keywords): pre-fill only
        # what every demo shares, so the test turn never starts unlike the demos.
        prefill = common_opening(answers)
    return Context(method, instruction, demos, prefill, shot_records, list_choices)


def common_opening(texts: Sequence[str]) -> str:
    """The longest whole-word prefix shared by all texts."""
    if not texts:
        return ""
    shared = os.path.commonprefix(list(texts))
    if all(len(text) == len(shared) or text[len(shared)].isspace() for text in texts):
        return shared
    return shared[: shared.rfind(" ") + 1] if " " in shared else ""


@dataclass(frozen=True)
class EvalSettings:
    answer_mode: str = "parse"
    max_new_tokens: int = 256
    cloze: ClozeFormat = DEFAULT_CLOZE  # used when answer_mode == "cloze"

    def mode_key(self, generation: bool) -> Any:
        """The answer mode's part of a prediction's cache key (unchanged for parse and label)."""
        if self.answer_mode == "cloze":
            return {"mode": "cloze", **asdict(self.cloze)}
        return self.answer_mode if generation else "label"


def evaluate(
    bench: Workbench, context: Context, items: Sequence[Sample], settings: EvalSettings
) -> MethodScore:
    """Score a context on test items; items already predicted under the same context are reused."""
    if settings.answer_mode not in ANSWER_MODES:
        raise ConfigError(
            f"unknown answer mode {settings.answer_mode!r}; use one of {', '.join(ANSWER_MODES)}"
        )
    renderer, cache = bench.renderer, bench.cache
    started = time.perf_counter()
    passes_before, tokens_before = bench.lm.forward_passes, bench.lm.generated_tokens
    stage = f"evaluate:{context.method}"
    context_key = content_hash(
        {
            "messages": context.messages_for(renderer, None),
            "prefill": context.prefill,
            "instruction": context.instruction,
        }
    )
    generation = context.method not in LABEL_SCORED
    keys = [
        content_hash(
            {
                "kind": PREDICTION,
                "v": 1,
                "model": bench.model_key,
                "context": context_key,
                "sample": sample_key(item),
                "mode": settings.mode_key(generation),
                "max_new_tokens": settings.max_new_tokens if generation else None,
            }
        )
        for item in items
    ]
    found: dict[int, Prediction] = {}
    for i, key in enumerate(keys):
        hit = cache.get(PREDICTION, key)
        if hit is not None:
            found[i] = Prediction.from_dict(hit)
    todo = [i for i in range(len(items)) if i not in found]
    rendered = {i: renderer.render(context.messages_for(renderer, items[i])) for i in todo}
    if generation:
        # Longest first, so each stored batch holds prompts of similar length (little padding)
        # and the most memory-hungry batch runs first, where an out-of-memory back-off is cheap.
        todo.sort(key=lambda i: -len(rendered[i].ids))
    bench.progress(Progress(stage, len(found), len(items)))
    # Results are stored after every chunk, so a kill loses at most one chunk of work; a
    # generation chunk is one batch, label scoring (cheap) takes several batches at a time.
    chunk = max(1, bench.lm.batch_size) * (1 if generation else 8)
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        batch_items = [items[i] for i in part]
        prompts = [rendered[i] for i in part]
        if generation:
            predictions = _generate_predictions(bench, context, batch_items, prompts, settings)
        elif settings.answer_mode == "cloze":
            texts = [prompt.text for prompt in prompts]
            predictions = cloze_predictions(bench, batch_items, texts, settings.cloze)
        else:
            predictions = _label_predictions(bench, batch_items, prompts)
        for i, prediction in zip(part, predictions, strict=True):
            cache.put(PREDICTION, keys[i], prediction.to_dict(), run_id=bench.run_id)
            found[i] = prediction
        bench.progress(Progress(stage, len(found), len(items)))
    ordered = [found[i] for i in range(len(items))]
    correct = sum(p.correct for p in ordered)
    return MethodScore(
        method=context.method,
        accuracy=round(correct / len(ordered), 4) if ordered else 0.0,
        ci95=wilson_interval(correct, len(ordered)),
        n=len(ordered),
        parse_failures=sum(p.parse_failure for p in ordered),
        seconds=round(time.perf_counter() - started, 3),
        predictions=ordered,
        forward_passes=bench.lm.forward_passes - passes_before,
        generated_tokens=bench.lm.generated_tokens - tokens_before,
    )


def _label_predictions(
    bench: Workbench, items: Sequence[Sample], prompts: Sequence[Rendered]
) -> list[Prediction]:
    scored = [
        label_continuations(bench.renderer.encode, prompt.text, item.labels)
        for item, prompt in zip(items, prompts, strict=True)
    ]
    ids = [p for p, _ in scored]
    prefix = shared_prefix(ids)
    scores = bench.lm.label_log_probs(
        [p[len(prefix) :] for p in ids],
        [labels for _, labels in scored],
        prefix=prefix,
        cancel=bench.cancel,
    )
    out = []
    for item, log_probs in zip(items, scores, strict=True):
        pred = best_label(item.labels, log_probs)
        out.append(Prediction(item.id, item.answer, pred, pred == item.answer))
    return out


def _generate_predictions(
    bench: Workbench,
    context: Context,
    items: Sequence[Sample],
    prompts: Sequence[Rendered],
    settings: EvalSettings,
) -> list[Prediction]:
    ids = [p.ids for p in prompts]
    prefix = shared_prefix(ids)
    if settings.answer_mode == "label":

        def stop(text: str) -> bool:
            return bool(OPEN_ANSWER.search(text))
    elif settings.answer_mode == "cloze":

        def stop(text: str) -> bool:
            return bool(CLOZE_ANSWER.search(text) or ANSWER_PATTERN.search(text))
    else:

        def stop(text: str) -> bool:
            return bool(ANSWER_PATTERN.search(text))

    generations = bench.lm.generate(
        [i[len(prefix) :] for i in ids],
        prefix=prefix,
        max_new_tokens=settings.max_new_tokens,
        stop_rule=stop,
        cancel=bench.cancel,
    )
    out: list[Prediction] = []
    label_jobs: list[int] = []
    cloze_jobs: list[int] = []
    for index, (item, generation) in enumerate(zip(items, generations, strict=True)):
        text = generation.text
        if settings.answer_mode == "cloze" and not ANSWER_PATTERN.search(text):
            # The answer's text is scored after "answer is"; a rationale that never reached the
            # phrase gets it appended (and counts as unparsed), so every item is still scored.
            forced = not CLOZE_ANSWER.search(text)
            if forced:
                text = f"{text.rstrip()} {templates.FORCED_CLOZE_ENDING}"
            cloze_jobs.append(index)
            out.append(Prediction(item.id, item.answer, None, False, forced, text))
            continue
        if settings.answer_mode == "label" and OPEN_ANSWER.search(text):
            label_jobs.append(index)
            out.append(Prediction(item.id, item.answer, None, False, False, text))
            continue
        pred = read_answer(text, item.labels)
        out.append(Prediction(item.id, item.answer, pred, pred == item.answer, pred is None, text))
    if label_jobs:
        jobs = []
        for index in label_jobs:
            full = prompts[index].text + out[index].output
            jobs.append(label_continuations(bench.renderer.encode, full, items[index].labels))
        scores = bench.lm.label_log_probs(
            [p for p, _ in jobs], [labels for _, labels in jobs], cancel=bench.cancel
        )
        for index, log_probs in zip(label_jobs, scores, strict=True):
            item = items[index]
            pred = best_label(item.labels, log_probs)
            out[index] = Prediction(
                item.id,
                item.answer,
                pred,
                pred == item.answer,
                False,
                out[index].output + pred + ")",
            )
    if cloze_jobs:
        scored = cloze_predictions(
            bench,
            [items[i] for i in cloze_jobs],
            [prompts[i].text + out[i].output for i in cloze_jobs],
            settings.cloze,
        )
        for index, prediction in zip(cloze_jobs, scored, strict=True):
            out[index] = replace(
                prediction,
                output=out[index].output + prediction.output,
                parse_failure=out[index].parse_failure,
            )
    for prediction in out:
        bench.events(
            "text",
            {
                "stage": f"evaluate:{context.method}",
                "sample_id": prediction.id,
                "text": prediction.output,
                "final": True,
            },
        )
    return out
