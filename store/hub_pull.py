"""Pulling the files of a :class:`PullPlan` (store/hub_plan.py) from the Hugging Face hub into
the standard cache, with progress, cancel and resume.

huggingface-hub gives the URLs, headers, token and HTTP session, and its errors. The bytes are
fetched here, into ``blobs/{etag}.incomplete``, because huggingface-hub (since 1.x) downloads into
a process-private temporary file that it deletes on failure: a cancelled pull would lose what it
had. Keeping the ``.incomplete`` file lets the next pull ask for the missing bytes only (an HTTP
``Range`` request). A finished file is checked (its size, and an LFS file's sha256 against its
etag) and moved into place as huggingface-hub would.

Every failure is a :class:`StoreError` with one sentence; a cancel is :class:`PullCancelled`.
"""

from __future__ import annotations

import errno
import hashlib
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store.errors import StoreError
from store.hub_cache import PulledFile, cache_paths, link_pointer, publish_blob, write_ref
from store.hub_errors import disk_full_sentence, hub_error_sentence, is_transport_error
from store.hub_plan import PullPlan, RemoteFile

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
CHUNK_BYTES = 64 * 1024
RETRIES = 3  # a connection dropped mid-file is resumed this many times before giving up
READ_TIMEOUT = 30.0
ETA_AFTER_BYTES = 256 * 1024


