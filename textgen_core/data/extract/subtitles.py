"""Subtitles (.srt, .vtt): the dialogue only; cue numbers, timings, styling
tags, speaker voice tags and WebVTT's header, NOTE and STYLE blocks left out.

Hand-written: both formats are blocks separated by blank lines, one timing
line each, and one parser for both is shorter than adapting two libraries
(srt, webvtt-py) whose strictness would skip files with small faults that
players accept.
"""

from __future__ import annotations

import re
from pathlib import Path

from textgen_core.data.decoding import decode, legacy_encoding
from textgen_core.data.extract.base import Extracted, plural
from textgen_core.errors import TextgenError

_TIMING = re.compile(r"\d{1,2}:\d{2}(:\d{2})?[,.]\d{1,3}\s*-->")
_TAGS = re.compile(r"<[^>]*>|\{\\[^}]*\}")  # <i>, <v Speaker>, <c.red>, {\an8}


def dialogue(text: str) -> tuple[list[str], int]:
    """The dialogue lines of subtitle `text`, and how many cues it had."""
    lines, cues = [], 0
    for block in re.split(r"\n\s*\n", text.strip()):
        rows = block.strip("\n").split("\n")
        timing = next((i for i, row in enumerate(rows) if _TIMING.match(row.strip())), None)
        if timing is None:  # header, NOTE, STYLE, or a stray number
            continue
        cues += 1
        for row in rows[timing + 1 :]:
            row = _TAGS.sub("", row).replace("&nbsp;", " ").strip()
            if row:
                lines.append(row)
    return lines, cues


def extract(path: Path) -> Extracted:
    raw = path.read_bytes()
    try:
        text = decode(raw)
    except TextgenError:
        encoding = legacy_encoding(raw)  # subtitles are often in a legacy encoding
        if encoding is None:
            raise
        text = decode(raw, encoding)
    lines, cues = dialogue(text)
    label = "WebVTT" if path.suffix.lower() == ".vtt" or text.startswith("WEBVTT") else "SRT"
    if not cues:
        raise TextgenError(f"no subtitle cues found (not {label} subtitles?)")
    return Extracted(f"subtitles ({label}), {plural(cues, 'cue')}", ["\n".join(lines)])
