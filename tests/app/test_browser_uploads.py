"""Uploading a Word file and a file without an extension in a real browser:
both accepted in the preview table, under the names they were given."""

from __future__ import annotations

from support.browser import needs_chromium, visible
from support.documents import PARAGRAPHS, write_docx
from support.servers import AppServer

pytestmark = needs_chromium


def test_a_word_file_and_an_extensionless_file_are_accepted_by_name(tmp_path, page, tiny_model):
    from playwright.sync_api import expect

    letter = write_docx(tmp_path / "Letter to Anna.docx", PARAGRAPHS[:2])
    licence = tmp_path / "GPL-3"
    licence.write_text("\n\n".join(PARAGRAPHS[2:]) * 3)
    app = AppServer(tmp_path / "data").start()
    try:
        page.goto(app.url)
        page.get_by_label("Base model").fill(str(tiny_model))
        page.get_by_label("Chunk size (tokens)").fill("16")
        page.locator("input[type=file]").first.set_input_files([str(letter), str(licence)])
        table = page.get_by_role("grid", name="Files")  # not the upload widget's own list
        kind = visible(table.get_by_role("gridcell", name="Word document", exact=True))
        expect(kind).to_be_visible(timeout=90_000)
        for name in ("Letter to Anna.docx", "GPL-3"):
            expect(visible(table.get_by_role("gridcell", name=name, exact=True))).to_be_visible()
        accepted = table.get_by_role("gridcell", name="accepted", exact=True).filter(visible=True)
        expect(accepted).to_have_count(2)
        expect(table.get_by_role("gridcell", name="skipped")).to_have_count(0)
        expect(table.get_by_text("file00")).to_have_count(0)
        page.screenshot(path=tmp_path / "preview.png", full_page=True)
        rows = table.get_by_role("row").filter(visible=True).all()
        cells = [row.get_by_role("gridcell").all_inner_texts() for row in rows]
    finally:
        app.stop()
    # each file is a row under its own name, accepted, with tokens counted
    by_name = {row[0].strip(): [c.strip() for c in row] for row in cells if row}
    assert set(by_name) == {"Letter to Anna.docx", "GPL-3"}, cells
    for row in by_name.values():
        assert row[1] == "accepted" and int(row[3]) > 0, row
    assert by_name["Letter to Anna.docx"][4] == "Word document"
