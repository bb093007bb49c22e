"""Bytes -> text, block by block, so a file of any size is read in bounded memory.

A file is text when its bytes say so, whatever its name: UTF-8 (with or
without BOM) and UTF-16 with a BOM are read as they are; anything else that
decodes in a legacy encoding (`charset-normalizer` picks it, the encoding is
reported) with few control characters is text too. CRLF and CR become LF so
the same text always gives the same tokens. Known binary formats are named by
their magic numbers (`magic.py`).
"""

from __future__ import annotations

import codecs
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

from textgen_core.data.magic import binary_kind
from textgen_core.errors import TextgenError

BLOCK_BYTES = 1 << 22  # 4 MB read at a time
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"
_HEAD_BYTES = 8192
SNIFF_BYTES = 1 << 20
"""How much of a file that is not UTF-8 `charset-normalizer` looks at."""
CONTROL_SHARE = 0.01
"""Text may hold at most this share of control characters (tabs, newlines and
form feeds not counted) in its first block; more means binary data."""
COMMON_MARGIN = 0.1
"""How much less readable (charset-normalizer's chaos) windows-1252 may be than
the best candidate and still be preferred."""
_ALLOWED_CONTROLS = set("\t\n\r\f\v\x1b")


class NotUtf8(TextgenError):
    """The bytes are not UTF-8 (a legacy encoding may still read them)."""


def decode(raw: bytes, encoding: str | None = None) -> str:
    """All of `raw` as text, or TextgenError saying why not."""
    return "".join(decode_blocks([raw], encoding))


def read_blocks(
    path: Path, block_bytes: int = BLOCK_BYTES, encoding: str | None = None
) -> Iterator[str]:
    """The text of the file at `path`, in pieces of about `block_bytes`;
    `encoding` None reads UTF-8 (or UTF-16 with a BOM)."""
    with open(path, "rb") as f:
        yield from decode_blocks(iter(lambda: f.read(block_bytes), b""), encoding)


def _check_binary(head: bytes) -> None:
    kind = binary_kind(head)
    if kind:
        raise TextgenError(f"binary file ({kind})")
    if not head.startswith(_UTF16_BOMS) and b"\x00" in head[:_HEAD_BYTES]:
        raise TextgenError("binary file (contains NUL bytes)")


def _check_controls(text: str) -> None:
    sample = text[:_HEAD_BYTES]
    controls = sum(
        1 for c in sample if c not in _ALLOWED_CONTROLS and unicodedata.category(c) == "Cc"
    )
    if sample and controls > CONTROL_SHARE * len(sample):
        raise TextgenError(f"binary data ({controls} control characters in its first block)")


def decode_blocks(chunks: Iterable[bytes], encoding: str | None = None) -> Iterator[str]:
    """Decode consecutive byte blocks into text blocks with newlines
    normalised; a character, BOM or CRLF split across blocks comes out whole."""
    chunks = iter(chunks)
    head = b""
    for chunk in chunks:  # the first 8 kB at least, to recognise binary files
        head += chunk
        if len(head) >= _HEAD_BYTES:
            break
    if encoding is None:
        _check_binary(head)
    utf16 = encoding is None and head.startswith(_UTF16_BOMS)
    skip = 0 if utf16 or encoding or not head.startswith(_UTF8_BOM) else len(_UTF8_BOM)
    name = encoding or ("utf-16" if utf16 else "utf-8")
    decoder = codecs.getincrementaldecoder(name)()
    fed, carry, data, first = 0, "", head[skip:], True
    while True:
        following = next(chunks, None)
        final = following is None
        pending = len(decoder.getstate()[0]) if name == "utf-8" else 0
        try:
            text = carry + decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            if utf16:
                raise TextgenError(
                    f"not valid UTF-16 despite its byte-order mark ({exc.reason})"
                ) from None
            where = skip + fed - pending + exc.start
            if encoding:
                raise TextgenError(f"not {encoding} text after all (byte {where})") from None
            raise NotUtf8(f"not UTF-8 text (byte {where}); re-save it as UTF-8") from None
        if first:
            _check_controls(text)
            first = False
        fed += len(data)
        carry = ""
        if text.endswith("\r") and not final:  # maybe the first half of a CRLF
            carry, text = "\r", text[:-1]
        yield text.replace("\r\n", "\n").replace("\r", "\n")
        if final:
            return
        data = following


def legacy_encoding(head: bytes) -> str | None:
    """The legacy encoding `head` (the start of a file that is not UTF-8) is
    most plausibly in, or None when no encoding gives readable text.

    charset-normalizer, not chardet: it is maintained, pure Python with
    optional speedups, and judges candidates by how readable the decoded text
    is (its "chaos" measure), which is the question here."""
    if binary_kind(head) or b"\x00" in head[:_HEAD_BYTES]:
        return None
    from charset_normalizer import from_bytes

    matches = list(from_bytes(head[:SNIFF_BYTES]))
    if not matches or matches[0].encoding in ("utf_8", "ascii"):
        return None
    # On a short sample several single-byte code pages read equally well;
    # then the most common one wins, as browsers default to it for unlabelled
    # Western text.
    close = [m.encoding for m in matches if m.chaos <= matches[0].chaos + COMMON_MARGIN]
    best = "cp1252" if "cp1252" in close else matches[0].encoding
    return codecs.lookup(best).name
