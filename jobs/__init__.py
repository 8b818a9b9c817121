"""The application service between the method (``core``) and its transports.

``run_job`` (in :mod:`jobs.run`) is the one place that wires a run configuration to the store:
preflight checks -> run record -> dataset -> model -> protocol -> records. The worker process
(:mod:`jobs.worker`, JSON lines for the TUI) and the headless CLI (:mod:`jobs.headless`) only
transport its events. This package imports ``core`` and ``store``, never ``sa_tui``.
"""
