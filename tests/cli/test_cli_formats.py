"""`textgen train` and `textgen eval` on a folder of every format a person has:
the table names each file's kind, the same passage counts the same tokens,
and a hostile file costs only itself."""

from __future__ import annotations

import json

from support.cli import textgen
from support.documents import FORMATS, PARAGRAPHS, docx_with_entity_bomb, write_format
from support.runs import LEAN

FAST = [
    "--epochs",
    "1",
    "--lr",
    "3e-3",
    "--chunk-size",
    "64",
    *LEAN,
]  # not --quiet: the file table is an info message
KINDS = {
    "txt": "text",
    "extensionless": "text",
    "docx": "Word document",
    "odt": "OpenDocument text",
    "pdf": "PDF, 1 page",
    "epub": "EPUB, 2 chapters",
    "html": "HTML page",
    "srt": "subtitles (SRT), 11 cues",
}


def test_train_reads_every_format_names_each_kind_and_counts_alike(tmp_path, tiny_model):
    folder = tmp_path / "mine"
    folder.mkdir()
    written = {  # one closing line each, so none is a duplicate of another
        fmt: write_format(folder, fmt, [*PARAGRAPHS, f"This copy is number {n}."], stem=fmt)
        for n, fmt in enumerate(FORMATS)
    }
    docx_with_entity_bomb(folder / "laughs.docx")
    out = tmp_path / "run"
    done = textgen("train", folder, "--output", out, "--model", tiny_model, *FAST)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    for fmt, path in written.items():
        (line,) = [line for line in lines if line.startswith(str(path) + " ")]
        assert f" used     {KINDS[fmt]} " in line, line
    assert "laughs.docx" in done.stderr and "declares XML entities" in done.stderr
    results = json.loads((out / "results.json").read_text())
    table = {row["path"].rsplit("/", 1)[-1]: row for row in results["file_table"]}
    assert table["laughs.docx"]["status"] == "skipped"
    used = {name: row for name, row in table.items() if row["status"] == "used"}
    assert len(used) == len(FORMATS) == len(results["files_used"])
    reference = used["txt.txt"]["tokens"]
    for name, row in used.items():
        assert abs(row["tokens"] - reference) <= 0.03 * reference, (name, row["tokens"], reference)
    assert [s["path"].rsplit("/", 1)[-1] for s in results["files_skipped"]] == ["laughs.docx"]


def test_eval_takes_a_licence_file_without_an_extension(tmp_path, tiny_model):
    licence = tmp_path / "Apache-2.0"
    licence.write_text("\n\n".join(PARAGRAPHS))
    done = textgen("eval", tiny_model, licence, "--chunk-size", "64")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["tokens"] > 100
    assert report["file_table"][0]["kind"] == "text"
