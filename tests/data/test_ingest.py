"""Files -> documents: every input case gets its documented outcome."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest

from textgen_core.data.ingest import load_corpus
from textgen_core.errors import TextgenError

TEXT = "Shall I compare thee to a summer's day?\nThou art more lovely and more temperate.\n"


def reasons(corpus) -> dict[str, str]:
    return {s.path.rsplit("/", 1)[-1]: s.reason for s in corpus.skipped}


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("plain.txt", TEXT.encode(), TEXT),
        ("notes.md", TEXT.encode(), TEXT),
        ("doc.rst", TEXT.encode(), TEXT),
        ("bom.txt", b"\xef\xbb\xbf" + TEXT.encode(), TEXT),
        ("utf16.txt", TEXT.encode("utf-16"), TEXT),
        ("utf16be.txt", b"\xfe\xff" + TEXT.encode("utf-16-be"), TEXT),
        ("crlf.txt", TEXT.replace("\n", "\r\n").encode(), TEXT),
        ("cr.txt", TEXT.replace("\n", "\r").encode(), TEXT),
    ],
)
def test_accepted_text_is_decoded_and_newlines_normalised(tmp_path, name, content, expected):
    (tmp_path / name).write_bytes(content)
    corpus = load_corpus([tmp_path])
    assert corpus.skipped == []
    assert [d.text for d in corpus.documents] == [expected]


def test_csv_and_jsonl_give_one_document_per_text_value(tmp_path):
    (tmp_path / "a.csv").write_text('id,text\n1,"first, with comma"\n2,second\n')
    (tmp_path / "b.jsonl").write_text(
        json.dumps({"text": "third"}) + "\n\n" + json.dumps({"text": "fourth", "x": 1}) + "\n"
    )
    texts = [d.text for d in load_corpus([tmp_path]).documents]
    assert texts == ["first, with comma", "second", "third", "fourth"]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("image.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "binary file (PNG image)"),
        ("image.txt", b"\x89PNG\r\n\x1a\n" + bytes(64), "PNG image"),
        ("archive.txt", gzip.compress(TEXT.encode(), mtime=0), "gzip archive"),
        ("program.txt", b"\x7fELF\x02\x01\x01" + bytes(64), "executable"),
        ("nul.txt", b"abc\x00def", "NUL bytes"),
        ("empty.txt", b"", "empty"),
        ("blank.md", b"  \n\t\r\n ", "whitespace-only"),
        ("table.csv", b"id,body\n1,hello\n", "no 'text' column"),
        ("bad.jsonl", b'{"text": "ok"}\nnot json\n', "line 2 is not JSON"),
    ],
)
def test_unusable_files_are_skipped_with_their_reason(tmp_path, name, content, reason):
    (tmp_path / "good.txt").write_text(TEXT)
    (tmp_path / name).write_bytes(content)
    corpus = load_corpus([tmp_path])
    assert [d.text for d in corpus.documents] == [TEXT]
    assert reason in reasons(corpus)[name]


def test_duplicate_content_is_skipped_naming_the_original(tmp_path):
    (tmp_path / "a.txt").write_text(TEXT)
    (tmp_path / "b.txt").write_text(TEXT.replace("\n", "\r\n"))  # same text once normalised
    corpus = load_corpus([tmp_path])
    assert len(corpus.documents) == 1
    assert reasons(corpus)["b.txt"] == f"duplicate of {tmp_path / 'a.txt'}"


def test_folders_are_read_recursively_in_sorted_order_and_hidden_files_ignored(tmp_path):
    (tmp_path / "b" / "c").mkdir(parents=True)
    (tmp_path / "b" / "c" / "deep.txt").write_text("deep")
    (tmp_path / "a.txt").write_text("top")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.txt").write_text("hidden")
    assert [d.text for d in load_corpus([tmp_path]).documents] == ["top", "deep"]


def test_missing_path_is_an_error_naming_it(tmp_path):
    with pytest.raises(TextgenError, match="nope.txt: no such file"):
        load_corpus([tmp_path / "nope.txt"])


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("noise.txt", bytes(range(128, 256)) * 4, "not UTF-8"),  # binary without NUL bytes
        ("noise_nul.md", bytes(range(256)) * 4, "NUL bytes"),
    ],
)
def test_more_undecodable_inputs_are_skipped_with_reasons(tmp_path, name, content, reason):
    (tmp_path / name).write_bytes(content)
    corpus = load_corpus([tmp_path])
    assert corpus.documents == [] and reason in reasons(corpus)[name]


def test_mixed_line_endings_in_one_file_give_the_same_text_as_lf(tmp_path):
    (tmp_path / "mixed.txt").write_bytes(b"one\r\ntwo\rthree\nfour")
    assert load_corpus([tmp_path]).documents[0].text == "one\ntwo\nthree\nfour"


def test_symlink_loops_do_not_hang_or_duplicate(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text(TEXT)
    (tmp_path / "a" / "up").symlink_to(tmp_path)
    (tmp_path / "a" / "self").symlink_to(tmp_path / "a")
    corpus = load_corpus([tmp_path])
    assert [d.path for d in corpus.documents] == [str(tmp_path / "a" / "x.txt")]


def test_ten_thousand_tiny_files_are_all_read_or_listed(tmp_path):
    for i in range(10_000):
        (tmp_path / f"{i:05d}.txt").write_text(f"note number {i}\n" if i % 100 else "")
    corpus = load_corpus([tmp_path])
    assert len(corpus.documents) == 9_900
    assert len(corpus.skipped) == 100 and all(s.reason.startswith("empty") for s in corpus.skipped)


@pytest.mark.parametrize(
    "raw",
    [
        ("é½\r\n" * 3000 + "€ end\r").encode(),  # CRLF, CR and 2- and 3-byte characters
        b"\xef\xbb\xbf" + ("naïve\rline\r\n" * 1000).encode(),
        ("wide 字 text\r\n" * 1000).encode("utf-16"),
    ],
)
@pytest.mark.parametrize("block", [1, 2, 3, 7, 64])
def test_reading_in_blocks_gives_the_same_text_as_reading_whole(tmp_path, raw, block):
    """Past the first 8 kB (read whole), blocks split characters, BOMs and CRLFs."""
    from textgen_core.data.decoding import decode, read_blocks

    path = tmp_path / "t.txt"
    path.write_bytes(raw)
    assert "".join(read_blocks(path, block_bytes=block)) == decode(raw)
    assert "\r" not in decode(raw)


@pytest.mark.parametrize("block", [1, 5, 4096])
def test_undecodable_byte_is_named_by_its_offset_in_the_file(tmp_path, block):
    from textgen_core.data.decoding import read_blocks

    path = tmp_path / "t.txt"
    path.write_bytes(b"\xef\xbb\xbf" + b"a" * 10_000 + "ok é ".encode() + b"\xff rest")
    with pytest.raises(TextgenError, match=r"not UTF-8 text \(byte 10009\)"):
        "".join(read_blocks(path, block_bytes=block))


def test_big_file_is_scanned_without_keeping_its_text(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("line\n" * 2_000_000)  # 10 MB: several read blocks
    corpus = load_corpus([path])
    (source,) = corpus.documents.sources
    assert source.documents == 1 and corpus.files_used == [str(path)]
    assert not hasattr(corpus.documents[0], "__dict__") or "text" not in vars(corpus.documents[0])
    assert corpus.documents[0].text == "line\n" * 2_000_000


def test_fingerprint_follows_the_texts_and_optionally_their_paths(corpus_dir, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(corpus_dir, moved)
    original, copy = load_corpus([corpus_dir]), load_corpus([moved])
    assert copy.fingerprint(paths=False) == original.fingerprint(paths=False)
    assert copy.fingerprint() != original.fingerprint()
    first = sorted(p for p in moved.rglob("*") if p.is_file())[0]
    first.write_text(first.read_text() + "\nOne line more.\n")
    assert load_corpus([moved]).fingerprint(paths=False) != original.fingerprint(paths=False)


def test_json_and_parquet_give_one_document_per_text(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "a.json").write_text(json.dumps([{"text": "first"}, {"text": " "}, "second"]))
    pq.write_table(pa.table({"id": [1, 2], "text": ["third", "fourth"]}), tmp_path / "b.parquet")
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "c.parquet")
    (tmp_path / "d.json").write_text(json.dumps({"title": "no text"}))
    corpus = load_corpus([tmp_path])
    assert [d.text for d in corpus.documents] == ["first", "second", "third", "fourth"]
    assert corpus.kinds[str(tmp_path / "b.parquet")] == "Parquet, 2 texts"
    assert "no 'text' column (columns: ['body'])" in reasons(corpus)["c.parquet"]
    assert "give a list like" in reasons(corpus)["d.json"]
