"""`--dataset`: a datasets dataset as documents, one per row, alone or beside
files; bad names and columns are one-line errors. The Hub is unreachable here,
so datasets saved locally stand in for it (the Hub path is the same
`load_dataset` call)."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset, DatasetDict
from support.cli import cli, textgen

from textgen_core.config import DataConfig
from textgen_core.data.hub_datasets import HubDataset
from textgen_core.data.ingest import Skipped, load_corpus
from textgen_core.data.prepare import prepare
from textgen_core.errors import TextgenError
from textgen_core.model.loading import load_tokenizer


@pytest.fixture
def saved(tmp_path):
    folder = tmp_path / "saved"
    rows = ["First row of text.", "", "   ", "Second row.", None, "Third."]
    Dataset.from_dict({"text": rows, "id": list(range(len(rows)))}).save_to_disk(folder)
    return folder


def test_saved_dataset_rows_become_documents_and_empty_rows_are_counted(saved):
    spec = HubDataset(str(saved))
    corpus = load_corpus([spec])
    assert [d.text for d in corpus.documents] == ["First row of text.", "Second row.", "Third."]
    assert corpus.files_used == [f"{saved}[train]"] == [spec.label]
    assert corpus.skipped == [Skipped(f"{saved}[train] rows 1, 2, 4", "empty or whitespace-only")]


def test_a_split_of_a_saved_dataset_dict_is_chosen_by_name(tmp_path):
    folder = tmp_path / "dict"
    DatasetDict(
        train=Dataset.from_dict({"text": ["a train row"]}),
        validation=Dataset.from_dict({"text": ["a validation row"]}),
    ).save_to_disk(folder)
    corpus = load_corpus([HubDataset(str(folder), split="validation")])
    assert [d.text for d in corpus.documents] == ["a validation row"]
    with pytest.raises(TextgenError, match="--dataset-split test: .* has splits train, validation"):
        load_corpus([HubDataset(str(folder), split="test")])


def test_a_local_data_folder_loads_through_load_dataset(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    folder = tmp_path / "jsonl"
    folder.mkdir()
    rows = [{"body": f"row number {i}", "n": i} for i in range(3)]
    (folder / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    corpus = load_corpus([HubDataset(str(folder), column="body")])
    assert [d.text for d in corpus.documents] == [r["body"] for r in rows]


def test_missing_or_non_text_column_is_an_error_listing_the_columns(saved):
    with pytest.raises(TextgenError, match=r"--text-column body: .* \(columns: text, id\)"):
        load_corpus([HubDataset(str(saved), column="body")])
    with pytest.raises(TextgenError, match="--text-column id: .* holds .*int64.*not text"):
        load_corpus([HubDataset(str(saved), column="id")])


def test_dataset_mixes_with_files_and_is_one_source_for_per_file_figures(saved, corpus_dir):
    tokenizer = load_tokenizer("scratch:tiny")
    spec = HubDataset(str(saved))
    cfg = DataConfig(chunk_size=64, dataset=str(saved))
    corpus, splits = prepare([corpus_dir / "part00.txt", spec], tokenizer, cfg, cache=None)
    assert splits.files == sorted([str(corpus_dir / "part00.txt"), spec.label])
    rows = [tokenizer(t)["input_ids"] + [tokenizer.eos_token_id] for _, t in spec.texts()]
    dataset_index = splits.files.index(spec.label)
    counted = sum(
        s == dataset_index
        for name in ("train", "validation", "test")
        for row in getattr(splits, name)["source"]
        for s in row
    )
    assert counted == sum(map(len, rows))
    with pytest.raises(TextgenError, match="loaded without it"):
        prepare([corpus_dir / "part00.txt"], tokenizer, cfg, cache=None)


def test_train_on_a_dataset_records_it_and_reports_it_as_a_source(tmp_path, saved, tiny_model):
    big = tmp_path / "big"
    Dataset.from_dict(
        {"text": [f"Line {i} of a longer dataset." * 8 for i in range(60)]}
    ).save_to_disk(big)
    out = tmp_path / "run"
    args = ["--output", out, "--model", tiny_model, "--max-steps", "1", "--chunk-size", "32"]
    done = textgen("train", "--dataset", big, *args, "--quiet")
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["files_used"] == [f"{big}[train]"]
    record = json.loads((out / "textgen_run.json").read_text())
    assert record["config"]["data"]["dataset"] == str(big)
    assert record["config"]["data"]["text_column"] == "text"


def test_unknown_dataset_or_no_input_is_a_one_line_error(tmp_path, tiny_model):
    out = ["--output", tmp_path / "run", "--model", tiny_model]
    done = cli("train", *out)
    assert done.returncode == 2 and "give files or folders to train on, or --dataset" in done.stderr
    done = textgen("train", "--dataset", "nobody/no-such-data", *out, env={"HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: --dataset nobody/no-such-data: cannot load it")
