"""The token heatmap: words coloured on a zero-centred diverging scale.

- One precomputed gradient table per theme (``heat-negative`` -> ``heat-zero`` -> ``heat-positive``),
  ``LEVELS`` steps per side, each with a contrasting text colour, so a score maps to a style by an
  index.
- In 16 colours (``TERM=xterm``), down-sampling that gradient would give nearly every word the same
  grey; the table uses the terminal's own colours instead: blue for negative, yellow then red for
  positive (text colour for weak scores, background for strong ones), and a ``⁻``/``⁺`` after
  every word of clear sign, so the sign reads without colour too.
- The top-k words are marked by more than colour: bold, underlined and followed by ``▲``.
- Ranks are those of the keyword ranking (``core.words``): stop words and punctuation are not
  ranked, and a word written twice is ranked once, at its best occurrence. The cursor line says
  so for a word that has no rank, and the legend says how many words were ranked.
- A legend shows the scale's ends (the largest absolute score, so zero is always the middle).
- A cursor (left/right, home/end) shows the exact score and rank of the word under it.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

from textual.binding import Binding
from textual.color import Color
from textual.content import Content
from textual.reactive import reactive
from textual.style import Style
from textual.widget import Widget

from core.words import STOP_WORDS

LEVELS = 6  # gradient steps on each side of zero
TOP_MARK = "▲"
SIGN_MARKS = ("⁻", "⁺")  # after a word of clear sign, in 16 colours
SIGN_LEVEL = 2  # |level| from which a word gets its sign mark
_PUNCT = string.punctuation + "“”‘’«»…–—"
# 16 colours: (text, background) per |level| 1..LEVELS; None keeps the default. The colours are
# exactly those of the standard 16-colour palette, so that down-sampling keeps them (Textual
# would turn "ansi_*" names into its own RGB first, and yellow would come out red).
BLACK, WHITE = "#000000", "#ffffff"
BLUE, BRIGHT_BLUE = "#0000aa", "#5555ff"
YELLOW, RED, BRIGHT_YELLOW = "#aa5500", "#aa0000", "#ffff55"
ANSI_NEGATIVE = (
    (BRIGHT_BLUE, None),
    (BRIGHT_BLUE, None),
    (WHITE, BLUE),
    (WHITE, BLUE),
    (BLACK, BRIGHT_BLUE),
    (BLACK, BRIGHT_BLUE),
)
ANSI_POSITIVE = (
    (YELLOW, None),
    (YELLOW, None),
    (BLACK, YELLOW),
    (BLACK, YELLOW),
    (WHITE, RED),
    (WHITE, RED),
)

DEFAULT_COLOURS = {
    "heat-negative": "#2f7fd7",
    "heat-zero": "#262626",
    "heat-positive": "#e8702a",
    "heat-text": "#e4e4e4",
    "heat-top": "#ffd75f",
}


@dataclass(frozen=True)
class GradientTable:
    """Styles for levels -LEVELS..LEVELS (index ``level + LEVELS``)."""

    styles: tuple[Style, ...]
    top: Color
    ansi: bool = False  # the 16-colour table: sign marks after the words

    @classmethod
    def build(cls, variables: dict[str, str], *, ansi: bool = False) -> GradientTable:
        def colour(name: str) -> Color:
            try:
                return Color.parse(variables.get(name) or DEFAULT_COLOURS[name])
            except Exception:
                return Color.parse(DEFAULT_COLOURS[name])

        negative, zero, positive = (
            colour("heat-negative"),
            colour("heat-zero"),
            colour("heat-positive"),
        )
        text = colour("heat-text")
        if ansi:
            return cls(cls._ansi_styles(), Color.parse(BRIGHT_YELLOW), True)
        styles: list[Style] = []
        for level in range(-LEVELS, LEVELS + 1):
            if level == 0:
                styles.append(Style(foreground=text))
                continue
            end = positive if level > 0 else negative
            background = zero.blend(end, abs(level) / LEVELS)
            styles.append(
                Style(background=background, foreground=background.get_contrast_text(1.0))
            )
        return cls(tuple(styles), colour("heat-top"))

    @staticmethod
    def _ansi_styles() -> tuple[Style, ...]:
        def style(pair: tuple[str, str | None]) -> Style:
            text, background = pair
            return Style(
                foreground=Color.parse(text),
                background=Color.parse(background) if background else None,
                bold=background is None,
            )

        negative = [style(pair) for pair in reversed(ANSI_NEGATIVE)]
        positive = [style(pair) for pair in ANSI_POSITIVE]
        return (*negative, Style(), *positive)

    def sign_mark(self, level: int) -> str:
        if not self.ansi or abs(level) < SIGN_LEVEL:
            return ""
        return SIGN_MARKS[level > 0]

    def level(self, score: float, scale: float) -> int:
        if scale <= 0:
            return 0
        value = round(score / scale * LEVELS)
        return max(-LEVELS, min(LEVELS, int(value)))

    def style(self, score: float, scale: float) -> Style:
        return self.styles[self.level(score, scale) + LEVELS]


def sixteen_colour_terminal(app: object) -> bool:
    """Whether ``app`` draws in 16 colours: its console's colour system (from ``TERM``, or
    ``TEXTUAL_COLOR_SYSTEM``) is the standard one, or native ANSI colours are on."""
    system = getattr(getattr(app, "console", None), "color_system", None)
    return bool(getattr(app, "native_ansi_color", False)) or system in ("standard", "windows")


def clean(word: str) -> str:
    return word.strip(_PUNCT).lower()


def unranked_reason(word: str) -> str | None:
    """Why the keyword ranking skips a word (as ``core.words.Word.rankable``), or None."""
    key = clean(word)
    if not key or not any(ch.isalnum() for ch in key):
        return "punctuation"
    if key in STOP_WORDS:
        return "stop word"
    return None


@dataclass(frozen=True)
class Ranking:
    """Each word's rank among the rankable words, as the keywords are chosen: best score first,
    a repeated word once (its best occurrence; ties: the first)."""

    ranks: dict[int, int]  # word index -> rank (1 = best), for the best occurrence of a word
    count: int  # how many words were ranked
    reasons: dict[int, str]  # word index -> why it has no rank
    repeats: dict[int, int]  # word index -> the index of the occurrence that is ranked

    def why_not(self, index: int, *, short: bool = False) -> str:
        """Why word ``index`` has no rank: "stop word", "punctuation" or a repeat."""
        if index in self.repeats:
            first = self.repeats[index]
            if short:
                return f"repeat of w{first + 1}"
            return f"repeat of word {first + 1} (#{self.ranks[first]})"
        return self.reasons.get(index, "")

    @classmethod
    def of(cls, words: Sequence[str], scores: Sequence[float]) -> Ranking:
        best: dict[str, int] = {}
        reasons: dict[int, str] = {}
        for index, word in enumerate(words):
            reason = unranked_reason(word)
            if reason is not None:
                reasons[index] = reason
                continue
            key = clean(word)
            if key not in best or scores[index] > scores[best[key]]:
                best[key] = index
        order = sorted(best.values(), key=lambda i: (-scores[i], i))
        ranks = {index: rank for rank, index in enumerate(order, start=1)}
        repeats = {
            index: best[clean(word)]
            for index, word in enumerate(words)
            if index not in ranks and index not in reasons
        }
        return cls(ranks, len(order), reasons, repeats)


def top_positions(words: Sequence[str], scores: Sequence[float], top: Sequence[str]) -> set[int]:
    """Index of the best-scoring occurrence of each top-k word."""
    wanted = {clean(w) for w in top if clean(w)}
    best: dict[str, int] = {}
    for index, (word, score) in enumerate(zip(words, scores, strict=False)):
        key = clean(word)
        if key in wanted and (key not in best or score > scores[best[key]]):
            best[key] = index
    return set(best.values())


def format_score(value: float) -> str:
    return f"{value:+.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:+.2e}"


class TokenHeatmap(Widget, can_focus=True):
    """Words of one explained sample, coloured by attribution score."""

    DEFAULT_CSS = """
    TokenHeatmap {
        height: auto;
        padding: 0 1;
    }
    TokenHeatmap:focus {
        background: $boost;
    }
    """

    BINDINGS = [
        Binding("left", "move(-1)", "Prev word", show=False),
        Binding("right", "move(1)", "Next word", show=False),
        Binding("home", "jump(0)", "First word", show=False),
        Binding("end", "jump(-1)", "Last word", show=False),
    ]

    cursor: reactive[int] = reactive(0)

    def __init__(
        self,
        words: Sequence[str] = (),
        scores: Sequence[float] = (),
        top: Sequence[str] = (),
        *,
        legend: bool = True,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.legend = legend
        self._table: GradientTable | None = None
        self.set_data(words, scores, top)

    # -------------------------------------------------------------------------------- data
    def set_data(self, words: Sequence[str], scores: Sequence[float], top: Sequence[str]) -> None:
        self.words = [str(w) for w in words]
        self.scores = [float(s) for s in scores][: len(self.words)]
        self.scores += [0.0] * (len(self.words) - len(self.scores))
        self.top = [str(t) for t in top]
        self.top_set = top_positions(self.words, self.scores, self.top)
        self.scale = max((abs(s) for s in self.scores), default=0.0)
        self.ranking = Ranking.of(self.words, self.scores)
        self.ranks = self.ranking.ranks
        self.cursor = min(self.cursor, max(0, len(self.words) - 1))
        self.refresh(layout=True)

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        self._table = None
        self.refresh()

    @property
    def table(self) -> GradientTable:
        if self._table is None:
            variables = getattr(self.app, "theme_variables", {}) if self.is_attached else {}
            self._table = GradientTable.build(variables, ansi=self.sixteen_colours)
        return self._table

    @property
    def sixteen_colours(self) -> bool:
        """Whether the terminal shows 16 colours (``TERM=xterm``); never in a headless app (tests
        and snapshots draw the same whatever terminal runs them)."""
        if not self.is_attached or self.app.is_headless:
            return False
        return sixteen_colour_terminal(self.app)

    # ----------------------------------------------------------------------------- actions
    def action_move(self, step: int) -> None:
        if self.words:
            self.cursor = max(0, min(len(self.words) - 1, self.cursor + step))

    def action_jump(self, where: int) -> None:
        if self.words:
            self.cursor = 0 if where == 0 else len(self.words) - 1

    def watch_cursor(self) -> None:
        self.refresh(layout=True)

    # ------------------------------------------------------------------------------ render
    def word_parts(self) -> list[tuple[str, Style] | str]:
        table = self.table
        parts: list[tuple[str, Style] | str] = []
        for index, (word, score) in enumerate(zip(self.words, self.scores, strict=True)):
            level = table.level(score, self.scale)
            style = table.styles[level + LEVELS]
            is_top = index in self.top_set
            if is_top:
                style = style + Style(bold=True, underline=True)
            if index == self.cursor and self.has_focus:
                style = style + Style(reverse=True)
            if index:
                parts.append(" ")
            parts.append((word, style))
            sign = table.sign_mark(level)
            if sign:
                parts.append((sign, Style(bold=True)))
            if is_top:
                parts.append((TOP_MARK, Style(foreground=table.top, bold=True)))
        return parts

    def legend_parts(self) -> list[tuple[str, Style] | str]:
        table = self.table
        scale = self.scale
        wide = self.size.width >= 60
        cell = "  " if wide else " "
        end = f"{scale:.3g}" if scale else "0"
        parts: list[tuple[str, Style] | str] = [(f"-{end} ", Style(dim=True))]
        for level in range(-LEVELS, LEVELS + 1):
            style = table.styles[level + LEVELS]
            parts.append(("0" if level == 0 else cell, style if level else Style(dim=True)))
        parts.append((f" +{end}", Style(dim=True)))
        if table.ansi:
            parts.append((f" {SIGN_MARKS[0]}blue {SIGN_MARKS[1]}yellow/red", Style(dim=True)))
        parts.append("  " if wide else " ")
        top = f"{TOP_MARK} top-{len(self.top)}" if wide else f"{TOP_MARK}top-{len(self.top)}"
        parts.append((top, Style(foreground=table.top, bold=True, underline=True)))
        ranked = self.ranking.count
        note = (
            f" of {ranked} ranked words (stop words and punctuation are not ranked)"
            if wide
            else f" of {ranked} ranked: no stop words/punct."
        )
        parts.append((note, Style(dim=True)))
        return parts

    def cursor_parts(self) -> list[tuple[str, Style] | str]:
        if not self.words:
            return [("no words", Style(dim=True))]
        index = self.cursor
        score = self.scores[index]
        rank = self.ranks.get(index)
        wide = self.size.width >= 60
        count = self.ranking.count
        if rank is not None:
            where = f"  rank {rank}/{count}" if wide else f" #{rank}/{count}"
        elif wide:
            where = f"  not ranked: {self.ranking.why_not(index)}"
        else:
            where = f" #– {self.ranking.why_not(index, short=True)}"
        parts: list[tuple[str, Style] | str] = [
            ("◂▸ " if self.has_focus else "   ", Style(dim=True)),
            (self.words[index], Style(bold=True)),
            f" {format_score(score)}",
            (where, Style(dim=True)),
        ]
        if wide:
            parts.append((f"  word {index + 1}", Style(dim=True)))
        if index in self.top_set:
            parts.append(
                (
                    f"  {TOP_MARK} top-k" if wide else f" {TOP_MARK}",
                    Style(foreground=self.table.top, bold=True),
                )
            )
        return parts

    def render(self) -> Content:
        if not self.words:
            return Content.styled("(no attribution)", "dim")
        lines = [Content.assemble(*self.word_parts())]
        if self.legend:
            lines.append(Content.assemble(*self.legend_parts()))
            lines.append(Content.assemble(*self.cursor_parts()))
        return Content("\n").join(lines)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
