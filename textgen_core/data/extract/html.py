"""HTML: the visible text, paragraphs on their own lines; scripts, styles,
forms and page furniture (navigation, header, footer, asides) left out.

Beautiful Soup with Python's own html.parser: the best-known HTML reader,
tolerant of broken markup, no compiled parser, and its tree is walked without
recursion, so deeply nested tags cost time (capped) rather than a crash.
trafilatura finds article text better on web pages, but drops short pages of
writing and pulls in a dozen dependencies.
"""

from __future__ import annotations

import re
from pathlib import Path

from textgen_core.data.decoding import decode, legacy_encoding
from textgen_core.data.extract.base import Extracted
from textgen_core.errors import TextgenError

WHAT = "HTML page"
_HIDDEN = set("script style noscript template nav header footer aside form".split())
_HIDDEN |= set("head svg button iframe object select".split())
_BLOCKS = set("p div li h1 h2 h3 h4 h5 h6 tr br blockquote pre section article dd dt".split())
_BREAK = object()  # marks the end of a block element on the walk's stack


def visible_text(markup: str) -> str:
    """The text a reader sees in `markup`, one block element to a line.

    The tree is walked with an explicit stack, skipping hidden subtrees
    whole: removing elements or inserting line breaks instead costs time in
    proportion to their depth, which 100,000 nested tags turn quadratic."""
    from bs4 import BeautifulSoup, CData, NavigableString

    soup = BeautifulSoup(markup, "html.parser")
    parts: list[str] = []
    stack: list = list(reversed(soup.contents))
    while stack:
        node = stack.pop()
        if node is _BREAK:
            parts.append("\n")
        elif isinstance(node, NavigableString):
            if type(node) in (NavigableString, CData):  # not comments, doctypes, scripts
                parts.append(str(node))
        elif node.name not in _HIDDEN:
            if node.name in _BLOCKS:
                parts.append("\n")
                stack.append(_BREAK)
            stack.extend(reversed(node.contents))
    lines = (re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip() for line in "".join(parts).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def extract(path: Path) -> Extracted:
    return Extracted(WHAT, [visible_text(decode_markup(path.read_bytes()))])


def decode_markup(raw: bytes) -> str:
    """UTF-8 (or BOM-marked) markup as is; else the encoding a <meta> tag
    declares, else what charset-normalizer finds."""
    try:
        return decode(raw)
    except TextgenError:
        declared = re.search(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_-]+)", raw[:4096], re.I)
        encoding = declared.group(1).decode() if declared else None
        try:
            return decode(raw, encoding or legacy_encoding(raw))
        except (LookupError, TextgenError):
            encoding = legacy_encoding(raw)
            if encoding is None:
                raise TextgenError("HTML in no encoding that gives readable text") from None
            return decode(raw, encoding)
