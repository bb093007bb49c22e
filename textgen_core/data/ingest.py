"""Files (and datasets) -> validated documents.

Every file found under the given paths either becomes a document or is listed
as skipped with its reason; nothing vanishes silently. Files are scanned one
at a time and their text is not kept: `Corpus.documents` reads them again when
iterated, so a corpus of any size costs memory for one file (a plain text
file: one block) at a time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from textgen_core.data.decoding import decode, read_blocks
from textgen_core.errors import TextgenError

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text"}
TABLE_SUFFIXES = {".csv", ".jsonl"}


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

    @property
    def text(self) -> str:
        return "".join(self.blocks())

    def blocks(self) -> Iterator[str]:
        return read_blocks(Path(self.path))


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class Source:
    """An accepted file or dataset: how many documents it held when scanned and
    a digest of their texts (equal digests: equal documents)."""

    path: str
    documents: int
    digest: str
    dataset: object | None = None  # a hub_datasets.HubDataset

    def iter_documents(self) -> Iterator[Document | FileDocument]:
        if self.dataset is not None:
            for _, text in self.dataset.texts():
                yield Document(self.path, text)
        elif Path(self.path).suffix.lower() in TABLE_SUFFIXES:
            for text in read_table(Path(self.path)):
                yield Document(self.path, text)
        else:
            yield FileDocument(self.path)


class SourceDocuments(Sequence):
    """The documents of scanned sources, read again on each iteration."""

    def __init__(self, sources: list[Source]):
        self.sources = sources

    def __len__(self) -> int:
        return sum(s.documents for s in self.sources)

    def __iter__(self) -> Iterator[Document | FileDocument]:
        for source in self.sources:
            yield from source.iter_documents()

    def __getitem__(self, index):
        if isinstance(index, slice):
            return list(self)[index]
        index = range(len(self))[index]
        for source in self.sources:
            if index < source.documents:
                return next(d for i, d in enumerate(source.iter_documents()) if i == index)
            index -= source.documents
        raise IndexError(index)  # pragma: no cover - range() above already checked

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"SourceDocuments({len(self)} documents from {len(self.sources)} sources)"


def text_digest(texts) -> str:
    """Digest of a sequence of texts that keeps their boundaries."""
    outer = hashlib.sha256()
    for text in texts:
        outer.update(hashlib.sha256(text.encode()).digest())
    return outer.hexdigest()


@dataclass
class Corpus:
    documents: Sequence = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def require_text(self) -> None:
        if not self.documents:
            raise TextgenError(
                "no usable text: every file was skipped (reasons above); "
                "give .txt, .md, .rst, .csv or .jsonl files in UTF-8"
            )

    @property
    def files_used(self) -> list[str]:
        if isinstance(self.documents, SourceDocuments):
            return sorted({s.path for s in self.documents.sources})
        return sorted({d.path for d in self.documents})

    def fingerprint(self, *, paths: bool = True) -> str:
        """Digest of every document's text, in order, and of where each came
        from unless `paths=False` (the same texts moved to another folder)."""
        if isinstance(self.documents, SourceDocuments):
            parts = [[s.path, s.documents, s.digest] for s in self.documents.sources]
        else:
            parts = [[d.path, text_digest([d.text])] for d in self.documents]
        if not paths:
            parts = [part[1:] for part in parts]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def find_files(paths: list[str | Path]) -> list[Path]:
    """Expand files and folders (recursively, sorted) into a list of files."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise TextgenError(f"{raw}: no such file or folder; check the path")
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p, path)))
        else:
            found.append(path)
    return found


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _table_texts(path: Path, text: str) -> list[str]:
    """The `text` column of a CSV or the `text` field of each JSONL line."""
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "text" not in reader.fieldnames:
            raise TextgenError(f"CSV has no 'text' column (columns: {reader.fieldnames})")
        return [row["text"] or "" for row in reader]
    texts = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TextgenError(f"line {number} is not JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise TextgenError(f"line {number} has no string 'text' field")
        texts.append(record["text"])
    return texts


def read_table(path: Path) -> list[str]:
    """The non-empty texts of a CSV or JSONL file."""
    return [t for t in _table_texts(path, decode(path.read_bytes())) if t.strip()]


def _check_suffix(path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES | TABLE_SUFFIXES:
        accepted = ", ".join(sorted(TEXT_SUFFIXES | TABLE_SUFFIXES))
        raise TextgenError(f"unsupported file type '{suffix or path.name}' (accepted: {accepted})")


def scan_file(path: Path) -> Source:
    """Validate one file without keeping its text; TextgenError with the reason
    to skip it."""
    _check_suffix(path)
    if path.suffix.lower() in TABLE_SUFFIXES:
        texts = read_table(path)
        count, digest = len(texts), text_digest(texts)
    else:
        inner, count = hashlib.sha256(), 0
        for block in read_blocks(path):
            inner.update(block.encode())
            count = count or int(bool(block) and not block.isspace())
        digest = hashlib.sha256(inner.digest()).hexdigest()
    if not count:
        raise TextgenError("empty or whitespace-only")
    return Source(str(path), count, digest)


def _scan(entry, corpus_skipped: list[Skipped]) -> list[Source]:
    if hasattr(entry, "scan"):  # a source of its own, e.g. hub_datasets.HubDataset
        source, skipped = entry.scan()
        corpus_skipped.extend(Skipped(path, reason) for path, reason in skipped)
        return [source] if source else []
    sources = []
    for path in find_files([entry]):
        try:
            sources.append(scan_file(path))
        except TextgenError as exc:
            corpus_skipped.append(Skipped(str(path), str(exc)))
        except OSError as exc:
            corpus_skipped.append(Skipped(str(path), f"unreadable ({exc.strerror or exc})"))
    return sources


def load_corpus(paths: list) -> Corpus:
    """Scan every file under `paths` (and every `hub_datasets.HubDataset` among
    them); duplicates (same texts) are skipped."""
    for raw in paths:  # a missing path fails before anything is read
        if isinstance(raw, (str, Path)) and not Path(raw).exists():
            raise TextgenError(f"{raw}: no such file or folder; check the path")
    corpus = Corpus()
    sources: list[Source] = []
    seen: dict[str, str] = {}
    for entry in paths:
        for source in _scan(entry, corpus.skipped):
            if source.digest in seen:
                corpus.skipped.append(Skipped(source.path, f"duplicate of {seen[source.digest]}"))
                continue
            seen[source.digest] = source.path
            sources.append(source)
    corpus.documents = SourceDocuments(sources)
    return corpus
