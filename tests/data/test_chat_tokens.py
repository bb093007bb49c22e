"""Conversations -> token rows and labels: the answers (every assistant turn,
its end-of-turn token included) are trained, system and user turns are not,
each answer follows exactly the tokens `/v1/chat/completions` feeds the model,
long examples are cut at a turn or left out and listed, and whole
conversations are held out."""

from __future__ import annotations

import json

import numpy as np
import pytest
from transformers import AutoTokenizer

from textgen_core.chat_template import MINIMAL_TEMPLATE, ensure_chat_template
from textgen_core.config import DataConfig
from textgen_core.data.chat_tokens import tokenize_conversations
from textgen_core.data.file_table import file_rows, format_file_table
from textgen_core.data.ingest import load_corpus
from textgen_core.data.prepare import IGNORE_INDEX, prepare
from textgen_core.model.loading import load_tokenizer
from textgen_core.model.offline_tokenizers import tokenizer_dir

CONVERSATION = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is 2 + 3?"},
    {"role": "assistant", "content": "5"},
    {"role": "user", "content": "And 3 + 3?"},
    {"role": "assistant", "content": "6, twice three."},
]


def gpt2_with_template():
    tokenizer = load_tokenizer("scratch:tiny")
    assert ensure_chat_template(tokenizer)
    return tokenizer


TOKENIZERS = {
    "gpt2 (textgen's minimal template)": gpt2_with_template,
    "qwen3": lambda: AutoTokenizer.from_pretrained(tokenizer_dir("qwen3")),
    "llama3": lambda: AutoTokenizer.from_pretrained(tokenizer_dir("llama3")),
    "gemma3": lambda: AutoTokenizer.from_pretrained(tokenizer_dir("gemma3")),
}


def chat_file(folder, conversations, name="chat.jsonl"):
    path = folder / name
    path.write_text("".join(json.dumps({"messages": c}) + "\n" for c in conversations))
    return path


