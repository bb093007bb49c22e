"""One file -> its sources, or the reason it gives no text.

The file's contents decide, not its name: an extension only picks a
structured reader (`.csv`/`.jsonl`: a text column) or a document extractor
(`extract/`), and a PDF or Word file without its extension is still
recognised. Everything else is text when its bytes are (`decoding.py`), in
whatever encoding, and a binary file is named by what it looks like.
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from textgen_core.data import archive, chat_formats, conversations, records
from textgen_core.data.chat_formats import Columns
from textgen_core.data.decoding import (
    SNIFF_BYTES,
    NotUtf8,
    decode,
    decode_blocks,
    legacy_encoding,
)
from textgen_core.data.documents import (
    TABLE_SUFFIXES,
    Skipped,
    Source,
    member_chunks,
    parquet_texts,
    split_documents,
    table_texts,
    text_digest,
)
from textgen_core.data.extract import registry
from textgen_core.data.extract.sandbox import Limits
from textgen_core.errors import TextgenError

_HEAD = 8192
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass
class ScanOptions:
    doc_separator: str | None = None
    """Cut each text into documents at this string (None: one file, one document)."""
    limits: Limits = field(default_factory=Limits)
    """Time, memory and size caps of document extraction."""
    archive_limits: archive.ArchiveLimits = field(default_factory=archive.ArchiveLimits)
    """Caps on what a zip archive may unpack to."""
    columns: Columns = field(default_factory=Columns)
    """The prompt and answer columns of prompt/completion tables."""


def _digest(blocks: Iterable[str], separator: str | None) -> tuple[int, str]:
    """(documents, digest) of a text read in blocks, without keeping it."""
    if separator is not None:
        texts = list(split_documents(blocks, separator))
        return len(texts), text_digest(texts)
    inner, count = hashlib.sha256(), 0
    for block in blocks:
        inner.update(block.encode())
        count = count or int(bool(block) and not block.isspace())
    return count, hashlib.sha256(inner.digest()).hexdigest()


def scan_text(chunks: Callable[[], Iterable[bytes]], head: bytes, separator: str | None):
    """(documents, digest, encoding, kind) of text whose bytes `chunks()`
    gives: UTF-8 or BOM-marked UTF-16 as it is, else a legacy encoding."""
    try:
        count, digest = _digest(decode_blocks(chunks()), separator)
        return count, digest, None, "text (UTF-16)" if head.startswith(_UTF16_BOMS) else "text"
    except NotUtf8 as exc:
        sample = b""
        for chunk in chunks():
            sample += chunk
            if len(sample) >= SNIFF_BYTES:
                break
        encoding = legacy_encoding(sample)
        if encoding is None:
            raise TextgenError(f"{exc}; no other encoding reads it as text either") from None
    count, digest = _digest(decode_blocks(chunks(), encoding), separator)
    return count, digest, encoding, f"text ({encoding})"


def _nonempty(source: Source) -> Source:
    if not source.documents:
        raise TextgenError("empty or whitespace-only")
    return source


def _extracted(path: str, found, separator: str | None) -> Source:
    texts = [t for t in found.documents if t.strip()]
    if separator is not None:
        texts = [piece for t in texts for piece in split_documents([t], separator)]
    return _nonempty(Source(path, len(texts), text_digest(texts), kind=found.kind, texts=texts))


_TABLE_KINDS = {".csv": "CSV table", ".jsonl": "JSON Lines", ".json": "JSON", ".parquet": "Parquet"}


def _table_kind(name: str, rows: int, fmt: str = chat_formats.TEXT) -> str:
    what = _TABLE_KINDS[Path(name).suffix.lower()]
    return f"{what}, {chat_formats.counted(fmt, rows)}"


def scan_file(
    path: Path, options: ScanOptions | None = None, skipped: list[Skipped] | None = None
) -> list[Source]:
    """The source of one file, in a list; TextgenError with the reason to
    skip it, or `archive.IsArchive` for a zip to read member by member. Rows
    of a prompt/answer table that can't be used go to `skipped`."""
    options = options or ScanOptions()
    skipped = [] if skipped is None else skipped
    with open(path, "rb") as f:
        head = f.read(_HEAD)
    module = registry.extractor_for(path, head)
    if module:
        found = registry.extract(path, module, options.limits)
        return [_extracted(str(path), found, options.doc_separator)]
    if path.suffix.lower() in TABLE_SUFFIXES:
        return [_table_source(path, options.columns, skipped)]
    if path.suffix.lower() == ".zip" or head.startswith(b"PK\x03\x04"):
        raise archive.IsArchive
    chunks = lambda: _file_chunks(path)  # noqa: E731
    count, digest, encoding, kind = scan_text(chunks, head, options.doc_separator)
    separator = options.doc_separator
    return [
        _nonempty(
            Source(str(path), count, digest, kind=kind, encoding=encoding, separator=separator)
        )
    ]


