"""One explained shot: a title, its token heatmap (attribution methods), the faithfulness of its
keywords (comprehensiveness and sufficiency AOPC) and its rationale."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.widgets import Static

from sa_tui.widgets.heatmap import TokenHeatmap
from sa_tui.widgets.influence import influence_figure


class ShotCard(Vertical):
    DEFAULT_CSS = """
    ShotCard {
        height: auto;
        margin: 0 0 1 0;
    }
    ShotCard > .card-title {
        height: auto;
        padding: 0 1;
    }
    ShotCard > .card-faith {
        height: auto;
        padding: 0 1;
    }
    ShotCard > .card-faith.-empty {
        display: none;
    }
    ShotCard > .card-text {
        height: auto;
        padding: 0 1;
    }
    ShotCard > TokenHeatmap.-empty {
        display: none;
    }
    """

    def __init__(
        self,
        sample_id: str,
        method: str,
        *,
        id: str | None = None,
        reused: bool = False,
        heatmap_method: str = "",
    ) -> None:
        super().__init__(id=id, classes="shot-card")
        self.reused = reused
        self.sample_id = sample_id
        self.method = method
        self.heatmap_method = heatmap_method  # the heatmap's attribution, if not ``method``
        self.text = ""
        self.final = False
        self.words: list[str] = []
        self.scores: list[float] = []
        self.top: list[str] = []
        self.influence: Mapping[str, Any] | None = None  # --influence: this shot's record
        self.faithfulness: Mapping[str, Any] | None = None  # keyword methods: AOPC figures

    def compose(self) -> ComposeResult:
        yield Static(self._title(), classes="card-title")
        yield TokenHeatmap(classes="-empty")
        yield Static("", classes="card-faith -empty")
        yield Static("", classes="card-text")

    stopped = False  # set when the build ended before this rationale was finished

    def _title(self) -> Content:
        """``shot ID · method``, then where the heatmap comes from and the state; the title
        wraps between those parts when the card is narrow, so none of them is cut off."""
        if self.reused:
            state = "reused from the store"
        elif self.final or not self.text:
            state = ""
        else:
            state = "unfinished" if self.stopped else "writing…"
        parts: list[tuple[str, str] | str | Content] = [
            ("shot ", "dim"),
            (self.sample_id, "bold $accent"),
            (" · ", "dim"),
            (self.method, "bold"),
        ]
        if self.heatmap_method and self.words:
            parts += [(" · ", "dim"), (f"heatmap: {self.heatmap_method} preview", "dim")]
        if state:
            parts += [(" · ", "dim"), (state, "italic dim")]
        if self.influence is not None:
            parts += [(" · influence ", "dim"), influence_figure(self.influence)]
        return Content.assemble(*parts)

    def on_mount(self) -> None:
        self._apply()

    def set_tokens(self, words: Sequence[str], scores: Sequence[float], top: Sequence[str]) -> None:
        self.words, self.scores, self.top = list(words), list(scores), list(top)
        self._apply()

    def set_text(self, text: str, final: bool) -> None:
        self.text, self.final = text, final
        self._apply()

    def set_influence(self, influence: Mapping[str, Any] | None) -> None:
        """Show the shot's leave-one-out influence on dev (None: not measured)."""
        if influence != self.influence:
            self.influence = influence
            self._apply()

    def set_faithfulness(self, faithfulness: Mapping[str, Any] | None) -> None:
        """Show the keywords' comprehensiveness and sufficiency (None: not measured)."""
        if faithfulness != self.faithfulness:
            self.faithfulness = faithfulness
            self._apply()

    def stop(self) -> None:
        self.stopped = True
        self._apply()

    def _apply(self) -> None:
        try:
            heatmap = self.query_one(TokenHeatmap)
            title = self.query_one(".card-title", Static)
            body = self.query_one(".card-text", Static)
            faith = self.query_one(".card-faith", Static)
        except NoMatches:
            return  # not composed yet: on_mount applies the data
        heatmap.set_data(self.words, self.scores, self.top)
        heatmap.set_class(not self.words, "-empty")
        title.update(self._title())
        line = faithfulness_line(self.faithfulness)
        faith.update(Content.styled(line, "dim"))
        faith.set_class(not line, "-empty")
        body.update(Content(self.text.strip()))


def faithfulness_line(data: Mapping[str, Any] | None) -> str:
    """``comp 0.21  suff 0.05 (AOPC, k=1..4)``: higher comprehensiveness and lower sufficiency
    mean more faithful keywords ("" when not measured)."""
    if not data or data.get("comprehensiveness") is None or data.get("sufficiency") is None:
        return ""
    k = int(data.get("k") or 0)
    ks = "k=1" if k <= 1 else f"k=1..{k}"
    unmatched = int(data.get("unmatched") or 0)
    tail = f", {unmatched} unmatched" if unmatched else ""
    return (
        f"comp {float(data['comprehensiveness']):.2f}  "
        f"suff {float(data['sufficiency']):.2f} (AOPC, {ks}{tail})"
    )
