"""Documents -> chunks -> splits: EOS per document, no overlap, seeded, honest errors."""

from __future__ import annotations

import numpy as np
import pytest

from textgen_core.config import DataConfig
from textgen_core.data.ingest import Corpus, Document
from textgen_core.data.prepare import IGNORE_INDEX, prepare
from textgen_core.errors import TextgenError
from textgen_core.model.loading import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("scratch:tiny")


def real_tokens(split) -> list[list[int]]:
    return [
        [t for t, m in zip(ids, mask, strict=True) if m]
        for ids, mask in zip(split["input_ids"], split["attention_mask"], strict=True)
    ]


def test_pad_token_is_added_and_distinct_from_eos(tokenizer):
    assert tokenizer.pad_token == "[PAD]"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert tokenizer("Hello world")["input_ids"] == [15496, 995]


@pytest.mark.parametrize("files,split_by", [(12, "document"), (1, "token_range")])
def test_splits_cover_every_token_once_and_never_share_a_chunk(
    tmp_path, tokenizer, corpus_dir, files, split_by
):
    paths = sorted(corpus_dir.iterdir())[:files] if files > 1 else [corpus_dir / "part00.txt"]
    cfg = DataConfig(chunk_size=64)
    corpus, splits = prepare(paths, tokenizer, cfg)
    assert splits.split_by == split_by
    chunks = {name: real_tokens(getattr(splits, name)) for name in ("train", "validation", "test")}
    expected = sum(len(tokenizer(d.text)["input_ids"]) + 1 for d in corpus.documents)
    assert sum(len(c) for part in chunks.values() for c in part) == expected
    keys = {name: {tuple(c) for c in part} for name, part in chunks.items()}
    assert not keys["train"] & keys["validation"]
    assert not keys["train"] & keys["test"]
    assert not keys["validation"] & keys["test"]
    assert all(len(ids) == 64 for ids in splits.train["input_ids"])


def test_each_document_ends_with_eos_and_pads_are_masked_from_the_loss(tokenizer):
    corpus = Corpus([Document("a", "one two three " * 40), Document("b", "four five " * 50)])
    from textgen_core.data.prepare import split, tokenize

    tok = tokenize(corpus, tokenizer)
    assert all(ids[-1] == tokenizer.eos_token_id for ids in tok.ids)
    splits = split(tok, DataConfig(chunk_size=32), tokenizer.pad_token_id)
    for part in (splits.train, splits.validation, splits.test):
        for ids, mask, labels in zip(
            part["input_ids"], part["attention_mask"], part["labels"], strict=True
        ):
            for t, m, label in zip(ids, mask, labels, strict=True):
                assert label == (t if m else IGNORE_INDEX)
                assert m or t == tokenizer.pad_token_id


def test_split_is_seeded(tokenizer, corpus_dir):
    def test_files(seed):
        _, splits = prepare([corpus_dir], tokenizer, DataConfig(chunk_size=64, seed=seed))
        return sorted({s for row in splits.test["source"] for s in row if s >= 0})

    assert test_files(1) == test_files(1)
    assert any(test_files(1) != test_files(seed) for seed in (2, 3, 4))


def test_document_split_holds_out_roughly_the_asked_shares(tokenizer, corpus_dir):
    _, splits = prepare([corpus_dir], tokenizer, DataConfig(chunk_size=64))
    total = sum(splits.tokens(n) for n in ("train", "validation", "test"))
    assert 0.05 < splits.tokens("test") / total < 0.25
    assert splits.tokens("train") / total > 0.6


def test_too_small_corpus_says_how_much_text_is_needed(tmp_path, tokenizer):
    (tmp_path / "tiny.txt").write_text("Just a few words.")
    with pytest.raises(TextgenError, match=r"corpus too small: .*at least 600 tokens"):
        prepare([tmp_path], tokenizer, DataConfig())


def test_nothing_usable_is_an_error(tmp_path, tokenizer):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(TextgenError, match="no usable text"):
        prepare([tmp_path], tokenizer, DataConfig())


@pytest.mark.parametrize(
    "cfg,flag",
    [
        (DataConfig(chunk_size=0), "--chunk-size"),
        (DataConfig(test_fraction=1.0), "--test-fraction"),
        (DataConfig(val_fraction=-0.1), "--val-fraction"),
        (DataConfig(val_fraction=0.9, test_fraction=0.9), "--val-fraction/--test-fraction"),
    ],
)
def test_bad_settings_name_the_flag(tmp_path, tokenizer, cfg, flag):
    with pytest.raises(TextgenError, match=flag):
        prepare([tmp_path], tokenizer, cfg)


def test_per_token_sources_point_at_the_right_file(tokenizer, corpus_dir):
    _, splits = prepare([corpus_dir], tokenizer, DataConfig(chunk_size=64))
    sources = np.array(splits.train["source"])
    mask = np.array(splits.train["attention_mask"])
    assert ((sources >= 0) == (mask == 1)).all()
    assert all(
        splits.files[s].startswith(str(corpus_dir)) for s in np.unique(sources[sources >= 0])
    )
