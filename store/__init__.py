"""The sa-tui store: a SQLite catalogue of models, datasets, runs and append-only records.

Use :class:`store.facade.Store` (``Store.open()``); it returns the frozen objects of
:mod:`store.domain` and raises :class:`store.errors.StoreError` (one sentence) on bad input,
before writing anything.

Layout (one job per module):

- ``engine``: the engine factory (nothing at import time), PRAGMAs on every connection
  (WAL, busy_timeout=30 s, foreign_keys, synchronous=NORMAL), ``BEGIN IMMEDIATE`` writes.
- ``schema`` + ``migrations``: the schema is explicit SQL, as named migrations recorded in
  ``schema_migrations``; an existing database is copied to ``<db>.bak-<migration>`` (SQLite's
  backup API) before each migration. Triggers make the record tables append-only.
- ``tables``: sqlmodel classes mirroring those tables, used to read and write rows (the DAO
  layer; ``create_all`` is never called, a test checks the columns match).
- ``runs``, ``prompts``, ``records``, ``catalogue``: the queries of each area.
- ``model_files``, ``weights``, ``builtins``, ``removal``: inspecting model sources without
  torch (safetensors headers, GGUF metadata, the Hugging Face cache in place), checksums, sizes
  that count shared files once, and deleting only what sa-tui owns.
- ``export`` + ``safe_write``: prompt versions to jsonl, markdown, text, chat-json, hf-dataset
  and dspy files, written atomically and only inside the path given.

This package never imports Textual, torch, transformers, captum or shap (a test checks it); from
``core`` it uses only ``core.errors``, ``core.cache`` and ``core.paths``.
"""
