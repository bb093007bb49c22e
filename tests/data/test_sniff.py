"""Text is judged by its bytes, not its name: any file name, legacy encodings
found and named, binary files named by what they look like."""

from __future__ import annotations

import pytest

from textgen_core.data.ingest import load_corpus

FRENCH = (
    "Le vieux phare se dressait au bout de la jetée, et chaque soir le gardien montait "
    "les marches une à une. Il écrivait dans le registre que la nuit était calme, que la "
    "lumière brûlait, et que les bateaux étaient rentrés à l'heure. Voilà ce qu'il aimait.\n"
)
RUSSIAN = (
    "Старый смотритель маяка каждый вечер поднимался по винтовой лестнице и зажигал "
    "лампу. Он записывал в журнал, что ночь была тихой и что свет горел.\n"
)


def test_licence_files_without_an_extension_are_text(tmp_path):
    for name in ("GPL-3", "Apache-2.0", "MPL-2.0", "Artistic", "README", "notes.log"):
        (tmp_path / name).write_text(f"{name}: Permission is hereby granted to use this work.\n")
    corpus = load_corpus([tmp_path])
    assert corpus.skipped == []
    assert sorted(corpus.kinds.values()) == ["text"] * 6


@pytest.mark.parametrize(
    ("text", "encoding", "kind"),
    [
        (FRENCH, "cp1252", "text (cp1252)"),
        (RUSSIAN, "cp1251", "text (cp1251)"),
        (FRENCH, "utf-16", "text (UTF-16)"),
    ],
)
def test_legacy_encodings_are_found_decoded_and_named(tmp_path, text, encoding, kind):
    (tmp_path / "old-letter").write_bytes(text.encode(encoding))
    corpus = load_corpus([tmp_path])
    assert [d.text for d in corpus.documents] == [text]
    assert corpus.kinds == {str(tmp_path / "old-letter"): kind}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            b"\x10\x00\x00\x00\x00\x00\x00\x00" + b'{"w": {}}' + bytes(8),
            "safetensors model weights",
        ),
        (b"\x80\x04\x95" + bytes(30), "Python pickle"),
        (b"SQLite format 3\x00" + bytes(100), "SQLite database"),
        (b"GGUF\x03\x00\x00\x00" + bytes(40), "GGUF model weights"),
        (b"\x7fELF\x02\x01\x01" + bytes(64), "executable (ELF)"),
        (b"MZ\x90\x00\x03" + bytes(64), "executable (Windows)"),
        (b"text with \x01\x02\x03\x04 controls\x05\x06\x07\x08" * 20, "control characters"),
    ],
)
def test_binary_files_are_skipped_naming_what_they_look_like(tmp_path, content, reason):
    (tmp_path / "data").write_bytes(content)
    (tmp_path / "fine").write_text("Some real text.\n")
    corpus = load_corpus([tmp_path])
    assert [d.path for d in corpus.documents] == [str(tmp_path / "fine")]
    assert reason in corpus.skipped[0].reason


def test_text_that_happens_to_start_like_a_binary_signature_is_still_text(tmp_path):
    (tmp_path / "mz").write_text("MZ is how the old letters were signed.\n")
    (tmp_path / "id3").write_text("ID3 tags are what this essay is about.\n")
    assert len(load_corpus([tmp_path]).documents) == 2


def test_a_csv_in_a_legacy_encoding_is_read_again_the_same(tmp_path):
    rows = "text\n" + "".join(f'"{line}"\n' for line in FRENCH.split(". "))
    (tmp_path / "letters.csv").write_bytes(rows.encode("cp1252"))
    corpus = load_corpus([tmp_path])
    texts = [d.text for d in corpus.documents]
    assert texts == [d.text for d in corpus.documents]  # read again from disk: the same
    assert "".join(texts).count("é") == FRENCH.count("é")
    assert corpus.kinds[str(tmp_path / "letters.csv")] == "CSV table, 3 texts"
