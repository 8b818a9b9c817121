"""What the screens read and change, as plain rows: an adapter between the UI and ``store``.

Screens talk to a :class:`DataSource`; :class:`sa_tui.store_source.StoreSource` implements it on
``store.facade.Store`` (imported lazily, in a thread, so the first screen never waits for
SQLAlchemy), and tests use an in-memory fake. All methods are synchronous and may block on disk:
screens call them from thread workers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
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
    # A built-in model: what removing it frees (its converted copy) and what it keeps (the GGUF
    # file inside its package); size_bytes is both. None: not a built-in (nothing is deleted).
    freed_bytes: int | None = None
    kept_bytes: int | None = None


@dataclass(frozen=True)
class PullView:
    """One progress event as the dialog shows it (see store.hub_pull.PullProgress)."""

    file: str
    file_done: int
    file_total: int
    files_done: int
    files_total: int
    done: int
    total: int
    rate: float
    eta_seconds: float | None


@dataclass(frozen=True)
class PullDone:
    """How the pull ended: ``ref`` when catalogued, ``cancelled``, or ``error`` (a sentence)."""

    source: str
    ref: str | None = None
    cancelled: bool = False
    error: str | None = None
    detail: str = ""


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
    """One explained shot of a run: its attribution (if any) and rationale. ``heatmap_method``
    names the attribution the heatmap comes from when it is not ``method`` itself (a DeepLift
    preview of a ``ph_cot`` shot)."""

    sample_id: str
    method: str
    words: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    top: list[str] = field(default_factory=list)
    rationale: str = ""
    heatmap_method: str = ""
    influence: dict[str, Any] | None = None  # --influence: leave-one-out figures on dev
    faithfulness: dict[str, Any] | None = None  # keyword methods: comprehensiveness, sufficiency


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
    influence: list[dict[str, Any]] = field(default_factory=list)  # per shot, with --influence


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
    kept_bytes: int | None = None  # files of the entry that stay (not made by sa-tui)
    kept: str = ""  # what they are, in a few words


@dataclass(frozen=True)
class EstimateContext:
    """What the cost estimate cannot count: how the model gets ready and whether a finished run
    of the same configuration is stored (``load_basis`` as in ``core.estimate.LOAD_BASES``)."""

    load_seconds: float | None = None
    load_basis: str | None = None
    reused_run: str = ""  # the id of a finished run of exactly this configuration


EXPORT_STATES = ("new", "own", "refused")


@dataclass(frozen=True)
class ExportPlan:
    """Where an export would go and what is there now, said in one sentence.

    ``state``: ``new`` (nothing there, or an empty folder for hf-dataset), ``own`` (an unchanged
    earlier sa-tui export of this format: replaced only after a confirmation) or ``refused``
    (a path that climbs out with ``..``, or something sa-tui did not write: never replaced)."""

    target: str
    state: str
    message: str


def resolve_export_path(text: str, exports_dir: Path) -> Path:
    """The absolute path a File field names: a relative name goes into ``exports_dir`` (under the
    data directory, not wherever sa-tui was started), ``~`` and absolute paths are taken as
    given, and a path with a ``..`` component is refused (ValueError, one sentence)."""
    text = text.strip()
    if not text:
        raise ValueError("give a file name")
    if ".." in Path(text).parts:
        raise ValueError(
            f"{text} climbs out with '..'; give a plain name (it goes into {exports_dir}) "
            "or an absolute path"
        )
    path = Path(text).expanduser()
    return path if path.is_absolute() else exports_dir / path


def plan_export(
    text: str,
    fmt: str,
    exports_dir: Path,
    *,
    default_name: str,
    is_own: Callable[[Path, str], bool],
) -> ExportPlan:
    """What writing the File field ``text`` as ``fmt`` would do (see :class:`ExportPlan`).
    ``default_name`` is the file an existing folder receives (file formats), ``is_own`` says
    whether a path is an unchanged sa-tui export of a format."""
    try:
        target = resolve_export_path(text, exports_dir)
    except ValueError as error:
        return ExportPlan(text, "refused", f"Refused: {error}.")
    folder = fmt == "hf-dataset"
    if not folder and target.is_dir() and not target.is_symlink():
        target = target / default_name
    if not (target.exists() or target.is_symlink()):
        kind = "folder" if folder else "file"
        return ExportPlan(str(target), "new", f"New {kind}: ctrl+e writes it.")
    if folder and not target.is_dir():
        return ExportPlan(
            str(target), "refused", "Refused: that is a file, not a folder; choose another path."
        )
    if not folder and target.is_dir():
        return ExportPlan(str(target), "refused", "Refused: that is a folder; give a file name.")
    if folder and not target.is_symlink() and not any(target.iterdir()):
        return ExportPlan(str(target), "new", "Empty folder: ctrl+e writes into it.")
    if is_own(target, fmt):
        return ExportPlan(
            str(target), "own", "Earlier sa-tui export: ctrl+e asks before overwriting it."
        )
    return ExportPlan(
        str(target),
        "refused",
        "Refused: it exists and sa-tui did not write it (or it changed since); "
        "choose another name.",
    )


class DataSource(Protocol):
    def models(self) -> list[ModelRow]: ...

    def datasets(self) -> list[DatasetRow]: ...

    def add_model(self, ref: str) -> ModelRow: ...

    def needs_pull(self, ref: str) -> bool: ...

    def pull_model(
        self,
        source: str,
        *,
        on_plan: Callable[[str], None],
        on_progress: Callable[[PullView], None],
        cancel: Any,
    ) -> PullDone: ...

    def add_dataset(self, ref: str, field_map: str | None = None) -> DatasetRow: ...

    def verify_model(self, ref: str) -> list[str]: ...

    def plan_remove_model(self, ref: str) -> RemovalPlan: ...

    def remove_model(self, ref: str) -> RemovalPlan: ...

    def remove_dataset(self, ref: str) -> None: ...

    def runs(self) -> list[RunRow]: ...

    def prompts(self) -> list[PromptRow]: ...

    def set_prompt_alias(self, lineage: str, name: str, version: int) -> None: ...

    def run_detail(self, run_id: str) -> RunDetail: ...

    def prompt_context(self, prompt_id: str) -> str: ...

    def shots_for_prompt(self, prompt_id: str, run_id: str | None = None) -> list[ShotView]: ...

    def plan_export(self, prompt_ref: str, fmt: str, path: str) -> ExportPlan: ...

    def export(self, prompt_ref: str, fmt: str, path: str, *, force: bool = False) -> str: ...

    def export_text(self, prompt_ref: str, fmt: str) -> str: ...

    def estimate_context(self, config: dict[str, Any]) -> EstimateContext: ...

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


def wrap_ref(ref: str, width: int, indent: str = "  ", breaks: str = ".") -> list[str]:
    """A prompt version's name (or a path) in lines of at most ``width`` cells, broken only after
    one of ``breaks`` or before the ``@`` (never inside a part), each line indented by ``indent``.
    A single part longer than a line stays whole."""
    room = max(8, width - len(indent))
    parts: list[str] = []
    current = ""
    for char in ref:
        if char == "@" and current:
            parts.append(current)
            current = ""
        current += char
        if char in breaks:
            parts.append(current)
            current = ""
    if current:
        parts.append(current)
    lines: list[str] = []
    line = ""
    for part in parts:
        if line and len(line) + len(part) > room:
            lines.append(line)
            line = ""
        line += part
    if line:
        lines.append(line)
    return [indent + text for text in lines] or [indent]
