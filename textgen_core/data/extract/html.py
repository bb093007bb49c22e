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
_HIDDEN = ["script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form"]
_HIDDEN += ["head", "svg", "button", "iframe", "object"]
_BLOCKS = "p div li h1 h2 h3 h4 h5 h6 tr br blockquote pre section article dd dt".split()


def visible_text(markup: str) -> str:
    """The text a reader sees in `markup`, one block element to a line."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup.find_all(_HIDDEN):
        tag.extract()
    for tag in soup.find_all(_BLOCKS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    text = soup.get_text()
    lines = (re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip() for line in text.split("\n"))
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
