"""The Hugging Face hub cache, laid out as huggingface-hub lays it out (so every tool sees it).

``{cache}/models--{owner}--{name}/``: ``blobs/{etag}`` holds each file's bytes once (an LFS
file's etag is its sha256), ``snapshots/{commit}/{file}`` is a relative symlink into ``blobs``,
``refs/{branch}`` names a branch's commit. A download in progress is ``blobs/{etag}.incomplete``.

The cache folder and the endpoint are read from the environment at each call (``HF_HUB_CACHE``,
``HF_HOME``, ``XDG_CACHE_HOME``, ``HF_ENDPOINT``), as huggingface-hub reads them when imported,
so a test or a caller that sets them later is honoured.

:func:`removable_pull_paths` says what deleting a pull may touch: only the snapshot links
sa-tui made and the blobs it downloaded, and a blob only while no other link still uses it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ENDPOINT = "https://huggingface.co"
INCOMPLETE_SUFFIX = ".incomplete"


def hub_cache_dir() -> Path:
    """The hub cache folder huggingface-hub uses with the current environment."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(os.path.expandvars(explicit)).expanduser()
    home = os.environ.get("HF_HOME")
    if not home:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        home = os.path.join(cache, "huggingface")
    return Path(os.path.expandvars(home)).expanduser() / "hub"


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def repo_folder(cache_dir: Path, repo_id: str) -> Path:
    return cache_dir / ("models--" + repo_id.replace("/", "--"))


@dataclass(frozen=True)
class CachePaths:
    """Where one file of one commit lives in the cache."""

    repo: Path
    blob: Path
    pointer: Path
    lock: Path

    @property
    def incomplete(self) -> Path:
        return self.blob.with_name(self.blob.name + INCOMPLETE_SUFFIX)


def cache_paths(cache_dir: Path, repo_id: str, commit: str, filename: str, etag: str) -> CachePaths:
    repo = repo_folder(cache_dir, repo_id)
    lock = cache_dir / ".locks" / repo.name / f"{etag}.lock"
    return CachePaths(repo, repo / "blobs" / etag, repo / "snapshots" / commit / filename, lock)


def points_at(pointer: Path, blob: Path) -> bool:
    """Whether ``pointer`` is a symlink resolving to ``blob``."""
    return pointer.is_symlink() and pointer.resolve() == blob.resolve()


def link_pointer(paths: CachePaths) -> bool:
    """Make the snapshot's relative symlink to the blob; False when it was already there."""
    if points_at(paths.pointer, paths.blob):
        return False
    paths.pointer.parent.mkdir(parents=True, exist_ok=True)
    if paths.pointer.is_symlink() or paths.pointer.exists():
        paths.pointer.unlink()  # a stale link to another blob: the commit names this one
    target = os.path.relpath(paths.blob, paths.pointer.parent)
    paths.pointer.symlink_to(target)
    return True


def write_ref(cache_dir: Path, repo_id: str, revision: str, commit: str) -> None:
    """``refs/{revision}`` names ``commit`` (a branch or tag; a commit hash needs no ref)."""
    if revision == commit:
        return
    ref = repo_folder(cache_dir, repo_id) / "refs" / revision
    if ref.is_file() and ref.read_text(encoding="utf-8").strip() == commit:
        return
    ref.parent.mkdir(parents=True, exist_ok=True)
    temporary = ref.with_name(ref.name + ".sa-tui-tmp")
    temporary.write_text(commit, encoding="utf-8")
    os.replace(temporary, ref)


def publish_blob(incomplete: Path, blob: Path) -> None:
    """Move a finished download into place with the permissions a new file gets here."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(incomplete, 0o666 & ~umask)
    os.replace(incomplete, blob)


# ------------------------------------------------------------------------------------ removal
@dataclass(frozen=True)
class PulledFile:
    """One file a pull placed in the cache: the link it made, and whether it downloaded the blob
    (False: the blob was already in the cache, so it belongs to whoever put it there)."""

    cache_dir: str
    repo_id: str
    commit: str
    filename: str
    blob: str
    size: int
    link_made: bool
    blob_downloaded: bool

    def paths(self) -> CachePaths:
        return cache_paths(
            Path(self.cache_dir), self.repo_id, self.commit, self.filename, self.blob
        )


def _links_to(repo: Path, blob: Path, ignoring: set[Path]) -> bool:
    """Whether any snapshot link of ``repo`` other than ``ignoring`` resolves to ``blob``."""
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return False
    for root, _dirs, names in os.walk(snapshots):
        for name in names:
            link = Path(root) / name
            if link not in ignoring and points_at(link, blob):
                return True
    return False


def removable_pull_paths(files: list[PulledFile]) -> tuple[list[Path], list[Path]]:
    """(links, blobs) that deleting these pulled files may remove: links sa-tui made that still
    point at the recorded blob, and blobs sa-tui downloaded that no other link uses."""
    links = [f.paths().pointer for f in files if f.link_made and points_at(*_pair(f))]
    leaving = set(links)
    blobs: list[Path] = []
    for f in files:
        paths = f.paths()
        if (
            f.blob_downloaded
            and paths.blob.is_file()
            and paths.blob not in blobs
            and not _links_to(paths.repo, paths.blob, leaving)
        ):
            blobs.append(paths.blob)
    return links, blobs


def _pair(f: PulledFile) -> tuple[Path, Path]:
    paths = f.paths()
    return paths.pointer, paths.blob


def remove_empty_dirs(start: Path, stop: Path) -> None:
    """Remove ``start`` and its parents up to (not including) ``stop`` while they are empty."""
    folder = start
    while folder != stop and folder.is_relative_to(stop):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
