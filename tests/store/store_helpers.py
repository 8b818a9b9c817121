"""Helpers for the store tests: prompt content in the pipeline's shape, tiny model folders and
files, and a dump of the whole database for before/after comparisons."""

from __future__ import annotations

import json
import sqlite3
import struct
from pathlib import Path
from typing import Any

import numpy as np

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def db_dump(path: Path) -> list[str]:
    """Every row of every table, as SQL text (the database's content, order-stable)."""
    connection = sqlite3.connect(path)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def content(n: int = 2, *, context: str = "ctx", method: str = "ph_cot") -> dict[str, Any]:
    """A prompt version's content in the shape the pipeline stores."""
    shots = [
        {
            "id": f"s{i}",
            "question": f"Question {i}?",
            "choices": [{"label": "A", "text": f"yes {i}"}, {"label": "B", "text": f"no {i}"}],
            "answer": "A" if i % 2 == 0 else "B",
            "rationale": f"Step 1: think about {i}. The answer is ({'A' if i % 2 == 0 else 'B'}).",
        }
        for i in range(n)
    ]
    messages: list[dict[str, str]] = [{"role": "system", "content": "Answer with a letter."}]
    for shot in shots:
        messages.append(
            {
                "role": "user",
                "content": f"{shot['question']}\n(A) {shot['choices'][0]['text']}\n(B) {shot['choices'][1]['text']}",
            }
        )
        messages.append({"role": "assistant", "content": shot["rationale"]})
    return {
        "method": method,
        "model": "builtin:smollm2-135m",
        "dataset": "builtin:snarks",
        "config": {"shots": n, "seed": 0},
        "instruction": "Answer with a letter.",
        "messages": messages,
        "context": context,
        "shots": shots,
        "prefill": "The answer is (",
    }


# ------------------------------------------------------------------------------------ model files
def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    from safetensors.numpy import save_file

    save_file(tensors, str(path))
    return path


def write_tokenizer(folder: Path) -> None:
    vocab = {"<unk>": 0, "hello": 1, "world": 2}
    (folder / "tokenizer.json").write_text(
        json.dumps(
            {
                "version": "1.0",
                "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"},
                "pre_tokenizer": {"type": "Whitespace"},
                "added_tokens": [],
            }
        )
    )
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": CHATML}))


def make_model_folder(folder: Path, *, weights: bool = True, tokenizer: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "vocab_size": 3,
                "num_hidden_layers": 2,
                "torch_dtype": "float32",
            }
        )
    )
    if weights:
        write_safetensors(
            folder / "model.safetensors",
            {
                "embed.weight": np.zeros((3, 4), dtype=np.float32),
                "head.weight": np.ones((4, 3), dtype=np.float16),
            },
        )
    if tokenizer:
        write_tokenizer(folder)
    return folder


def write_gguf(path: Path) -> Path:
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "llama")
    writer.add_context_length(64)
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    writer.add_tensor("output.weight", np.zeros((4, 8), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def corrupt_header(path: Path) -> None:
    """Declare a header longer than the file: the classic truncated download."""
    data = bytearray(path.read_bytes())
    data[:8] = struct.pack("<Q", len(data) * 4)
    path.write_bytes(bytes(data))
