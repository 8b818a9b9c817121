"""What a pull from the Hugging Face hub fetches: a :class:`PullPlan` of the repo's files at one
commit, each with its size, etag and URL.

``parse_hub_ref`` reads ``owner/name[@revision]``; huggingface-hub does the talking: the repo
listing (``HfApi.model_info``) and each file's metadata (``get_hf_file_metadata``: etag, size,
commit). Only safetensors weights, config and tokenizer files are planned unless
``allow_pickle``; a repo with pickle weights only is refused. Every failure is a
:class:`StoreError` with one sentence. The bytes are fetched by store/hub_pull.py.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from store.errors import StoreError
from store.hub_cache import hub_cache_dir, hub_endpoint
from store.hub_errors import hub_error_sentence
from store.model_files import HUB_ID, HUB_PATTERNS, PICKLE_SUFFIXES


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int
    etag: str
    url: str


@dataclass(frozen=True)
class PullPlan:
    repo_id: str
    revision: str  # as asked ("main" when none was given)
    commit: str
    cache_dir: Path
    files: tuple[RemoteFile, ...]
    skipped: tuple[str, ...] = ()  # files of the repo left out (pickle weights, other formats)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


# ------------------------------------------------------------------------------------ refs
def parse_hub_ref(text: str) -> tuple[str, str | None]:
    """``owner/name[@revision]`` (``hf:`` prefix allowed) -> (repo id, revision or None)."""
    value = (text or "").strip()
    value = value[3:] if value.startswith("hf:") else value
    repo, at, revision = value.partition("@")
    if not repo or not HUB_ID.match(repo) or (at and not revision.strip()):
        raise StoreError(f"{text!r} is not a hub model id; write owner/name or owner/name@revision")
    return repo, revision.strip() or None


def wanted(name: str, *, allow_pickle: bool) -> bool:
    base = name.rsplit("/", 1)[-1]
    if any(fnmatch.fnmatch(base, pattern) for pattern in HUB_PATTERNS):
        return True
    return allow_pickle and name.endswith(PICKLE_SUFFIXES)


# ------------------------------------------------------------------------------------ plan
def plan_pull(
    repo: str,
    revision: str | None,
    *,
    allow_pickle: bool = False,
    cache_dir: Path | None = None,
) -> PullPlan:
    """Ask the hub what ``repo`` at ``revision`` holds and which files a pull fetches."""
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url

    endpoint = hub_endpoint()
    try:
        info = HfApi(endpoint=endpoint).model_info(repo, revision=revision, files_metadata=True)
        commit = str(info.sha or "")
        names = sorted(s.rfilename for s in (info.siblings or []))
        picked = [name for name in names if wanted(name, allow_pickle=allow_pickle)]
        _check_weights(repo, names, picked, allow_pickle=allow_pickle)
        files: list[RemoteFile] = []
        for name in picked:
            url = hf_hub_url(repo, name, revision=commit, endpoint=endpoint)
            meta = get_hf_file_metadata(url)
            if not meta.etag or meta.size is None:
                raise StoreError(f"{endpoint} gave no etag or size for {name} of {repo}")
            files.append(RemoteFile(name, int(meta.size), meta.etag, meta.location or url))
    except StoreError:
        raise
    except Exception as error:
        sentence = hub_error_sentence(error, repo, revision)
        if sentence is None:
            raise
        raise StoreError(sentence) from None
    if not commit:
        raise StoreError(f"{endpoint} did not say which commit {repo} is at")
    return PullPlan(
        repo,
        revision or "main",
        commit,
        cache_dir or hub_cache_dir(),
        tuple(files),
        tuple(name for name in names if name not in picked),
    )


def _check_weights(repo: str, names: list[str], picked: list[str], *, allow_pickle: bool) -> None:
    if any(name.endswith(".safetensors") for name in picked):
        return
    if allow_pickle and any(name.endswith(PICKLE_SUFFIXES) for name in picked):
        return
    pickles = [name for name in names if name.endswith(PICKLE_SUFFIXES)]
    if pickles:
        raise StoreError(
            f"the model {repo} has only pickle weights ({pickles[0]}), which can run code when "
            "loaded; pass --allow-pickle if you trust its source"
        )
    raise StoreError(f"the model {repo} has no safetensors weights to pull")
