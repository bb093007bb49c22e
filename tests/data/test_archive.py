"""A .zip of files is read member by member through the same rules as a
folder, without zip slip or zip bombs."""

from __future__ import annotations

import zipfile

from support.documents import PASSAGE, write_docx, zip_bomb

from textgen_core.data.archive import ArchiveLimits
from textgen_core.data.ingest import load_corpus
from textgen_core.data.scan import ScanOptions


def test_zip_members_are_read_like_files_in_a_folder(tmp_path):
    docx = write_docx(tmp_path / "letter.docx")
    archive = tmp_path / "writing.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("notes/LICENSE", "Permission is hereby granted, free of charge.\n")
        zf.writestr("notes/story.txt", PASSAGE)
        zf.write(docx, "letters/letter.docx")
        zf.writestr("photo.jpg", b"\xff\xd8\xff\xe0" + bytes(200))
        zf.writestr("inner.zip", b"PK\x03\x04" + bytes(40))
        zf.writestr(".hidden/config", "ignored like a hidden file in a folder")
    docx.unlink()
    corpus = load_corpus([archive])
    assert corpus.kinds == {
        f"{archive}/letters/letter.docx": "Word document",
        f"{archive}/notes/LICENSE": "text",
        f"{archive}/notes/story.txt": "text",
    }
    texts = {d.path: d.text for d in corpus.documents}
    assert texts[f"{archive}/notes/story.txt"] == PASSAGE
    assert texts == {d.path: d.text for d in corpus.documents}  # read again: the same
    reasons = {s.path: s.reason for s in corpus.skipped}
    assert reasons == {
        f"{archive}/photo.jpg": "binary file (JPEG image)",
        f"{archive}/inner.zip": "archive inside an archive; unpack it and give the folder",
    }


def test_member_names_never_become_paths_on_disk(tmp_path):
    archive = tmp_path / "slip.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escaped.txt", "written outside?")
        zf.writestr("/etc/absolute.txt", "absolute path")
        zf.writestr("../outside.docx", b"PK\x03\x04" + bytes(40))
        zf.writestr("fine.txt", PASSAGE)
    work = tmp_path / "work"
    work.mkdir()
    corpus = load_corpus([archive])
    assert [d.text for d in corpus.documents] == [PASSAGE]
    assert len(corpus.skipped) == 3
    assert all("unsafe name in the archive" in s.reason for s in corpus.skipped)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["slip.zip", "work"]


def test_a_zip_bomb_is_skipped_naming_the_limit_and_the_other_files_are_read(tmp_path):
    zip_bomb(tmp_path / "bomb.zip", "zeros.txt", megabytes=64)
    (tmp_path / "fine.txt").write_text(PASSAGE)
    limits = ArchiveLimits(max_total_bytes=32 << 20)
    corpus = load_corpus([tmp_path], options=ScanOptions(archive_limits=limits))
    assert [d.text for d in corpus.documents] == [PASSAGE]
    (skipped,) = corpus.skipped
    assert skipped.path == str(tmp_path / "bomb.zip")
    assert "would unpack to 64 MB in 1 files, over the limit of 32 MB" in skipped.reason
    assert "unpack it yourself" in skipped.reason


def test_a_damaged_zip_is_skipped_with_the_reason(tmp_path):
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04" + b"garbage" * 10)
    (tmp_path / "fine.txt").write_text(PASSAGE)
    corpus = load_corpus([tmp_path])
    assert [s.reason.split(" (")[0] for s in corpus.skipped] == ["damaged ZIP archive"]
