"""The schema, as the SQL of each named migration, in order.

Rules: a migration's SQL never changes once released (add a new one instead), and every table a
migration creates has a matching class in :mod:`store.tables` (a test compares them).

Record tables (``selections``, ``attributions``, ``rationales``, ``predictions``,
``prompt_versions``, ``scores``) are append-only: triggers abort any UPDATE or DELETE with
"records are immutable". Catalogue tables (``models``, ``datasets``) and ``aliases`` are mutable;
``runs`` may change only in their lifecycle columns (status, progress, heartbeat, timings, error).
"""

from __future__ import annotations

IMMUTABLE = "records are immutable"


def _append_only(table: str) -> str:
    return f"""
CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
BEGIN
    SELECT RAISE(ABORT, '{IMMUTABLE}');
END;

CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
BEGIN
    SELECT RAISE(ABORT, '{IMMUTABLE}');
END;
"""


def _record_table(table: str) -> str:
    """One cache table (see core.cache.KINDS): a payload per key, plus searchable columns."""
    return f"""
CREATE TABLE {table} (
    id          INTEGER PRIMARY KEY,
    key_hash    TEXT NOT NULL UNIQUE,
    run_id      TEXT REFERENCES runs(id),
    model_ref   TEXT,
    sample_id   TEXT,
    method      TEXT,
    payload     TEXT NOT NULL CHECK (json_valid(payload)),
    created_at  TEXT NOT NULL
);
CREATE INDEX {table}_run ON {table}(run_id);
CREATE INDEX {table}_sample ON {table}(sample_id);
""" + _append_only(table)


M0001_INITIAL = (
    """
CREATE TABLE models (
    id            INTEGER PRIMARY KEY,
    ref           TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL UNIQUE,
    source        TEXT NOT NULL,
    format        TEXT NOT NULL CHECK (format IN ('safetensors', 'gguf', 'hf-cache', 'builtin', 'pickle')),
    repo_id       TEXT,
    revision      TEXT,
    local_path    TEXT,
    dtype         TEXT,
    parameters    INTEGER,
    size_bytes    INTEGER,
    files         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(files)),
    details       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
    managed       INTEGER NOT NULL DEFAULT 0 CHECK (managed IN (0, 1)),
    managed_path  TEXT,
    added_at      TEXT NOT NULL,
    last_used_at  TEXT,
    verified_at   TEXT
);

CREATE TABLE datasets (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    ref          TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('builtin', 'file', 'folder', 'hub')),
    description  TEXT NOT NULL DEFAULT '',
    field_map    TEXT CHECK (field_map IS NULL OR json_valid(field_map)),
    splits       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(splits)),
    rows         INTEGER,
    checksum     TEXT,
    added_at     TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE runs (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL
                  CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')),
    config        TEXT NOT NULL CHECK (json_valid(config)),
    config_hash   TEXT NOT NULL,
    versions      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(versions)),
    device        TEXT NOT NULL DEFAULT '',
    host          TEXT NOT NULL DEFAULT '',
    pid           INTEGER,
    stage         TEXT NOT NULL DEFAULT '',
    done          INTEGER NOT NULL DEFAULT 0,
    total         INTEGER NOT NULL DEFAULT 0,
    resumes       INTEGER NOT NULL DEFAULT 0,
    heartbeat_at  TEXT,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    error         TEXT
);
CREATE INDEX runs_status ON runs(status);
CREATE INDEX runs_started ON runs(started_at);
CREATE INDEX runs_config_hash ON runs(config_hash);

CREATE TRIGGER runs_identity_fixed BEFORE UPDATE OF id, kind, config, config_hash, started_at ON runs
WHEN NEW.id IS NOT OLD.id OR NEW.kind IS NOT OLD.kind OR NEW.config IS NOT OLD.config
     OR NEW.config_hash IS NOT OLD.config_hash OR NEW.started_at IS NOT OLD.started_at
BEGIN
    SELECT RAISE(ABORT, 'a run''s identity and configuration are immutable');
END;

CREATE TRIGGER runs_no_delete BEFORE DELETE ON runs
BEGIN
    SELECT RAISE(ABORT, '"""
    + IMMUTABLE
    + """');
END;
"""
    + _record_table("selections")
    + _record_table("attributions")
    + _record_table("rationales")
    + _record_table("predictions")
    + """
CREATE TABLE prompt_versions (
    id            INTEGER PRIMARY KEY,
    lineage       TEXT NOT NULL,
    version       INTEGER NOT NULL CHECK (version >= 1),
    content_hash  TEXT NOT NULL,
    parent_id     INTEGER REFERENCES prompt_versions(id),
    content       TEXT NOT NULL CHECK (json_valid(content)),
    run_id        TEXT REFERENCES runs(id),
    method        TEXT NOT NULL DEFAULT '',
    model_ref     TEXT NOT NULL DEFAULT '',
    dataset       TEXT NOT NULL DEFAULT '',
    n_shots       INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    UNIQUE (lineage, version),
    UNIQUE (lineage, content_hash)
);
CREATE INDEX prompt_versions_run ON prompt_versions(run_id);
"""
    + _append_only("prompt_versions")
    + """
CREATE TABLE scores (
    id                 INTEGER PRIMARY KEY,
    prompt_version_id  INTEGER NOT NULL REFERENCES prompt_versions(id),
    run_id             TEXT REFERENCES runs(id),
    content_hash       TEXT NOT NULL,
    metric             TEXT NOT NULL,
    value              REAL NOT NULL,
    n                  INTEGER NOT NULL CHECK (n >= 0),
    ci_low             REAL,
    ci_high            REAL,
    parse_failures     INTEGER NOT NULL DEFAULT 0,
    seconds            REAL,
    predictions        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(predictions)),
    extra              TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(extra)),
    created_at         TEXT NOT NULL
);
CREATE INDEX scores_prompt_version ON scores(prompt_version_id);
CREATE INDEX scores_run ON scores(run_id);
-- one score per content per run: a resumed run that re-saves a score adds nothing
CREATE UNIQUE INDEX scores_once_per_run ON scores(content_hash, COALESCE(run_id, ''));
"""
    + _append_only("scores")
)

