"""The DataSource of the real app: ``store.facade.Store`` seen as plain rows for the screens.

Opened lazily (first call, from a thread worker), so drawing the first screen never waits for
SQLAlchemy or a migration. Torch-free: only ``store``, ``core.datasets`` (file parsing) and the
export renderers are used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sa_tui.data import (
    CellView,
    ComparisonView,
    DatasetRow,
    EstimateContext,
    ExperimentView,
    ExportPlan,
    MethodView,
    ModelRow,
    PredictionView,
    PromptRow,
    PullDone,
    PullView,
    RemovalPlan,
    ReportRowView,
    ReportView,
    RunDetail,
    RunRow,
    ShotView,
    human_size,
    plan_export,
)

EXPERIMENT_PAGE = 100
PROMPT_PAGE = 500  # prompt versions listed (newest first)
RUN_PAGE = 200
# core.attribution.ATTRIBUTION_METHODS (that module loads torch): methods whose shots carry their
# own heatmap; the others (ph_cot, self_topk, auto_cot, amplify) show a DeepLift preview if stored
ATTRIBUTION_METHODS = ("deeplift", "kernelshap", "leave_one_out", "random")
PREVIEW_METHOD = "deeplift"


def stamp(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone().replace(tzinfo=None).isoformat(timespec="seconds")


def splits_text(splits: dict[str, Any] | None) -> str:
    splits = splits or {}
    if "pool" in splits and "test" in splits:
        return f"pool {splits['pool']} / test {splits['test']}"
    return ""


class StoreSource:
    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._store: Any = None
        self._lock = threading.Lock()

    @property
    def store(self) -> Any:
        with self._lock:
            if self._store is None:
                from store.facade import Store

                self._store = Store.open(self._path)
            return self._store

    # ------------------------------------------------------------------------------ catalogue
    def models(self) -> list[ModelRow]:
        from store import removal

        rows = []
        for entry in self.store.list_models():
            freed = kept = None
            if entry.managed:  # the row and the removal dialog say the same thing
                freed = removal.plan(entry, dry_run=True).freed_bytes
                kept = max(0, (entry.size_bytes or 0) - freed)
            rows.append(
                ModelRow(
                    ref=entry.ref,
                    name=entry.name,
                    format=entry.format,
                    size_bytes=entry.size_bytes,
                    dtype=entry.dtype or stored_dtype(entry.details),
                    parameters=entry.parameters or stored_parameters(entry.details),
                    added=stamp(entry.added_at),
                    last_used=stamp(entry.last_used_at),
                    path=entry.local_path or "",
                    id=str(entry.id),
                    freed_bytes=freed,
                    kept_bytes=kept,
                )
            )
        return rows

    def datasets(self) -> list[DatasetRow]:
        return [
            DatasetRow(
                ref=entry.ref,
                name=entry.name,
                source=entry.description or entry.kind,
                splits=splits_text(entry.splits),
                rows=entry.rows,
                checksum=entry.checksum or "",
                added=stamp(entry.added_at),
                id=entry.name,
            )
            for entry in self.store.list_datasets()
        ]

    def add_model(self, ref: str) -> ModelRow:
        entry = self.store.add_model(ref)
        return ModelRow(
            ref=entry.ref, name=entry.name, format=entry.format, size_bytes=entry.size_bytes
        )

    def needs_pull(self, ref: str) -> bool:
        """Whether ``ref`` is a hub id that is not in the local Hugging Face cache yet."""
        from store import model_files
        from store.errors import StoreError
        from store.hub_cache import hub_cache_dir
        from store.hub_plan import parse_hub_ref

        text = ref.strip()
        if text.startswith(("builtin:", ".", "/", "~")) or Path(text).expanduser().exists():
            return False
        try:
            repo, revision = parse_hub_ref(text)
            model_files.hub_snapshot(repo, revision, cache_dir=hub_cache_dir(), download=False)
        except StoreError:
            return "/" in text.partition("@")[0]
        return False

    def pull_model(
        self,
        source: str,
        *,
        on_plan: Callable[[str], None],
        on_progress: Callable[[PullView], None],
        cancel: Any,
    ) -> PullDone:
        """Pull a hub model (see jobs.pull); every ending is a PullDone, never an exception."""
        from jobs.pull import PullCancelled, pull_model
        from sa_tui.commands.model_store import plan_text
        from sa_tui.screens.pull import pull_view

        try:
            result = pull_model(
                self.store,
                source,
                on_plan=lambda plan: on_plan(plan_text(plan)),
                on_progress=lambda event: on_progress(pull_view(event)),
                cancel=cancel,
            )
        except PullCancelled as stop:
            return PullDone(
                source,
                cancelled=True,
                detail=f"{human_size(stop.done)} of {human_size(stop.total)}",
            )
        except Exception as error:
            return PullDone(source, error=str(error) or type(error).__name__)
        outcome = result.outcome
        return PullDone(
            source,
            ref=result.entry.ref,
            detail=f"{human_size(outcome.fetched_bytes)} downloaded at {result.plan.commit[:12]}",
        )

    def add_dataset(self, ref: str, field_map: str | None = None) -> DatasetRow:
        from sa_tui.commands.datasets import add_dataset_source

        entry = add_dataset_source(self.store, ref, field_map=field_map)
        return DatasetRow(
            ref=entry.ref, name=entry.name, splits=splits_text(entry.splits), rows=entry.rows
        )

    def verify_model(self, ref: str) -> list[str]:
        report = self.store.verify_model(ref)
        if not report.ok:
            return list(report.problems)
        entry = self.store.get_model(ref)
        if entry.managed and (entry.parameters is None or not entry.dtype):
            # a built-in is catalogued without reading its GGUF header; verified, read it now
            # (cheap: the header only) so that params and dtype fill in
            self.store.add_model(entry.source)
        return []

    def plan_remove_model(self, ref: str) -> RemovalPlan:
        from store.weights import disk_usage

        plan = self.store.remove_model(ref, dry_run=True)
        kept = disk_usage([Path(path) for path in plan.kept_paths]) if plan.kept_paths else None
        return RemovalPlan(
            ref,
            plan.freed_bytes,
            len(plan.deleted_paths),
            kept_bytes=kept,
            kept=_kept_names(plan.kept_paths),
        )

    def remove_model(self, ref: str) -> RemovalPlan:
        plan = self.store.remove_model(ref)
        return RemovalPlan(ref, plan.freed_bytes, len(plan.deleted_paths))

    def remove_dataset(self, ref: str) -> None:
        name = next(
            (d.name for d in self.store.list_datasets() if d.ref == ref or d.name == ref), ref
        )
        self.store.remove_dataset(name)

    # ---------------------------------------------------------------------------------- runs
    def _run_row(self, record: Any) -> RunRow:
        config = dict(record.config or {})
        seconds = None
        if record.finished_at is not None:
            seconds = (record.finished_at - record.started_at).total_seconds()
        return RunRow(
            id=record.id,
            status=record.status,
            model=str(config.get("model", "")),
            dataset=str(config.get("dataset", "")),
            methods=",".join(config.get("methods", [])),
            created=stamp(record.started_at),
            stage=record.stage or "",
            done=record.done or 0,
            total=record.total or 0,
            seconds=seconds,
            error=record.error or "",
            config=config,
        )

    def runs(self) -> list[RunRow]:
        return [self._run_row(record) for record in self.store.list_runs(limit=RUN_PAGE)]

    def _prompt_rows(self, versions: list[Any]) -> list[PromptRow]:
        scores = self.store.latest_scores([v.id for v in versions], "accuracy") if versions else {}
        rows = []
        for version in versions:
            score = scores.get(version.id)
            rows.append(
                PromptRow(
                    id=version.id,
                    lineage=version.lineage,
                    version=version.version,
                    method=version.method,
                    model=version.model,
                    dataset=version.dataset,
                    accuracy=None if score is None else score.value,
                    n=None if score is None else score.n,
                    ci95=None
                    if score is None or score.ci_low is None
                    else (score.ci_low, score.ci_high),
                    created=stamp(version.created_at),
                    run_id=version.run_id or "",
                    aliases=tuple(version.aliases),
                )
            )
        return rows

    def prompts(self) -> list[PromptRow]:
        return self._prompt_rows(self.store.list_prompt_versions(limit=PROMPT_PAGE))

    def set_prompt_alias(self, lineage: str, name: str, version: int) -> None:
        self.store.set_alias(lineage, name, version)

    def prompt_context(self, prompt_id: str) -> str:
        return self.store.get_prompt_version(int(prompt_id)).context

    def run_detail(self, run_id: str) -> RunDetail:
        store = self.store
        record = store.get_run(run_id)
        scores = [score for score in store.scores_for_run(run_id) if score.metric == "accuracy"]
        # A re-run whose contexts already existed scores the existing versions: find them
        # through the scores, not through the versions' creating run.
        versions = {v.id: v for v in store.prompt_versions_for_run(run_id)}
        for score in scores:
            if score.prompt_version_id not in versions:
                versions[score.prompt_version_id] = store.get_prompt_version(
                    score.prompt_version_id
                )
        ordered = sorted(versions.values(), key=lambda v: v.id)
        by_version = {score.prompt_version_id: score for score in scores}
        prompt_rows = {row.id: row for row in self._prompt_rows(ordered)}
        methods = []
        for version in ordered:
            score = by_version.get(version.id)
            predictions = [
                PredictionView(
                    str(p.get("id", "")),
                    str(p.get("gold", "")),
                    p.get("pred"),
                    bool(p.get("correct")),
                    str(p.get("output", "")),
                )
                for p in (score.predictions if score else [])
            ]
            row = prompt_rows[version.id]
            if score is not None:
                row = PromptRow(
                    **{**row.__dict__, "accuracy": score.value, "n": score.n, "ci95": score.ci95}
                )
            methods.append(
                MethodView(
                    row,
                    version.context,
                    predictions,
                    score.parse_failures if score else 0,
                    _influence(score),
                )
            )
        shots: list[ShotView] = []
        for version in ordered:
            measured = {str(s.get("id")): s for s in _influence(by_version.get(version.id))}
            faithful = shot_faithfulness(by_version.get(version.id))
            shots.extend(
                replace(
                    shot,
                    influence=measured.get(shot.sample_id),
                    faithfulness=faithful.get(shot.sample_id),
                )
                for shot in self._shots(version, run_id)
            )
        return RunDetail(
            run=self._run_row(record),
            versions=dict(record.versions or {}),
            device=record.device or "",
            shots=shots,
            methods=methods,
        )

    def _attributions(
        self, wanted: dict[tuple[str, str], str], first: list[str], model: str, dataset: str
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """Stored attributions of (sample id, method), each checked against the shot's question
        (``wanted`` maps the pair to it). An attribution is stored once, with the run that
        computed it; a later run that reused it has none of its own. So the runs in ``first``
        (this run, the version's) are read, then the other runs of the same model and dataset,
        newest first, until every shot has one."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        read: set[str] = set()

        def scan(run_id: str) -> None:
            read.add(run_id)
            for row in self.store.records_for_run(run_id, "attribution"):
                key = (str(row.sample_id), str(row.method))
                payload = row.payload if isinstance(row.payload, dict) else {}
                if key in wanted and key not in found and _fits(payload, wanted[key]):
                    found[key] = payload

        for run_id in dict.fromkeys(r for r in first if r):
            scan(run_id)
        if len(found) < len(wanted):
            for record in self.store.list_runs(limit=RUN_PAGE):
                config = record.config or {}
                if record.id in read or (config.get("model"), config.get("dataset")) != (
                    model,
                    dataset,
                ):
                    continue
                scan(record.id)
                if len(found) == len(wanted):
                    break
        return found

    def _shots(self, version: Any, run_id: str | None = None) -> list[ShotView]:
        """The shots of a prompt version: rationale from its content, heatmap from the stored
        attribution of that method (a DeepLift preview for the methods that have none)."""
        if version.method in ("io", "zero_shot"):
            return []  # no rationale: the shots are plain question -> answer pairs
        source = version.method if version.method in ATTRIBUTION_METHODS else PREVIEW_METHOD
        wanted = {
            (str(shot.get("id", "")), source): str(shot.get("question", ""))
            for shot in version.shots
        }
        model, dataset = str(version.model), str(version.dataset)
        if run_id:
            config = self.store.get_run(run_id).config or {}
            model, dataset = str(config.get("model", model)), str(config.get("dataset", dataset))
        attributions = self._attributions(
            wanted, [run_id or "", version.run_id or ""], model, dataset
        )
        shots = []
        for shot in version.shots:
            sample_id = str(shot.get("id", ""))
            payload = attributions.get((sample_id, source)) or {}
            shots.append(
                ShotView(
                    sample_id=sample_id,
                    method=version.method,
                    words=list(payload.get("words", [])),
                    scores=[float(x) for x in payload.get("word_scores", [])],
                    top=list(payload.get("top_words", [])),
                    rationale=str(shot.get("rationale") or ""),
                    heatmap_method="" if source == version.method or not payload else source,
                )
            )
        return shots

    def shots_for_prompt(self, prompt_id: str, run_id: str | None = None) -> list[ShotView]:
        return self._shots(self.store.get_prompt_version(int(prompt_id)), run_id)

    # --------------------------------------------------------------------------- experiments
    def experiments(self) -> list[ExperimentView]:
        return [
            experiment_view(record) for record in self.store.list_experiments(limit=EXPERIMENT_PAGE)
        ]

    def experiment_cells(self, experiment_id: str) -> list[CellView]:
        store = self.store
        record = store.get_experiment(experiment_id)
        cells = []
        for cell in record.config.get("cells", []):
            run = store.latest_run_for_hash(str(cell.get("config_hash", "")))
            scores = store.method_scores_for_run(run.id) if run is not None else {}
            cells.append(
                CellView(
                    model=str(cell.get("model", "")),
                    dataset=str(cell.get("dataset", "")),
                    strategy=str(cell.get("strategy", "")),
                    shots=int(cell.get("shots", 0)),
                    seed=int(cell.get("seed", 0)),
                    state="pending" if run is None else run.status,
                    run_id="" if run is None else run.id,
                    accuracies={method: score.value for method, score in scores.items()},
                )
            )
        return cells

    def experiment_report(self, experiment_id: str) -> ReportView:
        """The report over the finished cells; numpy (and scipy) load here, in a thread."""
        from core.report import build_report
        from jobs.experiment import cell_results

        record = self.store.get_experiment(experiment_id)
        total = len(record.config.get("cells", []))
        results = cell_results(self.store, record.config)
        if not results:
            return ReportView(record.id, cells_total=total)
        finished = {(r.model, r.dataset, r.strategy, r.shots, r.seed) for r in results}
        report = build_report(results)
        return ReportView(
            experiment_id=record.id,
            rows=[report_row_view(row) for row in report.rows],
            baselines=tuple(report.baselines),
            alpha=report.alpha,
            comparison_count=report.comparison_count,
            cells_finished=len(finished),
            cells_total=total,
            notes=tuple(report.notes),
        )

    # -------------------------------------------------------------------------------- export
    def plan_export(self, prompt_ref: str, fmt: str, path: str) -> ExportPlan:
        from core.paths import data_dir
        from store.export import default_name
        from store.export_marks import is_own_file, is_own_folder

        def is_own(target: Path, kind: str) -> bool:
            return (
                is_own_folder(target, kind) if kind == "hf-dataset" else is_own_file(target, kind)
            )

        version = self.store.resolve_prompt(prompt_ref)
        return plan_export(
            path,
            fmt,
            data_dir() / "exports",
            default_name=default_name(version, fmt),
            is_own=is_own,
        )

    def export(self, prompt_ref: str, fmt: str, path: str, *, force: bool = False) -> str:
        from store.export import export_prompt, version_faithfulness

        version = self.store.resolve_prompt(prompt_ref)
        faithfulness = version_faithfulness(self.store.scores_for(version.id))
        return str(export_prompt(version, fmt, Path(path), force=force, faithfulness=faithfulness))

    def export_text(self, prompt_ref: str, fmt: str) -> str:
        from store.export import render, version_faithfulness

        version = self.store.resolve_prompt(prompt_ref)
        return str(render(version, fmt, version_faithfulness(self.store.scores_for(version.id))))

    # ------------------------------------------------------------------------------ estimate
    def estimate_context(self, config: dict[str, Any]) -> EstimateContext:
        """The model's measured load (or first-use conversion) and a finished run of ``config``."""
        from jobs import timings

        model = str(config.get("model", ""))
        converting = False
        if model.startswith("builtin:"):
            try:
                entry = self.store.get_model(model)
            except Exception:
                entry = None
            if entry is not None and entry.managed_path:
                folder = Path(entry.managed_path)
                converting = not (
                    (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))
                )
        seconds = timings.measured("convert" if converting else "load", model)
        basis: str | None
        if converting:
            basis = "convert-measured" if seconds is not None else "convert-assumed"
        else:
            basis = "measured" if seconds is not None else None
        run = self.store.latest_run_for(config)
        reused = run.id if run is not None and run.status == "done" else ""
        return EstimateContext(seconds, basis, reused)


