"""Loading the run's model: one note that says what is happening and how long it takes here,
the measured time remembered for next time, and (in the worker) the model kept between jobs."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from core.config import RunConfig
from core.progress import Progress, ProgressCallback
from jobs import timings

if TYPE_CHECKING:
    from core.models import LoadedModel

log = logging.getLogger(__name__)


def needs_conversion(ref: str) -> bool:
    """Whether loading ``ref`` first converts a built-in model's GGUF file (done once)."""
    if not ref.startswith("builtin:"):
        return False
    from core.models.builtin import is_converted

    return not is_converted(ref.split(":", 1)[1])


def loading_note(ref: str) -> str:
    """What the model stage says while it loads, with a time measured on this machine."""
    if needs_conversion(ref):
        seconds = timings.measured("convert", ref)
        when = f"{timings.about(seconds)} here" if seconds else "under a minute on a 2-core CPU"
        return f"first use: converting the GGUF file once ({when})"
    seconds = timings.measured("load", ref)
    return f"loading {ref} ({timings.about(seconds)} here)" if seconds else f"loading {ref}"


class ModelSlot:
    """Loads the model a configuration names, keeping the last one (the worker reuses it)."""

    def __init__(self) -> None:
        self.loaded: LoadedModel | None = None
        self.key: tuple[str, str | None, str | None, bool] | None = None

    def get(
        self, config: RunConfig, progress: ProgressCallback, *, ref: str | None = None
    ) -> LoadedModel:
        """The configuration's model (or ``ref``, e.g. AMPLIFY's proxy, on stage "proxy")."""
        from core.models import load_model

        name = ref or config.model
        stage = "model" if ref is None else "proxy"
        key = (name, config.device, config.dtype, config.trust_remote_code)
        if self.loaded is not None and self.key == key:
            progress(Progress(stage, 1, 1, f"reusing the loaded {name}"))
            return self.loaded
        self.loaded = self.key = None  # free the previous model before loading another
        converting = needs_conversion(name)
        progress(Progress(stage, 0, 1, loading_note(name)))
        started = time.perf_counter()
        loaded = load_model(
            name,
            device=config.device,
            dtype=config.dtype,
            trust_remote_code=config.trust_remote_code,
        )
        seconds = time.perf_counter() - started
        timings.record("convert" if converting else "load", name, seconds)
        log.info("loaded %s in %.1f s", name, seconds)
        self.loaded, self.key = loaded, key
        millions = loaded.info.get("parameters", 0) / 1e6
        progress(Progress(stage, 1, 1, f"{millions:.1f}M parameters on {loaded.device}"))
        return loaded
