"""Token-id helpers shared by scoring, selection and evaluation: common prefixes, the
best label, and robust label continuations (torch-free)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.errors import ConfigError


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def shared_prefix(sequences: Sequence[Sequence[int]]) -> list[int]:
    """The longest token prefix shared by all sequences, leaving each at least one own token."""
    if not sequences:
        return []
    length = min(len(s) for s in sequences) - 1
    first = sequences[0]
    for other in sequences[1:]:
        length = min(length, common_prefix_length(first, other))
    return list(first[: max(0, length)])


def best_label(labels: Sequence[str], log_probs: Sequence[float]) -> str:
    """The label with the highest score; on a tie, the first one (deterministic)."""
    return labels[max(range(len(log_probs)), key=lambda i: (log_probs[i], -i))]


def label_continuations(
    encode: Callable[[str], list[int]], text: str, labels: Sequence[str]
) -> tuple[list[int], list[int]]:
    """Prompt ids and one next-token id per label, robust to BPE merges at the boundary.

    The prompt is cut back to the part that is identical whatever label follows it; each label's
    id is the first token after that point. Labels whose first tokens collide are refused."""
    base = encode(text)
    fulls = [encode(text + label) for label in labels]
    cut = len(base)
    for full in fulls:
        cut = min(cut, common_prefix_length(base, full))
    if any(len(full) <= cut for full in fulls):
        raise ConfigError(
            f"a label of {list(labels)} adds no token to the prompt; use non-empty labels"
        )
    first_ids = [full[cut] for full in fulls]
    own = base[cut] if cut < len(base) else None
    if own is not None and own in first_ids:
        # e.g. " A" is one token but " C" is " " + "C": C's first token is the prompt's own
        # last token, which says nothing about C.
        raise ConfigError(
            f"this tokenizer splits the labels {list(labels)} differently after the prompt, so they "
            "cannot be scored as single tokens; end the answer opening with '(' or use labels A, B, C"
        )
    if len(set(first_ids)) != len(first_ids):
        raise ConfigError(
            f"the labels {list(labels)} start with the same token for this tokenizer; "
            "use distinct labels (e.g. A, B, C)"
        )
    return base[:cut], first_ids
