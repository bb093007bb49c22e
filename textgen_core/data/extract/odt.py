"""OpenDocument text (.odt): headings and paragraphs of content.xml, in order.

Read with the standard library's zipfile and defusedxml's ElementTree rather
than odfpy: odfpy has had no release since 2020 and parses with a plain SAX
parser, while the text of an .odt is its `text:h` and `text:p` elements, a
few lines to walk. defusedxml refuses entity declarations outright.
"""

from __future__ import annotations

from pathlib import Path

from textgen_core.data.extract.base import Extracted, open_zip, read_part
from textgen_core.errors import TextgenError

WHAT = "OpenDocument text"
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_BLOCKS = {f"{_TEXT}p", f"{_TEXT}h"}
_SKIP = {f"{_TEXT}note", f"{_OFFICE}annotation", f"{_TEXT}tracked-changes"}


def _inline(element, out: list[str]) -> None:
    """The text of a paragraph: spans, links, spaces (`text:s c=N`), tabs and
    line breaks; footnotes and comments left out."""
    if element.text:
        out.append(element.text)
    for child in element:
        if child.tag in _SKIP:
            pass
        elif child.tag == f"{_TEXT}s":
            out.append(" " * int(child.get(f"{_TEXT}c", "1")))
        elif child.tag == f"{_TEXT}tab":
            out.append("\t")
        elif child.tag == f"{_TEXT}line-break":
            out.append("\n")
        else:
            _inline(child, out)
        if child.tail:
            out.append(child.tail)


def _paragraphs(root) -> list[str]:
    lines = []
    stack = [root]  # iterative, so deeply nested lists can't exhaust the stack
    while stack:
        element = stack.pop()
        if element.tag in _BLOCKS:
            parts: list[str] = []
            _inline(element, parts)
            lines.append("".join(parts))
        elif element.tag not in _SKIP:
            stack.extend(reversed(list(element)))
    return lines


def extract(path: Path) -> Extracted:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    with open_zip(path, WHAT) as archive:
        data = read_part(archive, "content.xml", WHAT)
    try:
        root = fromstring(data)
    except (ParseError, DefusedXmlException) as exc:
        raise TextgenError(f"damaged {WHAT} (content.xml: {exc})") from None
    body = root.find(f"{_OFFICE}body")
    return Extracted(WHAT, ["\n".join(_paragraphs(body if body is not None else root))])