def stored_dtype(details: dict[str, Any] | None) -> str:
    """A dtype from the stored details (a GGUF's quantization, a folder's tensor dtypes)."""
    details = details or {}
    if details.get("quantization"):
        return str(details["quantization"])
    dtypes = details.get("dtypes")
    if isinstance(dtypes, dict) and dtypes:
        return str(max(dtypes, key=lambda name: dtypes[name] or 0))
    return ""


def stored_parameters(details: dict[str, Any] | None) -> int | None:
    value = (details or {}).get("parameters")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _kept_names(paths: tuple[str, ...]) -> str:
    return ", ".join(Path(path).name for path in paths[:2]) + (", …" if len(paths) > 2 else "")


def shot_faithfulness(score: Any) -> dict[str, dict[str, Any]]:
    """A score's per-shot faithfulness (keyword methods), by shot id; none for other methods."""
    extra = getattr(score, "extra", None)
    measured = extra.get("faithfulness") if isinstance(extra, dict) else None
    shots = measured.get("shots") if isinstance(measured, dict) else None
    if not isinstance(shots, list):
        return {}
    return {str(s.get("id")): dict(s) for s in shots if isinstance(s, dict)}


def _influence(score: Any) -> list[dict[str, Any]]:
    """A score's per-shot influence records (``--influence``), or none."""
    extra = getattr(score, "extra", None)
    measured = extra.get("influence") if isinstance(extra, dict) else None
    return [dict(s) for s in measured if isinstance(s, dict)] if isinstance(measured, list) else []


