"""Which extractor reads a file (by its extension, else by its contents), and
running it under the caps of `sandbox.py`."""

from __future__ import annotations

import importlib
import zipfile
from pathlib import Path

from textgen_core.data.extract.base import Extracted
from textgen_core.data.extract.sandbox import Limits, run_limited
from textgen_core.errors import TextgenError

BY_SUFFIX = {
    ".docx": "docx",
    ".odt": "odt",
    ".pdf": "pdf",
    ".epub": "epub",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".srt": "subtitles",
    ".vtt": "subtitles",
}
"""Extension -> the module of textgen_core.data.extract that reads it."""

_ZIP_MIMETYPES = {
    b"application/vnd.oasis.opendocument.text": "odt",
    b"application/epub+zip": "epub",
}


def extractor_for(path: Path, head: bytes) -> str | None:
    """The extractor for the file at `path` starting with `head`: by its
    extension, else by its contents (a PDF, Word, HTML or WebVTT file without
    its extension), else None (plain text, a table, or an archive)."""
    by_name = BY_SUFFIX.get(path.suffix.lower())
    if by_name:
        return by_name
    if head.startswith(b"%PDF-"):
        return "pdf"
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:14].lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return "html"
    if start.startswith(b"webvtt"):
        return "subtitles"
    if head.startswith(b"PK\x03\x04"):
        return _zip_document(path, head)
    return None


def _zip_document(path: Path, head: bytes) -> str | None:
    """A zip-based document format told by its contents, or None (a plain zip)."""
    # ODF and EPUB store their mimetype uncompressed as the first member.
    for mimetype, name in _ZIP_MIMETYPES.items():
        if head[30:38] == b"mimetype" and mimetype in head[38:200]:
            return name
    try:
        with zipfile.ZipFile(path) as archive:
            return "docx" if "word/document.xml" in archive.namelist() else None
    except (zipfile.BadZipFile, OSError):
        return None


def extract_in_worker(job: list[str]) -> dict:
    """What the worker process runs for one file: [module, path] -> Extracted as a dict."""
    module, path = job
    found = importlib.import_module(f"textgen_core.data.extract.{module}").extract(Path(path))
    return {"kind": found.kind, "documents": found.documents}


def extract(path: Path, module: str, limits: Limits | None = None) -> Extracted:
    """The documents of the file at `path`, read by `module` in a capped child
    process; TextgenError with the reason when they can't be had."""
    limits = limits or Limits()
    size = path.stat().st_size
    if size > limits.file_bytes:
        raise TextgenError(
            f"{size / 2**20:.0f} MB, over the {limits.file_bytes / 2**20:.0f} MB limit "
            "for documents to extract"
        )
    found = run_limited(__name__, "extract_in_worker", [module, str(path)], limits)
    return Extracted(found["kind"], found["documents"])
