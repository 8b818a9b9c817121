"""The state of the current build, fed by worker events; kept by the App so no event is lost
while another screen is shown. The Build screen draws from it.

A new build (or "clear results") never resets a state in place: the App swaps in a fresh
``BuildState`` and publishes a ``BuildChange`` with ``reset``."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ACTIVE = ("starting", "running", "cancelling")


@dataclass
class ShotCardState:
    stage: str
    sample_id: str
    words: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    top: list[str] = field(default_factory=list)
    text: str = ""
    final: bool = False
    reused: bool = False  # read back from the store: the worker reused it instead of recomputing
    heatmap_method: str = ""  # the heatmap's attribution, when not the card's own method

    @property
    def key(self) -> str:
        return f"{self.stage}|{self.sample_id}"

    @property
    def method(self) -> str:
        if (
            self.stage == "heatmaps"
        ):  # DeepLift previews drawn for builds with no attribution method
            return "deeplift heatmap"
        return self.stage.partition(":")[2] or self.stage


@dataclass
class StageInfo:
    done: int = 0
    total: int = 0
    detail: str = ""
    started: float = 0.0
    finished: float = 0.0  # when done first reached total (0: not yet)


@dataclass(frozen=True)
class BuildChange:
    """What changed in the build state: ``reset`` (a new state was swapped in), ``status``,
    ``stages``, ``saved``, ``output``, ``influence`` or ``card:<key>``; the App publishes one per
    change."""

    parts: frozenset[str] = frozenset()

    @classmethod
    def of(cls, parts: Iterable[str]) -> BuildChange:
        return cls(frozenset(parts))

    @property
    def reset(self) -> bool:
        return "reset" in self.parts

    @property
    def card_keys(self) -> frozenset[str]:
        return frozenset(part[5:] for part in self.parts if part.startswith("card:"))


@dataclass
class BuildState:
    status: str = "idle"  # idle | starting | running | cancelling | done | cancelled | failed
    job_id: str | None = None
    run_id: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, StageInfo] = field(default_factory=dict)
    shots: list[str] = field(default_factory=list)
    cards: dict[str, ShotCardState] = field(default_factory=dict)
    saved: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    influence: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> its event
    faithfulness: dict[str, dict[str, Any]] = field(default_factory=dict)  # card key -> event
    last_output: str = ""
    error: str = ""
    hint: str = ""
    started: float = 0.0
    seconds: float = 0.0
    clock = staticmethod(time.monotonic)  # tests freeze it for snapshots

    def add_reused(self, shots: list[Any]) -> set[str]:
        """Cards for shots whose rationale was reused from the store (no live events came), with
        their stored heatmap unless another card already shows that shot's heatmap."""
        changed = set()
        for shot in shots:
            drawn = any(c.words and c.sample_id == shot.sample_id for c in self.cards.values())
            card = ShotCardState(
                f"rationales:{shot.method}",
                shot.sample_id,
                [] if drawn else list(shot.words),
                [] if drawn else list(shot.scores),
                [] if drawn else list(shot.top),
                shot.rationale,
                True,
                True,
                "" if drawn else str(getattr(shot, "heatmap_method", "")),
            )
            if card.key not in self.cards:
                self.cards[card.key] = card
                changed.add(f"card:{card.key}")
        return changed

    def shot_faithfulness(self, card: ShotCardState) -> dict[str, Any] | None:
        """The comprehensiveness and sufficiency of the card's keyword rationale, once measured."""
        return self.faithfulness.get(card.key)

    def shot_influence(self, card: ShotCardState) -> dict[str, Any] | None:
        """The influence of the card's shot in its method's context, once it was measured."""
        shots = self.influence.get(card.method, {}).get("shots", [])
        return next((s for s in shots if str(s.get("id")) == card.sample_id), None)

    def stage_seconds(self, stage: str) -> float:
        """How long a finished stage took (0 when it did not run or is not finished)."""
        info = self.stages.get(stage)
        if info is None or not info.finished:
            return 0.0
        return max(0.0, info.finished - info.started)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @classmethod
    def starting(cls, config: dict[str, Any], job_id: str | None = None) -> BuildState:
        """A fresh state for the build of ``config`` about to be submitted as job ``job_id``."""
        return cls(status="starting", job_id=job_id, config=dict(config), started=cls.clock())

    def elapsed(self) -> float:
        if not self.started:
            return 0.0
        return self.seconds or (self.clock() - self.started)

    def apply(self, data: dict[str, Any]) -> set[str]:
        """Apply one worker message; return what changed: 'status', 'stages', 'card:<key>', 'saved',
        'influence'."""
        kind = data.get("type")
        if data.get("job_id") not in (None, self.job_id):
            return set()
        changed: set[str] = set()
        if kind == "started":
            self.run_id = data.get("run_id")
            self.status = "running" if self.status != "cancelling" else self.status
            changed.add("status")
        elif kind == "progress":
            stage = str(data.get("stage"))
            info = self.stages.get(stage)
            if info is None:
                info = self.stages[stage] = StageInfo(started=self.clock())
            info.done, info.total = int(data.get("done", 0)), int(data.get("total", 0))
            if info.total and info.done >= info.total and not info.finished:
                info.finished = self.clock()
            if data.get("detail"):
                info.detail = str(data["detail"])
            if self.status == "starting":
                self.status = "running"
                changed.add("status")
            changed.add("stages")
        elif kind == "shots":
            self.shots = [str(s) for s in data.get("shots", [])]
            changed.add("status")
        elif kind in ("tokens", "text"):
            stage = str(data.get("stage", ""))
            sample = str(data.get("sample_id", ""))
            if stage.startswith("evaluate"):
                self.last_output = f"{sample}: {' '.join(str(data.get('text', '')).split())}"
                changed.add("output")
                return changed
            card = self.cards.get(f"{stage}|{sample}")
            if card is None:
                card = ShotCardState(stage, sample)
                self.cards[card.key] = card
            if kind == "tokens":
                card.words = list(data.get("words", []))
                card.scores = [float(s) for s in data.get("scores", [])]
                card.top = list(data.get("top", []))
            else:
                card.text = str(data.get("text", ""))
                card.final = bool(data.get("final"))
            changed.add(f"card:{card.key}")
        elif kind == "faithfulness":
            key = f"{data.get('stage', '')}|{data.get('sample_id', '')}"
            self.faithfulness[key] = dict(data)
            if key in self.cards:
                changed.add(f"card:{key}")
        elif kind == "influence":
            method = str(data.get("method", ""))
            self.influence[method] = dict(data)
            changed.add("influence")
            changed |= {f"card:{c.key}" for c in self.cards.values() if c.method == method}
        elif kind == "saved":
            self.saved.append(dict(data))
            changed.add("saved")
        elif kind == "done":
            self.status = "done"
            self.results = list(data.get("results", []))
            self.run_id = data.get("run_id") or self.run_id
            self.seconds = self.clock() - self.started
            changed.add("status")
        elif kind == "cancelled":
            self.status = "cancelled"
            self.seconds = self.clock() - self.started
            changed.add("status")
        elif kind == "error":
            self.status = "failed"
            self.error = str(data.get("message", ""))
            self.hint = str(data.get("hint", ""))
            self.seconds = self.clock() - self.started
            changed.add("status")
        return changed
