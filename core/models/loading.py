"""Resolve a model reference and load it (model + tokenizer) on the right device and dtype."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ModelError
from core.models.builtin import builtin_spec, ensure_converted

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


@dataclass(frozen=True)
class ModelRef:
    """A parsed model reference: ``builtin:NAME``, a folder, a ``.gguf`` file, or a hub id."""

    kind: str  # builtin | folder | gguf | hub
    value: str
    revision: str | None = None


@dataclass
class LoadedModel:
    ref: str
    model: Any  # a transformers PreTrainedModel, in eval mode
    tokenizer: Any  # a transformers tokenizer (fast)
    device: str
    dtype: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


def parse_model_ref(ref: str) -> ModelRef:
    ref = ref.strip()
    if not ref:
        raise ModelError(
            "the model reference is empty; give builtin:NAME, a folder, a .gguf file or a hub id"
        )
    if ref.startswith("builtin:"):
        name = ref.split(":", 1)[1]
        builtin_spec(name)
        return ModelRef("builtin", name)
    if ref.startswith("hf:"):
        ref = ref[3:]
    path = Path(ref).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelError(f"the GGUF file {path} does not exist")
        return ModelRef("gguf", str(path.resolve()))
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"{path} is neither a model folder nor a .gguf file")
        return ModelRef("folder", str(path.resolve()))
    if ref.startswith((".", "/", "~")) or ref.count("/") > 1:
        raise ModelError(f"the model folder {path} does not exist")
    repo, _, revision = ref.partition("@")
    return ModelRef("hub", repo, revision or None)


def choose_device(requested: str | None = None) -> str:
    import torch

    requested = requested or os.environ.get("SA_TUI_DEVICE") or None
    if requested and requested != "auto":
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError(f"device {requested!r} was asked for but no CUDA GPU is available")
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def choose_dtype(device: str, requested: str | None = None) -> Any:
    import torch

    names = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if requested and requested != "auto":
        if requested not in names:
            raise ModelError(f"unknown dtype {requested!r}; use one of {', '.join(names)} or auto")
        return names[requested]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32  # CPU half precision is slow and less accurate for these small models


def check_folder(folder: Path, *, allow_pickle: bool) -> None:
    """Refuse folders that cannot load, with a sentence saying what is missing."""
    if not (folder / "config.json").is_file():
        raise ModelError(f"the model folder {folder} has no config.json")
    weights = [p for p in folder.iterdir() if p.suffix == ".safetensors"]
    pickles = [p for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES]
    if not weights and not pickles:
        raise ModelError(f"the model folder {folder} has no weights (*.safetensors)")
    if not weights and not allow_pickle:
        raise ModelError(
            f"the model folder {folder} has only pickle weights ({pickles[0].name}), which can run code "
            "when loaded; convert them to safetensors or pass --allow-pickle if you trust the source"
        )
    tokenizer_files = (
        "tokenizer.json",
        "tokenizer.model",
        "vocab.json",
        "spiece.model",
        "tokenizer_config.json",
    )
    if not any((folder / name).is_file() for name in tokenizer_files):
        raise ModelError(
            f"the model folder {folder} has no tokenizer files (tokenizer.json or tokenizer.model)"
        )


def resolve_hub(repo: str, revision: str | None) -> Path:
    """A local snapshot of a hub model: from the HF cache when present, else downloaded."""
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]
    try:
        return Path(
            snapshot_download(
                repo, revision=revision, local_files_only=True, allow_patterns=patterns
            )
        )
    except Exception:
        pass
    try:
        return Path(snapshot_download(repo, revision=revision, allow_patterns=patterns))
    except Exception as error:  # network, auth, not found: all reported in one sentence
        reason = type(error).__name__
        raise ModelError(
            f"the model {repo!r} is not in the local Hugging Face cache and could not be downloaded "
            f"({reason}); check the id and the network, or pass a local folder or .gguf file"
        ) from None


def load_model(
    ref: str,
    *,
    device: str | None = None,
    dtype: str | None = None,
    allow_pickle: bool = False,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load a causal LM and its tokenizer from a reference; raise ModelError with one sentence."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    parsed = parse_model_ref(ref)
    chosen_device = choose_device(device)
    torch_dtype = choose_dtype(chosen_device, dtype)
    load_kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    gguf_file: str | None = None
    if parsed.kind == "builtin":
        folder = ensure_converted(parsed.value)
    elif parsed.kind == "gguf":
        gguf_path = Path(parsed.value)
        folder, gguf_file = gguf_path.parent, gguf_path.name
    elif parsed.kind == "folder":
        folder = Path(parsed.value)
        check_folder(folder, allow_pickle=allow_pickle)
    else:
        folder = resolve_hub(parsed.value, parsed.revision)
        check_folder(folder, allow_pickle=allow_pickle)
    if gguf_file:
        load_kwargs["gguf_file"] = gguf_file
    if not allow_pickle and not gguf_file:
        load_kwargs["use_safetensors"] = True
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), **load_kwargs)
        model: Any = AutoModelForCausalLM.from_pretrained(
            str(folder), dtype=torch_dtype, **load_kwargs
        )
    except ModelError:
        raise
    except Exception as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"could not load the model {ref!r}: {message[:300]}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(
            f"the model {ref!r} has no fast tokenizer; sa-tui needs token offsets to explain words"
        )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = model.to(torch.device(chosen_device))
    model.eval()
    parameters = sum(p.numel() for p in model.parameters())
    info = {
        "class": type(model).__name__,
        "parameters": parameters,
        "vocab_size": int(getattr(model.config, "vocab_size", 0) or 0),
        "layers": int(getattr(model.config, "num_hidden_layers", 0) or 0),
        "path": str(folder),
        "chat_template": bool(getattr(tokenizer, "chat_template", None)),
    }
    return LoadedModel(
        ref=ref,
        model=model,
        tokenizer=tokenizer,
        device=chosen_device,
        dtype=str(torch_dtype).replace("torch.", ""),
        info=info,
    )
