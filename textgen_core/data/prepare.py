"""Documents -> token stream -> fixed-size chunks -> train / validation / test.

Each document gets an end-of-text token so the model learns where texts stop.
The test set is held out first, then validation; splits are by whole document
where the documents allow it, else by contiguous token ranges. A chunk never
lies in two splits. Each token keeps the index of the file it came from, so
evaluation can report per-file perplexity.

Chunks are cut and written a batch of rows at a time, straight into Arrow
files that `datasets` memory-maps (in the data cache, `data_cache.py`), so
the splits of a large corpus never sit in memory whole.
"""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import numpy as np
from datasets import Dataset

from textgen_core.config import DataConfig
from textgen_core.data import chat_splits, hub_datasets
from textgen_core.data.chat_formats import Columns
from textgen_core.data.chat_tokens import ChatTokenized, tokenize_conversations
from textgen_core.data.ingest import Corpus, load_corpus
from textgen_core.data.splits import IGNORE_INDEX, SPLITS, Splits
from textgen_core.data.tokens import Tokenized, tokenize
from textgen_core.errors import TextgenError

__all__ = ["IGNORE_INDEX", "SPLITS", "Splits", "Tokenized", "tokenize", "split", "prepare"]

ROW_BATCH_TOKENS = 1 << 20  # tokens cut into rows and written at a time


def _document_split(lengths: np.ndarray, cfg: DataConfig) -> list[np.ndarray] | None:
    """Seeded split of document indices, or None when whole documents can't
    give every split at least one chunk near its intended share."""
    if len(lengths) < 3:
        return None
    order = np.random.default_rng(cfg.seed).permutation(len(lengths))
    total = lengths.sum()
    targets = [cfg.test_fraction * total]
    targets.append(cfg.val_fraction * (total - targets[0]))
    parts, start = [], 0
    for target in targets:
        cumulative = np.cumsum(lengths[order[start:]])
        stop = start + int(np.searchsorted(cumulative, target)) + 1
        parts.append(order[start:stop])
        start = stop
    parts.append(order[start:])
    test, val, train = parts
    sizes = [lengths[p].sum() for p in (test, val, train)]
    fair = all(
        size <= 2 * target + cfg.chunk_size for size, target in zip(sizes, targets, strict=False)
    )
    if min(sizes) < cfg.chunk_size or not fair:
        return None
    return [train, val, test]


def _chunk(ids: np.ndarray, sources: np.ndarray, size: int, pad_id: int) -> dict[str, np.ndarray]:
    """Cut a token stream into rows of `size`; the last row is padded, and pad
    positions are masked out of attention and loss. Each column is a
    (rows, size) array, in the integer type its dataset column stores."""
    rows = math.ceil(len(ids) / size)
    padded = rows * size - len(ids)
    ids = np.concatenate([ids.astype(np.int32), np.full(padded, pad_id, np.int32)])
    ids = ids.reshape(rows, size)
    mask = np.concatenate([np.ones(len(sources), np.int8), np.zeros(padded, np.int8)])
    mask = mask.reshape(rows, size)
    sources = np.concatenate([sources, np.full(padded, -1)]).reshape(rows, size)
    labels = np.where(mask == 1, ids.astype(np.int64), IGNORE_INDEX)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels, "source": sources}


# Column types as `datasets` stores these columns when given Python lists.
_COLUMN_TYPES = {"input_ids": np.int32, "attention_mask": np.int8}


def _table(columns: dict[str, np.ndarray]):
    """Rows of equal-length integer lists as an Arrow table, built straight
    from the arrays: the same features and values as `Dataset.from_dict` of
    Python lists, without ever holding the lists."""
    import pyarrow as pa

    arrays = {}
    for name, table in columns.items():
        rows, width = table.shape
        offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * width)
        dtype = _COLUMN_TYPES.get(name, np.int64)
        values = pa.array(np.ascontiguousarray(table, dtype=dtype).reshape(-1))
        arrays[name] = pa.ListArray.from_arrays(offsets, values)
    return pa.table(arrays)