def _fits(payload: dict[str, Any], question: str) -> bool:
    """Whether an attribution's words are those of this shot's question (sample ids are only
    unique within a dataset)."""
    words = payload.get("words") or []
    if not words or not question:
        return bool(words)
    return question.split()[: min(3, len(words))] == [str(w) for w in words[:3]]


def experiment_view(record: Any) -> ExperimentView:
    config = dict(record.config or {})
    settings = dict(config.get("settings") or {})
    return ExperimentView(
        id=record.id,
        status=record.status,
        cells=record.cells,
        cells_done=record.cells_done,
        models=tuple(str(m) for m in config.get("models", [])),
        datasets=tuple(str(d) for d in config.get("datasets", [])),
        strategies=tuple(str(s) for s in config.get("strategies", [])),
        shots=tuple(int(n) for n in config.get("shots", [])),
        seeds=tuple(int(s) for s in config.get("seeds", [])),
        methods=tuple(str(m) for m in settings.get("methods", [])),
        created=stamp(record.created_at),
        updated=stamp(record.updated_at),
        error=record.error or "",
    )


def report_row_view(row: Any) -> ReportRowView:
    """A ``core.report.ReportRow`` as the UI's plain row."""
    return ReportRowView(
        model=row.model,
        dataset=row.dataset,
        strategy=row.strategy,
        shots=row.shots,
        method=row.method,
        seeds=len(row.seeds),
        items=row.items,
        accuracy=row.accuracy,
        ci_low=row.ci_low,
        ci_high=row.ci_high,
        unparsed_total=row.unparsed_total,
        seconds_per_seed=row.seconds_per_seed,
        comparisons={
            baseline: ComparisonView(
                baseline=baseline,
                mean_difference=c.mean_difference,
                ci_low=c.ci_low,
                ci_high=c.ci_high,
                p_holm=c.p_holm,
                significant=c.significant,
                wins=c.wins,
                ties=c.ties,
                losses=c.losses,
            )
            for baseline, c in row.comparisons.items()
        },
    )
