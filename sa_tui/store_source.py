"""The DataSource of the real app: ``store.facade.Store`` seen as plain rows for the screens.

Opened lazily (first call, from a thread worker), so drawing the first screen never waits for
SQLAlchemy or a migration. Torch-free: only ``store``, ``core.datasets`` (file parsing) and the
export renderers are used.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from sa_tui.data import (
    CellView,
    ComparisonView,
    DatasetRow,
    ExperimentView,
    MethodView,
    ModelRow,
    PredictionView,
    PromptRow,
    RemovalPlan,
    ReportRowView,
    ReportView,
    RunDetail,
    RunRow,
    ShotView,
)

EXPERIMENT_PAGE = 100
PROMPT_PAGE = 500  # prompt versions listed (newest first)
RUN_PAGE = 200


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
        rows = []
        for entry in self.store.list_models():
            rows.append(
                ModelRow(
                    ref=entry.ref,
                    name=entry.name,
                    format=entry.format,
                    size_bytes=entry.size_bytes,
                    dtype=entry.dtype or "",
                    parameters=entry.parameters,
                    added=stamp(entry.added_at),
                    last_used=stamp(entry.last_used_at),
                    path=entry.local_path or "",
                    id=str(entry.id),
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

    def add_dataset(self, ref: str, field_map: str | None = None) -> DatasetRow:
        from sa_tui.commands.datasets import add_dataset_source

        entry = add_dataset_source(self.store, ref, field_map=field_map)
        return DatasetRow(
            ref=entry.ref, name=entry.name, splits=splits_text(entry.splits), rows=entry.rows
        )

    def verify_model(self, ref: str) -> list[str]:
        report = self.store.verify_model(ref)
        return [] if report.ok else list(report.problems)

    def plan_remove_model(self, ref: str) -> RemovalPlan:
        plan = self.store.remove_model(ref, dry_run=True)
        note = (
            f"{len(plan.kept_paths)} path(s) not made by sa-tui are kept."
            if plan.kept_paths
            else ""
        )
        return RemovalPlan(ref, plan.freed_bytes, len(plan.deleted_paths), note)

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
                MethodView(row, version.context, predictions, score.parse_failures if score else 0)
            )
        shots: list[ShotView] = []
        for version in ordered:
            shots.extend(self._shots(version, run_id))
        return RunDetail(
            run=self._run_row(record),
            versions=dict(record.versions or {}),
            device=record.device or "",
            shots=shots,
            methods=methods,
        )

    def _attributions(self, run_ids: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for run_id in dict.fromkeys(r for r in run_ids if r):
            for row in self.store.records_for_run(run_id, "attribution"):
                found.setdefault((str(row.sample_id), str(row.method)), row.payload)
        return found

    def _shots(self, version: Any, run_id: str | None = None) -> list[ShotView]:
        """The shots of a prompt version: rationale from its content, attribution (if any) from
        the run that computed it (this run, or the run that created the version)."""
        if version.method in ("io", "zero_shot"):
            return []  # no rationale: the shots are plain question -> answer pairs
        attributions = self._attributions([run_id or "", version.run_id or ""])
        shots = []
        for shot in version.shots:
            sample_id = str(shot.get("id", ""))
            payload = attributions.get((sample_id, version.method)) or {}
            shots.append(
                ShotView(
                    sample_id=sample_id,
                    method=version.method,
                    words=list(payload.get("words", [])),
                    scores=[float(x) for x in payload.get("word_scores", [])],
                    top=list(payload.get("top_words", [])),
                    rationale=str(shot.get("rationale") or ""),
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
    def export(self, prompt_ref: str, fmt: str, path: str, *, force: bool = False) -> str:
        from store.export import export_prompt

        version = self.store.resolve_prompt(prompt_ref)
        return str(export_prompt(version, fmt, Path(path), force=force))

    def export_text(self, prompt_ref: str, fmt: str) -> str:
        from store.export import render

        return str(render(self.store.resolve_prompt(prompt_ref), fmt))


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
