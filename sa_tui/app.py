"""The sa-tui application: five screens (modes), one worker client, one error modal.

Never imports torch, transformers, captum or shap (``tests/ui/test_imports.py`` proves it): the
heavy work happens in ``python -m jobs.worker``, started in the background after the first
screen is drawn.

Screens and the App never call into each other: requests and commands are the messages of
``sa_tui.messages``, and build progress is the App's ``build_change`` reactive, which the Build
screen watches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive, var
from textual.screen import Screen

from sa_tui.build_state import BuildChange, BuildState
from sa_tui.data import DataSource
from sa_tui.messages import (
    CancelBuild,
    ClearBuild,
    OpenRun,
    PickForBuild,
    PickOnForm,
    SelectPrompt,
    ShowOnExport,
    ShowRun,
    StartBuild,
    StartFromForm,
)
from sa_tui.screens.build import BuildScreen
from sa_tui.screens.catalogue import CatalogueScreen
from sa_tui.screens.experiments import ExperimentsScreen
from sa_tui.screens.export import ExportScreen
from sa_tui.screens.modals import ErrorScreen, HelpScreen
from sa_tui.screens.runs import RunsScreen
from sa_tui.settings import Settings, load_settings, save_settings
from sa_tui.theming import DEFAULT_THEME, STYLESHEET, VARIABLE_DEFAULTS, load_themes, theme_names
from sa_tui.worker_client import WorkerClient, WorkerEvent, WorkerProcessDied, WorkerProcessState

SCREEN_KEYS = (
    ("1", "catalogue", "Catalogue"),
    ("2", "build", "Build"),
    ("3", "runs", "Runs & Prompts"),
    ("4", "export", "Export"),
    ("5", "experiments", "Experiments"),
)


class SaTuiApp(App[int]):
    TITLE = "sa-tui"
    CSS_PATH = str(STYLESHEET)
    MODES = {
        "catalogue": CatalogueScreen,
        "build": BuildScreen,
        "runs": RunsScreen,
        "export": ExportScreen,
        "experiments": ExperimentsScreen,
    }
    DEFAULT_MODE = "catalogue"
    BINDINGS = [
        *(
            Binding(key, f"switch_mode('{mode}')", title, show=False, id=f"mode-{mode}")
            for key, mode, title in SCREEN_KEYS
        ),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("t", "next_theme", "Theme", show=False),
        Binding("q", "quit", "Quit", show=False),
    ]

    worker_status: reactive[str] = reactive("not started")
    # What the last worker event (or a start / clear) changed in ``self.build``; the Build screen
    # watches it. Set on every change, equal or not.
    build_change: var[BuildChange] = var(BuildChange(), always_update=True)

    def __init__(
        self,
        *,
        theme: str | None = None,
        data: DataSource | None = None,
        client_factory: Callable[[SaTuiApp], Any] | None = None,
        start_worker: bool = True,
        remember: bool = True,
    ) -> None:
        loaded = load_settings() if remember else None
        self.settings: Settings = loaded.settings if loaded else Settings()
        self.settings_warning: str | None = loaded.warning if loaded else None
        self.remember = remember and (loaded is None or loaded.may_save)
        super().__init__()
        for item in load_themes():
            self.register_theme(item)
        chosen = theme or self.settings.theme or DEFAULT_THEME
        self.theme = chosen if chosen in self.available_themes else DEFAULT_THEME
        self._data = data
        self.client = client_factory(self) if client_factory is not None else WorkerClient(self)
        self.start_worker = start_worker
        self.build = BuildState()
        # the model the worker keeps loaded after its last build (None: none, or unknown)
        self.loaded_model: str | None = None
        self.started_at = time.monotonic()
        self.first_paint: float | None = None

    # ----------------------------------------------------------------------------- start-up
    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(VARIABLE_DEFAULTS)

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.call_after_refresh(self._after_first_paint)
        if self.settings_warning:
            self.notify(self.settings_warning, title="Settings", severity="warning", timeout=30)

    def _after_first_paint(self) -> None:
        self.first_paint = time.monotonic() - self.started_at
        if self.remember:
            _log_start(self.first_paint)
        if self.start_worker:
            self.run_worker(
                self._start_client(), name="worker-start", group="worker", exclusive=True
            )

    async def _start_client(self) -> None:
        try:
            await self.client.start()
        except OSError as error:
            self.show_error(
                f"the worker process could not start ({error.strerror or error})",
                "Check that sa-tui is installed in this Python environment, then restart it.",
            )

    async def on_unmount(self) -> None:
        await self.client.stop()

    @property
    def data(self) -> DataSource:
        if self._data is None:
            from sa_tui.store_source import StoreSource

            self._data = StoreSource()
        return self._data

    # ------------------------------------------------------------------------------ settings
    def change_settings(self, settings: Settings) -> None:
        """Use ``settings`` from now on, and remember them (unless told not to)."""
        self.settings = settings
        if self.remember:
            save_settings(settings)

    def _theme_changed(self, theme: Any) -> None:
        self.change_settings(replace(self.settings, theme=theme.name))

    def action_next_theme(self) -> None:
        names = theme_names()
        index = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(index + 1) % len(names)]
        self.notify(f"Theme: {self.theme}")

    # -------------------------------------------------------------------------------- errors
    def show_error(self, what: str, todo: str, title: str = "Something went wrong") -> None:
        """Open the error modal, or update it if one is already open."""
        what = what.strip().rstrip(".") + "."
        top = self.screen
        if isinstance(top, ErrorScreen):
            top.show(what, todo, title)
        else:
            self.push_screen(ErrorScreen(what, todo, title))

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        screen = self.screen
        sections = [
            (
                "Everywhere",
                [(key, title) for key, _, title in SCREEN_KEYS]
                + [
                    ("?", "this help"),
                    ("ctrl+p", "command palette: every action"),
                    ("t", "next theme"),
                    ("ctrl+q", "quit"),
                ],
            ),
            (
                f"{screen.TITLE or 'This screen'}",
                [
                    (b.key_display or b.key, b.description)
                    for b in _bindings(screen)
                    if b.description
                ]
                + list(getattr(screen, "HELP_KEYS", [])),
            ),
        ]
        self.push_screen(HelpScreen(sections))

    # ----------------------------------------------------------------------- command palette
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for key, mode, title in SCREEN_KEYS:
            yield SystemCommand(f"Go to {title}", f"key {key}", partial(self.switch_mode, mode))
        yield SystemCommand(
            "Help", "key ?: keys of this screen and a first walk-through", self.action_help
        )
        for name in theme_names():
            yield SystemCommand(
                f"Theme {name}", "switch theme (remembered)", partial(setattr, self, "theme", name)
            )
        yield SystemCommand("Start build", "key ctrl+r on Build", self._palette_start)
        yield SystemCommand("Cancel build", "key ctrl+x on Build", self.cancel_build)
        yield SystemCommand(
            "Restart worker",
            "stop the worker process; it starts again on the next build",
            self._palette_restart,
        )
        for binding in _bindings(screen):
            if binding.description and binding.action not in ("start", "cancel"):
                title = (
                    f"{screen.TITLE}: {binding.description}"
                    if screen.TITLE
                    else binding.description
                )
                yield SystemCommand(
                    title,
                    f"key {binding.key_display or binding.key}",
                    partial(self._run_screen_action, screen, binding.action),
                )

    async def _run_screen_action(self, screen: Screen[Any], action: str) -> None:
        await self.run_action(action, screen)

    def _palette_start(self) -> None:
        self.send_to_mode("build", StartFromForm())

    def send_to_mode(self, mode: str, command: Message) -> None:
        """Show ``mode`` and hand ``command`` to its screen (queued until the screen is mounted)."""
        self.switch_mode(mode)
        self.screen_stack[0].post_message(command)

    @on(PickForBuild)
    def _pick_for_build(self, request: PickForBuild) -> None:
        self.send_to_mode("build", PickOnForm(request.kind, request.ref))

    @on(ShowOnExport)
    def _show_on_export(self, request: ShowOnExport) -> None:
        self.send_to_mode("export", SelectPrompt(request.ref))

    @on(OpenRun)
    def _open_run(self, request: OpenRun) -> None:
        self.send_to_mode("runs", ShowRun(request.run_id, back_to=request.back_to))

    def _palette_restart(self) -> None:
        if self.build.active:
            self.notify("Cancel the build first (ctrl+x).", severity="warning")
            return
        self.run_worker(self.client.stop(), group="worker", exclusive=True)

    # --------------------------------------------------------------------------------- builds
    @on(StartBuild)
    def _start_requested(self, request: StartBuild) -> None:
        if self.build.active:
            self.notify("A build is running; ctrl+x cancels it.", severity="warning")
            return
        self.change_settings(replace(self.settings, build_form=dict(request.form)))
        self.start_build(request.config)

    @on(CancelBuild)
    def _cancel_requested(self) -> None:
        self.cancel_build()

    @on(ClearBuild)
    def _clear_requested(self) -> None:
        if not self.build.active:
            self.build = BuildState()
            self._build_changed({"reset"})

    def start_build(self, config: dict[str, Any]) -> None:
        from jobs.protocol import new_job_id

        job_id = new_job_id()
        self.build = BuildState.starting(config, job_id)
        self._build_changed({"reset"})
        self.submit_build(config, job_id)

    @work(group="submit", exclusive=True)
    async def submit_build(self, config: dict[str, Any], job_id: str) -> None:
        try:
            await self.client.submit(config, job_id=job_id)
        except Exception as error:  # worker could not start or the pipe broke
            self.build.status = "failed"
            self.build.error = f"the worker could not take the job ({error})"
            self._build_changed({"status"})
            self.show_error(
                self.build.error,
                "Press ctrl+r to try again; the worker is restarted. If it keeps failing, read logs/worker.stderr.log in the data directory.",
            )
            return

    def cancel_build(self) -> None:
        if not self.build.active:
            return
        self.build.status = "cancelling"
        self._build_changed({"status"})
        self.run_worker(self.client.cancel(self.build.job_id), group="cancel")

    def _build_changed(self, changed: set[str]) -> None:
        if changed:
            self.build_change = BuildChange.of(changed)

    def on_worker_event(self, event: WorkerEvent) -> None:
        data = event.data
        if event.kind == "log":
            if data.get("level") in ("warning", "error"):
                self.notify(str(data.get("message", "")), severity="warning")
            return
        changed = self.build.apply(data)
        if event.kind == "progress" and data.get("stage") in ("model", "proxy"):
            done = int(data.get("done", 0)) >= int(data.get("total", 1) or 1)
            model = self.build.config.get("model") if data.get("stage") == "model" else None
            self.loaded_model = str(model) if done and model else None
        self._build_changed(changed)
        if event.kind == "error" and (event.job_id is None or event.job_id == self.build.job_id):
            self.show_error(
                str(data.get("message", "the worker reported an error")),
                str(data.get("hint") or "Try again."),
                title="The build failed" if event.job_id else "Worker error",
            )
        elif event.kind == "saved" and event.job_id == self.build.job_id:
            method = str(data.get("method"))
            if method not in ("io", "zero_shot") and not any(
                card.method == method for card in self.build.cards.values()
            ):
                self.show_reused_shots(
                    str(data.get("prompt_version_id")), str(data.get("run_id") or "")
                )
        elif event.kind == "done" and event.job_id == self.build.job_id:
            self._learn_costs()
            best = ", ".join(f"{r['method']} {r['accuracy']:.3f}" for r in data.get("results", []))
            self.notify(f"Build done: {best}", title="sa-tui")
        elif event.kind == "cancelled" and event.job_id == self.build.job_id:
            self.notify("Build cancelled. ctrl+r starts it again.")

    def _learn_costs(self) -> None:
        from core.estimate import calibrate, estimate

        model = str(self.build.config.get("model"))
        costs = dict(self.settings.costs)
        load = self.build.stage_seconds("model")
        work = estimate(self.build.config, costs.get(model), load_basis="loaded").seconds
        if self.build.seconds - load < 0.3 * work:
            return  # most of the work was reused from the store: says nothing about speed
        costs[model] = calibrate(
            costs.get(model), self.build.config, self.build.seconds, load_seconds=load
        )
        self.change_settings(replace(self.settings, costs=costs))

    def on_worker_process_state(self, event: WorkerProcessState) -> None:
        if event.state in ("stopped", "starting"):
            self.loaded_model = None  # a new worker process starts with no model
        pid = (
            f" pid {self.client.pid}"
            if getattr(self.client, "pid", None) and event.state not in ("stopped", "starting")
            else ""
        )
        self.worker_status = f"{event.state}{pid}"

    def on_worker_process_died(self, event: WorkerProcessDied) -> None:
        self.loaded_model = None
        if self.build.active:
            self.build.status = "failed"
            self.build.error = f"the worker process stopped (exit code {event.returncode})"
            self._build_changed({"status"})
        tail = (
            f" Its last output: {event.stderr_tail.splitlines()[-1][:200]}"
            if event.stderr_tail
            else ""
        )
        self.show_error(
            f"the worker process stopped unexpectedly (exit code {event.returncode})",
            f"It starts again with the next build (ctrl+r); finished steps are reused from the store.{tail}",
            title="The worker stopped",
        )

    @work(thread=True, group="reused-shots")
    def show_reused_shots(self, prompt_id: str, run_id: str) -> None:
        try:
            shots = self.data.shots_for_prompt(prompt_id, run_id or None)
        except Exception:
            return  # a display nicety: the build itself is fine
        self.call_from_thread(self._add_reused, shots)

    def _add_reused(self, shots: list[Any]) -> None:
        self._build_changed(self.build.add_reused(shots))


def process_age() -> float | None:
    """Seconds since this process started (Linux), for the start-up log line."""
    try:
        ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])
        uptime = float(open("/proc/uptime").read().split()[0])
        import os

        return uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _log_start(first_paint: float) -> None:
    """One line per start in logs/ui.log: how fast the first screen came, and no torch."""
    import sys

    from core.paths import logs_dir

    age = process_age()
    heavy = [m for m in ("torch", "transformers", "captum", "shap") if m in sys.modules]
    line = (
        f"{time.strftime('%Y-%m-%d %H:%M:%S')} first screen drawn {first_paint:.3f} s after the app "
        f"was created, {age:.2f} s after the process started; heavy modules loaded: {heavy or 'none'}\n"
        if age is not None
        else f"first screen drawn {first_paint:.3f} s after the app was created\n"
    )
    try:
        with (logs_dir() / "ui.log").open("a", encoding="utf-8") as out:
            out.write(line)
    except OSError:
        pass


def _bindings(screen: Screen[Any]) -> list[Binding]:
    out: list[Binding] = []
    for item in getattr(type(screen), "BINDINGS", []):
        if isinstance(item, Binding):
            out.append(item)
        elif isinstance(item, tuple):
            out.append(Binding(*item))
    return out


def run_app(theme: str | None = None) -> int:
    """Run the terminal UI (the ``sa-tui`` command with no sub-command)."""
    if theme and theme not in theme_names():
        import sys

        print(
            f"error: unknown theme {theme!r}; use one of {', '.join(theme_names())}",
            file=sys.stderr,
        )
        return 2
    app = SaTuiApp(theme=theme)
    app.run()
    return int(app.return_code or 0)
