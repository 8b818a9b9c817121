"""The LM engine: label continuations, prefix-cached batched scoring and generation, OOM halving."""

from __future__ import annotations

import logging

import pytest
import torch

from core.batching import is_out_of_memory, run_in_batches
from core.errors import CancelledError, ConfigError
from core.lm import LanguageModel
from core.progress import CancelToken
from core.prompts import PromptRenderer, format_question
from core.selection import zero_shot_prompt
from core.templates import ANSWER_OPENING, INSTRUCTION_PLAIN
from core.token_ids import label_continuations, shared_prefix


def _full_log_probs(lm: LanguageModel, ids: list[int]) -> torch.Tensor:
    """Reference: one plain forward pass over the whole prompt, log-softmax at the last position."""
    with torch.inference_mode():
        logits = lm.model(input_ids=torch.tensor([ids])).logits[0, -1].float()
    return torch.log_softmax(logits, dim=-1)


def _prompts(renderer: PromptRenderer, samples) -> list[tuple[list[int], list[int]]]:
    return [zero_shot_prompt(renderer, sample) for sample in samples]


# ------------------------------------------------------------------------------------ labels
def test_label_continuations_cut_before_a_boundary_merge(tiny_renderer: PromptRenderer) -> None:
    encode = tiny_renderer.encode
    decode = tiny_renderer.tokenizer.decode
    text = "Which one? The answer is "  # byte-level BPE merges the space with the label: "ĠA"
    labels = ["A", "B", "D"]
    for label in labels:
        assert len(encode(text + label)) == len(encode(text)), "precondition: ' X' is one token"
    prompt, first = label_continuations(encode, text, labels)
    assert prompt == encode(text)[:-1]
    for label, token in zip(labels, first, strict=True):
        assert decode(prompt + [token]) == text + label
        assert encode(text + label) == prompt + [token]
    # the common case (no merge): the prompt is kept whole
    whole, ids = label_continuations(encode, "The answer is (", ["A", "B"])
    assert whole == encode("The answer is (")
    assert [decode([i]) for i in ids] == ["A", "B"]


def test_label_continuations_when_only_some_labels_merge(tiny_renderer: PromptRenderer) -> None:
    encode = tiny_renderer.encode
    decode = tiny_renderer.tokenizer.decode
    text = "Which one? The answer is "
    assert len(encode(text + "A")) == len(encode(text)), "precondition: ' A' is one token"
    assert len(encode(text + "C")) == len(encode(text)) + 1, "precondition: ' C' is two tokens"
    try:
        prompt, first = label_continuations(encode, text, ["A", "C"])
    except ConfigError:
        return  # refusing is an acceptable answer
    for label, token in zip("AC", first, strict=True):
        assert decode(prompt + [token]).startswith(text + label)


def test_label_continuations_with_a_merging_toy_tokenizer() -> None:
    vocab = {"(A": 100, "(B": 101, "(": 5}

    def encode(text: str) -> list[int]:  # greedy: "(A" and "(B" are single tokens
        out, i = [], 0
        while i < len(text):
            if text[i : i + 2] in vocab:
                out.append(vocab[text[i : i + 2]])
                i += 2
            else:
                out.append(vocab.get(text[i], ord(text[i])))
                i += 1
        return out

    prompt, first = label_continuations(encode, "is (", ["A", "B"])
    assert prompt == [ord("i"), ord("s"), ord(" ")]
    assert first == [100, 101]


def test_labels_starting_with_the_same_token_are_refused() -> None:
    def encode(text: str) -> list[int]:  # one token per character
        return [ord(ch) for ch in text]

    with pytest.raises(ConfigError, match="start with the same token"):
        label_continuations(encode, "answer: ", ["Yes", "Yeah"])


def test_shared_prefix_leaves_every_sequence_an_own_token() -> None:
    assert shared_prefix([[1, 2, 3], [1, 2, 3, 4]]) == [1, 2]
    assert shared_prefix([[1, 2, 9], [1, 2, 3, 4]]) == [1, 2]
    assert shared_prefix([[5], [5, 6]]) == []
    assert shared_prefix([]) == []