def serve_prompt(tokenizer, messages) -> list[int]:
    """The token ids /v1/chat/completions decodes from (serve/api.py)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("family", list(TOKENIZERS))
def test_each_answer_follows_the_tokens_serve_renders_and_only_answers_are_trained(
    tmp_path, family
):
    tokenizer = TOKENIZERS[family]()
    corpus = load_corpus([chat_file(tmp_path, [CONVERSATION])])

    chat = tokenize_conversations(corpus, tokenizer, max_tokens=512)

    answers = [i for i, m in enumerate(CONVERSATION) if m["role"] == "assistant"]
    spans = []  # (row, start, stop) of each answer, in conversation order
    for r in range(len(chat.offsets) - 1):
        _, mask = chat.row(r)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
        spans += [(r, int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    # every assistant turn is trained once; Qwen3's template makes one row per answer
    assert len(spans) == len(answers)
    for k, (r, start, stop) in zip(answers, spans, strict=True):
        ids, _ = chat.row(r)
        assert ids[:start].tolist() == serve_prompt(tokenizer, CONVERSATION[:k])
        answer = tokenizer.decode(ids[start:stop])
        assert answer.rstrip().endswith(tokenizer.convert_ids_to_tokens(int(ids[stop - 1])))
        assert CONVERSATION[k]["content"] in answer
        assert "terse" not in answer and "3 + 3" not in answer  # no system or user text


def test_minimal_template_marks_answers_through_their_end_of_turn(tmp_path):
    tokenizer = gpt2_with_template()
    corpus = load_corpus([chat_file(tmp_path, [CONVERSATION])])
    chat = tokenize_conversations(corpus, tokenizer, max_tokens=512)
    ids, mask = chat.row(0)
    assert tokenizer.decode(ids[mask]) == "5<|im_end|>6, twice three.<|im_end|>"
    assert (
        tokenizer.decode(ids)
        == tokenizer.apply_chat_template(CONVERSATION, tokenize=False).rstrip()
    )


def test_train_on_all_labels_every_training_token_but_validation_and_test_keep_answers(tmp_path):
    tokenizer = gpt2_with_template()
    conversations = [
        [{"role": "user", "content": f"Say {n}."}, {"role": "assistant", "content": f"{n}!"}]
        for n in range(30)
    ]
    path = chat_file(tmp_path, conversations)

    def labelled(train_on):
        _, splits = prepare([path], tokenizer, DataConfig(train_on=train_on), cache=None)
        return splits

    answers, every = labelled("answers"), labelled("all")
    for name in ("validation", "test"):
        assert getattr(answers, name)["labels"] == getattr(every, name)["labels"]
    for row in every.train:
        real = [t for t, m in zip(row["input_ids"], row["attention_mask"], strict=True) if m]
        assert [t for t in row["labels"] if t != IGNORE_INDEX] == real
    for row in answers.train:
        trained = [t for t in row["labels"] if t != IGNORE_INDEX]
        assert tokenizer.decode(trained).endswith("!<|im_end|>")
        assert "Say" not in tokenizer.decode(trained)


def test_whole_conversations_are_held_out_and_rows_padded_to_the_longest(tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir("qwen3"))  # a row per answer
    conversations = [
        [
            {"role": "user", "content": f"Count from {n}."},
            {"role": "assistant", "content": f"{n}"},
            {"role": "user", "content": "Next?"},
            {"role": "assistant", "content": f"{n + 1}"},
        ]
        for n in range(40)
    ]
    _, splits = prepare([chat_file(tmp_path, conversations)], tokenizer, DataConfig(), cache=None)
    assert splits.split_by == "example"

    def conversation_keys(split):
        keys = []
        for row in split:
            text = tokenizer.decode(
                [t for t, m in zip(row["input_ids"], row["attention_mask"], strict=True) if m]
            )
            keys.append(text.split("Count from ", 1)[1].split(".", 1)[0])
        return keys

    held = {
        name: conversation_keys(getattr(splits, name)) for name in ("train", "validation", "test")
    }
    assert sum(len(set(k)) for k in held.values()) == 40
    assert not set(held["train"]) & set(held["validation"])
    assert not set(held["train"]) & set(held["test"])
    assert not set(held["validation"]) & set(held["test"])
    assert all(held[name].count(k) == 2 for name in held for k in held[name])  # both answers
    widths = {len(ids) for ids in splits.train["input_ids"]}
    assert len(widths) == 1 and widths.pop() < DataConfig().chunk_size


def test_long_examples_are_cut_at_a_turn_boundary_or_left_out_and_listed(tmp_path):
    tokenizer = gpt2_with_template()
    short = [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello."}]
    long_answer = " ".join(["word"] * 60)
    cut = [
        *short,
        {"role": "user", "content": "More?"},
        {"role": "assistant", "content": long_answer},
    ]
    too_long = [{"role": "user", "content": long_answer}, {"role": "assistant", "content": "Ok."}]
    corpus = load_corpus([chat_file(tmp_path, [short, cut, too_long])])

    chat = tokenize_conversations(corpus, tokenizer, max_tokens=40)

    path = str(tmp_path / "chat.jsonl")
    assert chat.cut == [(path, 2)]
    assert chat.left_out == [(path, 3, "longer than --chunk-size 40 tokens up to its first answer")]
    assert chat.conversations == 2
    ids, mask = chat.row(1)
    assert tokenizer.decode(ids[mask]) == "Hello.<|im_end|>"  # cut after the first answer
    assert chat.stats()[path]["cut_rows"] == [2]


def test_file_table_counts_examples_prompt_and_trained_tokens(tmp_path):
    tokenizer = gpt2_with_template()
    conversations = [
        [{"role": "user", "content": f"Say {n}."}, {"role": "assistant", "content": f"{n}!"}]
        for n in range(10)
    ]
    corpus, splits = prepare(
        [chat_file(tmp_path, conversations)], tokenizer, DataConfig(), cache=None
    )
    (row,) = file_rows(corpus, chat=splits.chat)
    answers = sum(len(tokenizer(f"{n}!<|im_end|>")["input_ids"]) for n in range(10))
    rendered = sum(
        len(tokenizer(tokenizer.apply_chat_template(c, tokenize=False).rstrip())["input_ids"])
        for c in conversations
    )
    assert row["format"] == "messages"
    assert (row["examples"], row["trained_tokens"]) == (10, answers)
    assert row["prompt_tokens"] == rendered - answers
    table = format_file_table([row])
    head = "file status kind / reason examples prompt tokens trained tokens"
    assert table.splitlines()[0].split() == head.split()
    assert f"{answers:,}" in table.splitlines()[1]


def test_saved_tokenizer_renders_the_minimal_template_with_plain_transformers(tmp_path):
    tokenizer = gpt2_with_template()
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.chat_template == MINIMAL_TEMPLATE
    text = loaded.apply_chat_template(CONVERSATION[:2], tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are terse.<|im_end|>\n"
        "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n"
    )
    ids = loaded(text, add_special_tokens=False)["input_ids"]
    assert ids.count(loaded.convert_tokens_to_ids("<|im_start|>")) == 3


def test_the_data_cache_keeps_the_counts_and_a_new_template_misses_it(tmp_path):
    from textgen_core.data.cache import DataCache

    cache = DataCache(tmp_path / "cache")
    conversations = [
        [{"role": "user", "content": f"Say {n}."}, {"role": "assistant", "content": f"{n}!"}]
        for n in range(10)
    ]
    path = chat_file(tmp_path, conversations)
    tokenizer = gpt2_with_template()
    _, first = prepare([path], tokenizer, DataConfig(), cache=cache)
    _, again = prepare([path], tokenizer, DataConfig(), cache=cache)
    assert again.chat == first.chat and again.train["labels"] == first.train["labels"]
    assert len(list((tmp_path / "cache").iterdir())) == 1
    tokenizer.chat_template = MINIMAL_TEMPLATE.replace("\\n", "\\n\\n")
    prepare([path], tokenizer, DataConfig(), cache=cache)
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_text_files_and_conversations_train_together(tmp_path, corpus_dir):
    tokenizer = gpt2_with_template()
    conversations = [
        [{"role": "user", "content": f"Say {n}."}, {"role": "assistant", "content": f"{n}!"}]
        for n in range(20)
    ]
    chat = chat_file(tmp_path, conversations)
    corpus, splits = prepare([corpus_dir, chat], tokenizer, DataConfig(chunk_size=64), cache=None)
    assert splits.split_by == "document+example"
    chat_index = splits.files.index(str(chat))
    rows = {"text": 0, "chat": 0}
    for name in ("train", "validation", "test"):
        for row in getattr(splits, name):
            assert len(row["input_ids"]) == 64
            rows["chat" if row["source"][0] == chat_index else "text"] += 1
    assert rows["chat"] == 20 and rows["text"] > 20
    table = {row["path"]: row for row in file_rows(corpus, chat=splits.chat)}
    assert table[str(chat)]["examples"] == 20 and table[str(chat)]["format"] == "messages"
    assert table[str(corpus_dir / "part00.txt")]["format"] == "text"
