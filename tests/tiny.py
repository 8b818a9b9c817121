"""Tiny random causal language models and multiple-choice datasets, built locally in well under a
second: a small byte-level BPE tokenizer trained in code, a 2-layer Llama (or GPT-2) with random
weights, saved as safetensors so that ``core.models.load_model(folder)`` loads it the real way."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] }}"
    "{% if not loop.last or message['role'] != 'assistant' %}{{ '<|im_end|>\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Like Gemma's template: only user and model turns; a system message is refused.
NO_SYSTEM_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] }}"
    "{% if not loop.last or message['role'] != 'assistant' %}{{ '<|im_end|>\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|im_end|>", "<|im_start|>", "<|endoftext|>"]

SUBJECTS = [
    "the cat",
    "a dog",
    "the teacher",
    "my sister",
    "the farmer",
    "a scientist",
    "the river",
    "the sun",
    "a plant",
    "the battery",
    "the magnet",
    "an engineer",
    "the student",
    "a bird",
]
VERBS = ["needs", "moves", "makes", "finds", "keeps", "heats", "pulls", "grows", "carries", "uses"]
OBJECTS = [
    "water",
    "energy",
    "light",
    "food",
    "metal",
    "heat",
    "seeds",
    "sound",
    "paper",
    "stones",
    "ice",
    "wood",
    "sugar",
    "salt",
    "oxygen",
]
QUESTION_WORDS = ["What", "Which", "Why", "Where", "When", "How"]
KEYWORDS = ["important", "keywords", "prediction", "explanation", "rationale", "therefore", "step"]


def corpus_lines(count: int = 400, seed: int = 0) -> list[str]:
    """Question-like text: questions, choices, answers, rationales and keyword lists."""
    rng = random.Random(seed)
    lines = [
        "Choose the right answer.",
        "Choices:",
        "The answer is (A)",
        "The answer is (B)",
        "The answer is (C)",
        "The answer is (D)",
        "Let's think step by step.",
        'The 2 keywords "water" and "energy" are important to predict that the answer is (A)',
        "2-step explanation: first, second, therefore the answer is (B)",
    ]
    for _ in range(count):
        s, v, o = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)
        q = rng.choice(QUESTION_WORDS)
        lines.append(f"{q} {v} {s} {o}?")
        lines.append(f"{s.capitalize()} {v} {o} because it is {rng.choice(KEYWORDS)}.")
        lines.append(
            f"({rng.choice('ABCD')}) {rng.choice(OBJECTS)} ({rng.choice('ABCD')}) {rng.choice(OBJECTS)}"
        )
        lines.append(f"The answer is ({rng.choice('ABCD')}), {rng.choice(KEYWORDS)} {o}.")
        lines.append(f"Answer: {rng.choice('ABCD')}")  # so that BPE merges " A" into one token
    return lines


def train_tokenizer(chat_template: str | None = CHATML_TEMPLATE, vocab_size: int = 400):
    """A byte-level BPE PreTrainedTokenizerFast; pad = eos = <|im_end|>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus_lines(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        bos_token="<|im_start|>",
        model_max_length=2048,
    )
    if chat_template:
        fast.chat_template = chat_template
    return fast


def build_model(
    folder: Path,
    *,
    chat_template: str | None = CHATML_TEMPLATE,
    arch: str = "llama",
    hidden: int = 48,
    seed: int = 0,
) -> Path:
    """Write a tiny random causal LM (safetensors) and its tokenizer to ``folder``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    tokenizer = train_tokenizer(chat_template)
    vocab = len(tokenizer)
    eos = tokenizer.eos_token_id
    torch.manual_seed(seed)
    if arch == "llama":
        config = LlamaConfig(
            vocab_size=vocab,
            hidden_size=hidden,
            intermediate_size=hidden * 2,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=2048,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=eos,
            pad_token_id=eos,
            tie_word_embeddings=False,
        )
        model = LlamaForCausalLM(config)
    elif arch == "gpt2":
        config = GPT2Config(
            vocab_size=vocab,
            n_embd=hidden,
            n_layer=2,
            n_head=4,
            n_positions=2048,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=eos,
            pad_token_id=eos,
        )
        model = GPT2LMHeadModel(config)
    else:
        raise ValueError(f"unknown architecture {arch!r}")
    # Larger random weights make the logits less flat, so ties (and near ties) are rare.
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.normal_(0.0, 0.2)
    model.eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    return folder


# ------------------------------------------------------------------------------------ datasets
def mc_rows(
    count: int, *, seed: int = 0, labels: Sequence[str] = ("A", "B", "C", "D"), prefix: str = "q"
) -> list[dict]:
    """Rows of a multiple-choice dataset in the plain JSONL format (id, question, choices, answer)."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        s, v, o = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)
        question = f"{rng.choice(QUESTION_WORDS)} {v} {s} {o} in the {rng.choice(OBJECTS)} garden?"
        choices = rng.sample(OBJECTS, len(labels))
        rows.append(
            {
                "id": f"{prefix}{index:03d}",
                "question": question,
                "choices": {"label": list(labels), "text": choices},
                # the first and last labels twice as often: random tiny models favour them, and
                # selection tests need some samples answered right and some wrong
                "answer": rng.choice([*labels, labels[0], labels[-1]]),
            }
        )
    return rows


def write_jsonl(path: Path, rows: Iterable[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    return path


def write_dataset(folder: Path, *, pool: int = 12, test: int = 8, seed: int = 0) -> Path:
    """A dataset folder with train.jsonl (the selection pool) and test.jsonl."""
    write_jsonl(folder / "train.jsonl", mc_rows(pool, seed=seed, prefix="p"))
    write_jsonl(folder / "test.jsonl", mc_rows(test, seed=seed + 1, prefix="t"))
    return folder


def samples(
    count: int, *, seed: int = 0, labels: Sequence[str] = ("A", "B", "C", "D"), prefix: str = "s"
):
    """In-memory Samples (no file)."""
    from core.samples import Choice, Sample

    out = []
    for row in mc_rows(count, seed=seed, labels=labels, prefix=prefix):
        choices = tuple(
            Choice(label, text)
            for label, text in zip(row["choices"]["label"], row["choices"]["text"], strict=True)
        )
        out.append(Sample(row["id"], row["question"], choices, row["answer"]).validate())
    return out
