"""Files (and datasets) -> validated documents.

Every file found under the given paths either becomes a document or is listed
as skipped with its reason; nothing vanishes silently. Files are scanned one
at a time and the text of plain files is not kept: `Corpus.documents` reads
them again when iterated, so a corpus of any size costs memory for one file
(a plain text file: one block) at a time. Text extracted from documents (Word,
PDF, EPUB...) and table rows are kept, since extracting again costs far more
than the text takes. How one file is read is `scan.py`'s concern.

Tables of prompt/answer or chat data are sources too, of conversations
rather than documents (`Corpus.conversations`); `documents` holds the text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from textgen_core.data.chat_formats import Columns, counted
from textgen_core.data.documents import (  # noqa: F401 - the names ingest always offered
    TABLE_SUFFIXES,
    Document,
    FileDocument,
    MemberDocument,
    Skipped,
    Source,
    read_table,
    text_digest,
)
from textgen_core.data.scan import ScanOptions, scan_file, scan_path  # noqa: F401
from textgen_core.errors import TextgenError


class SourceDocuments(Sequence):
    """The documents of scanned sources, read again on each iteration
    (`sources` also holds the tables of conversations, which have none)."""

    def __init__(self, sources: list[Source]):
        self.sources = sources

    def __len__(self) -> int:
        return sum(s.documents for s in self.sources if not s.is_chat)

    def __iter__(self) -> Iterator[Document | FileDocument]:
        for source in self.sources:
            yield from source.iter_documents()

    def __getitem__(self, index):
        if isinstance(index, slice):
            return list(self)[index]
        index = range(len(self))[index]
        for source in (s for s in self.sources if not s.is_chat):
            if index < source.documents:
                return next(d for i, d in enumerate(source.iter_documents()) if i == index)
            index -= source.documents
        raise IndexError(index)  # pragma: no cover - range() above already checked

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"SourceDocuments({len(self)} documents from {len(self.sources)} sources)"


@dataclass
class Corpus:
    documents: Sequence = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    file_table: list[dict] = field(default_factory=list)
    """Filled in once the tokens are known (`file_table.file_rows`)."""

    @property
    def chat_sources(self) -> list[Source]:
        """The sources of prompt/answer and chat data."""
        return [s for s in getattr(self.documents, "sources", []) if s.is_chat]

    def conversations(self) -> Iterator[tuple[str, int, list[dict]]]:
        """(file, row number, messages) of every usable prompt/answer or chat row."""
        for source in self.chat_sources:
            for row, messages in source.iter_conversations():
                yield source.path, row, messages

    def require_text(self) -> None:
        if not self.documents and not self.chat_sources:
            raise TextgenError(
                "no usable text: every file was skipped (reasons above); give text "
                "files (any name), Word, OpenDocument, PDF, EPUB, HTML or subtitle files, "
                "a .csv/.jsonl/.json/.parquet with a text column or prompt/answer pairs, "
                "or a .zip of these"
            )

    @property
    def files_used(self) -> list[str]:
        if isinstance(self.documents, SourceDocuments):
            return sorted({s.path for s in self.documents.sources})
        return sorted({d.path for d in self.documents})

    @property
    def kinds(self) -> dict[str, str]:
        """What kind of file each used source is ("text", "PDF, 3 pages")."""
        if isinstance(self.documents, SourceDocuments):
            return {s.path: _kind(s) for s in self.documents.sources}
        return dict.fromkeys(self.files_used, "text")

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


def _kind(source: Source) -> str:
    if source.dataset is not None:
        return (
            f"dataset, {counted(source.format, source.documents)}" if source.is_chat else "dataset"
        )
    return source.kind


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


def _scan(entry, corpus_skipped: list[Skipped], options: ScanOptions) -> list[Source]:
    if hasattr(entry, "scan"):  # a source of its own, e.g. hub_datasets.HubDataset
        source, skipped = entry.scan()
        corpus_skipped.extend(Skipped(path, reason) for path, reason in skipped)
        return [source] if source else []
    sources = []
    for path in find_files([entry]):
        sources.extend(scan_path(path, options, corpus_skipped))
    return sources


def load_corpus(
    paths: list,
    *,
    doc_separator: str | None = None,
    options: ScanOptions | None = None,
    columns: Columns | None = None,
) -> Corpus:
    """Scan every file under `paths` (and every `hub_datasets.HubDataset` among
    them); duplicates (same texts) are skipped. `doc_separator` cuts each
    text into documents; `columns` names the prompt and answer columns of
    prompt/completion tables; `options` sets the caps of extraction and archives."""
    import dataclasses

    options = options or ScanOptions()
    if doc_separator is not None:
        options = dataclasses.replace(options, doc_separator=doc_separator)
    if columns is not None:
        options = dataclasses.replace(options, columns=columns)
    for raw in paths:  # a missing path fails before anything is read
        if isinstance(raw, (str, Path)) and not Path(raw).exists():
            raise TextgenError(f"{raw}: no such file or folder; check the path")
    corpus = Corpus()
    sources: list[Source] = []
    seen: dict[str, str] = {}
    for entry in paths:
        for source in _scan(entry, corpus.skipped, options):
            if source.digest in seen:
                corpus.skipped.append(Skipped(source.path, f"duplicate of {seen[source.digest]}"))
                continue
            seen[source.digest] = source.path
            sources.append(source)
    corpus.documents = SourceDocuments(sources)
    return corpus
