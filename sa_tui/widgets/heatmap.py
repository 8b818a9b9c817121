"""The token heatmap: words coloured on a zero-centred diverging scale.

- One precomputed gradient table per theme (``heat-negative`` -> ``heat-zero`` -> ``heat-positive``),
  ``LEVELS`` steps per side, each with a contrasting text colour, so a score maps to a style by an
  index and Textual down-samples the few colours cleanly to 256 or 16 colours.
- The top-k words are marked by more than colour: bold, underlined and followed by ``▲``.
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

LEVELS = 6  # gradient steps on each side of zero
TOP_MARK = "▲"
_PUNCT = string.punctuation + "“”‘’«»…–—"

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

    @classmethod
    def build(cls, variables: dict[str, str]) -> GradientTable:
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

    def level(self, score: float, scale: float) -> int:
        if scale <= 0:
            return 0
        value = round(score / scale * LEVELS)
        return max(-LEVELS, min(LEVELS, int(value)))

    def style(self, score: float, scale: float) -> Style:
        return self.styles[self.level(score, scale) + LEVELS]


def clean(word: str) -> str:
    return word.strip(_PUNCT).lower()


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
        order = sorted(range(len(self.scores)), key=lambda i: -self.scores[i])
        self.ranks = {index: rank + 1 for rank, index in enumerate(order)}
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
            self._table = GradientTable.build(variables)
        return self._table

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
            style = table.style(score, self.scale)
            is_top = index in self.top_set
            if is_top:
                style = style + Style(bold=True, underline=True)
            if index == self.cursor and self.has_focus:
                style = style + Style(reverse=True)
            if index:
                parts.append(" ")
            parts.append((word, style))
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
        parts.append("  " if wide else " ")
        top = f"{TOP_MARK} top-{len(self.top)}" if wide else f"{TOP_MARK}top-{len(self.top)}"
        parts.append((top, Style(foreground=table.top, bold=True, underline=True)))
        return parts

    def cursor_parts(self) -> list[tuple[str, Style] | str]:
        if not self.words:
            return [("no words", Style(dim=True))]
        index = self.cursor
        score = self.scores[index]
        rank = self.ranks.get(index, 0)
        wide = self.size.width >= 60
        parts: list[tuple[str, Style] | str] = [
            ("◂▸ " if self.has_focus else "   ", Style(dim=True)),
            (self.words[index], Style(bold=True)),
            f" {format_score(score)}",
            (
                f"  rank {rank}/{len(self.words)}" if wide else f" #{rank}/{len(self.words)}",
                Style(dim=True),
            ),
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
