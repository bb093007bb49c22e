"""Uploaded files: size limits, storage under generated names, and a preview of
what a training run would make of them.

An uploaded file's name is only ever shown to people, never used as a path:
each file is stored as `fileNNN<suffix>` inside a folder the caller owns. The
suffix is kept (lower-cased, letters and digits only) because it picks the
reader of structured files (.csv, .jsonl) and documents (.docx, .srt...);
everything else is judged by its contents. Whatever ingest says about a
stored file (paths, reasons, a zip's members) is shown with the name the
person gave it (`shown`).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from textgen_core.config import DataConfig
from textgen_core.errors import TextgenError
from textgen_core.serve.settings import MB

SMALL_CORPUS_TOKENS = 50_000
"""Below this many training tokens the preview warns that results will be rough."""
FEW_EXAMPLES = 200
"""Below this many training examples of prompt/answer data the preview warns."""
TRAINED = "trained"
"""The label of the answer tokens in the preview's example."""


@dataclass
class UploadLimits:
    max_file_bytes: int = 50 * MB
    """Largest accepted single file."""
    max_total_bytes: int = 200 * MB
    """Largest accepted upload, all files together."""
    max_files: int = 500
    """Most files in one upload."""


@dataclass
class StoredFile:
    name: str
    """The name the person gave the file (shown, never used as a path)."""
    stored: str
    """The generated file name inside the uploads folder."""
    size: int
    """Bytes."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Preview:
    rows: list[list] = field(default_factory=list)
    """One row per file: name, accepted/skipped, reason, tokens, kind ("Word document")."""
    summary: str = ""
    """Tokens, chunks and split sizes, in a sentence."""
    warning: str | None = None
    """Why the corpus may train poorly, or why it cannot train at all."""
    example: list[tuple[str, str | None]] = field(default_factory=list)
    """Prompt/answer data: the first training example as rendered, in pieces,
    the answer pieces (what the loss is on) labelled TRAINED."""


def display_name(raw: str) -> str:
    """The last path component of an uploaded name, without control characters."""
    name = re.split(r"[\\/]", str(raw))[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()
    return name[:200] or "unnamed"


def safe_suffix(raw: str) -> str:
    """`.txt` for `Notes.TXT`; letters and digits only, so it can't form a path."""
    suffix = Path(display_name(raw)).suffix.lower()
    cleaned = re.sub(r"[^a-z0-9]", "", suffix[1:])[:10]
    return f".{cleaned}" if cleaned else ""


def _size(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB / 10 else f"{n / 1024:.1f} kB"


def check_limits(sources: list[Path], limits: UploadLimits) -> None:
    """Refuse an upload that is empty, or too large per file or in total."""
    if not sources:
        raise TextgenError("files: no files uploaded; add one or more text files")
    if len(sources) > limits.max_files:
        raise TextgenError(f"files: {len(sources)} files, at most {limits.max_files} allowed")
    total = 0
    for source in sources:
        size = source.stat().st_size
        if size > limits.max_file_bytes:
            raise TextgenError(
                f"files: {display_name(source.name)} is {_size(size)}; "
                f"the limit is {_size(limits.max_file_bytes)} per file"
            )
        total += size
    if total > limits.max_total_bytes:
        raise TextgenError(
            f"files: {_size(total)} in all; the limit is {_size(limits.max_total_bytes)} per upload"
        )


def store_uploads(
    sources: list[str | Path], folder: Path, limits: UploadLimits | None = None
) -> list[StoredFile]:
    """Copy uploaded files into `folder` under generated names."""
    paths = [Path(s) for s in sources]
    check_limits(paths, limits or UploadLimits())
    folder.mkdir(parents=True, exist_ok=True)
    stored, taken = [], set()
    for index, source in enumerate(paths):
        name = _unique(display_name(source.name), taken)
        target = f"file{index:03d}{safe_suffix(source.name)}"
        shutil.copyfile(source, folder / target)
        stored.append(StoredFile(name, target, (folder / target).stat().st_size))
    return stored


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name} ({n})", n + 1
    taken.add(candidate)
    return candidate


def names_by_path(folder: Path, stored: list[StoredFile]) -> dict[str, str]:
    """Ingest's path of each stored file -> the name people gave it."""
    return {str(folder / f.stored): f.name for f in stored}


def shown(text: str, names: dict[str, str]) -> str:
    """`text` (a path, or a message holding paths) with each stored file's path
    replaced by the name people gave it; a zip's member `…/file001.zip/a.txt`
    becomes `notes.zip/a.txt`."""
    for path in sorted(names, key=len, reverse=True):
        text = text.replace(path, names[path])
    return text


def usable_or_raise(folder: Path, stored: list[StoredFile], data: DataConfig | None = None) -> None:
    """Refuse a set of files none of which ingest would accept, naming each reason."""
    from textgen_core.data.chat_formats import Columns
    from textgen_core.data.ingest import load_corpus

    data = data or DataConfig()
    corpus = load_corpus([folder], doc_separator=data.doc_separator, columns=Columns.of(data))
    if corpus.documents or corpus.chat_sources:
        return
    names = names_by_path(folder, stored)
    reasons = "; ".join(f"{shown(s.path, names)}: {shown(s.reason, names)}" for s in corpus.skipped)
    raise TextgenError(f"files: no usable text ({reasons})")


