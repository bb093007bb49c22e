"""Documents -> one compact token array (each document between the tokenizer's
start ids, if it has any, and EOS).

Tokens of the whole corpus sit in one numpy array of the smallest integer type
that holds the vocabulary (uint16 for GPT-2: 2 bytes a token), with document
boundaries and each document's file index beside it, so a large corpus never
sits in memory as Python strings or integers. Text goes to the tokenizer in
batches of about 4 MB; a document longer than 256 kB is cut into pieces at
places where the tokenizer is known to give the same tokens as for the whole
text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from textgen_core import log
from textgen_core.errors import TextgenError

BATCH_CHARS = 1 << 22
# The tokenizers library needs ~100 bytes of working memory per character of
# one text (alignments, pre-token splits, token strings), kept by the
# allocator of whichever thread ran it: a 4 MB piece costs ~0.5 GB per
# thread. Long documents therefore go in pieces of at most 256 kB (a typical
# book chapter), many to a batch.
PIECE_CHARS = 1 << 18

# A cut point: a newline or a single space between two non-space characters.
# GPT-2-style byte-level pre-tokenizers end a piece before either, so cutting
# there gives exactly the tokens of the uncut text (checked per tokenizer by
# `_cuts_are_exact`).
_CUT = re.compile(r"(?<=\S)(?=\n\S)|(?<=\S\n)(?=\S)|(?<=\S)(?= \S)")
_PROBE = "Thou art, 42 times!\nMore lovely's it\n'tis so. Ok 7\nx"
_START_PROBE = "Thou"


@dataclass
class Tokenized:
    tokens: np.ndarray  # every document's start ids, tokens and EOS, back to back
    offsets: np.ndarray  # document d is tokens[offsets[d]:offsets[d + 1]]
    doc_sources: np.ndarray  # file index of each document
    files: list[str]  # file index -> path

    def doc(self, d: int) -> np.ndarray:
        return self.tokens[self.offsets[d] : self.offsets[d + 1]]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def ids(self) -> list[np.ndarray]:
        """One array (a view) per document, its start ids and EOS included."""
        return [self.doc(d) for d in range(len(self.doc_sources))]

    @property
    def sources(self) -> list[int]:
        return self.doc_sources.tolist()

    def tokens_per_file(self) -> dict[str, int]:
        """Tokens of each file, its documents' start ids and EOS included."""
        counts = np.bincount(self.doc_sources, weights=self.lengths, minlength=len(self.files))
        return {path: int(n) for path, n in zip(self.files, counts, strict=True)}


def start_ids(tokenizer) -> list[int]:
    """The token ids the tokenizer's own convention puts before every text: Llama
    3's `<|begin_of_text|>`, Gemma's `<bos>`; none for GPT-2, SmolLM2 or Qwen.
    Documents and prompts start with them, so a model reads text as it was
    pretrained to (Gemma scores text without its `<bos>` as if it were noise)."""
    plain = tokenizer(_START_PROBE, add_special_tokens=False)["input_ids"]
    full = tokenizer(_START_PROBE)["input_ids"]
    for i in range(len(full) - len(plain) + 1):
        if full[i : i + len(plain)] == plain:
            return list(full[:i])
    return []


def with_start(tokenizer, ids: list[int]) -> list[int]:
    """`ids` after the tokenizer's start ids, unless they already begin with them
    (a prompt rendered by a chat template writes its own)."""
    start = start_ids(tokenizer)
    return list(ids) if list(ids[: len(start)]) == start else start + list(ids)


def or_start_token(tokenizer, ids: list[int]) -> list[int]:
    """`ids`, or for an empty prompt the tokenizer's BOS (else its EOS) to start
    from; [] when it has neither."""
    if ids:
        return list(ids)
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return [] if start is None else [start]


def encoder(tokenizer):
    """texts -> token id lists. The tokenizers backend's `encode_batch_fast`
    skips the offsets and the BatchEncoding that `tokenizer(texts)` builds
    (~1.6x faster measured here, same ids); any other tokenizer, or a backend left with
    truncation or padding on, goes through `tokenizer(...)`."""
    backend = getattr(tokenizer, "_tokenizer", None)
    fast = getattr(backend, "encode_batch_fast", None)
    if (
        fast is not None
        and backend.truncation is None
        and backend.padding is None
        and backend.encode_special_tokens == bool(getattr(tokenizer, "split_special_tokens", False))
    ):
        return lambda texts: [e.ids for e in fast(texts, add_special_tokens=False)]
    return lambda texts: tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]


