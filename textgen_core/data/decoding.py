"""Bytes -> text, block by block, so a file of any size is read in bounded memory.

UTF-8 (with or without BOM) and UTF-16 with a BOM are accepted; CRLF and CR
become LF so the same text always gives the same tokens. Known binary formats
are named by their magic numbers.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from pathlib import Path

from textgen_core.errors import TextgenError

BLOCK_BYTES = 1 << 22  # 4 MB read at a time

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
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"
_HEAD_BYTES = 8192


def decode(raw: bytes) -> str:
    """All of `raw` as text, or TextgenError saying why not."""
    return "".join(decode_blocks([raw]))


def read_blocks(path: Path, block_bytes: int = BLOCK_BYTES) -> Iterator[str]:
    """The text of the file at `path`, in pieces of about `block_bytes`."""
    with open(path, "rb") as f:
        yield from decode_blocks(iter(lambda: f.read(block_bytes), b""))


def _check_binary(head: bytes) -> None:
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            raise TextgenError(f"binary file ({kind})")
    if not head.startswith(_UTF16_BOMS) and b"\x00" in head[:_HEAD_BYTES]:
        raise TextgenError("binary file (contains NUL bytes)")


def decode_blocks(chunks: Iterable[bytes]) -> Iterator[str]:
    """Decode consecutive byte blocks into text blocks with newlines
    normalised; a character, BOM or CRLF split across blocks comes out whole."""
    chunks = iter(chunks)
    head = b""
    for chunk in chunks:  # the first 8 kB at least, to recognise binary files
        head += chunk
        if len(head) >= _HEAD_BYTES:
            break
    _check_binary(head)
    utf16 = head.startswith(_UTF16_BOMS)
    skip = 0 if utf16 or not head.startswith(_UTF8_BOM) else len(_UTF8_BOM)
    decoder = codecs.getincrementaldecoder("utf-16" if utf16 else "utf-8")()
    fed, carry, data = 0, "", head[skip:]
    while True:
        following = next(chunks, None)
        final = following is None
        pending = len(decoder.getstate()[0])
        try:
            text = carry + decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            if utf16:
                raise TextgenError(
                    f"not valid UTF-16 despite its byte-order mark ({exc.reason})"
                ) from None
            where = skip + fed - pending + exc.start
            raise TextgenError(f"not UTF-8 text (byte {where}); re-save it as UTF-8") from None
        fed += len(data)
        carry = ""
        if text.endswith("\r") and not final:  # maybe the first half of a CRLF
            carry, text = "\r", text[:-1]
        yield text.replace("\r\n", "\n").replace("\r", "\n")
        if final:
            return
        data = following
