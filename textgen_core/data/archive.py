"""A .zip of files, read member by member through the same rules as a folder.

Safe against the two classic zip attacks: member names are never used as
paths on disk (zip slip: a member named `../../.bashrc` is only ever a label),
and what the archive may unpack to is capped by the sizes its directory
declares, which zipfile enforces as it reads (zip bomb).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from textgen_core.data.documents import Skipped, Source
from textgen_core.errors import TextgenError


class IsArchive(Exception):
    """Raised by a file scan that found a zip archive to read member by member."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_total_bytes: int = 2 << 30
    """What all members together may unpack to."""
    max_members: int = 100_000
    """Most members read from one archive."""


def safe_suffix(name: str) -> str:
    """`.docx` for `Report.DOCX`: letters and digits only, so it can't form a path."""
    suffix = PurePosixPath(name.replace("\\", "/")).suffix.lower()
    cleaned = re.sub(r"[^a-z0-9]", "", suffix[1:])[:10]
    return f".{cleaned}" if cleaned else ""


def _hidden(name: str) -> bool:
    return any(part.startswith(".") for part in PurePosixPath(name).parts)


def _unsafe(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or bool(re.match(r"^[A-Za-z]:", name))


def _open(path: Path, limits: ArchiveLimits) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, ValueError) as exc:
        raise TextgenError(f"damaged ZIP archive ({exc})") from None
    infos = zf.infolist()
    total = sum(info.file_size for info in infos)
    if total > limits.max_total_bytes or len(infos) > limits.max_members:
        zf.close()
        raise TextgenError(
            f"ZIP archive would unpack to {total / 2**20:,.0f} MB in {len(infos)} files, over "
            f"the limit of {limits.max_total_bytes / 2**20:,.0f} MB and {limits.max_members} "
            "files (a zip bomb?); unpack it yourself and give the folder"
        )
    return zf


def scan_zip(
    path: Path, limits: ArchiveLimits, skipped: list[Skipped], scan_member
) -> list[Source]:
    """Sources of the members of the zip at `path`, each shown as
    `path/member`; `scan_member(zf, info, shown)` reads one. Unreadable members
    (and the archive itself, when it breaks the limits) go to `skipped`."""
    try:
        zf = _open(path, limits)
    except TextgenError as exc:
        skipped.append(Skipped(str(path), str(exc)))
        return []
    sources = []
    with zf:
        for info in zf.infolist():
            shown = f"{path}/{info.filename}"
            if _unsafe(info.filename):
                reason = "unsafe name in the archive (absolute or with ..); not read"
            elif info.is_dir() or _hidden(info.filename):
                continue  # as hidden files in a folder are
            elif info.flag_bits & 0x1:
                reason = "encrypted in the archive (needs a password)"
            elif info.filename.startswith("__MACOSX/"):
                reason = "macOS metadata, not a file of the archive's content"
            else:
                try:
                    sources.append(scan_member(zf, info, shown))
                    continue
                except TextgenError as exc:
                    reason = str(exc)
                except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                    reason = f"damaged in the archive ({exc})"
            skipped.append(Skipped(shown, reason))
    return sources
