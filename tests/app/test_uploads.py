"""Uploads: names never become paths, limits hold, the preview matches training."""

from __future__ import annotations

import pytest

from textgen_core.app.uploads import (
    UploadLimits,
    display_name,
    preview,
    safe_suffix,
    store_uploads,
)
from textgen_core.config import DataConfig
from textgen_core.errors import TextgenError


@pytest.mark.parametrize(
    "raw, name, suffix",
    [
        ("notes.TXT", "notes.TXT", ".txt"),
        ("../../etc/passwd", "passwd", ""),
        ("C:\\Users\\me\\story.md", "story.md", ".md"),
        ("evil.t/x/../t", "t", ""),
        ("weird.t x\x00t", "weird.t xt", ".txt"),
        ("", "unnamed", ""),
    ],
)
def test_uploaded_names_are_shown_but_never_used_as_paths(raw, name, suffix):
    assert display_name(raw) == name
    assert safe_suffix(raw) == suffix


def test_files_are_stored_under_generated_names_keeping_the_suffix(tmp_path):
    sources = []
    for i, name in enumerate(["a.txt", "b.MD", "c"]):
        folder = tmp_path / f"in{i}"
        folder.mkdir()
        (folder / name).write_text(f"text {i}")
        sources.append(folder / name)
    same_name = tmp_path / "in3" / "a.txt"
    same_name.parent.mkdir()
    same_name.write_text("other")
    stored = store_uploads([*sources, same_name], tmp_path / "store")
    assert [f.stored for f in stored] == ["file000.txt", "file001.md", "file002", "file003.txt"]
    assert [f.name for f in stored] == ["a.txt", "b.MD", "c", "a.txt (2)"]
    assert (tmp_path / "store" / "file001.md").read_text() == "text 1"


def test_size_limits_per_file_and_in_total(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(TextgenError, match="big.txt is 2.0 kB; the limit is 1.0 kB per file"):
        store_uploads([big], tmp_path / "s1", UploadLimits(max_file_bytes=1000))
    with pytest.raises(TextgenError, match="in all"):
        store_uploads([big, big], tmp_path / "s2", UploadLimits(max_total_bytes=3000))
    with pytest.raises(TextgenError, match="no files uploaded"):
        store_uploads([], tmp_path / "s3")


def test_preview_lists_accepted_and_skipped_files_with_token_and_split_counts(
    tmp_path, tiny_model, corpus_dir
):
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    shown = preview([*sorted(corpus_dir.glob("*.txt")), binary], str(tiny_model), DataConfig(64))
    rows = {row[0]: row for row in shown.rows}
    assert rows["photo.txt"][1:3] == ["skipped", "binary file (JPEG image)"]
    assert rows["part00.txt"][1] == "accepted" and rows["part00.txt"][3] > 500
    assert "chunks of 64 tokens: train" in shown.summary
    assert "Small corpus" in shown.warning


def test_preview_says_when_the_corpus_is_too_small_to_split(tmp_path):
    tiny = tmp_path / "short.txt"
    tiny.write_text("Only a few words here.")
    shown = preview([tiny], "scratch:tiny", DataConfig(200))
    assert shown.warning.startswith("Cannot train on this: corpus too small")


def test_preview_names_each_file_as_uploaded_with_its_kind(tmp_path, tiny_model):
    import zipfile

    from support.documents import PASSAGE, write_docx

    (tmp_path / "GPL-3").write_text(PASSAGE)
    (tmp_path / "copy-of-GPL").write_text(PASSAGE)
    letter = write_docx(tmp_path / "Letter.docx")
    with zipfile.ZipFile(tmp_path / "notes.zip", "w") as zf:
        zf.writestr("poems/first", "A poem about the sea, in a zip.\n")
        zf.writestr("poems/photo.png", b"\x89PNG\r\n\x1a\n" + bytes(64))
    files = [tmp_path / "GPL-3", tmp_path / "copy-of-GPL", letter, tmp_path / "notes.zip"]
    shown = preview(files, str(tiny_model), DataConfig(16))
    rows = {row[0]: row for row in shown.rows}
    assert rows["GPL-3"][1:3] + rows["GPL-3"][4:] == ["accepted", "", "text"]
    assert rows["Letter.docx"][4] == "Word document" and rows["Letter.docx"][3] > 100
    assert rows["notes.zip/poems/first"][1] == "accepted"
    assert rows["notes.zip/poems/photo.png"][1:3] == ["skipped", "binary file (PNG image)"]
    assert rows["copy-of-GPL"][1:3] == ["skipped", "duplicate of GPL-3"]
    assert not any("file0" in str(cell) for row in shown.rows for cell in row)


def test_a_refused_upload_names_the_files_as_uploaded(tmp_path):
    from textgen_core.app.uploads import usable_or_raise

    (tmp_path / "Artistic").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(64))
    stored = store_uploads([tmp_path / "Artistic"], tmp_path / "store")
    with pytest.raises(TextgenError, match=r"Artistic: binary file \(executable \(ELF\)\)"):
        usable_or_raise(tmp_path / "store", stored)