@lru_cache(maxsize=4)
def _tokenizer(model: str, chat: bool = False):
    """`model`'s tokenizer; with `chat`, with a chat template (textgen's minimal
    one when it has none, as training gives it)."""
    from textgen_core.chat_template import ensure_chat_template
    from textgen_core.model.loading import load_tokenizer

    tokenizer = load_tokenizer(model)
    if chat:
        ensure_chat_template(tokenizer)
    return tokenizer


def preview(
    sources: list[str | Path], model: str, data: DataConfig, limits: UploadLimits | None = None
) -> Preview:
    """What training on `sources` with `model`'s tokenizer would see: accepted
    and skipped files, tokens, chunks and split sizes. Raises TextgenError for
    bad limits, settings or an unloadable tokenizer."""
    data.validate()
    with tempfile.TemporaryDirectory(prefix="textgen-preview-") as tmp:
        folder = Path(tmp)
        stored = store_uploads(sources, folder, limits)
        return _preview_folder(folder, stored, model, data)


def _preview_folder(folder: Path, stored: list[StoredFile], model: str, data: DataConfig):
    from textgen_core.data.chat_formats import Columns
    from textgen_core.data.file_table import left_out
    from textgen_core.data.ingest import load_corpus
    from textgen_core.data.prepare import split, tokenize_all

    names = names_by_path(folder, stored)
    corpus = load_corpus([folder], doc_separator=data.doc_separator, columns=Columns.of(data))
    if not corpus.documents and not corpus.chat_sources:
        rows = [
            [shown(s.path, names), "skipped", shown(s.reason, names), 0, ""] for s in corpus.skipped
        ]
        return Preview(rows, "No usable text.", "Every file was skipped; see the reasons.")
    tokenizer = _tokenizer(model, chat=bool(corpus.chat_sources))
    tok, chat = tokenize_all(corpus, tokenizer, data)
    per_file = tok.tokens_per_file() if tok is not None else {}
    stats = chat.stats() if chat is not None else {}
    for path, counts in stats.items():
        per_file[path] = counts["prompt_tokens"] + counts["answer_tokens"]
    if chat is not None:
        corpus.skipped.extend(left_out({"left_out": chat.left_out}))
    kinds = corpus.kinds
    rows = [
        [shown(p, names), "accepted", "", per_file.get(p, 0), kinds.get(p, "text")]
        for p in corpus.files_used
    ]
    rows += [
        [shown(s.path, names), "skipped", shown(s.reason, names), 0, ""] for s in corpus.skipped
    ]
    total = sum(per_file.values())
    example = _example(chat, tokenizer) if chat is not None else []
    try:
        splits = split(tok, data, tokenizer.pad_token_id, chat=chat)
    except TextgenError as exc:
        return Preview(rows, f"{total} tokens.", f"Cannot train on this: {exc}", example)
    return Preview(rows, _summary(total, splits, data), _warning(splits), example)


def _example(chat, tokenizer) -> list[tuple[str, str | None]]:
    """The first conversation's first row as text, in prompt and answer pieces."""
    import numpy as np

    ids, answers = chat.row(0)
    edges = np.flatnonzero(np.diff(answers.astype(np.int8))) + 1
    pieces = []
    for start, stop in zip([0, *edges], [*edges, len(ids)], strict=True):
        label = TRAINED if answers[start] else None
        pieces.append((tokenizer.decode(ids[start:stop].tolist()), label))
    return pieces


def _summary(total: int, splits, data: DataConfig) -> str:
    s = splits.summary()
    by = s["split_by"].replace("_", " ").replace("+", " and ")
    if splits.chat is not None:
        per_file = splits.chat["per_file"].values()
        examples = sum(f["examples"] for f in per_file)
        answers = sum(f["answer_tokens"] for f in per_file)
        return (
            f"{total} tokens, {examples} prompt/answer examples ({answers} answer tokens, "
            f"which training is on) -> train {s['train_chunks']}, validation "
            f"{s['validation_chunks']}, test {s['test_chunks']} rows (split by {by})."
        )
    chunks = s["train_chunks"] + s["validation_chunks"] + s["test_chunks"]
    return (
        f"{total} tokens -> {chunks} chunks of {data.chunk_size} tokens: "
        f"train {s['train_chunks']}, validation {s['validation_chunks']}, "
        f"test {s['test_chunks']} (split by {by})."
    )


def _warning(splits) -> str | None:
    if splits.chat is not None:
        rows = len(splits.train)
        if rows < FEW_EXAMPLES:
            return (
                f"Few examples: {rows} to train on. A model learns a task from hundreds of "
                f"examples or more; {FEW_EXAMPLES}+ give more reliable results."
            )
        return None
    train_tokens = splits.tokens("train")
    if train_tokens < SMALL_CORPUS_TOKENS:
        return (
            f"Small corpus: {train_tokens} training tokens. The model will pick up the style "
            "only roughly and can memorise; the test figures rest on little text. "
            f"{SMALL_CORPUS_TOKENS}+ tokens (about 200 kB of text) give more reliable results."
        )
    return None
