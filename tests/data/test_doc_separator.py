"""--doc-separator: one file cut into documents, which the split by document then uses."""

from __future__ import annotations

import pytest

from textgen_core.config import DataConfig
from textgen_core.data.documents import split_documents
from textgen_core.data.ingest import load_corpus
from textgen_core.errors import TextgenError

POEMS = [
    f"Poem {i}\nThe sea was grey at dawn, and number {i} was the boat\n" * 6 for i in range(30)
]


def test_a_file_of_poems_becomes_one_document_per_poem(tmp_path):
    (tmp_path / "poems.txt").write_text("\n***\n".join(POEMS) + "\n***\n   \n")
    corpus = load_corpus([tmp_path], doc_separator="***")
    assert [d.text for d in corpus.documents] == [p.strip("\n") for p in POEMS]
    assert corpus.documents.sources[0].documents == 30
    assert load_corpus([tmp_path]).documents.sources[0].documents == 1  # default unchanged


@pytest.mark.parametrize("cut", range(1, 9))
def test_a_separator_split_across_read_blocks_is_still_found(cut):
    text = "first poem\n***\nsecond poem"
    blocks = [text[:cut], text[cut:]]
    assert list(split_documents(blocks, "***")) == ["first poem", "second poem"]


def test_extracted_documents_are_cut_too(tmp_path):
    (tmp_path / "page.html").write_text("<p>One</p><p>---</p><p>Two</p>")
    corpus = load_corpus([tmp_path], doc_separator="---")
    assert [d.text for d in corpus.documents] == ["One", "Two"]


def test_the_split_by_document_uses_the_separated_documents(tmp_path):
    from transformers import AutoTokenizer

    from textgen_core.data.prepare import make_splits
    from textgen_core.model.loading import gpt2_tokenizer_dir

    (tmp_path / "poems.txt").write_text("\n***\n".join(POEMS))
    tokenizer = AutoTokenizer.from_pretrained(gpt2_tokenizer_dir())
    tokenizer.pad_token = tokenizer.eos_token
    for separator, expected in ((None, "token_range"), ("***", "document")):
        corpus = load_corpus([tmp_path], doc_separator=separator)
        splits = make_splits(corpus, tokenizer, DataConfig(chunk_size=16), cache=None)
        assert splits.split_by == expected


def test_a_blank_separator_is_refused_naming_the_flag():
    with pytest.raises(TextgenError, match="--doc-separator"):
        DataConfig(doc_separator="  ").validate()


def test_the_flag_reaches_the_settings():
    from textgen_core.cli.main import build_parser
    from textgen_core.cli.train_flags import train_config

    args = build_parser().parse_args(["train", "x", "--output", "o", "--doc-separator", "***"])
    assert train_config(args).data.doc_separator == "***"
