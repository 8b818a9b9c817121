"""Loading language models: built-in, local folder, GGUF file, or Hugging Face hub id."""

from __future__ import annotations

from core.models.builtin import BUILTIN_MODELS
from core.models.loading import LoadedModel, load_model, parse_model_ref

__all__ = ["BUILTIN_MODELS", "LoadedModel", "load_model", "parse_model_ref"]
