"""One passage of prose written in every format textgen reads, by the tests
themselves (no downloaded files), and hostile files for each extractor."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

PARAGRAPHS = [
    "The lighthouse keeper climbed the spiral stairs each evening at dusk, counting "
    "the steps as his father had taught him: one hundred and twelve, never more, never "
    "fewer. The lamp waited for him at the top, patient as an old dog.",
    "Out on the water the fishing boats turned for home. He could tell them apart by "
    "their lights alone, the green one that always ran late, the red one that hugged "
    "the rocks, the white one that belonged to the widow who fished alone.",
    "When the fog came in from the west he wound the horn and listened to it moan "
    "across the bay. Somewhere a gull answered. He wrote in the log that the night was "
    "quiet, which it was, and that the light was burning, which it always did.",
    "In the morning he slept until noon and dreamed of nothing at all. The village said "
    "he was a strange man, but the boats came home, and that was what mattered to them, "
    "and to him, and to the sea.",
]
PASSAGE = "\n\n".join(PARAGRAPHS) + "\n"
FORMATS = ("txt", "extensionless", "docx", "odt", "pdf", "epub", "html", "srt")


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z]+", text)


def write_docx(path: Path, paragraphs=PARAGRAPHS) -> Path:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    document.save(str(path))
    return path


def write_odt(path: Path, paragraphs=PARAGRAPHS) -> Path:
    from odf.opendocument import OpenDocumentText
    from odf.text import P

    document = OpenDocumentText()
    for paragraph in paragraphs:
        document.text.addElement(P(text=paragraph))
    document.save(str(path))
    return path


def write_pdf(path: Path, paragraphs=PARAGRAPHS, pages: int = 1) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    per_page = -(-len(paragraphs) // pages)
    for start in range(0, len(paragraphs), per_page):
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        for paragraph in paragraphs[start : start + per_page]:
            pdf.multi_cell(0, 6, paragraph)
            pdf.ln(4)
    pdf.output(str(path))
    return path


def write_epub(path: Path, paragraphs=PARAGRAPHS) -> Path:
    """Two chapters (the first half of the paragraphs, then the rest); the
    spine lists the second file first, to show reading order is the spine's."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("lighthouse")
    book.set_title("The Lighthouse")
    book.set_language("en")
    half = len(paragraphs) // 2
    chapters = []
    for number, part in ((2, paragraphs[half:]), (1, paragraphs[:half])):
        chapter = epub.EpubHtml(title=f"Chapter {number}", file_name=f"ch{number}.xhtml")
        chapter.content = "".join(f"<p>{p}</p>" for p in part)
        book.add_item(chapter)
        chapters.append(chapter)
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = [chapters[1], chapters[0]]  # chapter 1 (ch1.xhtml) reads first
    epub.write_epub(str(path), book)
    return path


def write_html(path: Path, paragraphs=PARAGRAPHS) -> Path:
    body = "".join(f"<p>{p}</p>\n" for p in paragraphs)
    path.write_text(
        "<!DOCTYPE html><html><head><title>Site menu</title>"
        "<style>p { color: red }</style><script>var tracking = 'cookie';</script></head>"
        "<body><nav><a href='/'>Home</a> | <a href='/about'>About us</a></nav>"
        f"<article>{body}</article><footer>Copyright notice</footer></body></html>"
    )
    return path


def write_srt(path: Path, paragraphs=PARAGRAPHS) -> Path:
    sentences = [s for p in paragraphs for s in re.split(r"(?<=[.:]) ", p)]
    cues = []
    for i, sentence in enumerate(sentences, start=1):
        start, end = f"00:00:{i:02d},000", f"00:00:{i:02d},900"
        line = f"<i>{sentence}</i>" if i % 3 == 0 else sentence
        cues.append(f"{i}\n{start} --> {end}\n{line}\n")
    path.write_text("\n".join(cues))
    return path


def write_format(folder: Path, fmt: str, paragraphs=PARAGRAPHS, stem: str = "passage") -> Path:
    """The passage in format `fmt` (one of FORMATS) inside `folder`."""
    text = "\n\n".join(paragraphs) + "\n"
    if fmt == "txt":
        (folder / f"{stem}.txt").write_text(text)
        return folder / f"{stem}.txt"
    if fmt == "extensionless":
        (folder / f"{stem}-notes").write_text(text)
        return folder / f"{stem}-notes"
    writer = {
        "docx": write_docx,
        "odt": write_odt,
        "pdf": write_pdf,
        "epub": write_epub,
        "html": write_html,
        "srt": write_srt,
    }[fmt]
    return writer(folder / f"{stem}.{fmt}", paragraphs)


