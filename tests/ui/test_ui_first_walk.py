"""What a first walk over SSH tripped on, one test per point of the issue (numbered as there):
export overwrites and paths, digits after a build, heatmap ranks and 16 colours, heatmaps of
stored shots, 80x24 layouts, colour-only state, the field map, model sizes and cost estimates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.color import ColorSystem
from textual.app import App, ComposeResult
from textual.content import Content
from textual.widgets import DataTable, Input, Label, Static

from core.estimate import estimate
from sa_tui.data import EstimateContext, PromptRow, ShotView, plan_export
from sa_tui.messages import OpenRun
from sa_tui.screens.build import BuildScreen
from sa_tui.screens.modals import ConfirmScreen, ErrorScreen
from sa_tui.store_source import StoreSource
from sa_tui.widgets.heatmap import LEVELS, GradientTable, TokenHeatmap
from sa_tui.widgets.shot_card import ShotCard
from sa_tui.widgets.stages import StageProgress
from store.facade import Store
from tests.ui.fakes import FakeData
from tests.ui.helpers import screen_text, settle


def _text(widget: Any) -> str:
    return str(widget.render())


# ----------------------------------------------------------------- 1, 2: export overwrite, paths
async def test_a_declined_overwrite_keeps_the_version_and_a_yes_writes_it(
    make_app, tmp_path
) -> None:
    data = FakeData(exports_dir=tmp_path / "exports")
    app = make_app(data=data)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        table = app.screen.query_one("#export-prompts", DataTable)
        path = app.screen.query_one("#export-path", Input)
        await pilot.press("down")  # the second version
        await settle(pilot)
        second = app.screen.current().ref
        await pilot.press("ctrl+e")  # new: written at once
        await settle(pilot)
        assert data.exports[-1][0] == second and not data.exports[-1][3]
        assert "Earlier sa-tui export" in screen_text(app)
        path.value = "typed-by-hand.json"
        await pilot.press("ctrl+e")  # written as a new file; File keeps the typed name
        await settle(pilot)
        name = path.value
        # a build saves a new version while the question is open: the list reloads under it
        data.prompt_rows.append(
            PromptRow(
                9,
                "smollm2-135m.snarks.kernelshap.success.n2",
                1,
                "kernelshap",
                created="2025-02-01T00:00:00",
            )  # fmt: skip
        )
        await pilot.press("ctrl+e")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question == "Earlier sa-tui export: overwrite it?"
        await pilot.press("n")
        await settle(pilot)
        assert app.screen.current().ref == second and table.cursor_row == 2
        assert path.value == name == "typed-by-hand.json" and len(data.exports) == 2
        await pilot.press("ctrl+e")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert data.exports[-1][0] == second and data.exports[-1][3] is True


async def test_export_paths_stay_in_the_exports_folder_and_foreign_files_are_refused(
    make_app, tmp_path
) -> None:
    exports = tmp_path / "exports"
    data = FakeData(exports_dir=exports)
    app = make_app(data=data)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        path = app.screen.query_one("#export-path", Input)
        path.value = "mine.json"
        await settle(pilot)
        assert f"→ {exports / 'mine.json'}" in screen_text(app)  # shown before writing
        await pilot.press("ctrl+e")
        await settle(pilot)
        assert data.exports[-1][2] == str(exports / "mine.json")
        assert (exports / "mine.json").is_file()
        path.value = "../../etc/x"
        await settle(pilot)
        assert "climbs out with '..'" in screen_text(app)
        await pilot.press("ctrl+e")
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen) and "climbs out" in app.screen.what
        await pilot.press("enter")
        (exports / "someone.json").write_text("not ours")
        path.value = "someone.json"
        await settle(pilot)
        assert "sa-tui did not write it" in screen_text(app)
        await pilot.press("ctrl+e")
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen) and "did not write" in app.screen.what
        assert len(data.exports) == 1 and (exports / "someone.json").read_text() == "not ours"


def test_export_plan_rules(tmp_path) -> None:
    def own(path: Path, fmt: str) -> bool:
        return path.name.startswith("own")

    def plan(text: str, fmt: str = "jsonl") -> Any:
        return plan_export(text, fmt, tmp_path, default_name="v.jsonl", is_own=own)

    assert plan("a.jsonl").target == str(tmp_path / "a.jsonl") and plan("a.jsonl").state == "new"
    assert plan("../x").state == "refused" and plan("sub/../../x").state == "refused"
    assert plan(str(tmp_path / "abs.jsonl")).target == str(tmp_path / "abs.jsonl")
    (tmp_path / "own.jsonl").write_text("x")
    (tmp_path / "theirs.jsonl").write_text("x")
    assert plan("own.jsonl").state == "own" and plan("theirs.jsonl").state == "refused"
    (tmp_path / "folder").mkdir()
    assert plan("folder").target == str(tmp_path / "folder" / "v.jsonl")
    assert plan("folder", "hf-dataset").state == "new"  # an empty folder: nothing to lose


# ------------------------------------------------------------------- 3: digits after a build
async def test_after_a_build_digit_keys_switch_screens_again(make_app) -> None:
    app = make_app(auto_finish=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        shots = app.screen.query_one("#shots", Input)
        shots.focus()
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert app.build.status == "done"
        assert not isinstance(app.focused, Input)
        await pilot.press("1")
        await settle(pilot)
        assert app.current_mode == "catalogue"
        await pilot.press("2")
        await settle(pilot)
        assert app.screen.query_one("#shots", Input).value == "2"


# ------------------------------------------------------------------------ 4, 5: heatmap marks
WORDS = ["Up.", "the", "river", "flows", "up", "?", "river", "banks", "rise"]
SCORES = [0.9, 0.8, 0.3, -0.2, 0.1, 0.5, 0.35, 0.25, -0.4]
TOP = ["river", "banks"]


class OneHeatmap(App[None]):
    def compose(self) -> ComposeResult:
        yield TokenHeatmap(WORDS, SCORES, TOP)


async def test_ranks_are_the_keyword_ranking_and_the_legend_says_so() -> None:
    app = OneHeatmap()
    async with app.run_test(size=(100, 12)) as pilot:
        heatmap = app.query_one(TokenHeatmap)
        heatmap.focus()
        ranks = {index: rank for index, rank in heatmap.ranks.items()}
        # "Up." scores best but is a stop word; "river" counts once, at its better occurrence
        assert ranks == {6: 1, 7: 2, 3: 3, 8: 4} and heatmap.top_set == {6, 7}
        text = _text(heatmap)
        assert "Up. +0.9000  not ranked: stop word" in text
        assert "▲ top-2 of 4 ranked words (stop words and punctuation are not ranked)" in text
        await pilot.press("right", "right")
        assert "not ranked: repeat of word 7 (#1)" in _text(heatmap)
        await pilot.press("right", "right", "right")
        assert "? +0.5000  not ranked: punctuation" in _text(heatmap)
        await pilot.press("right")
        assert "river +0.3500  rank 1/4" in _text(heatmap) and "▲ top-k" in _text(heatmap)


class NarrowHeatmap(App[None]):
    def compose(self) -> ComposeResult:
        yield TokenHeatmap(WORDS, SCORES, TOP)


async def test_a_narrow_heatmap_says_the_same_in_fewer_words() -> None:
    app = NarrowHeatmap()
    async with app.run_test(size=(36, 12)):
        heatmap = app.query_one(TokenHeatmap)
        text = _text(heatmap)
        assert "of 4 ranked: no stop words/punct." in text and "#– stop word" in text


def test_the_16_colour_table_keeps_signs_apart() -> None:
    table = GradientTable.build({}, ansi=True)

    def standard(level: int) -> int | None:
        style = table.styles[level + LEVELS]
        colour = style.background or style.foreground
        assert colour is not None
        return colour.rich_color.downgrade(ColorSystem.STANDARD).number

    negatives = {standard(-level) for level in range(1, LEVELS + 1)}
    positives = {standard(level) for level in range(1, LEVELS + 1)}
    assert negatives <= {4, 12} and positives <= {1, 3}  # blues; yellow and red
    assert table.sign_mark(-3) == "⁻" and table.sign_mark(4) == "⁺" and table.sign_mark(1) == ""
    assert GradientTable.build({}).sign_mark(-6) == ""  # 256 colours and up: colour says it


def test_16_colours_are_recognised() -> None:
    from types import SimpleNamespace

    from sa_tui.widgets.heatmap import sixteen_colour_terminal

    def app(system: str | None) -> object:
        return SimpleNamespace(console=SimpleNamespace(color_system=system))

    assert sixteen_colour_terminal(app("standard"))  # TERM=xterm
    assert not sixteen_colour_terminal(app("256")) and not sixteen_colour_terminal(app("truecolor"))


async def test_in_16_colours_the_heatmap_marks_signs(monkeypatch) -> None:
    monkeypatch.setattr(TokenHeatmap, "sixteen_colours", property(lambda self: True))
    app = OneHeatmap()
    async with app.run_test(size=(100, 12)):
        text = _text(app.query_one(TokenHeatmap))
        assert "Up.⁺" in text and "rise⁻" in text and "⁻blue ⁺yellow/red" in text


# ------------------------------------------------------------------- 6: heatmaps of stored shots
def _store_with_reused_attributions() -> tuple[Store, str]:
    """Run A computed the shots' DeepLift attributions; run B (deeplift and ph_cot) reused them,
    so none is attached to B."""
    store = Store.open()
    config = {"model": "m", "dataset": "d", "methods": ["ph_cot"], "shots": 2, "keywords": 2}
    first = store.start_run(config)
    shots = []
    for sample, words in (("s1", ["Why", "do", "birds", "fly"]), ("s2", ["Cats", "purr", "?"])):
        payload = {
            "sample_id": sample,
            "method": "deeplift",
            "model": "key",
            "words": words,
            "word_scores": [0.1 * (i + 1) for i in range(len(words))],
            "top_words": words[-2:],
        }
        store.put("attribution", f"key-{sample}", payload, run_id=first.id)
        shots.append({"id": sample, "question": " ".join(words), "answer": "A",
                      "rationale": f"rationale of {sample}"})  # fmt: skip
    store.finish_run(first.id, "done")
    second = store.start_run({**config, "methods": ["deeplift", "ph_cot"], "seed": 1})
    for method in ("deeplift", "ph_cot"):
        store.save_prompt_version(
            f"m.d.{method}.success.n2",
            {"method": method, "model": "m", "dataset": "d", "context": method, "shots": shots},
            run_id=second.id,
        )
    store.finish_run(second.id, "done")
    return store, second.id


def test_run_detail_finds_reused_attributions_and_previews() -> None:
    store, run_id = _store_with_reused_attributions()
    shots = StoreSource().run_detail(run_id).shots
    by_method = {(s.method, s.sample_id): s for s in shots}
    deeplift = by_method[("deeplift", "s1")]
    assert deeplift.words == ["Why", "do", "birds", "fly"] and deeplift.heatmap_method == ""
    preview = by_method[("ph_cot", "s2")]
    assert preview.words == ["Cats", "purr", "?"] and preview.heatmap_method == "deeplift"
    assert preview.rationale == "rationale of s2"
    store.close()


async def test_run_shots_show_heatmaps_once_per_shot(make_app) -> None:
    store, run_id = _store_with_reused_attributions()
    store.close()
    app = make_app(data=StoreSource())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.post_message(OpenRun(run_id))
        await settle(pilot)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        cards = list(app.screen.query(ShotCard))
        assert len(cards) == 4
        drawn = [card.sample_id for card in cards if card.words]
        assert sorted(drawn) == ["s1", "s2"]  # the deeplift cards; the previews would repeat them


def test_a_reused_card_gets_the_stored_heatmap_unless_one_is_drawn() -> None:
    from sa_tui.build_state import BuildState

    state = BuildState.starting({"model": "m"}, "j")
    shot = ShotView("s1", "ph_cot", ["a", "b"], [0.1, 0.2], ["b"], "r", "deeplift")
    state.add_reused([shot])
    assert state.cards["rationales:ph_cot|s1"].words == ["a", "b"]
    state = BuildState.starting({"model": "m"}, "j")
    state.apply({"type": "tokens", "job_id": "j", "stage": "heatmaps", "sample_id": "s1",
                 "words": ["a", "b"], "scores": [0.1, 0.2], "top": ["b"]})  # fmt: skip
    state.add_reused([shot])
    assert state.cards["rationales:ph_cot|s1"].words == []


# -------------------------------------------------------------------------- 7: cut at 80x24
async def test_at_80x24_names_and_columns_are_not_cut(make_app) -> None:
    data = FakeData()
    app = make_app(data=data, auto_finish=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        # catalogue: the row under the cursor in full on the status line
        app.screen.query_one("#datasets", DataTable).focus()
        await settle(pilot)
        assert "builtin:snarks: BIG-bench" in screen_text(app)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        lines = _text(app.screen.query_one("#build-status")).splitlines()
        first = next(i for i, line in enumerate(lines) if line.startswith("  → "))
        parts = [lines[first][4:]]
        parts += [line[4:] for line in lines[first + 1 :] if line.startswith("    ")]
        assert "".join(parts) == "smollm2-135m.snarks.ph_cot.success.n2@v3"
        assert len(parts) > 1 and all(p.endswith(".") for p in parts[:-1])  # broken at dots
        await pilot.press("3")
        await settle(pilot)
        text = screen_text(app)
        header = next(line for line in text.splitlines() if line.startswith(" started"))
        assert "took" in header and " id " in header + " "
        assert "run0001a" in text and "1m01s" in text
        await pilot.press("down", "enter")
        await settle(pilot)
        assert "smollm2-135m.snarks.deeplift.success.n2@v1" in screen_text(app)
        await pilot.press("escape", "4")
        await settle(pilot)
        assert "smollm2-135m.snarks.ph_cot.success.n2" in screen_text(app)


class Stages(App[None]):
    def compose(self) -> ComposeResult:
        yield StageProgress()


async def test_a_long_stage_label_is_not_cut() -> None:
    app = Stages()
    async with app.run_test(size=(38, 6)) as pilot:  # the Build screen's right panel at 80x24
        widget = app.query_one(StageProgress)
        widget.update_stage("rationales:kernelshap", 1, 2)
        widget.update_stage("evaluate:leave_one_out", 0, 6)
        await pilot.pause()
        text = _text(widget)
        assert "rationales kernelshap" in text and "evaluate leave_one_out" in text


async def test_the_reused_note_shows_in_a_narrow_card(make_app) -> None:
    app = make_app(cached=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        titles = [card.query_one(".card-title") for card in app.screen.query(ShotCard)]
        assert titles and all("reused from the store" in _text(title) for title in titles)
        # wrapped onto as many lines as it takes, none cut off
        for title in titles:
            wrapped = Content(_text(title)).wrap(title.content_region.width)
            assert title.size.height == len(wrapped) >= 2


# -------------------------------------------------------------------- 8: colour-only state
async def test_ticks_read_without_colour_and_the_ticked_method_is_in_view(make_app) -> None:
    from sa_tui.widgets.method_list import MethodList

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        text = screen_text(app)
        # ph_cot is the 7th: at 80x24 the list shows 5 (span and influence took a row each)
        assert "[ ] deeplift" in text and "[✓] ph_cot" in text
        methods = app.screen.query_one(MethodList)
        assert methods.size.height >= 5
        label = app.screen.query_one(".field-row .field-label", Label)
        assert label.styles.text_style.reverse  # the focused field (Model) is marked
    async with make_app().run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        assert pilot.app.screen.query_one(MethodList).size.height == 9  # every method in view


# ------------------------------------------------------------------------- 9: the field map
async def test_adding_a_dataset_takes_a_field_map(make_app) -> None:
    from sa_tui.screens.modals import AddDatasetScreen

    data = FakeData()
    app = make_app(data=data)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one("#datasets", DataTable).focus()
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AddDatasetScreen)
        await pilot.press(*"/data/q.csv", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ErrorScreen) and "field map" in app.screen.what
        assert "Field map" in app.screen.todo
        await pilot.press("enter")
        await pilot.press("a")
        await settle(pilot)
        assert app.screen.query_one("#dataset-source", Input).value == "/data/q.csv"
        await pilot.press("tab", *"id=qid,question=q,choices=a|b,answer=y", "enter")
        await settle(pilot)
        assert data.added_datasets[-1] == ("/data/q.csv", "id=qid,question=q,choices=a|b,answer=y")
        assert "/data/q.csv" in screen_text(app)


# ---------------------------------------------------------------------- 10: the same numbers
async def test_the_model_row_and_the_removal_dialog_say_the_same_thing(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "610.4 MB" in text  # the size column: GGUF and converted copy
        assert (
            "size 610.4 MB (GGUF 95.4 MB in its package, kept; converted copy 515.0 MB, "
            "freed by del)" in " ".join(text.split())
        )
        await pilot.press("delete")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        dialog = app.screen.detail
        assert dialog.startswith("Frees 515.0 MB") and "Keeps 95.4 MB" in dialog
        await pilot.press("n", "down")
        await settle(pilot)
        status = " ".join(_text(app.screen.query_one("#catalogue-status", Static)).split())
        assert "params, dtype: press v" in status  # gemma has no dtype yet
        assert "—" in screen_text(app)


# ------------------------------------------------------------------------- 11: cost estimates
def test_the_estimate_counts_the_load_and_reuse() -> None:
    config = {"methods": ["ph_cot"], "shots": 2, "test_limit": 6}
    plain = estimate(config)
    first = estimate(config, load_seconds=41.0, load_basis="convert-measured")
    assert first.seconds == plain.seconds - 3.0 + 41.0
    assert "incl. 41 s first-use conversion (measured)" in first.describe()
    assert (
        "≈ 1 min first-use conversion" in estimate(config, load_basis="convert-assumed").describe()
    )
    again = estimate(config, load_seconds=4.0, load_basis="measured", reused=True)
    assert again.seconds == 5.0 and "finished run of these settings is reused" in again.describe()
    assert estimate(config, load_basis="loaded").seconds == plain.seconds - 3.0
    assert estimate(config, load_basis="convert-assumed").seconds == plain.seconds + 57.0


async def test_the_build_form_estimate_uses_measured_load_and_reuse(make_app) -> None:
    data = FakeData()
    data.context = EstimateContext(41.0, "measured", "")
    app = make_app(data=data, auto_finish=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        estimate_text = _text(app.screen.query_one("#estimate"))
        assert "model load 41 s, measured" in estimate_text
        assert data.contexts and data.contexts[-1]["methods"] == ["ph_cot"]
        data.context = EstimateContext(41.0, "measured", "run0009zzzz")
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app.screen, BuildScreen) and app.build.status == "done"
        text = " ".join(_text(app.screen.query_one("#estimate")).split())
        assert "finished run of these settings is reused" in text
        assert "model already loaded in the worker" in text  # the worker kept it


def test_the_store_reports_load_times_and_finished_runs() -> None:
    from jobs import timings

    config = {"model": "/models/m", "dataset": "d", "methods": ["io"], "test_limit": 4}
    source = StoreSource()
    assert source.estimate_context(config) == EstimateContext()
    timings.record("load", "/models/m", 12.5)
    run = source.store.start_run(config)
    assert source.estimate_context(config) == EstimateContext(12.5, "measured", "")
    source.store.finish_run(run.id, "done")
    assert source.estimate_context(config).reused_run == run.id
    assert source.estimate_context({**config, "seed": 3}).reused_run == ""
