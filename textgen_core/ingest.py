"""Files -> validated documents.

Every file found under the given paths either becomes a document or is listed
as skipped with its reason; nothing vanishes silently.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from textgen_core.errors import TextgenError

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text"}
TABLE_SUFFIXES = {".csv", ".jsonl"}

# Magic numbers of common binary formats, so they are named in the skip reason.
_MAGIC = {
    b"\x89PNG": "PNG image",
    b"\xff\xd8\xff": "JPEG image",
    b"GIF8": "GIF image",
    b"\x1f\x8b": "gzip archive",
    b"PK\x03\x04": "zip archive",
    b"%PDF": "PDF document",
    b"\x7fELF": "executable (ELF)",
    b"MZ": "executable (Windows)",
    b"BZh": "bzip2 archive",
    b"\xfd7zXZ": "xz archive",
}


@dataclass
class Document:
    path: str
    text: str


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class Corpus:
    documents: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def require_text(self) -> None:
        if not self.documents:
            raise TextgenError(
                "no usable text: every file was skipped (reasons above); "
                "give .txt, .md, .rst, .csv or .jsonl files in UTF-8"
            )

    @property
    def files_used(self) -> list[str]:
        return sorted({d.path for d in self.documents})


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


def decode(raw: bytes) -> str:
    """Bytes -> text with newlines normalised, or TextgenError saying why not.

    UTF-8 (with or without BOM) and UTF-16 with a BOM are accepted; CRLF and CR
    become LF so the same text always gives the same tokens.
    """
    for magic, kind in _MAGIC.items():
        if raw.startswith(magic):
            raise TextgenError(f"binary file ({kind})")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise TextgenError(
                f"not valid UTF-16 despite its byte-order mark ({exc.reason})"
            ) from None
    else:
        if b"\x00" in raw[:8192]:
            raise TextgenError("binary file (contains NUL bytes)")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TextgenError(f"not UTF-8 text (byte {exc.start}); re-save it as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


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


def read_file(path: Path) -> list[str]:
    """The document texts of one file; TextgenError with the reason to skip it."""
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES | TABLE_SUFFIXES:
        accepted = ", ".join(sorted(TEXT_SUFFIXES | TABLE_SUFFIXES))
        raise TextgenError(f"unsupported file type '{suffix or path.name}' (accepted: {accepted})")
    text = decode(path.read_bytes())
    texts = _table_texts(path, text) if suffix in TABLE_SUFFIXES else [text]
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise TextgenError("empty or whitespace-only")
    return texts


def load_corpus(paths: list[str | Path]) -> Corpus:
    """Read every file under `paths`; duplicates (same content) are skipped."""
    corpus = Corpus()
    seen: dict[str, str] = {}
    for path in find_files(paths):
        name = str(path)
        try:
            texts = read_file(path)
        except TextgenError as exc:
            corpus.skipped.append(Skipped(name, str(exc)))
            continue
        except OSError as exc:
            corpus.skipped.append(Skipped(name, f"unreadable ({exc.strerror or exc})"))
            continue
        digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()
        if digest in seen:
            corpus.skipped.append(Skipped(name, f"duplicate of {seen[digest]}"))
            continue
        seen[digest] = name
        corpus.documents.extend(Document(name, t) for t in texts)
    return corpus