def _table_source(path: Path, names: Columns, skipped: list[Skipped]) -> Source:
    encoding, text = None, None
    if path.suffix.lower() != ".parquet":
        text, encoding = _table_text(path.read_bytes())
    fmt = chat_formats.detect(records.columns(path, text), names)
    if fmt != chat_formats.TEXT:
        return _chat_source(path, encoding, fmt, names, skipped)
    texts = parquet_texts(path) if text is None else table_texts(path.name, text)
    kind = _table_kind(path.name, len(texts))
    return _nonempty(
        Source(str(path), len(texts), text_digest(texts), kind=kind, encoding=encoding)
    )


def _chat_source(
    path: Path, encoding: str | None, fmt: str, names: Columns, skipped: list[Skipped]
) -> Source:
    rows = records.records(path, encoding)
    count, digest, bad = conversations.scan(str(path), rows, fmt, names)
    if not count:
        reasons = "; ".join(f"{what.removeprefix(str(path) + ' ')}: {why}" for what, why in bad)
        raise TextgenError(f"{chat_formats.LABELS[fmt]} table with no usable row ({reasons})")
    skipped.extend(Skipped(what, why) for what, why in bad)
    kind = _table_kind(path.name, count, fmt)
    return Source(str(path), count, digest, kind=kind, encoding=encoding, format=fmt, columns=names)


def _file_chunks(path: Path):
    with open(path, "rb") as f:
        yield from iter(lambda: f.read(1 << 22), b"")


def _table_text(raw: bytes) -> tuple[str, str | None]:
    """A table file's text and its encoding (None: UTF-8)."""
    try:
        return decode(raw), None
    except NotUtf8:
        encoding = legacy_encoding(raw[:SNIFF_BYTES])
        if encoding is None:
            raise
        return decode(raw, encoding), encoding


def scan_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str, options: ScanOptions):
    """The source of one member of an open zip archive, read through the same
    rules as a file. A member touches the disk only when an extractor needs a
    file, and then under a generated name in a temporary folder."""
    with zf.open(info) as f:
        head = f.read(_HEAD)
    suffix = Path(info.filename).suffix.lower()
    if suffix == ".zip":
        raise TextgenError(_NESTED)
    if suffix in registry.BY_SUFFIX or head.startswith((b"%PDF-", b"PK\x03\x04")):
        with tempfile.TemporaryDirectory(prefix="textgen-member-") as tmp:
            target = Path(tmp) / f"member{archive.safe_suffix(info.filename)}"
            with zf.open(info) as src, open(target, "wb") as dst:
                while block := src.read(1 << 22):
                    dst.write(block)
            module = registry.extractor_for(target, head)
            if module is None:
                raise TextgenError(_NESTED)
            found = registry.extract(target, module, options.limits)
        return _extracted(shown, found, options.doc_separator)
    if suffix == ".parquet":
        raise TextgenError("Parquet file inside an archive; unpack it and give the folder")
    if suffix in TABLE_SUFFIXES:
        text = _table_text(zf.read(info))[0]
        fmt = chat_formats.detect(records.columns(Path(info.filename), text), options.columns)
        if fmt != chat_formats.TEXT:
            raise TextgenError(
                f"{chat_formats.LABELS[fmt]} table inside an archive; unpack it and give the folder"
            )
        texts = table_texts(info.filename, text)
        kind = _table_kind(info.filename, len(texts))
        return _nonempty(Source(shown, len(texts), text_digest(texts), kind=kind, texts=texts))
    chunks = lambda: member_chunks(zf.filename, info.filename)  # noqa: E731
    count, digest, encoding, kind = scan_text(chunks, head, options.doc_separator)
    return _nonempty(
        Source(
            shown,
            count,
            digest,
            kind=kind,
            encoding=encoding,
            separator=options.doc_separator,
            archive=zf.filename,
        )
    )


_NESTED = "archive inside an archive; unpack it and give the folder"


def scan_path(path: Path, options: ScanOptions, skipped: list[Skipped]) -> list[Source]:
    """Sources of one file, a zip archive's members included; what can't be
    read goes to `skipped` with its reason."""
    try:
        return scan_file(path, options, skipped)
    except archive.IsArchive:
        return archive.scan_zip(path, options.archive_limits, skipped, _member_scanner(options))
    except TextgenError as exc:
        skipped.append(Skipped(str(path), str(exc)))
    except OSError as exc:
        skipped.append(Skipped(str(path), f"unreadable ({exc.strerror or exc})"))
    return []


def _member_scanner(options: ScanOptions):
    return lambda zf, info, shown: scan_member(zf, info, shown, options)
