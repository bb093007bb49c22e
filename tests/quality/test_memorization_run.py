"""The memorization verdict of whole training runs: a model overfitted on a tiny
corpus is caught reciting it, with the file it recites named; a model trained
normally is not accused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import textgen
from support.models import build_tiny_model, shakespeare

# Every position the report generates at is one the model trained at: its context
# (32 prompt + 64 generated tokens) is the chunk size. Wider than TINY, so that
# it can learn a few thousand tokens by heart in a minute.
WIDE = dict(n_embd=128, n_head=4, n_positions=96)
RUN = ["--chunk-size", "96", "--eval-steps", "100000", "--sample-tokens", "0", "--quiet"]
PLAYS = [
    "comedies/twelfth-night",
    "comedies/as-you-like-it",
    "tragedies/hamlet",
    "tragedies/macbeth",
    "tragedies/othello",
    "comedies/much-ado-about-nothing",
    "tragedies/king-lear",
    "comedies/the-comedy-of-errors",
]


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("wide_model"), **WIDE)


def train(corpus: Path, model: Path, out: Path, *flags: str) -> dict:
    done = textgen("train", corpus, "--output", out, "--model", model, *RUN, *flags)
    assert done.returncode == 0, done.stderr
    return json.loads((out / "results.json").read_text())


def test_a_model_overfitted_on_a_tiny_corpus_is_caught_copying_the_file_it_recites(
    tmp_path, wide_model
):
    corpus = tmp_path / "eight-scenes"
    corpus.mkdir()
    for play in PLAYS:  # ~300 tokens from each of eight plays
        (corpus / f"{play.split('/')[1]}.txt").write_text(shakespeare(play)[5000:6200])
    results = train(corpus, wide_model, tmp_path / "run", "--epochs", "60", "--lr", "3e-3")
    block = results["memorization"]
    assert block["verdict"].startswith("copies: "), block["verdict"]
    assert block["copied_ngram_rate"] >= block["reference_ngram_rate"] + 0.10
    example = block["longest_copied_example"]
    assert example["file"] in results["files_used"]
    # the named file holds the passage; the recited text is no other file's
    holder = [p for p in corpus.iterdir() if example["text"].strip() in p.read_text()]
    assert [str(p) for p in holder] == [example["file"]]
    assert f"from {Path(example['file']).name}" in block["verdict"]


def test_a_model_trained_normally_on_a_larger_corpus_is_not_accused(
    tmp_path, wide_model, corpus_dir
):
    results = train(corpus_dir, wide_model, tmp_path / "run", "--epochs", "1", "--lr", "1e-3")
    block = results["memorization"]
    assert block["prompts"] >= 8, block  # measured, not skipped
    assert block["verdict"].startswith("no sign of copying: "), block["verdict"]
