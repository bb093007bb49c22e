"""The data cache: a second preparation of the same texts reuses the splits
without tokenizing again; changed texts or settings miss; a failed write
(a full disk) leaves nothing that could be taken as valid."""

from __future__ import annotations

import errno

import numpy as np
import pytest

import textgen_core.data.prepare as data
from textgen_core.config import DataConfig
from textgen_core.data.cache import DataCache, default_root, tokenizer_fingerprint
from textgen_core.data.prepare import SPLITS, prepare
from textgen_core.errors import TextgenError
from textgen_core.model.loading import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("scratch:tiny")


@pytest.fixture
def counted(monkeypatch):
    """Counts calls of the tokenizing step behind make_splits."""
    calls = []
    real = data.tokenize

    def tokenize(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(data, "tokenize", tokenize)
    return calls


def columns(splits) -> dict:
    return {
        (name, column): np.array(getattr(splits, name)[column])
        for name in SPLITS
        for column in ("input_ids", "attention_mask", "labels", "source")
    }


def entries(cache: DataCache) -> list:
    return sorted(p for p in cache.root.iterdir()) if cache.root.exists() else []


def test_second_run_reuses_the_cache_without_tokenizing(tmp_path, tokenizer, corpus_dir, counted):
    cache, cfg = DataCache(tmp_path / "cache"), DataConfig(chunk_size=64)
    _, first = prepare([corpus_dir], tokenizer, cfg, cache=cache)
    (entry,) = entries(cache)
    written = {p.name: p.stat().st_mtime_ns for p in entry.glob("*.arrow")}
    _, second = prepare([corpus_dir], tokenizer, cfg, cache=cache)
    assert len(counted) == 1
    assert {p.name: p.stat().st_mtime_ns for p in entry.glob("*.arrow")} == written
    assert (second.files, second.split_by) == (first.files, first.split_by)
    a, b = columns(first), columns(second)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    _, uncached = prepare([corpus_dir], tokenizer, cfg, cache=None)
    c = columns(uncached)
    assert all(np.array_equal(a[k], c[k]) for k in a)


def test_changed_text_or_chunk_size_prepares_again(tmp_path, tokenizer, corpus_dir, counted):
    folder = tmp_path / "texts"
    folder.mkdir()
    for path in sorted(corpus_dir.iterdir()):
        (folder / path.name).write_text(path.read_text())
    cache = DataCache(tmp_path / "cache")
    _, before = prepare([folder], tokenizer, DataConfig(chunk_size=64), cache=cache)
    _, smaller = prepare([folder], tokenizer, DataConfig(chunk_size=32), cache=cache)
    assert len(counted) == 2 and len(entries(cache)) == 2
    assert len(smaller.train[0]["input_ids"]) == 32
    first = folder / "part00.txt"
    first.write_text(first.read_text() + "\nOne line more.")
    _, after = prepare([folder], tokenizer, DataConfig(chunk_size=64), cache=cache)
    assert len(counted) == 3 and len(entries(cache)) == 3
    total = sum(after.tokens(n) for n in SPLITS) - sum(before.tokens(n) for n in SPLITS)
    assert total == len(tokenizer("\nOne line more.")["input_ids"])


def test_tokenizer_fingerprint_ignores_truncation_and_padding_but_not_the_vocabulary():
    tokenizer = load_tokenizer("scratch:tiny")
    plain = tokenizer_fingerprint(tokenizer)
    tokenizer.backend_tokenizer.enable_truncation(16)
    tokenizer.backend_tokenizer.enable_padding(length=16)
    assert tokenizer_fingerprint(tokenizer) == plain
    assert tokenizer.backend_tokenizer.truncation is not None  # the tokenizer itself is left as is
    tokenizer.add_tokens(["<verse>"])
    assert tokenizer_fingerprint(tokenizer) != plain


def test_cache_location_follows_the_environment(tmp_path, monkeypatch, tokenizer, corpus_dir):
    monkeypatch.setenv("TEXTGEN_DATA_CACHE", str(tmp_path / "here"))
    assert default_root() == tmp_path / "here"
    prepare([corpus_dir], tokenizer, DataConfig(chunk_size=64))
    assert len(list((tmp_path / "here").iterdir())) == 1
    monkeypatch.setenv("TEXTGEN_DATA_CACHE", "off")
    assert default_root() is None and DataCache.default() is None
    monkeypatch.delenv("TEXTGEN_DATA_CACHE")
    monkeypatch.setenv("TEXTGEN_CACHE", str(tmp_path / "textgen"))
    assert default_root() == tmp_path / "textgen" / "data"


def test_full_disk_while_writing_names_the_cache_and_keeps_nothing_half_written(
    tmp_path, monkeypatch, tokenizer, corpus_dir, counted
):
    from datasets.arrow_writer import ArrowWriter

    cache = DataCache(tmp_path / "cache")
    prepare([corpus_dir], tokenizer, DataConfig(chunk_size=32), cache=cache)  # an older entry
    (older,) = entries(cache)
    texts_before = {p: p.read_bytes() for p in corpus_dir.iterdir()}
    real_write = ArrowWriter.write_table
    writes = []

    def fill_up(self, table, *args, **kwargs):
        writes.append(1)
        if len(writes) > 1:  # the disk fills up after the first batch
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, table, *args, **kwargs)

    monkeypatch.setattr(ArrowWriter, "write_table", fill_up)
    with pytest.raises(TextgenError) as caught:
        prepare([corpus_dir], tokenizer, DataConfig(chunk_size=64), cache=cache)
    message = str(caught.value)
    assert str(cache.root) in message and "disk is full" in message
    assert "Free space" in message and "TEXTGEN_DATA_CACHE=off" in message
    assert entries(cache) == [older]  # no half-written entry, the older one intact
    assert cache.load(older.name) is not None
    assert {p: p.read_bytes() for p in corpus_dir.iterdir()} == texts_before
    monkeypatch.setattr(ArrowWriter, "write_table", real_write)
    prepare([corpus_dir], tokenizer, DataConfig(chunk_size=64), cache=cache)
    prepare([corpus_dir], tokenizer, DataConfig(chunk_size=64), cache=cache)
    assert len(entries(cache)) == 2 and len(counted) == 3  # written once, then reused


def test_a_damaged_entry_is_prepared_again_not_used(tmp_path, tokenizer, corpus_dir, counted):
    cache, cfg = DataCache(tmp_path / "cache"), DataConfig(chunk_size=64)
    _, first = prepare([corpus_dir], tokenizer, cfg, cache=cache)
    (entry,) = entries(cache)
    train = entry / "train.arrow"
    train.write_bytes(train.read_bytes()[:1000])
    _, again = prepare([corpus_dir], tokenizer, cfg, cache=cache)
    assert len(counted) == 2
    assert len(again.train) == len(first.train)
