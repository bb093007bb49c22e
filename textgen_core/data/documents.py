"""What ingest yields: documents, the sources they come from, skipped files,
and the readers that turn a source's bytes into its documents again."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from textgen_core.data.chat_formats import TEXT, BadRow, Columns
from textgen_core.data.decoding import decode, decode_blocks, read_blocks
from textgen_core.errors import TextgenError

TABLE_SUFFIXES = {".csv", ".jsonl", ".json", ".parquet"}
_OTHER_FORMATS = (
    "; prompt/answer tables have prompt+completion, instruction+output, messages or "
    "conversations columns (name others with --prompt-column and --response-column)"
)
MEMBER_BLOCK_BYTES = 1 << 22


@dataclass
class Document:
    path: str
    text: str

    def blocks(self) -> Iterator[str]:
        yield self.text


@dataclass
class FileDocument:
    """A whole text file as one document, read from disk when asked."""

    path: str
    encoding: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.blocks())

    def blocks(self) -> Iterator[str]:
        return read_blocks(Path(self.path), encoding=self.encoding)


@dataclass
class MemberDocument:
    """A text file inside a zip archive as one document, read when asked."""

    path: str
    archive: str
    member: str
    encoding: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.blocks())

    def blocks(self) -> Iterator[str]:
        return decode_blocks(member_chunks(self.archive, self.member), self.encoding)


def member_chunks(archive: str, member: str) -> Iterator[bytes]:
    with zipfile.ZipFile(archive) as zf, zf.open(member) as f:
        yield from iter(lambda: f.read(MEMBER_BLOCK_BYTES), b"")


@dataclass
class Skipped:
    path: str
    reason: str


def split_documents(blocks, separator: str) -> Iterator[str]:
    """The documents of a text given in blocks, cut at each `separator`;
    newlines around a cut are dropped, and whitespace-only pieces left out."""
    carry, searched = "", 0
    for block in blocks:
        carry += block
        while (at := carry.find(separator, searched)) >= 0:
            piece, carry, searched = carry[:at], carry[at + len(separator) :], 0
            if piece.strip():
                yield piece.strip("\n")
        searched = max(0, len(carry) - len(separator) + 1)  # a separator may straddle blocks
    if carry.strip():
        yield carry.strip("\n")


@dataclass
class Source:
    """An accepted file or dataset: how many documents it held when scanned, a
    digest of their texts (equal digests: equal documents), and what kind of
    file it is. Plain text is read again from disk each time it is iterated;
    extracted documents and table rows are held as `texts`. A table of
    prompt/answer or chat data (`format` not "text") has conversations, not
    documents: `documents` counts them and `iter_conversations` reads them
    again."""

    path: str
    documents: int
    digest: str
    dataset: object | None = None  # a hub_datasets.HubDataset
    kind: str = "text"
    encoding: str | None = None
    texts: list[str] | None = None
    separator: str | None = None
    archive: str | None = None  # the zip holding this member
    format: str = TEXT  # chat_formats: text, messages, sharegpt, prompt-completion, alpaca
    columns: Columns | None = None  # where a prompt-completion table keeps its pairs

    @property
    def is_chat(self) -> bool:
        return self.format != TEXT

    def iter_conversations(self) -> Iterator[tuple[int, list[dict]]]:
        """(row number, messages) of each usable row of a chat source."""
        from textgen_core.data.conversations import conversations
        from textgen_core.data.records import records

        if not self.is_chat:
            return
        rows = (
            self.dataset.records()
            if self.dataset is not None
            else records(Path(self.path), self.encoding)
        )
        for number, item in conversations(rows, self.format, self.columns or Columns()):
            if not isinstance(item, BadRow):
                yield number, item

    def iter_documents(self) -> Iterator[Document | FileDocument | MemberDocument]:
        if self.is_chat:
            return
        if self.dataset is not None:
            for _, text in self.dataset.texts():
                yield Document(self.path, text)
        elif self.texts is not None:
            for text in self.texts:
                yield Document(self.path, text)
        elif self.archive is None and Path(self.path).suffix.lower() in TABLE_SUFFIXES:
            for text in read_table(Path(self.path), self.encoding):
                yield Document(self.path, text)
        else:
            whole = self._whole()
            if self.separator is None:
                yield whole
            else:
                for text in split_documents(whole.blocks(), self.separator):
                    yield Document(self.path, text)

    def _whole(self) -> FileDocument | MemberDocument:
        if self.archive is None:
            return FileDocument(self.path, self.encoding)
        member = self.path[len(self.archive) + 1 :]
        return MemberDocument(self.path, self.archive, member, self.encoding)


def text_digest(texts) -> str:
    """Digest of a sequence of texts that keeps their boundaries."""
    outer = hashlib.sha256()
    for text in texts:
        outer.update(hashlib.sha256(text.encode()).digest())
    return outer.hexdigest()


def _json_texts(text: str) -> list[str]:
    """A JSON file's texts: a list of {"text": ...} records (or of strings),
    or one such record."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TextgenError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
    records = data if isinstance(data, list) else [data]
    texts = []
    for number, record in enumerate(records):
        if isinstance(record, dict) and isinstance(record.get("text"), str):
            texts.append(record["text"])
        elif isinstance(record, str):
            texts.append(record)
        else:
            raise TextgenError(
                f"JSON item {number} is neither a string nor an object with a string 'text' "
                'field; give a list like [{"text": "..."}, ...]'
            )
    return [t for t in texts if t.strip()]


def parquet_texts(path: Path) -> list[str]:
    """The non-empty values of a Parquet file's `text` column."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        if "text" not in schema.names:
            raise TextgenError(
                f"Parquet file has no 'text' column (columns: {schema.names}){_OTHER_FORMATS}"
            )
        values = pq.read_table(path, columns=["text"]).column("text").to_pylist()
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise TextgenError(f"damaged Parquet file ({exc})") from None
    return [v for v in values if isinstance(v, str) and v.strip()]


def table_texts(name: str, text: str) -> list[str]:
    """The `text` column of a CSV, the `text` field of each JSONL line, or the
    texts of a JSON file."""
    if name.lower().endswith(".json"):
        return _json_texts(text)
    if name.lower().endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "text" not in reader.fieldnames:
            raise TextgenError(
                f"CSV has no 'text' column (columns: {reader.fieldnames}){_OTHER_FORMATS}"
            )
        return [t for t in (row["text"] or "" for row in reader) if t.strip()]
    texts = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TextgenError(f"line {number} is not JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise TextgenError(f"line {number} has no string 'text' field{_OTHER_FORMATS}")
        if record["text"].strip():
            texts.append(record["text"])
    return texts


def read_table(path: Path, encoding: str | None = None) -> list[str]:
    """The non-empty texts of a CSV, JSONL, JSON or Parquet file (UTF-8 unless
    `encoding`)."""
    if path.suffix.lower() == ".parquet":
        return parquet_texts(path)
    return table_texts(path.name, decode(path.read_bytes(), encoding))
