"""Everything about a run that can be checked without loading the model, checked before the run
record is written: a refused configuration adds nothing to the store.

Covered: argument ranges, the model reference (files, format, pickle and remote-code refusals,
a built-in model's package), the dataset (parsing, answer keys, field map), shots against the
pool, the test limit against the test split, and the keyword count against the pool's words.
Failures are :class:`core.errors.SaTuiError` subclasses with one sentence.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.config import RunConfig
from core.errors import ConfigError, ModelError, SaTuiError
from core.models.builtin import builtin_spec
from core.models.loading import check_folder, parse_model_ref
from core.run_inputs import load_run_dataset, test_items
from core.samples import Dataset, Sample
from core.spans import SPAN_METHODS, SPANS, content_words, explained_words, resolve_span
from core.words import min_shap_samples
from store.hub_errors import hub_error_sentence
from store.model_files import needs_remote_code, remote_code_refusal
from store.weights import read_gguf, read_safetensors_tensors

# counterfactual falls back to k DeepLift keywords when no edit flips the answer
KEYWORD_METHODS = (
    "deeplift",
    "kernelshap",
    "leave_one_out",
    "random",
    "self_topk",
    "counterfactual",
)


@dataclass(frozen=True)
class Prepared:
    """A configuration that passed every check, with the dataset it loaded."""

    config: RunConfig
    dataset: Dataset
    items: tuple[Sample, ...]


def preflight(config: RunConfig) -> Prepared:
    """Check ``config`` completely (see the module docstring); return what the run needs."""
    config.validate()
    check_model(config)
    dataset = load_run_dataset(config)
    items = tuple(test_items(dataset, config))
    if config.needs_shots and config.search > 1:
        room = len(dataset.pool) - config.dev_size
        if config.dev_size >= len(dataset.pool) or config.shots > room:
            raise ConfigError(
                f"--dev-size {config.dev_size} with --shots {config.shots} does not fit the "
                f"{len(dataset.pool)} samples of the selection pool of {config.dataset}; "
                "use a smaller --dev-size"
            )
    if config.influence and config.dev_size >= len(dataset.pool):
        raise ConfigError(
            f"--dev-size {config.dev_size} for --influence leaves no shots in the "
            f"{len(dataset.pool)} samples of the selection pool of {config.dataset}; "
            "use a smaller --dev-size"
        )
    if config.needs_shots and config.shots > len(dataset.pool):
        raise ConfigError(
            f"--shots {config.shots} is more than the {len(dataset.pool)} samples of the "
            f"selection pool of {config.dataset}"
        )
    span = resolve_span(config.span, dataset.pool)
    if config.needs_shots and set(config.methods) & set(KEYWORD_METHODS):
        attributed = bool(set(config.methods) & set(SPAN_METHODS))
        most = max(
            content_words(sample, span if attributed else SPANS[1]) for sample in dataset.pool
        )
        if config.keywords > most:
            where = f" in the attribution span {span!r}" if attributed else ""
            raise ConfigError(
                f"--keywords {config.keywords} is more than the {most} content words{where} of the "
                f"longest pool sample of {config.dataset}; use a smaller k"
                + (" or a wider --span" if attributed else "")
            )
    if config.needs_shots and "kernelshap" in config.methods:
        longest = max(explained_words(sample, span) for sample in dataset.pool)
        if config.shap_samples < min_shap_samples(longest):
            raise ConfigError(
                f"--shap-samples {config.shap_samples} is too few for KernelSHAP on the longest "
                f"pool question of {config.dataset} ({longest} words need at least "
                f"{min_shap_samples(longest)}); raise --shap-samples"
            )
    return Prepared(config, dataset, items)


def check_model(config: RunConfig) -> None:
    """The model (and AMPLIFY's proxy) resolve to loadable files (nothing is loaded)."""
    for ref in (config.model, config.proxy_model):
        if ref:
            check_model_ref(ref, config)


def check_model_ref(ref: str, config: RunConfig) -> None:
    """One model reference resolves to loadable files (nothing is loaded or downloaded)."""
    parsed = parse_model_ref(ref)
    if parsed.kind == "builtin":
        spec = builtin_spec(parsed.value)
        if importlib.util.find_spec(spec.module) is None:
            raise ModelError(
                f"the built-in model {ref} needs the package {spec.package}: {spec.install_hint}"
            )
    elif parsed.kind == "folder":
        folder = Path(parsed.value)
        check_folder(folder, allow_pickle=False)
        check_remote_code(folder, config)
        check_weight_headers(folder)
    elif parsed.kind == "gguf":
        _readable(read_gguf, Path(parsed.value))
    elif parsed.kind == "hub":
        snapshot = _cached_snapshot(parsed.value, parsed.revision)
        if snapshot is not None:
            check_folder(snapshot, allow_pickle=False)
            check_remote_code(snapshot, config)
            check_weight_headers(snapshot)
        elif os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
            raise ModelError(
                f"the model {parsed.value!r} is not in the local Hugging Face cache and "
                "HF_HUB_OFFLINE is set; download it first or pass a local folder or .gguf file"
            )
        else:
            check_on_hub(parsed.value, parsed.revision)


def check_weight_headers(folder: Path) -> None:
    """Every safetensors file's header reads (a truncated or foreign file is refused here,
    not after the run record is written). Reads headers only, never the weights."""
    for path in sorted(folder.glob("*.safetensors")):
        _readable(read_safetensors_tensors, path)


def _readable(reader: Callable[[Path], object], path: Path) -> None:
    try:
        reader(path)
    except SaTuiError as error:
        raise ModelError(str(error)) from None


def check_remote_code(folder: Path, config: RunConfig) -> None:
    """A model that needs its own Python code (``auto_map``) runs only when this run trusts it
    (``--trust-remote-code``, kept in the run's config). Accepting the code when the model was
    catalogued (``models add --trust-remote-code``) is not enough: that was about the files as
    they were then, and each run that executes the code says so itself."""
    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ModelError(f"the config.json of {folder} is not readable JSON") from None
    if isinstance(data, dict) and needs_remote_code(data) and not config.trust_remote_code:
        raise ModelError(remote_code_refusal(folder))


HUB_CHECK_TIMEOUT_S = 15.0


def check_on_hub(repo: str, revision: str | None) -> None:
    """A model to be downloaded exists on the hub at that revision and can be reached, asked
    before the run is recorded (a catalogue name or alias that is no model ends here too)."""
    from huggingface_hub import model_info

    try:
        model_info(repo, revision=revision, timeout=HUB_CHECK_TIMEOUT_S)
    except Exception as error:
        sentence = hub_error_sentence(error, repo, revision, again="run again")
        if sentence is None:
            raise ModelError(
                f"the model {repo!r} could not be looked up on the hub ({error})"
            ) from None
        raise ModelError(
            f"{sentence} (the model is not in the local Hugging Face cache, nor a name in "
            "sa-tui models list)"
        ) from None


def _cached_snapshot(repo: str, revision: str | None) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo, revision=revision, local_files_only=True))
    except Exception:
        return None