# ------------------------------------------------------------------------------------ scoring
def test_prefix_cached_batched_log_probs_equal_full_prompt_ones(
    tiny_lm, tiny_renderer, mc_samples
) -> None:
    prompts = _prompts(tiny_renderer, mc_samples[:7])
    ids = [p for p, _ in prompts]
    labels = [label_ids for _, label_ids in prompts]
    assert len({len(i) for i in ids}) > 1, "items of different lengths exercise the padding"
    prefix = shared_prefix(ids)
    assert len(prefix) > 5
    tiny_lm.batch_size = 4
    batches: list[int] = []
    batched = tiny_lm.label_log_probs(
        [i[len(prefix) :] for i in ids], labels, prefix=prefix, on_batch=batches.append
    )
    assert batches == [4, 3]
    tiny_lm.batch_size = 1
    unbatched = tiny_lm.label_log_probs(ids, labels)
    for row, (prompt, label_ids) in enumerate(prompts):
        reference = _full_log_probs(tiny_lm, prompt)[label_ids]
        assert batched[row] == pytest.approx(reference.tolist(), abs=1e-4)
        assert unbatched[row] == pytest.approx(reference.tolist(), abs=1e-4)
    assert all(v < 0 for row in batched for v in row)


def test_label_log_probs_halve_the_batch_on_out_of_memory(
    tiny_lm, tiny_renderer, mc_samples
) -> None:
    prompts = _prompts(tiny_renderer, mc_samples[:6])
    expected = tiny_lm.label_log_probs([p for p, _ in prompts], [i for _, i in prompts])
    model = tiny_lm.model
    seen: list[int] = []

    def refuse_big_batches(module, args, kwargs):
        rows = kwargs["input_ids"].shape[0]
        seen.append(rows)
        if rows > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    handle = model.register_forward_pre_hook(refuse_big_batches, with_kwargs=True)
    try:
        tiny_lm.batch_size = 4
        got = tiny_lm.label_log_probs([p for p, _ in prompts], [i for _, i in prompts])
    finally:
        handle.remove()
    assert seen == [4, 2, 2, 2]
    assert torch.tensor(got).allclose(torch.tensor(expected), atol=1e-5)


# ------------------------------------------------------------------------------------ generation
def _hf_greedy(lm: LanguageModel, ids: list[int], max_new_tokens: int) -> list[int]:
    with torch.inference_mode():
        out = lm.model.generate(
            torch.tensor([ids]),
            attention_mask=torch.ones((1, len(ids)), dtype=torch.long),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=sorted(lm.stop_ids),
            pad_token_id=lm.pad_id,
        )
    new = out[0, len(ids) :].tolist()
    for index, token in enumerate(new):
        if token in lm.stop_ids:
            return new[:index]
    return new


def _generation_prompts(renderer: PromptRenderer, samples) -> list[list[int]]:
    out = []
    for sample in samples:
        messages = renderer.messages(
            INSTRUCTION_PLAIN,
            [{"role": "user", "content": format_question(sample)}],
            ANSWER_OPENING,
        )
        out.append(renderer.render(messages).ids)
    return out


def test_batched_generation_with_prefix_equals_hf_greedy(
    tiny_lm, tiny_renderer, mc_samples
) -> None:
    ids = _generation_prompts(tiny_renderer, mc_samples[:5])
    prefix = shared_prefix(ids)
    tiny_lm.batch_size = 3
    generations = tiny_lm.generate(
        [i[len(prefix) :] for i in ids], prefix=prefix, max_new_tokens=10
    )
    assert len(generations) == 5
    for prompt, generation in zip(ids, generations, strict=True):
        expected = _hf_greedy(tiny_lm, prompt, 10)
        assert list(generation.token_ids) == expected
        assert generation.stop_reason == ("length" if len(expected) == 10 else "eos")
        assert generation.text == tiny_lm.tokenizer.decode(expected, skip_special_tokens=True)
    assert any(len(g.token_ids) > 3 for g in generations), "the random model should say something"


