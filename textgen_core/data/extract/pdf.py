"""PDF: the text layer of every page, pages joined in order.

pypdf: maintained, pure Python (nothing to compile on a Space), reads
encrypted files' metadata without the password and extracts text in layout
order. A PDF whose pages carry no text (a scan) has nothing to learn from
without OCR and is skipped saying so; one that needs a password is skipped
with that reason.
"""

from __future__ import annotations

from pathlib import Path

from textgen_core.data.extract.base import Extracted, plural
from textgen_core.errors import TextgenError


def _reader(path: Path):
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise TextgenError(f"damaged PDF ({exc})") from None
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")  # many PDFs are "encrypted" with an empty password
        except Exception as exc:  # unsupported algorithm, missing crypto library
            raise TextgenError(f"encrypted PDF; cannot open it ({exc})") from None
        if not opened:
            raise TextgenError("encrypted PDF (needs a password); save a copy without one")
    return reader


def extract(path: Path) -> Extracted:
    from pypdf.errors import PdfReadError

    reader = _reader(path)
    try:
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise TextgenError(f"damaged PDF ({type(exc).__name__}: {exc})") from None
    kind = f"PDF, {plural(len(pages), 'page')}"
    if not any(page.strip() for page in pages):
        raise TextgenError(f"{kind}, no text layer (scanned?); run OCR on it first")
    return Extracted(kind, ["\n".join(page.rstrip("\n") for page in pages)])
