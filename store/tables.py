"""sqlmodel classes mirroring the tables that :mod:`store.schema` creates (the DAO layer).

The schema is owned by the SQL migrations; these classes are how the facade reads and writes
rows (``SQLModel.metadata.create_all`` is never called). JSON columns are plain ``str`` here and
are encoded/decoded by the facade, so what is stored is exactly the canonical JSON.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class ModelRow(SQLModel, table=True):
    __tablename__ = "models"

    id: int | None = Field(default=None, primary_key=True)
    ref: str
    name: str
    source: str
    format: str
    repo_id: str | None = None
    revision: str | None = None
    local_path: str | None = None
    dtype: str | None = None
    parameters: int | None = None
    size_bytes: int | None = None
    files: str = "{}"
    details: str = "{}"
    managed: bool = False
    managed_path: str | None = None
    added_at: datetime
    last_used_at: datetime | None = None
    verified_at: datetime | None = None


class DatasetRow(SQLModel, table=True):
    __tablename__ = "datasets"

    id: int | None = Field(default=None, primary_key=True)
    name: str
    ref: str
    kind: str
    description: str = ""
    field_map: str | None = None
    splits: str = "{}"
    rows: int | None = None
    checksum: str | None = None
    added_at: datetime
    updated_at: datetime


class RunRow(SQLModel, table=True):
    __tablename__ = "runs"

    id: str = Field(primary_key=True)
    kind: str
    status: str
    config: str
    config_hash: str
    versions: str = "{}"
    device: str = ""
    host: str = ""
    pid: int | None = None
    stage: str = ""
    done: int = 0
    total: int = 0
    resumes: int = 0
    heartbeat_at: datetime | None = None
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None


class ExperimentRow(SQLModel, table=True):
    __tablename__ = "experiments"

    id: str = Field(primary_key=True)
    config: str
    config_hash: str
    status: str
    cells: int
    cells_done: int = 0
    host: str = ""
    pid: int | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    error: str | None = None


class RecordFields(SQLModel):
    """The columns shared by the cache tables (one per core.cache kind)."""

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str
    run_id: str | None = None
    model_ref: str | None = None
    sample_id: str | None = None
    method: str | None = None
    payload: str
    created_at: datetime


class SelectionRow(RecordFields, table=True):
    __tablename__ = "selections"


class AttributionRow(RecordFields, table=True):
    __tablename__ = "attributions"


class RationaleRow(RecordFields, table=True):
    __tablename__ = "rationales"


class PredictionRow(RecordFields, table=True):
    __tablename__ = "predictions"


class FaithfulnessRow(RecordFields, table=True):
    __tablename__ = "faithfulness"


class PromptVersionRow(SQLModel, table=True):
    __tablename__ = "prompt_versions"

    id: int | None = Field(default=None, primary_key=True)
    lineage: str
    version: int
    content_hash: str
    parent_id: int | None = None
    content: str
    run_id: str | None = None
    method: str = ""
    model_ref: str = ""
    dataset: str = ""
    n_shots: int = 0
    created_at: datetime


class ScoreRow(SQLModel, table=True):
    __tablename__ = "scores"

    id: int | None = Field(default=None, primary_key=True)
    prompt_version_id: int
    run_id: str | None = None
    content_hash: str
    metric: str
    value: float
    n: int
    ci_low: float | None = None
    ci_high: float | None = None
    parse_failures: int = 0
    seconds: float | None = None
    predictions: str = "[]"
    extra: str = "{}"
    created_at: datetime


class AliasRow(SQLModel, table=True):
    __tablename__ = "aliases"

    lineage: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    version_id: int
    updated_at: datetime


class MetaRow(SQLModel, table=True):
    __tablename__ = "meta"

    key: str = Field(primary_key=True)
    value: str


class PulledFileRow(SQLModel, table=True):
    __tablename__ = "pulled_files"

    id: int | None = Field(default=None, primary_key=True)
    cache_dir: str
    repo_id: str
    commit_hash: str
    filename: str
    blob: str
    size: int
    link_made: bool = False
    blob_downloaded: bool = False
    pulled_at: datetime


class ModelAliasRow(SQLModel, table=True):
    __tablename__ = "model_aliases"

    name: str = Field(primary_key=True)
    model_ref: str
    updated_at: datetime


RECORD_TABLES: dict[str, type[RecordFields]] = {
    "selection": SelectionRow,
    "attribution": AttributionRow,
    "rationale": RationaleRow,
    "prediction": PredictionRow,
    "faithfulness": FaithfulnessRow,
}
