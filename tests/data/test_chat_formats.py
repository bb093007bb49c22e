"""Prompt/answer and chat tables: each file's format told by its columns, every
row a conversation or a skipped row named with its file, row and reason."""

from __future__ import annotations

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from textgen_core.data.chat_formats import Columns
from textgen_core.data.ingest import load_corpus
from textgen_core.data.prepare import prepare
from textgen_core.errors import TextgenError

ANSWER = [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def conversations(corpus) -> dict[str, list]:
    found: dict[str, list] = {}
    for path, row, messages in corpus.conversations():
        found.setdefault(path.rsplit("/", 1)[-1], []).append((row, messages))
    return found


def answered(colour: str) -> list[dict]:
    return [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": colour}]


def test_each_format_is_detected_per_file_and_read_as_conversations(tmp_path):
    write_jsonl(tmp_path / "chat.jsonl", [{"messages": answered("Blue.")}])
    turns = [{"from": "human", "value": "Name a colour."}, {"from": "gpt", "value": "Red."}]
    write_jsonl(tmp_path / "share.jsonl", [{"conversations": turns}])
    alpaca = [
        {"instruction": "Reverse the words.", "input": "a b c", "output": "c b a"},
        {"instruction": "Name a colour.", "input": "", "output": "Green."},
    ]
    (tmp_path / "alpaca.json").write_text(json.dumps(alpaca))
    with open(tmp_path / "pairs.csv", "w", newline="") as f:
        csv.writer(f).writerows([["prompt", "completion"], ["Name a colour.", "Grey."]])
    pq.write_table(pa.table({"messages": [answered("Teal.")]}), tmp_path / "chat.parquet")
    (tmp_path / "notes.txt").write_text("Plain text stays plain text.\n")

    corpus = load_corpus([tmp_path])

    assert corpus.skipped == []
    formats = {s.path.rsplit("/", 1)[-1]: s.format for s in corpus.documents.sources}
    assert formats == {
        "alpaca.json": "alpaca",
        "chat.jsonl": "messages",
        "chat.parquet": "messages",
        "notes.txt": "text",
        "pairs.csv": "prompt-completion",
        "share.jsonl": "sharegpt",
    }
    assert conversations(corpus) == {
        "chat.jsonl": [(1, answered("Blue."))],
        "share.jsonl": [(1, answered("Red."))],
        "alpaca.json": [
            (
                1,
                [
                    {"role": "user", "content": "Reverse the words.\n\na b c"},
                    {"role": "assistant", "content": "c b a"},
                ],
            ),
            (2, answered("Green.")),
        ],
        "pairs.csv": [(1, answered("Grey."))],
        "chat.parquet": [(1, answered("Teal."))],
    }
    assert [d.text for d in corpus.documents] == ["Plain text stays plain text.\n"]
    assert corpus.kinds[str(tmp_path / "alpaca.json")] == "JSON, alpaca, 2 pairs"


def test_bad_rows_are_skipped_and_named_and_the_rest_of_the_file_is_used(tmp_path):
    path = tmp_path / "chat.jsonl"
    lines = [
        json.dumps({"messages": ANSWER}),
        json.dumps({"messages": [{"role": "assistant", "content": "Hi"}]}),  # 2: no user first
        "{not json",  # 3
        json.dumps({"messages": [ANSWER[0], {"role": "assistant", "content": "  "}]}),  # 4
        json.dumps({"text": "no messages field"}),  # 5
        json.dumps({"messages": [ANSWER[0]]}),  # 6: no answer
        json.dumps(
            {
                "messages": [
                    *ANSWER,
                    {"role": "user", "content": "And?"},
                    {"role": "assistant", "content": ""},
                ]
            }
        ),  # 7: empty answer
        json.dumps({"messages": [{"role": "system", "content": "Be brief."}, *ANSWER]}),
    ]
    path.write_text("\n".join(lines) + "\n")

    corpus = load_corpus([path])

    assert [row for _, row, _ in corpus.conversations()] == [1, 8]
    skipped = {s.path: s.reason for s in corpus.skipped}
    assert skipped == {
        f"{path} row 2": "roles out of order: message 0 is 'assistant' where 'user' was "
        "expected (an optional system message, then user and assistant in turn)",
        f"{path} row 3": "not JSON (Expecting property name enclosed in double quotes)",
        f"{path} row 4": "empty answer (message 1)",
        f"{path} row 5": "no 'messages' field",
        f"{path} row 6": "ends with a user message that has no answer",
        f"{path} row 7": "empty answer (message 3)",
    }


def test_a_table_without_one_usable_row_is_skipped_with_every_reason(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"messages": [ANSWER[0]]}])
    corpus = load_corpus([path])
    assert not corpus.chat_sources
    assert corpus.skipped[0].path == str(path)
    assert "no usable row" in corpus.skipped[0].reason
    assert "ends with a user message" in corpus.skipped[0].reason


def test_prompt_and_response_columns_map_other_names(tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", [{"question": "Name a colour.", "answer": "Blue."}])
    assert not load_corpus([path]).chat_sources  # read as text: no 'text' field -> skipped
    corpus = load_corpus([path], columns=Columns("question", "answer"))
    assert [m for _, _, m in corpus.conversations()] == [ANSWER]


def test_a_dataset_of_conversations_is_read_as_chat(tmp_path):
    from datasets import Dataset

    from textgen_core.data.hub_datasets import HubDataset

    Dataset.from_dict({"messages": [ANSWER, [ANSWER[0]], ANSWER]}).save_to_disk(tmp_path / "ds")
    corpus = load_corpus([HubDataset(str(tmp_path / "ds"))])
    assert corpus.kinds == {f"{tmp_path / 'ds'}[train]": "dataset, messages, 2 conversations"}
    assert [row for _, row, _ in corpus.conversations()] == [0, 2]
    assert [(s.path, s.reason) for s in corpus.skipped] == [
        (f"{tmp_path / 'ds'}[train] row 1", "ends with a user message that has no answer")
    ]


def test_a_chat_table_inside_a_zip_is_refused_with_what_to_do(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "data.zip", "w") as zf:
        zf.writestr("chat.jsonl", json.dumps({"messages": ANSWER}) + "\n")
    corpus = load_corpus([tmp_path / "data.zip"])
    assert "inside an archive; unpack it" in corpus.skipped[0].reason


def test_chat_data_needs_a_chat_template(tmp_path):
    from textgen_core.config import DataConfig
    from textgen_core.model.loading import load_tokenizer

    write_jsonl(tmp_path / "chat.jsonl", [{"messages": ANSWER}] * 5)
    with pytest.raises(TextgenError, match="chat template"):
        prepare([tmp_path], load_tokenizer("scratch:tiny"), DataConfig(), cache=None)
