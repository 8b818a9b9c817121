"""The messages screens and the App send each other.

Screens never hold a reference to another screen, and the App never calls into a screen:

- requests bubble from a screen up to the App (``post_message`` on the screen), which acts on them
  or routes them on: ``PickForBuild``, ``ShowOnExport``, ``OpenRun``, ``StartBuild``,
  ``CancelBuild``, ``ClearBuild``;
- commands go from the App to the first screen of a mode (they do not bubble back):
  ``StartFromForm``, ``PickOnForm``, ``SelectPrompt``, ``ShowRun``;
- build progress is the App's ``build_change`` reactive (see ``sa_tui.build_state.BuildChange``),
  which the Build screen watches.
"""

from __future__ import annotations

from typing import Any, Literal

from textual.message import Message

CatalogueKind = Literal["model", "dataset"]


# ------------------------------------------------------------------------ screen -> App requests
class PickForBuild(Message):
    """Go to the Build screen with this model or dataset chosen on the form."""

    def __init__(self, kind: CatalogueKind, ref: str) -> None:
        super().__init__()
        self.kind: CatalogueKind = kind
        self.ref = ref


class ShowOnExport(Message):
    """Go to the Export screen with the cursor on this prompt version."""

    def __init__(self, ref: str) -> None:
        super().__init__()
        self.ref = ref


class OpenRun(Message):
    """Show this run's detail on the Runs screen; ``back_to`` is the mode that escape returns to
    (None: the Runs list)."""

    def __init__(self, run_id: str, back_to: str | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.back_to = back_to


class StartBuild(Message):
    """Start a build of ``config`` (validated) and remember the ``form`` it came from."""

    def __init__(self, config: dict[str, Any], form: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        self.form = form


class CancelBuild(Message):
    """Cancel the running build."""


class ClearBuild(Message):
    """Forget the results of the last build (when none is running)."""


# ------------------------------------------------------------------------ App -> screen commands
class ScreenCommand(Message):
    """A command the App sends to one screen; it stops there."""

    bubble = False


class StartFromForm(ScreenCommand):
    """Validate the Build form and start a build with it (the palette's "Start build")."""


class PickOnForm(ScreenCommand):
    """Choose a model or dataset on the Build form."""

    def __init__(self, kind: CatalogueKind, ref: str) -> None:
        super().__init__()
        self.kind: CatalogueKind = kind
        self.ref = ref


class SelectPrompt(ScreenCommand):
    """Put the Export screen's cursor on a prompt version."""

    def __init__(self, ref: str) -> None:
        super().__init__()
        self.ref = ref


class ShowRun(ScreenCommand):
    """Open a run's detail from the Runs screen; escape there returns to mode ``back_to``."""

    def __init__(self, run_id: str, back_to: str | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.back_to = back_to
