"""What an extractor returns, and the checks every XML-in-a-zip format shares."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from textgen_core.errors import TextgenError

MAX_UNPACKED_BYTES = 512 * 1024 * 1024
"""A document's parts may unpack to at most this much (a zip bomb stops here)."""


@dataclass
class Extracted:
    kind: str
    """What the file is, for people: "Word document", "PDF, 12 pages"."""
    documents: list[str] = field(default_factory=list)
    """The text of each document in the file, in reading order."""


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def open_zip(path: Path, what: str, limit: int = MAX_UNPACKED_BYTES) -> zipfile.ZipFile:
    """The zip container of a document, refused when it is damaged or would
    unpack to more than `limit` bytes. zipfile never reads past a member's
    declared size, so checking the declared sizes bounds what is unpacked."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise TextgenError(f"damaged {what} (not a readable zip container: {exc})") from None
    total = sum(info.file_size for info in archive.infolist())
    if total > limit:
        archive.close()
        raise TextgenError(
            f"{what} would unpack to {total / 2**20:.0f} MB, over the "
            f"{limit / 2**20:.0f} MB limit (a zip bomb?)"
        )
    return archive


def read_part(archive: zipfile.ZipFile, name: str, what: str) -> bytes:
    """One XML part of a document, refused when it declares entities:
    documents of these formats never need them, and entity declarations are
    how entity-expansion attacks ("billion laughs") start."""
    try:
        data = archive.read(name)
    except KeyError:
        raise TextgenError(f"damaged {what} (no {name} inside)") from None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise TextgenError(f"damaged {what} ({name}: {exc})") from None
    if b"<!ENTITY" in data:
        raise TextgenError(
            f"refused {what}: {name} declares XML entities (an entity-expansion attack?)"
        )
    return data
