"""Datasets from the Hugging Face hub, through the ``datasets`` library (needs the network)."""

from __future__ import annotations

from typing import Any

from core.datasets.fieldmap import FieldMap
from core.datasets.files import samples_from_source
from core.datasets.readers import RawSource
from core.errors import DatasetError
from core.samples import Dataset

_ARC_LIKE = FieldMap(id="id", question=("question",), choices=("choices",), answer="answerKey")
_SIQA = FieldMap(
    question=("context", "question"),
    choices=("answerA", "answerB", "answerC"),
    answer="label",
    answer_format="index1",
)

# Field maps for well-known hub datasets; any other hub dataset needs one from the user.
KNOWN_FIELD_MAPS: dict[str, FieldMap] = {
    "allenai/ai2_arc": _ARC_LIKE,
    "ai2_arc": _ARC_LIKE,
    "tau/commonsense_qa": _ARC_LIKE,
    "commonsense_qa": _ARC_LIKE,
    "allenai/social_i_qa": _SIQA,
    "social_i_qa": _SIQA,
    "allenai/openbookqa": FieldMap(
        id="id", question=("question_stem",), choices=("choices",), answer="answerKey"
    ),
    "openbookqa": FieldMap(
        id="id", question=("question_stem",), choices=("choices",), answer="answerKey"
    ),
}

_NETWORK_WORDS = (
    "connection",
    "network",
    "offline",
    "timed out",
    "couldn't reach",
    "name resolution",
)
_OFFLINE_TYPES = {
    "OfflineModeIsEnabled",
    "LocalEntryNotFoundError",
    "ConnectionError",
    "ConnectError",
    "ConnectTimeout",
    "ReadTimeout",
    "ProxyError",
}
_NOT_FOUND_TYPES = {
    "DatasetNotFoundError",
    "RepositoryNotFoundError",
    "DataFilesNotFoundError",
    "FileNotFoundError",
}


def parse_hub_ref(ref: str) -> tuple[str, str | None]:
    """``owner/name`` or ``owner/name:config`` -> (repo id, config or None)."""
    repo, _, config = ref.partition(":")
    repo = repo.strip()
    if not repo or any(part == "" for part in repo.split("/")) or repo.count("/") > 1:
        raise DatasetError(
            f"{('hf:' + ref)!r} is not a hub dataset reference; write hf:owner/name or hf:owner/name:config"
        )
    return repo, config.strip() or None


def load_hub(ref: str, *, field_map: FieldMap | None, split_seed: int) -> Dataset:
    """Download ``owner/name[:config]`` with ``datasets.load_dataset`` and map it with a field map."""
    repo, config = parse_hub_ref(ref)
    label = f"hf:{repo}" + (f":{config}" if config else "")
    fields = field_map or KNOWN_FIELD_MAPS.get(repo)
    if fields is None:
        raise DatasetError(
            f"the hub dataset {repo!r} needs a field map saying which fields hold the question, "
            "choices and answer, e.g. question=question,choices=choices,answer=answerKey"
        )
    splits = _download(repo, config, label)
    name = repo.split("/")[-1] + (f"-{config}" if config else "")
    return samples_from_source(
        RawSource(splits), fields, where=label, id_prefix=name, split_seed=split_seed, name=name
    )


def _download(repo: str, config: str | None, label: str) -> dict[str, list[Any]]:
    try:
        import datasets
    except ImportError:
        raise DatasetError(
            f"{label} needs the 'datasets' package, which is not installed"
        ) from None
    try:
        loaded = datasets.load_dataset(repo, config)
    except Exception as error:  # the library raises many types; all become one sentence
        raise DatasetError(_explain(error, repo, config)) from error
    if isinstance(loaded, datasets.DatasetDict):
        return {str(split): list(loaded[split].to_list()) for split in loaded}
    if isinstance(loaded, datasets.Dataset):
        return {"data": list(loaded.to_list())}
    raise DatasetError(f"{label} was loaded as a {type(loaded).__name__}, which sa-tui cannot read")


def _explain(error: BaseException, repo: str, config: str | None) -> str:
    chain = _chain(error)
    names = {type(item).__name__ for item in chain}
    text = " ".join(str(item) for item in chain).lower()
    unreachable = (
        f"The dataset {repo!r} could not be downloaded: the Hugging Face hub is not reachable from this "
        "machine; connect it to the network (or set up a proxy or HF_ENDPOINT mirror) and try again."
    )
    if (
        any(isinstance(item, (ConnectionError, TimeoutError)) for item in chain)
        or names & _OFFLINE_TYPES
    ):
        return unreachable
    if names & _NOT_FOUND_TYPES:
        return (
            f"The dataset {repo!r} was not found on the Hugging Face hub; check the name "
            "(private or gated datasets also need a login: hf auth login)."
        )
    if any(word in text for word in _NETWORK_WORDS):
        return unreachable
    if config is None and "config" in text:
        return (
            f"The hub dataset {repo!r} has several configurations; name one, as hf:{repo}:CONFIG."
        )
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return f"The hub dataset {repo!r} could not be loaded: {first_line}"


def _chain(error: BaseException) -> list[BaseException]:
    items: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in items and len(items) < 10:
        items.append(current)
        current = current.__cause__ or current.__context__
    return items
