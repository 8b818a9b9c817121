"""Executors: where an experiment grid's cells run.

``local`` (the default) runs them one after the other in this process through
:func:`jobs.run.run_job`; ``ray`` runs them on the actors of a Ray cluster, which keep a model
loaded, while this process (the *driver*) alone writes the store (see
:mod:`jobs.executors.ray_executor`). This module is import-light: it never imports Ray, so the
command line can check the choice before anything else happens.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from core.errors import ConfigError
from core.progress import CancelToken, ProgressCallback

if TYPE_CHECKING:
    from jobs.experiment import Cell, CellOutcome
    from jobs.models import ModelSlot
    from jobs.ports import RunStore

EXECUTORS = ("local", "ray")
RAY_INSTALL = 'pip install -e ".[ray]"'


class Executor(Protocol):
    """Runs the cells of a grid that are not done yet, reporting each cell's outcome once."""

    def __enter__(self) -> Executor: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...

    def describe(self) -> str:
        """One line: where the cells run."""
        ...

    def run(
        self,
        cells: Sequence[Cell],
        store: RunStore,
        *,
        cancel: CancelToken,
        progress: ProgressCallback,
        on_outcome: Callable[[CellOutcome], None],
    ) -> None:
        """Call ``on_outcome`` once per cell (reused or run), or raise."""
        ...


def ray_installed() -> bool:
    """Whether Ray can be imported here (checked without importing it)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


@dataclass(frozen=True)
class ExecutorChoice:
    """``sa-tui experiment --executor local|ray [--ray-address ADDR] [--ray-actors N]``."""

    kind: str = "local"
    address: str | None = None
    actors: int | None = None

    def validate(self) -> ExecutorChoice:
        """One sentence (ConfigError) when the choice cannot work, before any work."""
        if self.kind not in EXECUTORS:
            raise ConfigError(f"unknown executor {self.kind!r}; use local or ray")
        if self.kind != "ray" and (self.address or self.actors is not None):
            raise ConfigError("--ray-address and --ray-actors need --executor ray")
        if self.actors is not None and self.actors < 1:
            raise ConfigError(f"--ray-actors must be at least 1, not {self.actors}")
        if self.kind == "ray" and not ray_installed():
            raise ConfigError(
                f"--executor ray needs Ray, which is not installed here; install it with {RAY_INSTALL}"
            )
        return self

    def build(self, models: ModelSlot | None = None, *, cpu_only: bool = False) -> Executor:
        """The executor (a context manager: Ray connects on entry and lets go on exit).
        ``cpu_only``: the grid runs on the CPU, so Ray's actors take no GPU."""
        if self.kind == "ray":
            from jobs.executors.ray_executor import RayExecutor

            return RayExecutor(address=self.address, actors=self.actors, cpu_only=cpu_only)
        from jobs.executors.local import LocalExecutor

        return LocalExecutor(models)
