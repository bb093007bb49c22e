"""Documents -> token stream -> fixed-size chunks -> train / validation / test.

Each document gets an end-of-text token so the model learns where texts stop.
The test set is held out first, then validation; splits are by whole document
where the documents allow it, else by contiguous token ranges. A chunk never
lies in two splits. Each token keeps the index of the file it came from, so
evaluation can report per-file perplexity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasets import Dataset

from textgen_core.config import DataConfig
from textgen_core.errors import TextgenError
from textgen_core.ingest import Corpus, load_corpus

IGNORE_INDEX = -100  # label value the loss skips (pad positions)
SPLITS = ("train", "validation", "test")


@dataclass
class Tokenized:
    ids: list[np.ndarray]  # one array per document, EOS appended
    sources: list[int]  # file index of each document
    files: list[str]  # file index -> path


@dataclass
class Splits:
    train: Dataset
    validation: Dataset
    test: Dataset
    files: list[str]
    split_by: str  # "document" or "token_range"

    def tokens(self, name: str) -> int:
        """Real (non-pad) tokens in a split."""
        import pyarrow.compute as pc

        mask = getattr(self, name).data.table.column("attention_mask")
        return int(pc.sum(pc.list_flatten(mask)).as_py() or 0)

    def summary(self) -> dict:
        return {
            "split_by": self.split_by,
            **{f"{name}_chunks": len(getattr(self, name)) for name in SPLITS},
            **{f"{name}_tokens": self.tokens(name) for name in SPLITS},
        }


def tokenize(
    corpus: Corpus, tokenizer, *, quiet: bool = False, batch_chars: int = 1 << 22
) -> Tokenized:
    """Tokenize every document and append EOS, in batches of about `batch_chars`
    characters: each batch's token lists become compact int64 arrays at once,
    so a large corpus never sits in memory as Python integers."""
    from tqdm.auto import tqdm

    corpus.require_text()
    files = corpus.files_used
    index = {path: i for i, path in enumerate(files)}
    eos = np.array([tokenizer.eos_token_id], dtype=np.int64)
    texts = [d.text for d in corpus.documents]
    ids: list[np.ndarray] = []
    with tqdm(total=len(texts), desc="Tokenizing", disable=quiet, leave=False) as bar:
        start = 0
        while start < len(texts):
            stop, chars = start, 0
            while stop < len(texts) and (stop == start or chars + len(texts[stop]) <= batch_chars):
                chars += len(texts[stop])
                stop += 1
            encoded = tokenizer(texts[start:stop], add_special_tokens=False)["input_ids"]
            ids.extend(np.concatenate([np.asarray(e, dtype=np.int64), eos]) for e in encoded)
            bar.update(stop - start)
            start = stop
    return Tokenized(ids, [index[d.path] for d in corpus.documents], files)


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


def _dataset(columns: dict[str, np.ndarray]) -> Dataset:
    """Rows of equal-length integer lists, built straight from the arrays: the
    same features and values as `Dataset.from_dict` of Python lists, without
    ever holding the lists."""
    import pyarrow as pa

    arrays = {}
    for name, table in columns.items():
        rows, width = table.shape
        offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * width)
        dtype = _COLUMN_TYPES.get(name, np.int64)
        values = pa.array(np.ascontiguousarray(table, dtype=dtype).reshape(-1))
        arrays[name] = pa.ListArray.from_arrays(offsets, values)
    return Dataset(pa.table(arrays))


def _stream(tok: Tokenized, docs) -> tuple[np.ndarray, np.ndarray]:
    docs = list(docs)
    ids = np.concatenate([tok.ids[d] for d in docs])
    sources = np.concatenate([np.full(len(tok.ids[d]), tok.sources[d]) for d in docs])
    return ids, sources


def _token_range_split(tok: Tokenized, cfg: DataConfig, pad_id: int) -> list[dict]:
    """Chunks of the whole stream, split into contiguous blocks at seeded places."""
    rows = _chunk(*_stream(tok, range(len(tok.ids))), cfg.chunk_size, pad_id)
    n = len(rows["input_ids"])
    n_test = max(1, round(n * cfg.test_fraction))
    n_val = max(1, round((n - n_test) * cfg.val_fraction))
    if n - n_test - n_val < 1:
        total = sum(len(i) for i in tok.ids)
        raise TextgenError(
            f"corpus too small: {total} tokens make {n} chunk(s) of {cfg.chunk_size}, but training "
            f"needs at least one train, one validation and one test chunk "
            f"(at least {3 * cfg.chunk_size} tokens, roughly {3 * cfg.chunk_size * 4} characters); "
            "add text or lower --chunk-size"
        )
    rng = np.random.default_rng(cfg.seed)
    order = list(range(n))
    test_start = int(rng.integers(0, n - n_test + 1))
    test = order[test_start : test_start + n_test]
    rest = order[:test_start] + order[test_start + n_test :]
    val_start = int(rng.integers(0, len(rest) - n_val + 1))
    val = rest[val_start : val_start + n_val]
    train = rest[:val_start] + rest[val_start + n_val :]
    return [
        {k: v[np.asarray(part, dtype=np.int64)] for k, v in rows.items()}
        for part in (train, val, test)
    ]


def split(tok: Tokenized, cfg: DataConfig, pad_id: int) -> Splits:
    """Hold out test, then validation, and chunk each split separately."""
    lengths = np.array([len(i) for i in tok.ids])
    by_document = _document_split(lengths, cfg)
    if by_document is not None:
        # One split at a time, so only one split's arrays exist besides the datasets.
        datasets = [_dataset(_chunk(*_stream(tok, p), cfg.chunk_size, pad_id)) for p in by_document]
        split_by = "document"
    else:
        datasets = [_dataset(p) for p in _token_range_split(tok, cfg, pad_id)]
        split_by = "token_range"
    return Splits(*datasets, files=tok.files, split_by=split_by)


def chunk_all(tok: Tokenized, chunk_size: int, pad_id: int) -> Dataset:
    """Every token in one dataset of chunks, for evaluating a model on files."""
    return _dataset(_chunk(*_stream(tok, range(len(tok.ids))), chunk_size, pad_id))


def make_splits(corpus: Corpus, tokenizer, cfg: DataConfig, *, quiet: bool = False) -> Splits:
    """Documents -> splits."""
    cfg.validate()
    return split(tokenize(corpus, tokenizer, quiet=quiet), cfg, tokenizer.pad_token_id)


def prepare(
    paths: list[str | Path], tokenizer, cfg: DataConfig, *, quiet: bool = False
) -> tuple[Corpus, Splits]:
    """Files -> splits, the whole data pipeline in one call."""
    cfg.validate()
    corpus = load_corpus(paths)
    return corpus, make_splits(corpus, tokenizer, cfg, quiet=quiet)
