"""Shared fixtures: an isolated SA_TUI_HOME for every test, and tiny random models and datasets
built once per session (see tests/tiny.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import tiny


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    """Tiny models run fastest on one thread; on a loaded 2-core machine, two threads make every
    small matrix product wait (about 200 times slower). Subprocesses inherit the variable."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test touches the user's data directory; subprocesses inherit the variable."""
    home = tmp_path / "sa-tui-home"
    monkeypatch.setenv("SA_TUI_HOME", str(home))
    monkeypatch.delenv("SA_TUI_DEVICE", raising=False)
    return home


# ------------------------------------------------------------------------------------ models
@pytest.fixture(scope="session")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="session")
def tiny_model_dir(models_root: Path) -> Path:
    """A 2-layer random Llama with a ChatML chat template (safetensors folder)."""
    return tiny.build_model(models_root / "tiny-chat")


@pytest.fixture(scope="session")
def plain_model_dir(models_root: Path) -> Path:
    """The same architecture with no chat template (plain-text prompts)."""
    return tiny.build_model(models_root / "tiny-plain", chat_template=None, seed=1)


@pytest.fixture(scope="session")
def gpt2_model_dir(models_root: Path) -> Path:
    """A 2-layer random GPT-2 with no chat template."""
    return tiny.build_model(models_root / "tiny-gpt2", chat_template=None, arch="gpt2", seed=2)


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_dir: Path):
    from core.models import load_model

    return load_model(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="session")
def plain_loaded(plain_model_dir: Path):
    from core.models import load_model

    return load_model(str(plain_model_dir), device="cpu")


@pytest.fixture(scope="session")
def gpt2_loaded(gpt2_model_dir: Path):
    from core.models import load_model

    return load_model(str(gpt2_model_dir), device="cpu")


@pytest.fixture
def tiny_lm(tiny_loaded):
    """A fresh LanguageModel (tests may change its batch size) around the session's model."""
    from core.lm import LanguageModel

    return LanguageModel(tiny_loaded.model, tiny_loaded.tokenizer, batch_size=4)


@pytest.fixture
def tiny_renderer(tiny_loaded):
    from core.prompts import PromptRenderer

    return PromptRenderer(tiny_loaded.tokenizer)


@pytest.fixture
def plain_lm(plain_loaded):
    from core.lm import LanguageModel

    return LanguageModel(plain_loaded.model, plain_loaded.tokenizer, batch_size=4)


@pytest.fixture
def plain_renderer(plain_loaded):
    from core.prompts import PromptRenderer

    return PromptRenderer(plain_loaded.tokenizer)


# ------------------------------------------------------------------------------------ data
@pytest.fixture(scope="session")
def tiny_dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset folder: train.jsonl (24 pool samples) and test.jsonl (8 test samples)."""
    return tiny.write_dataset(tmp_path_factory.mktemp("data") / "tiny-mc", pool=24, test=8)


@pytest.fixture(scope="session")
def tiny_dataset_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One JSONL file (no splits): core makes a seeded pool/test split."""
    path = tmp_path_factory.mktemp("data") / "tiny.jsonl"
    return tiny.write_jsonl(path, tiny.mc_rows(36, seed=5))


@pytest.fixture
def mc_samples():
    """Twelve in-memory 4-choice samples."""
    return tiny.samples(12, seed=3)
