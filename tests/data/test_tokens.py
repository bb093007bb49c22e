"""Documents -> compact tokens: the same ids as the tokenizer gives each whole
document, however the text is batched or cut; one huge line in bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from support.models import shakespeare

from textgen_core.data.ingest import Corpus, Document
from textgen_core.data.tokens import _cuts_are_exact, encoder, tokenize
from textgen_core.model.loading import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("scratch:tiny")


def test_fast_batch_encoding_gives_the_tokenizers_own_ids(tokenizer):
    texts = [shakespeare(), "Hello world", " [PAD] <|endoftext|>\r\n\tx"]
    expected = tokenizer(texts, add_special_tokens=False)["input_ids"]
    assert encoder(tokenizer)(texts) == expected


@pytest.mark.parametrize("batch_chars", [997, 5000, 1 << 22])
def test_long_documents_cut_into_pieces_give_the_whole_documents_tokens(tokenizer, batch_chars):
    play = shakespeare()
    words = " ".join(play.split())  # one long line: only spaces to cut at
    corpus = Corpus([Document("play", play), Document("line", words), Document("x", "end")])
    tok = tokenize(corpus, tokenizer, batch_chars=batch_chars)
    eos = tokenizer.eos_token_id
    for ids, doc in zip(tok.ids, corpus.documents, strict=True):
        assert ids.tolist() == tokenizer(doc.text)["input_ids"] + [eos]
    assert tok.tokens.dtype == np.uint16 and tok.sources == [1, 0, 2]


def test_documents_begin_as_the_tokenizer_begins_a_text(tokenizer):
    """Gemma's tokenizer puts <bos> before a text: every document starts with it,
    once; GPT-2's puts nothing there, and its documents start with their text."""
    from transformers import AutoTokenizer

    from textgen_core.data.tokens import start_ids
    from textgen_core.model.offline_tokenizers import tokenizer_dir

    gemma = AutoTokenizer.from_pretrained(tokenizer_dir("gemma3"))
    corpus = Corpus([Document("play", shakespeare()), Document("x", "end")])
    for tok, start in ((gemma, [gemma.bos_token_id]), (tokenizer, [])):
        assert start_ids(tok) == start
        ids = tokenize(corpus, tok, batch_chars=997).ids
        for doc_ids, doc in zip(ids, corpus.documents, strict=True):
            text = tok(doc.text, add_special_tokens=False)["input_ids"]
            assert doc_ids.tolist() == start + text + [tok.eos_token_id]


def test_tokenizers_that_would_change_at_a_cut_are_not_cut(tokenizer):
    encode = encoder(tokenizer)
    assert _cuts_are_exact(encode, tokenizer)

    def prefix_space(texts):  # like a SentencePiece tokenizer: a piece's start differs
        return encode([" " + t for t in texts])

    assert not _cuts_are_exact(prefix_space, tokenizer)


@pytest.mark.slow
def test_a_single_200_mb_line_is_prepared_in_bounded_memory(tmp_path):
    """The documented outcome (docs/RELIABILITY.md): read as one document,
    tokenized in pieces cut at spaces (the tokens of the whole line), split by
    token ranges, with peak memory far below the file's size in tokens."""
    unit = " Shall I compare thee to a summer's day? Thou art more lovely,"
    repeats = 200_000_000 // len(unit)
    path = tmp_path / "line.txt"
    with open(path, "w") as f:
        for _ in range(repeats // 10_000):
            f.write(unit * 10_000)
    # VmHWM, not getrusage: Linux carries ru_maxrss over exec, so a child of a
    # large pytest process would report the parent's size.
    script = textwrap.dedent(
        f"""
        def peak_mb():
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        import json
        from textgen_core.config import DataConfig
        from textgen_core.data.prepare import prepare
        from textgen_core.data.cache import DataCache
        from textgen_core.model.loading import load_tokenizer
        tokenizer = load_tokenizer("scratch:tiny")
        corpus, splits = prepare([{str(path)!r}], tokenizer, DataConfig(),
                                 cache=DataCache({str(tmp_path / "cache")!r}))
        print(json.dumps({{**splits.summary(), "documents": len(corpus.documents),
            "unit_tokens": len(tokenizer({unit!r})["input_ids"]),
            "peak_mb": peak_mb()}}))
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    tokens = sum(result[f"{n}_tokens"] for n in ("train", "validation", "test"))
    assert result["documents"] == 1 and result["split_by"] == "token_range"
    assert tokens == repeats // 10_000 * 10_000 * result["unit_tokens"] + 1  # + EOS
    print(f"200 MB line: {tokens} tokens, peak RSS {result['peak_mb']:.0f} MB")
    assert result["peak_mb"] < 1500  # the line alone is 200 MB of text, 50+ M tokens


def test_text_without_cut_points_is_still_cut_and_nothing_is_lost():
    from textgen_core.data.tokens import _pieces

    blob = "x" * 5000 + " tail"  # no space or newline for 5000 characters
    pieces = list(_pieces([blob[:1234], blob[1234:]], 1000, True))
    assert "".join(pieces) == blob and max(map(len, pieces)) <= 4 * 1000
    words = "word " * 1000
    pieces = list(_pieces([words], 1000, True))
    assert "".join(pieces) == words and all(p.endswith("word") for p in pieces[:-1])