M0002_ALIASES = """
CREATE TABLE aliases (
    lineage     TEXT NOT NULL,
    name        TEXT NOT NULL,
    version_id  INTEGER NOT NULL REFERENCES prompt_versions(id),
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (lineage, name)
);
CREATE INDEX aliases_version ON aliases(version_id);

-- an alias may only point at a version of its own lineage
CREATE TRIGGER aliases_same_lineage_insert BEFORE INSERT ON aliases
WHEN (SELECT lineage FROM prompt_versions WHERE id = NEW.version_id) IS NOT NEW.lineage
BEGIN
    SELECT RAISE(ABORT, 'an alias must point at a version of its own lineage');
END;

CREATE TRIGGER aliases_same_lineage_update BEFORE UPDATE ON aliases
WHEN (SELECT lineage FROM prompt_versions WHERE id = NEW.version_id) IS NOT NEW.lineage
BEGIN
    SELECT RAISE(ABORT, 'an alias must point at a version of its own lineage');
END;

-- every existing lineage gets its 'latest' alias
INSERT INTO aliases (lineage, name, version_id, updated_at)
SELECT p.lineage, 'latest', p.id, p.created_at
FROM prompt_versions AS p
WHERE p.version = (SELECT MAX(q.version) FROM prompt_versions AS q WHERE q.lineage = p.lineage);

-- small key/value settings of the store itself (e.g. whether built-ins were seeded)
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- the catalogue listing and its filters, fast at 100,000 versions
CREATE INDEX prompt_versions_created ON prompt_versions(created_at);
CREATE INDEX prompt_versions_method ON prompt_versions(method);
"""

M0003_EXPERIMENTS = """
-- an experiment grid: its configuration (including the list of cells) is fixed; the status and
-- progress change; each cell's results are the runs whose config_hash the cell names
CREATE TABLE experiments (
    id            TEXT PRIMARY KEY,
    config        TEXT NOT NULL CHECK (json_valid(config)),
    config_hash   TEXT NOT NULL UNIQUE,
    status        TEXT NOT NULL
                  CHECK (status IN ('running', 'done', 'failed', 'cancelled', 'interrupted')),
    cells         INTEGER NOT NULL,
    cells_done    INTEGER NOT NULL DEFAULT 0,
    host          TEXT NOT NULL DEFAULT '',
    pid           INTEGER,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    finished_at   TEXT,
    error         TEXT
);
CREATE INDEX experiments_created ON experiments(created_at);

CREATE TRIGGER experiments_identity_fixed
BEFORE UPDATE OF id, config, config_hash, cells, created_at ON experiments
WHEN NEW.id IS NOT OLD.id OR NEW.config IS NOT OLD.config
     OR NEW.config_hash IS NOT OLD.config_hash OR NEW.cells IS NOT OLD.cells
     OR NEW.created_at IS NOT OLD.created_at
BEGIN
    SELECT RAISE(ABORT, 'an experiment''s configuration is immutable');
END;

CREATE TRIGGER experiments_no_delete BEFORE DELETE ON experiments
BEGIN
    SELECT RAISE(ABORT, 'experiments are kept');
END;
"""

# comprehensiveness and sufficiency of one shot's keyword rationale (core/faithfulness.py)
M0004_FAITHFULNESS = _record_table("faithfulness")

M0005_MODEL_STORE = """
-- each file a pull placed in the Hugging Face cache: the snapshot link it made and whether it
-- downloaded the blob (a blob already in the cache is not sa-tui's, and prune never deletes it)
CREATE TABLE pulled_files (
    id               INTEGER PRIMARY KEY,
    cache_dir        TEXT NOT NULL,
    repo_id          TEXT NOT NULL,
    commit_hash      TEXT NOT NULL,
    filename         TEXT NOT NULL,
    blob             TEXT NOT NULL,
    size             INTEGER NOT NULL,
    link_made        INTEGER NOT NULL DEFAULT 0,
    blob_downloaded  INTEGER NOT NULL DEFAULT 0,
    pulled_at        TEXT NOT NULL,
    UNIQUE (cache_dir, repo_id, commit_hash, filename)
);
CREATE INDEX pulled_files_repo ON pulled_files(repo_id, commit_hash);

-- more names for a catalogued model (sa-tui models alias NAME REF); mutable labels
CREATE TABLE model_aliases (
    name        TEXT PRIMARY KEY,
    model_ref   TEXT NOT NULL REFERENCES models(ref) ON DELETE CASCADE,
    updated_at  TEXT NOT NULL
);
CREATE INDEX model_aliases_ref ON model_aliases(model_ref);
"""

MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("0001_initial", M0001_INITIAL),
    ("0002_aliases_meta_indexes", M0002_ALIASES),
    ("0003_experiments", M0003_EXPERIMENTS),
    ("0004_faithfulness", M0004_FAITHFULNESS),
    ("0005_model_store", M0005_MODEL_STORE),
)