def test_stop_rule_stops_early(tiny_lm, tiny_renderer, mc_samples) -> None:
    ids = _generation_prompts(tiny_renderer, mc_samples[:3])
    free = tiny_lm.generate(ids, max_new_tokens=8)
    long_ones = [i for i, g in enumerate(free) if len(g.token_ids) >= 3]
    assert long_ones, "need items that generate at least 3 tokens"
    seen: list[int] = []

    def on_text(index: int, text: str) -> None:
        seen.append(index)

    def after_two_tokens(text: str) -> bool:  # on_text ran just before, for the same item
        return seen.count(seen[-1]) >= 2

    stopped = tiny_lm.generate(ids, max_new_tokens=8, stop_rule=after_two_tokens, on_text=on_text)
    for i in long_ones:
        assert stopped[i].stop_reason == "rule"
        assert len(stopped[i].token_ids) == 2 < len(free[i].token_ids)
        assert stopped[i].token_ids == free[i].token_ids[:2]


def test_finished_rows_leave_the_batch(tiny_lm, tiny_renderer, mc_samples) -> None:
    ids = _generation_prompts(tiny_renderer, mc_samples[:4])
    tiny_lm.batch_size = 4
    reference = tiny_lm.generate(ids, max_new_tokens=6)
    if not all(g.stop_reason == "length" for g in reference):
        pytest.skip("the random model ended an item early; this test needs 6 tokens from each")
    current: list[int] = []
    rows_per_forward: list[int] = []

    def on_text(index: int, text: str) -> None:
        current.append(index)

    def stop_item_zero(text: str) -> bool:
        return current[-1] == 0  # on_text runs just before the stop rule, for the same item

    def count_rows(module, args, kwargs):
        rows_per_forward.append(kwargs["input_ids"].shape[0])

    handle = tiny_lm.model.register_forward_pre_hook(count_rows, with_kwargs=True)
    try:
        got = tiny_lm.generate(ids, max_new_tokens=6, stop_rule=stop_item_zero, on_text=on_text)
    finally:
        handle.remove()
    assert got[0].stop_reason == "rule" and len(got[0].token_ids) == 1
    # the first forward is the prompt (4 rows), then one step with 3 rows per remaining token
    assert rows_per_forward == [4] + [3] * 5
    for i in (1, 2, 3):
        assert got[i].token_ids == reference[i].token_ids


def test_generation_is_cancellable(tiny_lm, tiny_renderer, mc_samples) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        tiny_lm.generate(
            _generation_prompts(tiny_renderer, mc_samples[:2]), max_new_tokens=4, cancel=token
        )


def test_gpt2_prefix_cached_scoring_and_generation(gpt2_loaded, mc_samples) -> None:
    """Absolute position embeddings: the explicit position ids must skip the padding."""
    lm = LanguageModel(gpt2_loaded.model, gpt2_loaded.tokenizer, batch_size=3)
    renderer = PromptRenderer(gpt2_loaded.tokenizer)
    prompts = _prompts(renderer, mc_samples[:4])
    ids = [p for p, _ in prompts]
    prefix = shared_prefix(ids)
    scores = lm.label_log_probs(
        [i[len(prefix) :] for i in ids], [labels for _, labels in prompts], prefix=prefix
    )
    for (prompt, label_ids), row in zip(prompts, scores, strict=True):
        expected = _full_log_probs(lm, prompt)[label_ids]
        assert torch.tensor(row).allclose(expected, atol=1e-4)
    generated = lm.generate([i[len(prefix) :] for i in ids], prefix=prefix, max_new_tokens=4)
    for prompt, generation in zip(ids, generated, strict=True):
        assert list(generation.token_ids) == _hf_greedy(lm, prompt, 4)


def test_plain_model_generation_matches_hf(plain_lm, plain_renderer, mc_samples) -> None:
    ids = _generation_prompts(plain_renderer, mc_samples[:2])
    generations = plain_lm.generate(ids, max_new_tokens=5)
    for prompt, generation in zip(ids, generations, strict=True):
        assert list(generation.token_ids) == _hf_greedy(plain_lm, prompt, 5)


