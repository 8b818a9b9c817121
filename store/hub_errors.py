"""One sentence for each way talking to the hub can fail (gated, missing, revision, offline, no
network, full disk), whatever HTTP library huggingface-hub uses underneath."""

from __future__ import annotations

from pathlib import Path

from store.hub_cache import hub_endpoint


def is_transport_error(error: BaseException) -> bool:
    """A network failure (refused, reset, timed out, DNS), whatever HTTP library raised it."""
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(
        names & {"TransportError", "ConnectionError", "ConnectError", "TimeoutException", "Timeout"}
    ) or isinstance(error, (ConnectionError, TimeoutError))


def hub_error_sentence(
    error: BaseException, repo: str, revision: str | None, *, again: str = "pull again"
) -> str | None:
    """One sentence for what huggingface-hub raised, or None when it is not a known failure;
    ``again`` is what the user does once it is fixed."""
    from huggingface_hub.utils import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = hub_endpoint()
    if isinstance(error, GatedRepoError):
        return (
            f"the model {repo} is gated: accept its terms on its page at {endpoint} and log in "
            f"(hf auth login, or set HF_TOKEN), then {again}"
        )
    if isinstance(error, RepositoryNotFoundError):
        return (
            f"there is no model {repo} on {endpoint} (or it is private: log in with "
            "hf auth login); check the id"
        )
    if isinstance(error, RevisionNotFoundError):
        return f"the model {repo} has no revision {revision!r}; check the branch, tag or commit"
    if isinstance(error, EntryNotFoundError):
        return f"a file of {repo} vanished from {endpoint} during the download; {again}"
    if isinstance(error, OfflineModeIsEnabled):
        return f"cannot pull {repo}: HF_HUB_OFFLINE is set; unset it to download"
    if is_transport_error(error):
        return (
            f"cannot reach {endpoint} to download {repo} (no network, or the server refused "
            f"the connection); check the connection or HF_ENDPOINT and {again}"
        )
    if isinstance(error, HfHubHTTPError):
        status = getattr(getattr(error, "response", None), "status_code", "?")
        return f"{endpoint} answered HTTP {status} for {repo}; try again later"
    return None


def disk_full_sentence(cache_dir: Path, needed: int | None = None) -> str:
    more = f" ({needed} more bytes are needed)" if needed else ""
    return (
        f"the disk holding {cache_dir} is full{more}; free some space and pull again "
        "(what was downloaded is kept and the pull resumes)"
    )
