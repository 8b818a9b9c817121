"""The store's facade: one object for the UI, the worker and the CLI, returning domain objects.

``Store.open()`` migrates the database (backing it up first), makes the engine, and marks runs
whose process died as interrupted. Every write is one short ``BEGIN IMMEDIATE`` transaction,
and every input is validated before the transaction starts, so a StoreError changes nothing.

The Store is also the pipeline's :class:`core.cache.ResultCache` (``get``/``put``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from core.cache import KINDS, content_hash
from store import (
    catalogue,
    experiments,
    model_files,
    model_store,
    prompts,
    records,
    removal,
    runs,
)
from store.builtins import BUILTIN_DATASETS, BUILTIN_MODELS, BUILTIN_PREFIX, SEEDED_MODELS
from store.dataset_sources import builtin_dataset_details
from store.domain import (
    DatasetEntry,
    ExperimentRecord,
    LineageSummary,
    ModelEntry,
    PromptVersion,
    RecordRow,
    Removal,
    RunRecord,
    ScoreRecord,
)
from store.engine import default_db_path, make_engine, writer
from store.errors import StoreError
from store.guard import quick_check
from store.hub_cache import PulledFile
from store.mapping import run_record
from store.migrations import migrate
from store.model_files import ModelInfo, VerifyReport
from store.tables import MetaRow, RunRow
from store.weights import ByteProgress

BUILTINS_SEEDED = "builtins_seeded"


class Store:
    """The sa-tui catalogue and result store (see the module docstring)."""

    def __init__(self, path: Path, engine: Engine) -> None:
        self.path = path
        self._engine = engine
        self._writer = writer(engine)
        self._known_runs: set[str] = set()  # run ids seen to exist (records need one)

    # ------------------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, path: Path | None = None) -> Store:
        """Open (creating or migrating) the database at ``path`` (default data_dir()/sa-tui.db)."""
        database = Path(path) if path is not None else default_db_path()
        quick_check(database)  # a damaged file is refused before anything writes to it
        migrate(database)
        store = cls(database, make_engine(database))
        store.mark_interrupted()
        return store

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        try:
            with Session(self._writer, expire_on_commit=False) as session, session.begin():
                yield session
        except IntegrityError as error:
            raise StoreError(f"the store refused the change ({_first_line(error)})") from None
        except OperationalError as error:
            if "locked" in str(error) or "busy" in str(error):
                raise StoreError("the database stayed busy for 30 seconds; try again") from None
            raise

    # ------------------------------------------------------------------------------ cache
    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The stored value of ``key`` in the ``kind`` table, or None (core.cache.ResultCache)."""
        records.table_for(kind)
        with self._read() as session:
            return records.get(session, kind, key)

    def put(self, kind: str, key: str, value: dict[str, Any], *, run_id: str | None = None) -> None:
        """Store ``value`` under ``key`` unless the key exists (then nothing happens)."""
        row = records.prepare(kind, key, value, run_id)
        with self._write() as session:
            if run_id is not None and run_id not in self._known_runs:
                if session.get(RunRow, run_id) is None:
                    raise StoreError(f"there is no run {run_id!r} to attach this {kind} record to")
                self._known_runs.add(run_id)
            records.put(session, kind, row)

    @property
    def cache(self) -> Store:
        """The store itself, as a core.cache.ResultCache."""
        return self

    def records_for_run(self, run_id: str, kind: str, *, limit: int = 1000) -> list[RecordRow]:
        with self._read() as session:
            return records.for_run(session, kind, run_id, limit=limit)

    def record_counts(self, run_id: str) -> dict[str, int]:
        with self._read() as session:
            return records.counts_for_run(session, run_id)

    def count_records(self, kind: str) -> int:
        with self._read() as session:
            return records.count(session, kind)

    # ------------------------------------------------------------------------------ runs
    def start_run(
        self,
        config: dict[str, Any],
        *,
        kind: str = "run",
        versions: dict[str, Any] | None = None,
        device: str = "",
    ) -> RunRecord:
        """A new run in status ``running`` owned by this process."""
        row = runs.new_run_row(config, kind=kind, versions=versions or {}, device=device)
        with self._write() as session:
            record = runs.insert(session, row)
        self._known_runs.add(record.id)
        return record

    def update_progress(self, run_id: str, stage: str, done: int, total: int) -> RunRecord:
        """Record progress (and a heartbeat)."""
        with self._write() as session:
            return runs.beat(session, run_id, stage=str(stage), done=int(done), total=int(total))

    def heartbeat(self, run_id: str) -> RunRecord:
        with self._write() as session:
            return runs.beat(session, run_id)

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> RunRecord:
        """Close a run as done, failed, cancelled or interrupted (a done run stays done)."""
        with self._write() as session:
            return runs.finish(session, run_id, status, error)

    def resume_run(self, run_id: str) -> RunRecord:
        """Take over an unfinished run: status running, this process's pid (StoreError if done)."""
        self.mark_interrupted()
        with self._write() as session:
            return runs.resume(session, run_id)

    def get_run(self, run_id: str) -> RunRecord:
        with self._read() as session:
            return run_record(runs.find(session, run_id, prefix=True))

    def list_runs(
        self, status: str | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[RunRecord]:
        self.mark_interrupted()
        with self._read() as session:
            return runs.listing(session, status=status, limit=limit, offset=offset)

    def mark_interrupted(self) -> int:
        """Mark running runs whose process is gone (or silent for 2 minutes) as interrupted."""
        with self._read() as session:
            stale = [row.id for row in runs.stale_running(session)]
        if not stale:
            return 0
        with self._write() as session:
            return runs.mark_interrupted(session, stale)

    # ------------------------------------------------------------------------------ experiments
    def start_experiment(
        self, config: dict[str, Any], *, cells: int
    ) -> tuple[ExperimentRecord, bool]:
        """The experiment of this grid configuration, marked running (True: newly created)."""
        with self._write() as session:
            return experiments.start(session, config, cells)

    def update_experiment(
        self, experiment_id: str, *, status: str, cells_done: int, error: str | None = None
    ) -> ExperimentRecord:
        with self._write() as session:
            return experiments.update(
                session, experiment_id, status=status, cells_done=cells_done, error=error
            )

    def get_experiment(self, experiment_id: str) -> ExperimentRecord:
        with self._read() as session:
            return experiments.find(session, experiment_id)

    def list_experiments(self, *, limit: int = 100) -> list[ExperimentRecord]:
        with self._read() as session:
            return experiments.listing(session, limit=limit)

    def latest_run_for(self, config: dict[str, Any]) -> RunRecord | None:
        """The newest run of exactly this configuration (a finished one first), if any."""
        return self.latest_run_for_hash(content_hash(config))

    def latest_run_for_hash(self, config_hash: str) -> RunRecord | None:
        with self._read() as session:
            return experiments.latest_run_for_hash(session, config_hash)

    # ------------------------------------------------------------------------------ prompts
    def save_prompt_version(
        self, lineage: str, content: dict[str, Any], *, run_id: str | None = None
    ) -> PromptVersion:
        """Append ``content`` as the next version of ``lineage`` and move ``latest`` to it;
        identical content already in the lineage returns that version unchanged."""
        name = prompts.check_lineage(lineage)
        prompts.check_content(content)
        with self._write() as session:
            version, _new = prompts.save(session, name, content, run_id)
            return version

    def resolve_prompt(self, ref: str) -> PromptVersion:
        """The version named by ``lineage``, ``lineage@vN`` or ``lineage@alias``."""
        with self._read() as session:
            return prompts.resolve(session, ref)

    def get_prompt_version(self, version_id: int) -> PromptVersion:
        with self._read() as session:
            row = session.get(prompts.PromptVersionRow, int(version_id))
            if row is None:
                raise StoreError(f"there is no prompt version with id {version_id}")
            return prompts.to_domain(session, [row])[0]

    def list_prompt_versions(
        self,
        lineage: str | None = None,
        search: str | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
    ) -> list[PromptVersion]:
        """Versions, newest first, filtered by lineage and/or a search over lineage, method,
        model and dataset."""
        with self._read() as session:
            return prompts.listing(
                session, lineage=lineage, search=search, limit=limit, offset=offset
            )

    def count_prompt_versions(self, lineage: str | None = None, search: str | None = None) -> int:
        with self._read() as session:
            return prompts.count(session, lineage=lineage, search=search)

    def list_lineages(self) -> list[LineageSummary]:
        with self._read() as session:
            return prompts.lineages(session)

    def set_alias(self, lineage: str, name: str, version: int | str) -> PromptVersion:
        """Point alias ``name`` of ``lineage`` at ``version`` (N, vN, or another alias)."""
        alias = prompts.check_alias(name)
        with self._write() as session:
            return prompts.set_alias(session, lineage.strip(), alias, version)

    def diff_prompts(self, ref_a: str, ref_b: str) -> str:
        """A unified diff of the two versions' context texts (empty if identical)."""
        a, b = self.resolve_prompt(ref_a), self.resolve_prompt(ref_b)
        lines = difflib.unified_diff(
            a.context.splitlines(keepends=True),
            b.context.splitlines(keepends=True),
            fromfile=a.ref,
            tofile=b.ref,
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)

    def save_score(
        self,
        prompt_version_id: int,
        *,
        run_id: str | None,
        metric: str,
        value: float,
        n: int,
        ci95: tuple[float, float] | None = None,
        parse_failures: int = 0,
        seconds: float | None = None,
        predictions: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> ScoreRecord:
        """Append a score of a prompt version (the same score saved again by the same run is
        returned, not duplicated)."""
        row = prompts.score_row(
            int(prompt_version_id),
            run_id=run_id,
            metric=metric,
            value=value,
            n=n,
            ci95=ci95,
            parse_failures=parse_failures,
            seconds=seconds,
            predictions=predictions,
            extra=extra,
        )
        with self._write() as session:
            return prompts.save_score(session, row)

    def scores_for(self, prompt_version_id: int) -> list[ScoreRecord]:
        with self._read() as session:
            return prompts.scores_for(session, int(prompt_version_id))

    def scores_for_run(self, run_id: str) -> list[ScoreRecord]:
        with self._read() as session:
            return prompts.scores_for_run(session, run_id)

    def method_scores_for_run(self, run_id: str) -> dict[str, ScoreRecord]:
        """Each method's accuracy score in the run, by method name."""
        with self._read() as session:
            return prompts.method_scores_for_run(session, run_id)

    def prompt_versions_for_run(self, run_id: str) -> list[PromptVersion]:
        with self._read() as session:
            return prompts.versions_for_run(session, run_id)

    def latest_scores(
        self, version_ids: list[int], metric: str | None = None
    ) -> dict[int, ScoreRecord]:
        with self._read() as session:
            return prompts.latest_scores(session, version_ids, metric)

    # ------------------------------------------------------------------------------ models
    def add_model(
        self,
        source: str,
        *,
        name: str | None = None,
        allow_pickle: bool = False,
        trust_remote_code: bool = False,
        hf_cache_dir: Path | None = None,
        download: bool = True,
        on_bytes: ByteProgress | None = None,
    ) -> ModelEntry:
        """Inspect ``source`` (builtin:NAME, folder, .gguf, hub id) and catalogue it with the
        sha256 of its weight files (hashed now unless known for free; ``on_bytes(done, total)``
        follows the hashing); adding a catalogued source again refreshes its entry. Files are
        read in place, never copied. A model with its own code needs ``trust_remote_code``."""
        info = model_files.inspect_model(
            source,
            allow_pickle=allow_pickle,
            trust_remote_code=trust_remote_code,
            hf_cache_dir=hf_cache_dir,
            download=download,
        )
        return self.add_model_info(model_files.fill_checksums(info, on_bytes), name=name)

    def add_model_info(self, info: ModelInfo, *, name: str | None = None) -> ModelEntry:
        with self._write() as session:
            entry = catalogue.upsert_model(session, info, name=name)
        return removal.with_current_size(entry)

    def list_models(self) -> list[ModelEntry]:
        """Every model; a built-in's size is measured now (its GGUF and converted copy)."""
        self.ensure_builtins()
        with self._read() as session:
            entries = catalogue.list_models(session)
        return [removal.with_current_size(entry) for entry in entries]

    def catalogued_ref(self, text: str) -> str | None:
        """The ref of the catalogued model named ``text`` (its name or an alias); None when no
        model has that name, or when ``text`` is already the ref."""
        with self._read() as session:
            row = catalogue.find_model_row(session, text)
        return row.ref if row is not None and row.ref != text else None

    def get_model(self, ref: str) -> ModelEntry:
        """By ref or name; a built-in's size is measured now, as in :meth:`list_models`."""
        self.ensure_builtins()
        with self._read() as session:
            entry = catalogue.get_model(session, ref)
        return removal.with_current_size(entry)

    def touch_model(self, ref: str) -> bool:
        """Record that ``ref`` was used now; False if it is not catalogued. A built-in model
        used before it was catalogued (e.g. its package was installed after the catalogue was
        seeded) is catalogued first, from its cheap stub."""
        stub = None
        if ref.startswith(BUILTIN_PREFIX):
            name = ref.removeprefix(BUILTIN_PREFIX)
            stub = model_files.builtin_stub(name) if name in BUILTIN_MODELS else None
        with self._write() as session:
            if stub is not None and catalogue.find_model_row(session, stub.ref) is None:
                catalogue.upsert_model(session, stub, name=None)
            return catalogue.touch_model(session, ref)

    def verify_model(
        self,
        ref: str,
        *,
        checksums: bool = True,
        rehash: bool = False,
        on_bytes: ByteProgress | None = None,
    ) -> VerifyReport:
        """Check the model's files against its entry, which a failed check never changes; a
        successful one records ``verified_at``, and with ``rehash`` (a re-baseline on purpose)
        the current sha256 of every weight file too."""
        if rehash and not checksums:
            raise StoreError("--rehash computes checksums, so it cannot go with --no-checksums")
        entry = self.get_model(ref)
        report = model_files.verify(
            entry.local_path,
            entry.files,
            format=entry.format,
            label=entry.name,
            checksums=checksums,
            rehash=rehash,
            on_bytes=on_bytes,
        )
        if report.ok:
            with self._write() as session:
                catalogue.record_verification(
                    session, entry.ref, report.files if report.rehashed else None
                )
        return report

    def remove_model(self, ref: str, *, dry_run: bool = False) -> Removal:
        """Remove the entry; delete only files sa-tui owns (a built-in's converted copy), never
        a user's folder or the Hugging Face cache. ``freed_bytes`` says what was (would be) freed."""
        entry = self.get_model(ref)
        plan = removal.plan(entry, dry_run=dry_run)
        if dry_run:
            return plan
        removal.delete_files(plan)
        with self._write() as session:
            catalogue.delete_model(session, entry.ref)
        return plan

    # ------------------------------------------------------------------------------ model store
    def record_pulled_file(self, pulled: PulledFile) -> None:
        """Remember a file a pull placed in the HF cache (what prune may later delete)."""
        with self._write() as session:
            model_store.record_pulled_file(session, pulled)

    def set_model_alias(self, name: str, ref: str) -> ModelEntry:
        """Point the alias ``name`` at the model ``ref`` (a ref, name or another alias)."""
        entry = self.get_model(ref)
        with self._write() as session:
            alias = model_store.check_model_alias(session, name)
            model_store.set_model_alias(session, alias, entry.ref)
        return entry

    def remove_model_alias(self, name: str) -> str:
        """Forget the alias; returns the ref it pointed at."""
        with self._write() as session:
            return model_store.remove_model_alias(session, name)

    def model_usage(self) -> list[model_store.ModelUsage]:
        """Every model with its disk use: source files, converted copy, bytes sa-tui pulled."""
        entries = self.list_models()
        with self._read() as session:
            groups = model_store.pull_groups(session)
            aliases = model_store.model_aliases(session)
        return [model_store.usage(entry, groups, aliases.get(entry.ref, [])) for entry in entries]

    def prune_models(
        self, *, unused_for: timedelta, dry_run: bool = False
    ) -> model_store.PruneReport:
        """Delete converted copies and pulled files of models unused for ``unused_for`` (see
        :mod:`store.model_store`); ``dry_run`` only says what would go and what it would free."""
        if unused_for < timedelta(0):
            raise StoreError("--unused-for must not be negative")
        entries = self.list_models()
        with self._read() as session:
            groups = model_store.pull_groups(session)
        plan = model_store.plan_prune(entries, groups, unused_for=unused_for, dry_run=dry_run)
        if dry_run:
            return plan.report
        try:
            model_store.delete_pruned_files(plan)
        except OSError as error:
            raise StoreError(
                f"prune stopped: could not delete {error.filename}: {error.strerror or error}"
            ) from None
        with self._write() as session:
            model_store.forget_pruned(session, plan)
        return plan.report

    # ------------------------------------------------------------------------------ datasets
    def add_dataset(
        self,
        name: str,
        ref: str,
        *,
        kind: str,
        description: str = "",
        field_map: dict[str, Any] | None = None,
        splits: dict[str, Any] | None = None,
        rows: int | None = None,
        checksum: str | None = None,
    ) -> DatasetEntry:
        """Catalogue a dataset (or refresh the entry of that name)."""
        clean = catalogue.check_dataset_name(name)
        if not ref or not ref.strip():
            raise StoreError("a dataset needs its source (builtin:NAME, a path or hf:owner/name)")
        with self._write() as session:
            return catalogue.upsert_dataset(
                session,
                name=clean,
                ref=ref.strip(),
                kind=kind,
                description=description,
                field_map=field_map,
                splits=dict(splits or {}),
                rows=rows,
                checksum=checksum,
            )

    def list_datasets(self) -> list[DatasetEntry]:
        self.ensure_builtins()
        with self._read() as session:
            return catalogue.list_datasets(session)

    def get_dataset(self, name: str) -> DatasetEntry:
        self.ensure_builtins()
        with self._read() as session:
            return catalogue.get_dataset(session, name)

    def remove_dataset(self, name: str) -> DatasetEntry:
        """Remove the catalogue entry (the dataset's files are never touched)."""
        with self._write() as session:
            return catalogue.delete_dataset(session, name)

    # ------------------------------------------------------------------------------ built-ins
    def ensure_builtins(self) -> bool:
        """Seed the built-in datasets and model once per database (cheap: no file is hashed or
        parsed). Returns whether it seeded now. Removed built-ins are not brought back."""
        with self._read() as session:
            if session.get(MetaRow, BUILTINS_SEEDED) is not None:
                return False
        stubs = [
            stub for name in SEEDED_MODELS if (stub := model_files.builtin_stub(name)) is not None
        ]
        details = builtin_dataset_details()
        with self._write() as session:
            if session.get(MetaRow, BUILTINS_SEEDED) is not None:
                return False
            for name, description in BUILTIN_DATASETS.items():
                if catalogue.find_dataset_row(session, name) is None:
                    catalogue.upsert_dataset(
                        session,
                        name=name,
                        ref=f"{BUILTIN_PREFIX}{name}",
                        kind="builtin",
                        description=description,
                        field_map=None,
                        splits=details.get(name, ({}, None, None))[0],
                        rows=details.get(name, ({}, None, None))[1],
                        checksum=details.get(name, ({}, None, None))[2],
                    )
            for stub in stubs:
                if catalogue.find_model_row(session, stub.ref) is None:
                    catalogue.upsert_model(session, stub, name=None)
            _set_meta(session, BUILTINS_SEEDED, "1")
        return True


def _set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(MetaRow, key)
    if row is None:
        session.add(MetaRow(key=key, value=value))
    else:
        row.value = value
        session.add(row)


def _first_line(error: Exception) -> str:
    text = str(getattr(error, "orig", error) or error)
    return text.splitlines()[0] if text else type(error).__name__


__all__ = ["KINDS", "Store", "StoreError"]