# -- hostile files ---------------------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n"
)


def docx_with_entity_bomb(path: Path) -> Path:
    """A .docx whose document.xml expands to gigabytes if entities are resolved."""
    write_docx(path)
    with zipfile.ZipFile(path) as zf:
        parts = {name: zf.read(name) for name in zf.namelist()}
    body = parts["word/document.xml"].decode()
    body = BILLION_LAUGHS + body.split("?>", 1)[1].replace(
        "The lighthouse", "&lol9; The lighthouse", 1
    )
    parts["word/document.xml"] = body.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return path


def zip_bomb(path: Path, member: str, megabytes: int) -> Path:
    """A zip whose one member unpacks to `megabytes` MB of zeros (a few kB packed)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open(member, "w", force_zip64=True) as f:
            block = b"\0" * (1 << 20)
            for _ in range(megabytes):
                f.write(block)
    return path


def nested_html(path: Path, depth: int = 100_000) -> Path:
    path.write_text("<div>" * depth + "deep text" + "</div>" * depth)
    return path


def truncated(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def encrypted_pdf(path: Path) -> Path:
    from pypdf import PdfReader, PdfWriter

    plain = write_pdf(path.with_name("plain-" + path.name))
    writer = PdfWriter(clone_from=PdfReader(str(plain)))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    writer.write(str(path))
    plain.unlink()
    return path


def scanned_pdf(path: Path) -> Path:
    """A PDF whose page holds only a drawing, as a scan holds only an image."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")
    pdf.output(str(path))
    return path


# -- hostile PDFs, written byte by byte (a PDF library would refuse to write them) --------

_PDF_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
_PDF_PAGE = (
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
    b"/Resources << /Font << /F1 5 0 R >> >> >>"
)


def _pdf_stream(data: bytes, filters: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), filters) + data + b"\nendstream"


def _pdf_text(text: str) -> bytes:
    return _pdf_stream(b"BT /F1 12 Tf 72 720 Td (%s) Tj ET" % text.encode())


def raw_pdf(objects: dict[int, bytes], prev_xref_loop: bool = False) -> bytes:
    """A PDF of `objects` (number -> body; 1 is the catalog) with a correct
    cross-reference table; `prev_xref_loop`: the table's /Prev points back at itself."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref, size = len(out), max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    out += b"".join(b"%010d 00000 n \n" % offsets[n] for n in range(1, size))
    prev = b" /Prev %d" % xref if prev_xref_loop else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (size, prev, xref)
    return bytes(out)


def _one_page_pdf(contents: bytes, kids: bytes = b"3 0 R", **options) -> bytes:
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    pages = b"<< /Type /Pages /Kids [%s] /Count 1 >>" % kids
    return raw_pdf({1: catalog, 2: pages, 3: _PDF_PAGE, 4: contents, 5: _PDF_FONT}, **options)


def text_pdf(path: Path, text: str) -> Path:
    """A one-page PDF showing `text` (as raw_pdf writes it)."""
    path.write_bytes(_one_page_pdf(_pdf_text(text)))
    return path


def zeros_zlib(megabytes: int) -> bytes:
    """A zlib stream that inflates to `megabytes` MB of zeros (a multiple of 16), about
    a thousandth of that long: one compressed 16 MB block repeated (compressing the
    gigabytes themselves would take minutes)."""
    import zlib

    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(bytes(16 << 20)) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty final block
    adler = ((((megabytes << 20) % 65521) << 16) | 1).to_bytes(4, "big")  # adler32 of zeros
    return b"\x78\xda" + block * (megabytes // 16) + end + adler


def pdf_bomb(path: Path, megabytes: int = 4096) -> Path:
    """A PDF of a few kB whose page content inflates to `megabytes` MB of zeros
    (deflated twice: /Filter [/FlateDecode /FlateDecode])."""
    import zlib

    twice = zlib.compress(zeros_zlib(megabytes), 9)
    path.write_bytes(_one_page_pdf(_pdf_stream(twice, b"/Filter [/FlateDecode /FlateDecode] ")))
    return path


def pdf_with_looping_page_tree(path: Path) -> Path:
    """The page tree lists itself among its own pages."""
    path.write_bytes(_one_page_pdf(_pdf_text("Round and round"), kids=b"3 0 R 2 0 R"))
    return path


def pdf_with_looping_xref(path: Path, text: str) -> Path:
    """A PDF showing `text` whose cross-reference table names itself as the previous one."""
    path.write_bytes(_one_page_pdf(_pdf_text(text), prev_xref_loop=True))
    return path