def _cuts_are_exact(encode, tokenizer) -> bool:
    """Whether cutting text at `_CUT` points leaves its tokens unchanged."""
    added = getattr(tokenizer, "added_tokens_decoder", {}).values()
    if any(getattr(t, "lstrip", False) or getattr(t, "rstrip", False) for t in added):
        return False
    whole = encode([_PROBE])[0]
    for match in _CUT.finditer(_PROBE):
        left, right = encode([_PROBE[: match.start()], _PROBE[match.start() :]])
        if left + right != whole:
            return False
    return True


def _pieces(blocks: Iterable[str], limit: int, exact_cuts: bool) -> Iterator[str]:
    """A document's text in pieces of about `limit` characters, cut only at
    `_CUT` points (or whole when cuts would change the tokens). A stretch of
    4 x `limit` characters with no cut point is cut where it stands."""
    if not exact_cuts:
        yield "".join(blocks)
        return
    carry = ""
    for block in blocks:
        carry += block
        while len(carry) > 4 * limit:
            cut = _cut_point(carry, limit)
            yield carry[:cut]
            carry = carry[cut:]
    while len(carry) > limit:
        cut = _cut_point(carry, limit)
        yield carry[:cut]
        carry = carry[cut:]
    yield carry


def _cut_point(text: str, limit: int) -> int:
    """The last cut point between limit/2 and limit, else the first one up to
    4 x limit, else `limit` itself."""
    late = max((m.start() for m in _CUT.finditer(text, limit // 2, limit)), default=-1)
    if late > 0:
        return late
    early = _CUT.search(text, limit, 4 * limit)
    return early.start() if early else limit


def _batches(documents, limit: int, exact_cuts: bool) -> Iterator[list[tuple[int, str]]]:
    """(document number, text piece) pairs in batches of about `limit` chars."""
    batch, chars = [], 0
    for number, doc in enumerate(documents):
        for piece in _pieces(doc.blocks(), min(limit, PIECE_CHARS), exact_cuts):
            batch.append((number, piece))
            chars += len(piece)
            if chars >= limit:
                yield batch
                batch, chars = [], 0
    if batch:
        yield batch


def _noting_sources(documents, index: dict[str, int], sources: list[int]):
    for doc in documents:
        sources.append(index[doc.path])
        yield doc


def tokenize(corpus, tokenizer, *, batch_chars: int = BATCH_CHARS) -> Tokenized:
    """Tokenize every document of `corpus`: its start ids (`start_ids`), its
    tokens, then EOS."""
    from tqdm.auto import tqdm

    corpus.require_text()
    files = corpus.files_used
    dtype = np.uint16 if len(tokenizer) <= 1 << 16 else np.int32
    encode = encoder(tokenizer)
    exact = _cuts_are_exact(encode, tokenizer)
    eos = np.array([tokenizer.eos_token_id], dtype=dtype)
    start = np.array(start_ids(tokenizer), dtype=dtype)
    parts: list[np.ndarray] = []
    lengths: list[int] = []  # tokens of each document so far
    sources: list[int] = []
    documents = _noting_sources(corpus.documents, {p: i for i, p in enumerate(files)}, sources)
    with tqdm(
        total=len(corpus.documents), desc="Tokenizing", disable=not log.progress_bars(), leave=False
    ) as bar:
        for batch in _batches(documents, batch_chars, exact):
            for (number, _), ids in zip(batch, encode([t for _, t in batch]), strict=True):
                if number == len(lengths):  # the first piece of a new document
                    if lengths:
                        parts.append(eos)
                        bar.update(1)
                    parts.append(start)
                    lengths.append(len(start) + 1)  # its start ids and EOS
                parts.append(np.asarray(ids, dtype=dtype))
                lengths[-1] += len(ids)
        parts.append(eos)
        bar.update(1)
    if len(lengths) != len(corpus.documents):
        raise TextgenError("the files changed while being read; run again")
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Tokenized(np.concatenate(parts), offsets, np.asarray(sources, np.int32), files)
