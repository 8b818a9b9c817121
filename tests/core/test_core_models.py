"""Model references and loading: folders, refusals, the hub without network, built-ins."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from core.errors import ModelError
from core.models import BUILTIN_MODELS, load_model, parse_model_ref
from core.models.loading import choose_device, choose_dtype


def test_parse_model_ref(tmp_path: Path, tiny_model_dir: Path) -> None:
    assert parse_model_ref("builtin:smollm2-135m").kind == "builtin"
    assert parse_model_ref(" builtin:smollm2-135m ").value == "smollm2-135m"
    folder = parse_model_ref(str(tiny_model_dir))
    assert (folder.kind, folder.value) == ("folder", str(tiny_model_dir.resolve()))
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert parse_model_ref(str(gguf)).kind == "gguf"
    hub = parse_model_ref("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert (hub.kind, hub.value, hub.revision) == (
        "hub",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        None,
    )
    pinned = parse_model_ref("hf:owner/name@v1.0")
    assert (pinned.kind, pinned.value, pinned.revision) == ("hub", "owner/name", "v1.0")


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", "the model reference is empty"),
        (
            "builtin:nope",
            "unknown built-in model 'builtin:nope'; the built-in models are builtin:smollm2-135m",
        ),
        ("missing.gguf", "the GGUF file missing.gguf does not exist"),
        ("./no/such/folder", "does not exist"),
        ("/no/such/folder", "the model folder /no/such/folder does not exist"),
    ],
)
def test_parse_model_ref_errors(ref: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        parse_model_ref(ref)


def test_builtin_nope_lists_every_builtin() -> None:
    with pytest.raises(ModelError) as error:
        load_model("builtin:nope")
    for name in BUILTIN_MODELS:
        assert f"builtin:{name}" in str(error.value)


def test_a_plain_file_is_not_a_model(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"x")
    with pytest.raises(ModelError, match="neither a model folder nor a .gguf file"):
        parse_model_ref(str(weights))


def _copy_without(source: Path, target: Path, *patterns: str) -> Path:
    shutil.copytree(source, target)
    for pattern in patterns:
        for path in target.glob(pattern):
            path.unlink()
    return target


def _one_sentence(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert message and "\n" not in message and "Traceback" not in message
    return message


def test_pickle_only_weights_are_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = _copy_without(tiny_model_dir, tmp_path / "pickled", "*.safetensors")
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(ModelError) as error:
        load_model(str(folder))
    message = _one_sentence(error)
    assert "only pickle weights (pytorch_model.bin)" in message and "safetensors" in message


def test_missing_config_weights_or_tokenizer(tiny_model_dir: Path, tmp_path: Path) -> None:
    cases = [
        (("config.json",), "has no config.json"),
        (("*.safetensors",), "has no weights (*.safetensors)"),
        (
            ("tokenizer*.json", "vocab.json", "special_tokens_map.json", "chat_template.jinja"),
            "has no tokenizer files",
        ),
    ]
    for index, (patterns, message) in enumerate(cases):
        folder = _copy_without(tiny_model_dir, tmp_path / f"broken-{index}", *patterns)
        with pytest.raises(ModelError) as error:
            load_model(str(folder))
        assert message in _one_sentence(error)
        assert str(folder) in str(error.value)


def test_hub_id_without_network_fails_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    calls: list[dict] = []

    def offline(repo_id, **kwargs):
        calls.append(kwargs)
        raise ConnectionError("no network")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    started = time.perf_counter()
    with pytest.raises(ModelError) as error:
        load_model("someone/some-model")
    assert time.perf_counter() - started < 10
    message = _one_sentence(error)
    assert (
        "'someone/some-model' is not in the local Hugging Face cache and could not be downloaded"
        in message
    )
    assert calls and calls[0].get("local_files_only") is True
    assert not any("*.bin" in (c.get("allow_patterns") or []) for c in calls), (
        "pickles are never downloaded"
    )


def test_load_tiny_model_folder(tiny_loaded, plain_loaded) -> None:
    assert tiny_loaded.device == "cpu" and tiny_loaded.dtype == "float32"
    assert tiny_loaded.has_chat_template and not plain_loaded.has_chat_template
    assert not tiny_loaded.model.training
    assert tiny_loaded.tokenizer.pad_token == "<|im_end|>"
    info = tiny_loaded.info
    assert info["class"] == "LlamaForCausalLM" and info["layers"] == 2
    assert info["vocab_size"] == len(tiny_loaded.tokenizer)
    assert info["parameters"] == sum(p.numel() for p in tiny_loaded.model.parameters())


def test_load_gpt2_folder(gpt2_model_dir: Path) -> None:
    loaded = load_model(str(gpt2_model_dir), device="cpu", dtype="bfloat16")
    assert loaded.info["class"] == "GPT2LMHeadModel" and loaded.dtype == "bfloat16"
    assert not loaded.has_chat_template


def test_device_and_dtype_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    assert choose_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        assert choose_device() == "cpu"
        with pytest.raises(ModelError, match="no CUDA GPU is available"):
            choose_device("cuda:1")
    monkeypatch.setenv("SA_TUI_DEVICE", "cpu")
    assert choose_device() == "cpu"
    assert choose_dtype("cpu") == torch.float32
    assert choose_dtype("cpu", "float16") == torch.float16
    with pytest.raises(ModelError, match="unknown dtype 'fp8'"):
        choose_dtype("cpu", "fp8")
