"""A local stand-in for the Hugging Face hub's file API, for pull tests (127.0.0.1, random port).

It speaks what huggingface-hub asks of the hub when it downloads a model:

- ``GET /api/models/{repo}[/revision/{rev}]``: JSON with ``sha`` and ``siblings`` (file names,
  sizes, blob ids, LFS sha256);
- ``HEAD|GET /{repo}/resolve/{rev}/{file}``: the bytes, with ``ETag`` (the sha256 for LFS files,
  as ``X-Linked-Etag`` too; the git blob id for small files), ``X-Repo-Commit``,
  ``Content-Length``, ``Accept-Ranges`` and ``Range`` answered with 206;
- the hub's errors: 401 ``RepoNotFound`` for a missing repo, 401 ``GatedRepo`` for a gated one's
  files, 404 ``RevisionNotFound`` and ``EntryNotFound``.

Tests can slow a transfer down (``delay_per_chunk``), cut it after N body bytes (``cut_after``:
the connection closes mid-body), and read how many body bytes each file was served
(``served``), so a resumed pull can be shown to fetch only the missing bytes.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")
CHUNK = 16 * 1024


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class HubRepo:
    """One model repo: its files at one commit, reachable by that commit and by ``main``."""

    repo_id: str
    files: dict[str, bytes]
    commit: str = ""
    gated: bool = False
    branches: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.commit:
            digest = hashlib.sha1(self.repo_id.encode())
            for name in sorted(self.files):
                digest.update(name.encode() + self.files[name])
            self.commit = digest.hexdigest()
        self.branches.setdefault("main", self.commit)

    def resolve(self, revision: str) -> str | None:
        if revision == self.commit:
            return self.commit
        return self.branches.get(revision)

    @staticmethod
    def is_lfs(name: str) -> bool:
        return name.endswith(LFS_SUFFIXES)

    def etag(self, name: str) -> str:
        data = self.files[name]
        return hashlib.sha256(data).hexdigest() if self.is_lfs(name) else git_blob_id(data)

    def info(self) -> dict[str, object]:
        siblings: list[dict[str, object]] = []
        for name in sorted(self.files):
            data = self.files[name]
            sibling: dict[str, object] = {
                "rfilename": name,
                "size": len(data),
                "blobId": git_blob_id(data),
            }
            if self.is_lfs(name):
                sibling["lfs"] = {
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "pointerSize": 134,
                }
            siblings.append(sibling)
        return {
            "_id": hashlib.md5(self.repo_id.encode()).hexdigest()[:24],
            "id": self.repo_id,
            "modelId": self.repo_id,
            "sha": self.commit,
            "private": False,
            "gated": "manual" if self.gated else False,
            "disabled": False,
            "tags": [],
            "siblings": siblings,
        }


@dataclass
class HubState:
    """What the server serves and what it measured; tests change it between requests."""

    repos: dict[str, HubRepo] = field(default_factory=dict)
    delay_per_chunk: float = 0.0  # seconds slept after each 16 KB of a body
    cut_after: dict[str, int] = field(default_factory=dict)  # file name -> body bytes, then close
    served: Counter[str] = field(default_factory=Counter)  # file name -> body bytes sent
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, range)
    lock: threading.Lock = field(default_factory=threading.Lock)
    epoch: int = 0  # bumped by reset_counts: a body begun before it is not counted after it

    def add(self, repo: HubRepo) -> HubRepo:
        self.repos[repo.repo_id] = repo
        return repo

    def reset_counts(self) -> None:
        with self.lock:
            self.served.clear()
            self.requests.clear()
            self.epoch += 1


class HubHandler(BaseHTTPRequestHandler):
    server: HubHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet: no stderr noise
        return

    # ------------------------------------------------------------------------------ routing
    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def _route(self, *, head: bool) -> None:
        state = self.server.state
        path = unquote(urlsplit(self.path).path)
        with state.lock:
            state.requests.append((self.command, path, self.headers.get("Range", "")))
        parts = [part for part in path.split("/") if part]
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo_id = "/".join(parts[2:4])
            revision = parts[5] if len(parts) >= 6 and parts[4] == "revision" else "main"
            self._api_info(repo_id, revision, head=head)
        elif len(parts) >= 5 and parts[2] == "resolve":
            self._resolve("/".join(parts[:2]), parts[3], "/".join(parts[4:]), head=head)
        else:
            self._error(404, "EntryNotFound", "not a hub route", head=head)

    # ------------------------------------------------------------------------------ answers
    def _error(self, status: int, code: str, message: str, *, head: bool) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _repo(self, repo_id: str, *, head: bool) -> HubRepo | None:
        repo = self.server.state.repos.get(repo_id)
        if repo is None:
            self._error(401, "RepoNotFound", "Repository not found", head=head)
        return repo

    def _api_info(self, repo_id: str, revision: str, *, head: bool) -> None:
        repo = self._repo(repo_id, head=head)
        if repo is None:
            return
        if repo.resolve(revision) is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head=head)
            return
        body = json.dumps(repo.info()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _resolve(self, repo_id: str, revision: str, name: str, *, head: bool) -> None:
        repo = self._repo(repo_id, head=head)
        if repo is None:
            return
        commit = repo.resolve(revision)
        if commit is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head=head)
            return
        if repo.gated:
            self._error(401, "GatedRepo", "Access to this model is restricted; log in", head=head)
            return
        if name not in repo.files:
            self._error(404, "EntryNotFound", f"{name} does not exist", head=head)
            return
        data = repo.files[name]
        start, end = 0, len(data) - 1
        wanted = self.headers.get("Range", "")
        partial = wanted.startswith("bytes=")
        if partial:
            first, _, last = wanted[len("bytes=") :].partition("-")
            start = int(first or 0)
            end = int(last) if last else len(data) - 1
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        etag = repo.etag(name)
        self.send_response(206 if partial else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{etag}"')
        self.send_header("X-Repo-Commit", commit)
        if repo.is_lfs(name):
            self.send_header("X-Linked-Etag", f'"{etag}"')
            self.send_header("X-Linked-Size", str(len(data)))
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        if not head:
            self._send_body(name, data[start : end + 1])

    def _send_body(self, name: str, body: bytes) -> None:
        state = self.server.state
        with state.lock:
            cut = state.cut_after.pop(name, None)
            epoch = state.epoch
        sent = 0
        try:
            while sent < len(body):
                if cut is not None and sent >= cut:
                    self.close_connection = True
                    return  # the client sees the connection close mid-body
                size = CHUNK if cut is None else min(CHUNK, cut - sent)
                piece = body[sent : sent + size]
                self.wfile.write(piece)
                self.wfile.flush()
                sent += len(piece)
                with state.lock:
                    if state.epoch == epoch:  # a cancelled pull's body still draining is not
                        state.served[name] += len(piece)  # counted against the next pull
                if state.delay_per_chunk:
                    time.sleep(state.delay_per_chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (a cancelled pull)


class HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: HubState) -> None:
        super().__init__(("127.0.0.1", 0), HubHandler)
        self.state = state

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up (a cancelled pull) is expected, not an error to print."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class LocalHub:
    """A running server: ``url`` for HF_ENDPOINT, ``state`` to add repos and read counters."""

    def __init__(self) -> None:
        self.state = HubState()
        self.server = HubHTTPServer(self.state)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> LocalHub:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def add_folder(self, repo_id: str, folder: Path, *, gated: bool = False) -> HubRepo:
        """Serve every file of ``folder`` (a model folder) as ``repo_id`` at one commit."""
        files = {
            path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }
        return self.state.add(HubRepo(repo_id, files, gated=gated))


WEIGHTS_BYTES = 2 * 1024 * 1024  # big enough to cancel mid-file


def make_hub_model(folder: Path) -> Path:
    """A small model folder whose weights file is about 2 MB, plus files a pull leaves out."""
    import numpy as np

    from tests.store.store_helpers import make_model_folder, write_safetensors

    make_model_folder(folder)
    rng = np.random.default_rng(0)
    write_safetensors(
        folder / "model.safetensors",
        {
            "embed.weight": np.zeros((3, 4), dtype=np.float32),
            "head.weight": np.ones((4, 3), dtype=np.float16),
            "big.weight": rng.standard_normal(WEIGHTS_BYTES // 4).astype(np.float32),
        },
    )
    (folder / "pytorch_model.bin").write_bytes(b"pickle bytes " * 100)
    (folder / "README.md").write_text("# tiny\n")
    return folder


@pytest.fixture
def local_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LocalHub]:
    """A local hub on 127.0.0.1 with HF_ENDPOINT pointing at it and an empty HF_HOME (so the
    user's own cache and token are never touched); stopped after the test."""
    hub = LocalHub().start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        yield hub
    finally:
        hub.stop()
