"""Documents in other formats: the same passage gives the same words in every
format, and a hostile file is skipped with its reason while the others are read."""

from __future__ import annotations

import pytest
from support.documents import (
    FORMATS,
    PARAGRAPHS,
    PASSAGE,
    docx_with_entity_bomb,
    encrypted_pdf,
    nested_html,
    pdf_bomb,
    pdf_with_looping_page_tree,
    pdf_with_looping_xref,
    scanned_pdf,
    text_pdf,
    truncated,
    words,
    write_epub,
    write_format,
    zeros_zlib,
    zip_bomb,
)

from textgen_core.data.extract.sandbox import Limits, run_limited
from textgen_core.data.ingest import load_corpus
from textgen_core.data.scan import ScanOptions

KINDS = {
    "txt": "text",
    "extensionless": "text",
    "docx": "Word document",
    "odt": "OpenDocument text",
    "pdf": "PDF, 1 page",
    "epub": "EPUB, 2 chapters",
    "html": "HTML page",
    "srt": "subtitles (SRT), 10 cues",
}


@pytest.fixture(scope="module")
def gpt2():
    from transformers import AutoTokenizer

    from textgen_core.model.loading import gpt2_tokenizer_dir

    return AutoTokenizer.from_pretrained(gpt2_tokenizer_dir())


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_same_passage_gives_the_same_words_in_every_format(tmp_path, fmt, gpt2):
    path = write_format(tmp_path, fmt)
    corpus = load_corpus([path])
    assert corpus.skipped == []
    assert corpus.kinds == {str(path): KINDS[fmt]}
    text = "\n".join(d.text for d in corpus.documents)
    assert words(text) == words(PASSAGE)
    tokens, reference = len(gpt2(text)["input_ids"]), len(gpt2(PASSAGE)["input_ids"])
    assert abs(tokens - reference) <= 0.03 * reference, (tokens, reference)


def test_documents_without_their_extension_are_recognised_by_content(tmp_path):
    pdf = write_format(tmp_path, "pdf").rename(tmp_path / "report")
    docx = write_format(tmp_path, "docx").rename(tmp_path / "letter.bin")
    html = write_format(tmp_path, "html").rename(tmp_path / "index")
    kinds = load_corpus([tmp_path]).kinds
    assert kinds == {str(pdf): "PDF, 1 page", str(docx): "Word document", str(html): "HTML page"}


def test_epub_chapters_are_documents_in_spine_order(tmp_path):
    corpus = load_corpus([write_epub(tmp_path / "book.epub")])
    first, second = (d.text for d in corpus.documents)
    assert first.startswith("The lighthouse keeper") and second.startswith("When the fog")


def test_html_gives_visible_text_without_scripts_styles_or_navigation(tmp_path):
    (text,) = (d.text for d in load_corpus([write_format(tmp_path, "html")]).documents)
    for hidden in ("tracking", "color", "Home", "About us", "Copyright", "Site menu"):
        assert hidden not in text
    assert text.split("\n\n")[0] == PARAGRAPHS[0]


def test_webvtt_gives_dialogue_only(tmp_path):
    (tmp_path / "talk.vtt").write_text(
        "WEBVTT - a talk\n\nNOTE written by hand\n\nSTYLE\n::cue { color: yellow }\n\n"
        "intro\n00:00:01.000 --> 00:00:04.000 position:10%\n<v Ann>Good evening, <b>all</b>.\n\n"
        "00:00:05.000 --> 00:00:08.000\n{\\an8}Shall we begin?\nYes.\n"
    )
    corpus = load_corpus([tmp_path])
    assert [d.text for d in corpus.documents] == ["Good evening, all.\nShall we begin?\nYes."]
    assert corpus.kinds[str(tmp_path / "talk.vtt")] == "subtitles (WebVTT), 2 cues"


def hostile_files(folder):
    """name -> what its skip reason says."""
    for fmt in ("docx", "odt", "pdf", "epub"):
        source = write_format(folder, fmt, stem="whole")
        truncated(source, folder / f"truncated.{fmt}")
        source.unlink()
    encrypted_pdf(folder / "locked.pdf")
    scanned_pdf(folder / "scan.pdf")
    docx_with_entity_bomb(folder / "laughs.docx")
    zip_bomb(folder / "bomb.docx", "word/document.xml", megabytes=600)
    return {
        "truncated.docx": "damaged Word document",
        "truncated.odt": "damaged OpenDocument text",
        "truncated.pdf": "damaged PDF",
        "truncated.epub": "damaged EPUB book",
        "locked.pdf": "encrypted PDF (needs a password)",
        "scan.pdf": "no text layer (scanned?)",
        "laughs.docx": "declares XML entities",
        "bomb.docx": "over the 512 MB limit (a zip bomb?)",
    }