class _Sink:
    """Where one split's rows go: an Arrow file in `folder` (memory-mapped when
    done) or, without a folder, an in-memory table."""

    def __init__(self, folder: Path | None, name: str):
        self.path = folder / f"{name}.arrow" if folder else None
        self.tables: list = []
        self.writer = None

    def write(self, columns: dict[str, np.ndarray]) -> None:
        table = _table(columns)
        if self.path is None:
            self.tables.append(table)
            return
        if self.writer is None:
            from datasets.arrow_writer import ArrowWriter

            self.writer = ArrowWriter(schema=table.schema, path=str(self.path))
        self.writer.write_table(table)

    def finish(self) -> Dataset:
        import pyarrow as pa

        if self.path is None:
            # Without a fingerprint, `datasets` derives one by pickling the whole
            # in-memory table: a transient copy of every split. A fresh random
            # one is what it falls back to for anything it cannot hash.
            return Dataset(pa.concat_tables(self.tables), fingerprint=uuid.uuid4().hex)
        self.writer.finalize()
        return Dataset.from_file(str(self.path))


def _row_batches(tok: Tokenized, docs, size: int, pad_id: int):
    """Chunk columns of the token stream of `docs` (in that order), about
    ROW_BATCH_TOKENS tokens of rows at a time."""
    step = max(size, ROW_BATCH_TOKENS // size * size)
    ids_held, src_held, held = [], [], 0
    for d in docs:
        ids = tok.doc(d)
        for start in range(0, len(ids), step):
            piece = ids[start : start + step]
            ids_held.append(piece)
            src_held.append(np.full(len(piece), tok.doc_sources[d], np.int64))
            held += len(piece)
            if held >= step:
                ids_all, src_all = np.concatenate(ids_held), np.concatenate(src_held)
                full = held // size * size
                yield _chunk(ids_all[:full], src_all[:full], size, pad_id)
                ids_held, src_held, held = [ids_all[full:]], [src_all[full:]], held - full
    if held:
        yield _chunk(np.concatenate(ids_held), np.concatenate(src_held), size, pad_id)


def _row_split(tok: Tokenized, cfg: DataConfig) -> np.ndarray:
    """Split of each chunk of the whole stream (0 train, 1 validation, 2 test):
    contiguous blocks at seeded places."""
    total = int(tok.offsets[-1])
    n = math.ceil(total / cfg.chunk_size)
    n_test = max(1, round(n * cfg.test_fraction))
    n_val = max(1, round((n - n_test) * cfg.val_fraction))
    if n - n_test - n_val < 1:
        raise TextgenError(
            f"corpus too small: {total} tokens make {n} chunk(s) of {cfg.chunk_size}, but training "
            f"needs at least one train, one validation and one test chunk "
            f"(at least {3 * cfg.chunk_size} tokens, roughly {3 * cfg.chunk_size * 4} characters); "
            "add text or lower --chunk-size"
        )
    rng = np.random.default_rng(cfg.seed)
    labels = np.zeros(n, np.int8)
    test_start = int(rng.integers(0, n - n_test + 1))
    labels[test_start : test_start + n_test] = 2
    rest = np.flatnonzero(labels == 0)
    val_start = int(rng.integers(0, len(rest) - n_val + 1))
    labels[rest[val_start : val_start + n_val]] = 1
    return labels


def split(
    tok: Tokenized | None,
    cfg: DataConfig,
    pad_id: int,
    folder: Path | None = None,
    chat: ChatTokenized | None = None,
) -> Splits:
    """Hold out test, then validation, and chunk each split; with `folder`,
    the splits are written there as Arrow files and memory-mapped. `tok`
    holds the text's tokens, `chat` the conversations' rows (either may be
    None); conversation rows are as wide as the longest of them, or as the
    chunks when there is text too."""
    sinks = [_Sink(folder, name) for name in SPLITS]
    split_by = []
    if tok is not None:
        split_by.append(_split_text(tok, cfg, pad_id, sinks))
    if chat is not None:
        width = cfg.chunk_size if tok is not None else int(chat.lengths.max())
        for k, columns in chat_splits.split_rows(chat, cfg, pad_id, width):
            sinks[k].write(columns)
        split_by.append("example")
    files = tok.files if tok is not None else chat.files
    return Splits(
        *(sink.finish() for sink in sinks),
        files=files,
        split_by="+".join(split_by),
        chat=_chat_summary(chat, cfg) if chat is not None else None,
    )


def _split_text(tok: Tokenized, cfg: DataConfig, pad_id: int, sinks: list[_Sink]) -> str:
    """Chunks of the text into `sinks`; returns how the split was made."""
    by_document = _document_split(tok.lengths, cfg)
    if by_document is not None:
        for sink, docs in zip(sinks, by_document, strict=True):
            for columns in _row_batches(tok, docs, cfg.chunk_size, pad_id):
                sink.write(columns)
        return "document"
    labels, row = _row_split(tok, cfg), 0
    for columns in _row_batches(tok, range(len(tok.offsets) - 1), cfg.chunk_size, pad_id):
        rows = len(columns["input_ids"])
        part = labels[row : row + rows]
        for k, sink in enumerate(sinks):
            if (part == k).any():
                sink.write({name: col[part == k] for name, col in columns.items()})
        row += rows
    return "token_range"


def _chat_summary(chat: ChatTokenized, cfg: DataConfig) -> dict:
    return {
        "per_file": chat.stats(),
        "left_out": [list(item) for item in chat.left_out],
        "train_on": cfg.train_on,
    }


def chunk_all(tok: Tokenized, chunk_size: int, pad_id: int) -> Dataset:
    """Every token in one dataset of chunks, for evaluating a model on files."""
    sink = _Sink(None, "all")
    for columns in _row_batches(tok, range(len(tok.offsets) - 1), chunk_size, pad_id):
        sink.write(columns)
    return sink.finish()


def chat_all(chat: ChatTokenized, width: int, pad_id: int) -> Dataset:
    """Every conversation row in one dataset, `width` wide, labels on the
    answers: for scoring a model on prompt/answer files."""
    sink = _Sink(None, "all")
    rows = np.arange(len(chat.offsets) - 1)
    for start in range(0, len(rows), chat_splits.ROW_BATCH):
        part = rows[start : start + chat_splits.ROW_BATCH]
        sink.write(chat_splits.columns(chat, part, width, pad_id, every_token=False))
    return sink.finish()


def _check_dataset_loaded(corpus: Corpus, cfg: DataConfig) -> None:
    """A dataset named in the settings must be among the sources read."""
    if cfg.dataset is None:
        return
    label = hub_datasets.from_config(cfg).label
    if label not in corpus.files_used and not any(s.path.startswith(label) for s in corpus.skipped):
        raise TextgenError(
            f"the settings name the dataset {label} but the corpus was loaded without it; "
            "load it with load_corpus(data_flags.data_sources(paths, cfg.data))"
        )


def tokenize_all(corpus: Corpus, tokenizer, cfg: DataConfig):
    """(text tokens or None, conversation rows or None) of a corpus."""
    tok = tokenize(corpus, tokenizer) if len(corpus.documents) else None
    chat = None
    if corpus.chat_sources:
        if not getattr(tokenizer, "chat_template", None):
            raise TextgenError(
                "prompt/answer and chat data are rendered with a chat template, and this "
                "tokenizer has none; give it one (textgen train adds its minimal template)"
            )
        chat = tokenize_conversations(corpus, tokenizer, cfg.chunk_size)
        if not chat.conversations:
            reasons = sorted({why for _, _, why in chat.left_out})
            raise TextgenError(f"no usable prompt/answer example: {'; '.join(reasons)}")
    return tok, chat


def make_splits(corpus: Corpus, tokenizer, cfg: DataConfig, *, cache="default") -> Splits:
    """Documents and conversations -> splits. Prepared splits are kept in the
    data cache (`data_cache.DataCache.default()` unless `cache` is given;
    None: no cache) and reused while the texts, tokenizer and settings are
    the same."""
    from textgen_core.data.cache import DataCache

    cfg.validate()
    _check_dataset_loaded(corpus, cfg)
    corpus.require_text()
    cache = DataCache.default() if cache == "default" else cache
    pad_id = tokenizer.pad_token_id
    if cache is None:
        tok, chat = tokenize_all(corpus, tokenizer, cfg)
        return split(tok, cfg, pad_id, chat=chat)
    key = cache.key(corpus, tokenizer, cfg)
    hit = cache.load(key)
    if hit is not None:
        return hit
    tok, chat = tokenize_all(corpus, tokenizer, cfg)
    return cache.store(key, lambda folder: split(tok, cfg, pad_id, folder, chat))


def prepare(paths: list, tokenizer, cfg: DataConfig, *, cache="default") -> tuple[Corpus, Splits]:
    """Files -> splits, the whole data pipeline in one call."""
    cfg.validate()
    corpus = load_corpus(paths, doc_separator=cfg.doc_separator, columns=Columns.of(cfg))
    return corpus, make_splits(corpus, tokenizer, cfg, cache=cache)
