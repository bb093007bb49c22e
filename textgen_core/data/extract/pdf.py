"""PDF: the text layer of every page, pages joined in order.

pypdf: maintained, pure Python (nothing to compile on a Space), reads
encrypted files' metadata without the password and extracts text in layout
order. A PDF whose pages carry no text (a scan) has nothing to learn from
without OCR and is skipped saying so; one that needs a password is skipped
with that reason. pypdf stops inflating a stream at its own limit (75 MB by
default), so a decompression bomb is skipped saying so before the worker's
memory cap (sandbox.py) is reached; a page tree that loops is skipped as damaged.
"""

from __future__ import annotations

from pathlib import Path

from textgen_core.data.extract.base import Extracted, plural
from textgen_core.errors import TextgenError


def _past_limit(exc: Exception) -> TextgenError:
    """pypdf stopped at one of its safety limits: inflating a stream, or a loop."""
    from pypdf import get_configuration

    if "decompressing" not in str(exc):
        return TextgenError(f"damaged PDF ({exc})")
    limit = get_configuration().zlib_maximum_output_length
    return TextgenError(
        f"PDF with a compressed stream that inflates past {limit / 1e6:,.0f} MB "
        "(a decompression bomb?); gave up on it"
    )


def _reader(path: Path):
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PdfReadError

    try:
        reader = PdfReader(str(path))
    except LimitReachedError as exc:
        raise _past_limit(exc) from None
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
    from pypdf.errors import LimitReachedError, PdfReadError

    reader = _reader(path)
    try:
        pages = [page.extract_text() or "" for page in reader.pages]
    except LimitReachedError as exc:
        raise _past_limit(exc) from None
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise TextgenError(f"damaged PDF ({type(exc).__name__}: {exc})") from None
    kind = f"PDF, {plural(len(pages), 'page')}"
    if not any(page.strip() for page in pages):
        raise TextgenError(f"{kind}, no text layer (scanned?); run OCR on it first")
    return Extracted(kind, ["\n".join(page.rstrip("\n") for page in pages)])