class PullCancelled(Exception):
    """The pull was cancelled; finished files stay, a partial one stays as ``.incomplete``."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(f"cancelled after {done} of {total} bytes")
        self.done = done
        self.total = total


@dataclass(frozen=True)
class PullProgress:
    """One progress event: the current file and the whole pull, in bytes (``done`` counts bytes
    already on disk from an earlier pull too; ``rate`` is measured on bytes fetched now)."""

    file: str
    file_done: int
    file_total: int
    files_done: int
    files_total: int
    done: int
    total: int
    rate: float  # bytes per second, 0.0 until measured
    fetched: int  # bytes fetched by this pull (not counting what an earlier pull left)
    finished: bool = False

    @property
    def eta_seconds(self) -> float | None:
        if self.rate <= 0 or (self.fetched < ETA_AFTER_BYTES and self.done < self.total):
            return None  # too little measured yet for a useful estimate
        return max(0.0, (self.total - self.done) / self.rate)


@dataclass
class PullOutcome:
    plan: PullPlan
    files: list[PulledFile] = field(default_factory=list)
    fetched_bytes: int = 0  # bytes transferred by this pull
    resumed_bytes: int = 0  # bytes an earlier, interrupted pull had left in .incomplete files
    cached_bytes: int = 0  # bytes of files already in the cache (not fetched)


ProgressSink = Callable[[PullProgress], None]
FileSink = Callable[[PulledFile], None]


# ------------------------------------------------------------------------------------ pull
class _Meter:
    """Progress accounting over the whole pull: bytes done, a smoothed rate, the events."""

    def __init__(self, plan: PullPlan, sink: ProgressSink | None, every: float = 0.1) -> None:
        self.plan = plan
        self.sink = sink
        self.every = every
        self.done = 0
        self.fetched = 0
        self.files_done = 0
        self.rate = 0.0
        self.started = time.monotonic()
        self.last_emit = 0.0
        self.file = ""
        self.file_done = 0
        self.file_total = 0

    def start_file(self, remote: RemoteFile, on_disk: int) -> None:
        self.file, self.file_total, self.file_done = remote.name, remote.size, on_disk
        self.done += on_disk
        self.emit(force=True)

    def add(self, count: int) -> None:
        self.file_done += count
        self.done += count
        self.fetched += count
        elapsed = time.monotonic() - self.started
        if elapsed > 0.05:
            self.rate = self.fetched / elapsed
        self.emit()

    def rewind(self, count: int) -> None:
        """The server ignored a resume: the partial bytes are fetched again."""
        self.file_done -= count
        self.done -= count

    def end_file(self) -> None:
        self.files_done += 1
        self.emit(force=True)

    def emit(self, *, force: bool = False, finished: bool = False) -> None:
        now = time.monotonic()
        if self.sink is None or (not force and now - self.last_emit < self.every):
            return
        self.last_emit = now
        self.sink(
            PullProgress(
                file=self.file,
                file_done=self.file_done,
                file_total=self.file_total,
                files_done=self.files_done,
                files_total=len(self.plan.files),
                done=self.done,
                total=self.plan.total_bytes,
                rate=self.rate,
                fetched=self.fetched,
                finished=finished,
            )
        )


def pull_files(
    plan: PullPlan,
    *,
    on_progress: ProgressSink | None = None,
    on_file: FileSink | None = None,
    cancel: threading.Event | None = None,
) -> PullOutcome:
    """Fetch the plan's files into the cache (resuming ``.incomplete`` ones), link them into the
    commit's snapshot and write the branch ref. ``on_file`` hears of each file placed, as soon
    as it is; ``cancel`` (checked between chunks) or Ctrl-C raises :class:`PullCancelled`."""
    from huggingface_hub.utils import WeakFileLock

    meter = _Meter(plan, on_progress)
    outcome = PullOutcome(plan)
    _check_free_space(plan)
    try:
        for remote in plan.files:
            paths = cache_paths(plan.cache_dir, plan.repo_id, plan.commit, remote.name, remote.etag)
            paths.blob.parent.mkdir(parents=True, exist_ok=True)
            paths.lock.parent.mkdir(parents=True, exist_ok=True)
            with WeakFileLock(paths.lock):
                downloaded = not (paths.blob.is_file() and paths.blob.stat().st_size == remote.size)
                if downloaded:
                    partial = paths.incomplete.stat().st_size if paths.incomplete.is_file() else 0
                    meter.start_file(remote, partial if partial <= remote.size else 0)
                    resumed = _fetch(remote, paths.incomplete, plan, meter, cancel)
                    outcome.resumed_bytes += resumed
                    _check_download(remote, paths.incomplete)
                    publish_blob(paths.incomplete, paths.blob)
                else:
                    meter.start_file(remote, remote.size)
                    outcome.cached_bytes += remote.size
                link_made = link_pointer(paths)
            pulled = PulledFile(
                cache_dir=str(plan.cache_dir),
                repo_id=plan.repo_id,
                commit=plan.commit,
                filename=remote.name,
                blob=remote.etag,
                size=remote.size,
                link_made=link_made,
                blob_downloaded=downloaded,
            )
            outcome.files.append(pulled)
            if on_file is not None:
                on_file(pulled)
            meter.end_file()
        write_ref(plan.cache_dir, plan.repo_id, plan.revision, plan.commit)
    except KeyboardInterrupt:
        raise PullCancelled(meter.done, plan.total_bytes) from None
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise StoreError(disk_full_sentence(plan.cache_dir)) from None
        raise StoreError(
            f"could not write to the Hugging Face cache {plan.cache_dir}: {error.strerror or error}"
        ) from None
    outcome.fetched_bytes = meter.fetched
    meter.emit(force=True, finished=True)
    return outcome


def _check_free_space(plan: PullPlan) -> None:
    missing = 0
    for remote in plan.files:
        paths = cache_paths(plan.cache_dir, plan.repo_id, plan.commit, remote.name, remote.etag)
        if not paths.blob.is_file():
            partial = paths.incomplete.stat().st_size if paths.incomplete.is_file() else 0
            missing += max(0, remote.size - partial)
    folder = plan.cache_dir
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if missing > free:
        raise StoreError(disk_full_sentence(plan.cache_dir, missing - free))


def _fetch(
    remote: RemoteFile,
    incomplete: Path,
    plan: PullPlan,
    meter: _Meter,
    cancel: threading.Event | None,
) -> int:
    """Download ``remote`` into ``incomplete``, continuing what is there; returns the bytes that
    were already there when this pull started."""
    have = incomplete.stat().st_size if incomplete.is_file() else 0
    if have > remote.size:
        incomplete.unlink()  # not this file's bytes: start over (it is our own partial file)
        have = 0
    resumed = have
    attempts = 0
    while have < remote.size:
        try:
            have = _stream_into(remote, incomplete, have, meter, cancel)
        except StoreError:
            raise
        except Exception as error:
            if isinstance(error, OSError) and not is_transport_error(error):
                raise
            sentence = hub_error_sentence(error, plan.repo_id, plan.revision)
            if sentence is None:
                raise
            attempts += 1
            have = incomplete.stat().st_size if incomplete.is_file() else 0
            if not is_transport_error(error) or attempts > RETRIES:
                raise StoreError(
                    f"the download of {remote.name} stopped at {have} of {remote.size} bytes "
                    f"({sentence}); run the same pull again to resume"
                ) from None
            time.sleep(min(2.0, 0.25 * attempts))
    return resumed


def _stream_into(
    remote: RemoteFile,
    incomplete: Path,
    have: int,
    meter: _Meter,
    cancel: threading.Event | None,
) -> int:
    """One GET from byte ``have`` on, appended to ``incomplete``; the new size on return."""
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    headers = build_hf_headers()
    headers["Accept-Encoding"] = "identity"
    if have:
        headers["Range"] = f"bytes={have}-"
    session: Any = get_session()
    with session.stream(
        "GET", remote.url, headers=headers, timeout=READ_TIMEOUT, follow_redirects=True
    ) as response:
        hf_raise_for_status(response)
        mode = "ab"
        if have and response.status_code != 206:
            meter.rewind(have)  # the server sent the whole file: start the file over
            have, mode = 0, "wb"
        with incomplete.open(mode) as handle:
            for chunk in response.iter_bytes():
                if cancel is not None and cancel.is_set():
                    handle.flush()
                    raise PullCancelled(meter.done, meter.plan.total_bytes)
                if not chunk:
                    continue
                handle.write(chunk)
                have += len(chunk)
                meter.add(len(chunk))
    return have


def _check_download(remote: RemoteFile, incomplete: Path) -> None:
    size = incomplete.stat().st_size
    if size != remote.size:
        raise StoreError(
            f"{remote.name} arrived with {size} bytes instead of {remote.size}; pull again"
        )
    if SHA256_HEX.match(remote.etag):
        digest = hashlib.sha256()
        with incomplete.open("rb") as handle:
            while block := handle.read(8 * 1024 * 1024):
                digest.update(block)
        if digest.hexdigest() != remote.etag:
            incomplete.unlink()  # our own partial file, and useless: the next pull starts over
            raise StoreError(
                f"{remote.name} does not match its sha256 from the hub; pull again to fetch it afresh"
            )
