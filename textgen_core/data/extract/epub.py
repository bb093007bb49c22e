"""EPUB: one document per chapter, chapters in the book's reading (spine) order.

An EPUB is a zip holding a package file (OPF) that lists the chapters'
XHTML files in reading order. Read with zipfile and defusedxml (which
refuses entity declarations) rather than ebooklib: ebooklib parses with lxml
defaults and loads the whole book, images included, where only the spine
and the chapters' text matter here. Each chapter's text comes from the HTML
extractor.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from textgen_core.data.extract.base import Extracted, open_zip, plural, read_part
from textgen_core.data.extract.html import decode_markup, visible_text
from textgen_core.errors import TextgenError

WHAT = "EPUB book"
_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_OPF = "{http://www.idpf.org/2007/opf}"


def _xml(archive, name: str):
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        return fromstring(read_part(archive, name, WHAT))
    except (ParseError, DefusedXmlException) as exc:
        raise TextgenError(f"damaged {WHAT} ({name}: {exc})") from None


def _spine(archive) -> list[str]:
    """Paths inside the zip of the chapters, in reading order."""
    container = _xml(archive, "META-INF/container.xml")
    rootfile = container.find(f".//{_CONTAINER}rootfile")
    if rootfile is None or not rootfile.get("full-path"):
        raise TextgenError(f"damaged {WHAT} (container.xml names no package file)")
    opf_path = rootfile.get("full-path")
    opf = _xml(archive, opf_path)
    base = posixpath.dirname(opf_path)
    manifest = {
        item.get("id"): item.get("href")
        for item in opf.iter(f"{_OPF}item")
        if "html" in (item.get("media-type") or "")
    }
    chapters = []
    for ref in opf.iter(f"{_OPF}itemref"):
        href = manifest.get(ref.get("idref"))
        if href and ref.get("linear", "yes") != "no":
            chapters.append(posixpath.normpath(posixpath.join(base, href.split("#")[0])))
    return chapters


def extract(path: Path) -> Extracted:
    with open_zip(path, WHAT) as archive:
        chapters = _spine(archive)
        texts = [visible_text(decode_markup(read_part(archive, c, WHAT))) for c in chapters]
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise TextgenError(f"{WHAT} with no text in its chapters")
    return Extracted(f"EPUB, {plural(len(texts), 'chapter')}", texts)