def test_hostile_documents_are_skipped_with_their_reason_and_the_rest_is_read(tmp_path):
    expected = hostile_files(tmp_path)
    nested_html(tmp_path / "nested.html")  # 100,000 nested tags: read, in seconds
    good = write_format(tmp_path, "docx", stem="good")
    corpus = load_corpus([tmp_path])
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in corpus.skipped}
    assert set(reasons) == set(expected)
    for name, reason in expected.items():
        assert reason in reasons[name], (name, reasons[name])
    texts = {d.path.rsplit("/", 1)[-1]: d.text for d in corpus.documents}
    assert texts == {"nested.html": "deep text", good.name: "\n".join(PARAGRAPHS)}


def test_a_pdf_bomb_and_a_looping_page_tree_cost_one_file_each_and_the_rest_is_read(tmp_path):
    import zlib

    assert zlib.decompress(zeros_zlib(32)) == bytes(32 << 20)  # the bomb's stream, at 32 MB
    bomb = pdf_bomb(tmp_path / "bomb.pdf", megabytes=4096)  # past the worker's memory cap
    assert bomb.stat().st_size < 20_000 and 4096 << 20 > Limits().memory_bytes
    pdf_with_looping_page_tree(tmp_path / "tree.pdf")
    pdf_with_looping_xref(tmp_path / "xref.pdf", "The table points back at itself.")
    text_pdf(tmp_path / "plain.pdf", "A plain page.")
    good = write_format(tmp_path, "docx", stem="good")
    corpus = load_corpus([tmp_path])
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in corpus.skipped}
    assert set(reasons) == {"bomb.pdf", "tree.pdf"}
    assert "inflates past 75 MB (a decompression bomb?)" in reasons["bomb.pdf"]
    assert "damaged PDF" in reasons["tree.pdf"] and "cyclic" in reasons["tree.pdf"]
    texts = {d.path.rsplit("/", 1)[-1]: d.text for d in corpus.documents}
    assert texts == {
        "xref.pdf": "The table points back at itself.",  # the loop is not followed twice
        "plain.pdf": "A plain page.",
        good.name: "\n".join(PARAGRAPHS),
    }


def test_deeply_nested_odt_is_refused_not_crashing_the_run(tmp_path):
    import zipfile

    deep = "<text:span>" * 100_000 + "x" + "</text:span>" * 100_000
    content = (
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body>'
        f"<office:text><text:p>{deep}</text:p></office:text></office:body></office:document-content>"
    )
    with zipfile.ZipFile(tmp_path / "deep.odt", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        zf.writestr("content.xml", content)
    (tmp_path / "fine.txt").write_text(PASSAGE)
    corpus = load_corpus([tmp_path])
    assert [d.text for d in corpus.documents] == [PASSAGE]
    (skipped,) = corpus.skipped
    assert "nested too deeply" in skipped.reason


def test_an_extractor_that_hangs_is_stopped_at_the_time_cap():
    with pytest.raises(Exception, match=r"took longer than 1 s to read"):
        run_limited("time", "sleep", 60, Limits(seconds=1))
    assert run_limited("math", "sqrt", 16, Limits(seconds=30)) == 4.0  # a fresh worker


def test_an_extractor_that_eats_memory_is_stopped_at_the_memory_cap():
    with pytest.raises(Exception, match=r"needed more than 256 MB of memory"):
        run_limited("builtins", "bytearray", 8 << 30, Limits(memory_bytes=256 << 20))


def test_a_document_over_the_size_cap_is_skipped_unread(tmp_path):
    path = write_format(tmp_path, "pdf")
    options = ScanOptions(limits=Limits(file_bytes=100))
    corpus = load_corpus([tmp_path], options=options)
    assert "over the 0 MB limit for documents to extract" in corpus.skipped[0].reason
    assert corpus.skipped[0].path == str(path)