# ------------------------------------------------------------------------------------ batching
def test_run_in_batches_halves_on_simulated_oom() -> None:
    sizes: list[int] = []

    def work(batch):
        sizes.append(len(batch))
        if len(batch) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB")
        return [x * 10 for x in batch]

    done: list[int] = []
    out = run_in_batches(list(range(7)), work, batch_size=8, on_batch=done.append)
    assert out == [x * 10 for x in range(7)]
    assert sizes == [7, 4, 2, 2, 2, 1]
    assert done == [2, 2, 2, 1]


def test_run_in_batches_reraises_other_errors_and_oom_at_size_one() -> None:
    def broken(batch):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_in_batches([1, 2, 3], broken, batch_size=2)

    def always_oom(batch):
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        run_in_batches([1, 2, 3], always_oom, batch_size=4)
    assert is_out_of_memory(RuntimeError("CUDA out of memory"))
    assert not is_out_of_memory(RuntimeError("index out of range"))


def test_run_in_batches_checks_cancellation_between_batches() -> None:
    token = CancelToken()

    def work(batch):
        token.cancel()
        return list(batch)

    with pytest.raises(CancelledError):
        run_in_batches([1, 2, 3, 4], work, batch_size=2, cancel=token)


def test_run_in_batches_ends_a_batch_before_padding_grows_past_the_limit() -> None:
    lengths = [10, 10, 10, 11, 20, 20, 21]
    sizes: list[int] = []

    def work(batch):
        sizes.append(len(batch))
        return list(batch)

    out = run_in_batches(lengths, work, batch_size=8, length=lambda n: n, max_padding=0.05)
    assert out == lengths  # every item once, in order
    # 4 rows padded to 11 = 44 tokens for 41 real (7% > 5%): the 11 starts its own batch, and
    # 2 rows padded to 20 for 31 real would waste 29%; 3 x 21 = 63 for 61 real is within 5%.
    assert sizes == [3, 1, 3]
    assert run_in_batches(lengths, work, batch_size=8) == lengths  # no length: plain batches
    assert sizes[-1] == 7


def test_cached_passes_use_the_current_cache_api(tiny_lm, tiny_renderer, mc_samples) -> None:
    """No deprecated ``past_key_values`` argument or attribute: nothing for transformers to warn
    about on the user's terminal (it says the name goes away in a coming version)."""
    import warnings

    from transformers.utils import logging as hf_logging

    from core.kv_cache import cache_keyword

    assert cache_keyword(tiny_lm.model) == "cache"  # the name current transformers takes
    ids = _generation_prompts(tiny_renderer, mc_samples[:3])
    prefix = shared_prefix(ids)
    hf_logger = hf_logging.get_logger("transformers.utils.generic")
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    hf_logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tiny_lm.forget_prefix()
            tiny_lm.generate([i[len(prefix) :] for i in ids], prefix=prefix, max_new_tokens=4)
    finally:
        hf_logger.removeHandler(handler)
    said = [str(w.message) for w in caught] + messages
    assert not [m for m in said if "past_key_values" in m or "deprecated" in m], said


def test_the_pad_id_falls_back_to_eos_then_unk_then_one_sentence() -> None:
    from types import SimpleNamespace

    from core.errors import ModelError
    from core.lm import pad_token_id

    def tokenizer(pad: int | None, eos: int | None, unk: int | None) -> SimpleNamespace:
        return SimpleNamespace(pad_token_id=pad, eos_token_id=eos, unk_token_id=unk)

    assert pad_token_id(tokenizer(3, 2, 1)) == 3
    assert pad_token_id(tokenizer(None, 2, 1)) == 2
    assert pad_token_id(tokenizer(None, None, 1)) == 1
    with pytest.raises(ModelError, match="has no pad, end-of-sequence or unknown token"):
        pad_token_id(tokenizer(None, None, None))
