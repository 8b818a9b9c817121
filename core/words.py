"""Question words: their character spans, which tokens make them, and how to rank them."""

from __future__ import annotations

import bisect
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves let's it's that's there's what's
    i'm you're he's she's we're they're isn't aren't wasn't weren't don't doesn't didn't""".split()
)
_PUNCTUATION = string.punctuation + "“”‘’«»…–—"


@dataclass(frozen=True)
class Word:
    index: int
    text: str  # as written in the question
    start: int  # character span inside the question
    end: int

    @property
    def clean(self) -> str:
        """The word without surrounding punctuation, for rationales."""
        return self.text.strip(_PUNCTUATION)

    @property
    def key(self) -> str:
        """What makes two occurrences (or a keyword and a word) the same word."""
        return word_key(self.text)

    @property
    def rankable(self) -> bool:
        clean = self.key
        return bool(clean) and clean not in STOP_WORDS and any(ch.isalnum() for ch in clean)

    @property
    def core(self) -> tuple[int, int]:
        """The character span of the word without its surrounding punctuation."""
        lead = len(self.text) - len(self.text.lstrip(_PUNCTUATION))
        trail = len(self.text) - len(self.text.rstrip(_PUNCTUATION))
        return self.start + lead, max(self.start + lead, self.end - trail)


def word_key(text: str) -> str:
    """``text`` without surrounding punctuation, lower-cased: how words and keywords match."""
    return text.strip(_PUNCTUATION).lower()


def split_words(text: str, segments: Sequence[tuple[int, int]]) -> list[Word]:
    """Whitespace words inside the given character segments of ``text`` (absolute offsets)."""
    words: list[Word] = []
    for seg_start, seg_end in segments:
        for match in re.finditer(r"\S+", text[seg_start:seg_end]):
            words.append(
                Word(len(words), match.group(), seg_start + match.start(), seg_start + match.end())
            )
    return words


def token_word_map(
    offsets: Sequence[tuple[int, int]], words: Sequence[Word], text: str
) -> list[int]:
    """For each token (character offsets in ``text``), the index of the word whose own characters
    it covers, or -1. A token belongs to a word only through the word's core (the word without
    surrounding punctuation) and only when it covers a character there that is not punctuation:
    a full stop, comma or quote never adds its score to the word beside it, and tokens outside
    every explained word (template, labels, choices header) are -1."""
    starts = [word.start for word in words]
    mapping: list[int] = []
    for start, end in offsets:
        owner = -1
        if end > start:
            position = max(0, bisect.bisect_right(starts, start) - 1)
            for word in words[position : position + 3]:
                core_start, core_end = word.core
                low, high = max(start, core_start), min(end, core_end)
                if low < high and any(_is_content(ch) for ch in text[low:high]):
                    owner = word.index
                    break
        mapping.append(owner)
    return mapping


def _is_content(ch: str) -> bool:
    return not ch.isspace() and ch not in _PUNCTUATION


def word_scores(token_scores: Sequence[float], mapping: Sequence[int], n_words: int) -> list[float]:
    """Sum sub-token scores into words."""
    scores = [0.0] * n_words
    for score, word in zip(token_scores, mapping, strict=True):
        if word >= 0:
            scores[word] += float(score)
    return scores


def top_k_words(words: Sequence[Word], scores: Sequence[float], k: int) -> list[Word]:
    """The k highest-scoring rankable words (by signed score, no normalisation), in reading order.
    A word written several times is kept once (its best occurrence)."""
    best: dict[str, tuple[float, Word]] = {}
    for word, score in zip(words, scores, strict=True):
        if not word.rankable:
            continue
        key = word.key
        if key not in best or score > best[key][0]:
            best[key] = (score, word)
    ranked = sorted(best.values(), key=lambda item: (-item[0], item[1].index))[:k]
    return sorted((word for _, word in ranked), key=lambda w: w.index)


def count_rankable(words: Sequence[Word]) -> int:
    return len({w.key for w in words if w.rankable})


def min_shap_samples(n_words: int) -> int:
    """The fewest KernelSHAP coalitions for which the kernel regression is well posed: with fewer
    than two per word (plus the empty and full coalitions) it is singular and gives garbage."""
    return 2 * n_words + 2
