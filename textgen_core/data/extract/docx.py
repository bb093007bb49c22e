"""Word (.docx): the paragraphs of the body, tables included, in order.

python-docx (maintained, the standard reader; its lxml parser does not
resolve entities) reads the document; its XML is checked for entity
declarations and its unpacked size bounded first (`base.py`).
"""

from __future__ import annotations

from pathlib import Path

from textgen_core.data.extract.base import Extracted, open_zip, read_part
from textgen_core.errors import TextgenError

WHAT = "Word document"


def _lines(container) -> list[str]:
    """Paragraph texts of a body or table cell, tables read row by row; a cell
    merged over several columns is read once."""
    from docx.table import Table

    lines: list[str] = []
    for block in container.iter_inner_content():
        if isinstance(block, Table):
            seen = set()
            for row in block.rows:
                for cell in row.cells:
                    if id(cell._tc) not in seen:
                        seen.add(id(cell._tc))
                        lines.extend(_lines(cell))
        else:
            lines.append(block.text)
    return lines


def extract(path: Path) -> Extracted:
    with open_zip(path, WHAT) as archive:
        read_part(archive, "word/document.xml", WHAT)
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise TextgenError(f"damaged {WHAT} ({exc})") from None
    return Extracted(WHAT, ["\n".join(_lines(document))])
