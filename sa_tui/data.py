"""What the screens read and change, as plain rows: an adapter between the UI and ``store``.

Screens talk to a :class:`DataSource`; :class:`sa_tui.store_source.StoreSource` implements it on
``store.facade.Store`` (imported lazily, in a thread, so the first screen never waits for
SQLAlchemy), and tests use an in-memory fake. All methods are synchronous and may block on disk:
screens call them from thread workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

EXPORT_FORMATS = ("jsonl", "markdown", "text", "chat-json", "hf-dataset", "dspy")
COPYABLE_FORMATS = ("markdown", "text", "chat-json", "jsonl", "dspy")

BUILTIN_MODEL_REFS = ("builtin:smollm2-135m", "builtin:gemma3-270m")
BUILTIN_DATASET_REFS = (
    "builtin:snarks",
    "builtin:causal-judgment",
    "builtin:arc-challenge",
    "builtin:commonsense-qa",
    "builtin:social-iqa",
)


@dataclass(frozen=True)
class ModelRow:
    ref: str
    name: str
    format: str = ""
    size_bytes: int | None = None
    dtype: str = ""
    parameters: int | None = None
    added: str = ""
    last_used: str = ""
    path: str = ""
    id: str = ""


@dataclass(frozen=True)
class DatasetRow:
    ref: str
    name: str
    source: str = ""
    splits: str = ""
    rows: int | None = None
    checksum: str = ""
    added: str = ""
    id: str = ""


@dataclass(frozen=True)
class RunRow:
    id: str
    status: str
    model: str
    dataset: str
    methods: str
    created: str = ""
    stage: str = ""
    done: int = 0
    total: int = 0
    seconds: float | None = None
    error: str = ""
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PromptRow:
    id: str
    lineage: str
    version: int
    method: str = ""
    model: str = ""
    dataset: str = ""
    accuracy: float | None = None
    n: int | None = None
    ci95: tuple[float, float] | None = None
    created: str = ""
    run_id: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.lineage}@v{self.version}"


@dataclass(frozen=True)
class ShotView:
    """One explained shot of a run: its attribution (if any) and rationale."""

    sample_id: str
    method: str
    words: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    top: list[str] = field(default_factory=list)
    rationale: str = ""


@dataclass(frozen=True)
class PredictionView:
    id: str
    gold: str
    pred: str | None
    correct: bool
    output: str = ""


@dataclass(frozen=True)
class MethodView:
    prompt: PromptRow
    context: str
    predictions: list[PredictionView] = field(default_factory=list)
    parse_failures: int = 0


@dataclass
class RunDetail:
    run: RunRow
    versions: dict[str, str] = field(default_factory=dict)
    device: str = ""
    shots: list[ShotView] = field(default_factory=list)
    methods: list[MethodView] = field(default_factory=list)


@dataclass(frozen=True)
class ExperimentView:
    """One experiment grid: its axes, its methods and how far it got."""

    id: str
    status: str  # running | done | failed | cancelled | interrupted
    cells: int
    cells_done: int
    models: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    strategies: tuple[str, ...] = ()
    shots: tuple[int, ...] = ()
    seeds: tuple[int, ...] = ()
    methods: tuple[str, ...] = ()
    created: str = ""
    updated: str = ""
    error: str = ""


@dataclass(frozen=True)
class CellView:
    """One cell of a grid and the state of its newest run ("pending" when it has none)."""

    model: str
    dataset: str
    strategy: str
    shots: int
    seed: int
    state: str  # pending, or the run's status
    run_id: str = ""
    accuracies: dict[str, float] = field(default_factory=dict)  # method -> accuracy


@dataclass(frozen=True)
class ComparisonView:
    """A method minus a baseline, paired on seeds and items; ``p_holm`` is Holm-adjusted."""

    baseline: str
    mean_difference: float
    ci_low: float
    ci_high: float
    p_holm: float
    significant: bool
    wins: int
    ties: int
    losses: int


@dataclass(frozen=True)
class ReportRowView:
    """One method in one (model, dataset, strategy, shots) group, over its seeds."""

    model: str
    dataset: str
    strategy: str
    shots: int
    method: str
    seeds: int
    items: int
    accuracy: float
    ci_low: float
    ci_high: float
    unparsed_total: int = 0
    seconds_per_seed: float = 0.0
    comparisons: dict[str, ComparisonView] = field(default_factory=dict)  # baseline -> comparison

    @property
    def group(self) -> tuple[str, str, str, int]:
        return (self.model, self.dataset, self.strategy, self.shots)


@dataclass(frozen=True)
class ReportView:
    """An experiment's report over its finished cells (no rows: none is finished yet)."""

    experiment_id: str
    rows: list[ReportRowView] = field(default_factory=list)
    baselines: tuple[str, ...] = ("io", "zero_shot")
    alpha: float = 0.05
    comparison_count: int = 0
    cells_finished: int = 0
    cells_total: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RemovalPlan:
    """What removing a catalogue entry would do (shown before asking to confirm)."""

    ref: str
    freed_bytes: int
    files: int
    note: str = ""


class DataSource(Protocol):
    def models(self) -> list[ModelRow]: ...

    def datasets(self) -> list[DatasetRow]: ...

    def add_model(self, ref: str) -> ModelRow: ...

    def add_dataset(self, ref: str, field_map: str | None = None) -> DatasetRow: ...

    def verify_model(self, ref: str) -> list[str]: ...

    def plan_remove_model(self, ref: str) -> RemovalPlan: ...

    def remove_model(self, ref: str) -> RemovalPlan: ...

    def remove_dataset(self, ref: str) -> None: ...

    def runs(self) -> list[RunRow]: ...

    def prompts(self) -> list[PromptRow]: ...

    def run_detail(self, run_id: str) -> RunDetail: ...

    def prompt_context(self, prompt_id: str) -> str: ...

    def shots_for_prompt(self, prompt_id: str, run_id: str | None = None) -> list[ShotView]: ...

    def export(self, prompt_ref: str, fmt: str, path: str, *, force: bool = False) -> str: ...

    def export_text(self, prompt_ref: str, fmt: str) -> str: ...

    def experiments(self) -> list[ExperimentView]: ...

    def experiment_cells(self, experiment_id: str) -> list[CellView]: ...

    def experiment_report(self, experiment_id: str) -> ReportView: ...


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def human_count(value: int | None) -> str:
    if value is None:
        return ""
    if value >= 1e9:
        return f"{value / 1e9:.1f}B"
    if value >= 1e6:
        return f"{value / 1e6:.0f}M"
    if value >= 1e3:
        return f"{value / 1e3:.0f}k"
    return str(value)
