"""A file that yields no token to score is listed with 0 tokens and a note, never dropped."""

from __future__ import annotations

import numpy as np

from textgen_core.data.prepare import chunk_all
from textgen_core.data.tokens import Tokenized
from textgen_core.model.loading import load_for_inference
from textgen_core.train.evaluate import NO_TOKENS_NOTE, evaluate_loss


def test_file_yielding_no_tokens_stays_in_per_file_with_a_note(tiny_model):
    model, tok = load_for_inference(str(tiny_model))
    eos = tok.eos_token_id
    # "empty.txt" encodes to nothing: its document is its end-of-text token alone, the
    # first token of the stream, which no position predicts.
    docs = [[eos], [*range(300, 330), eos], [*range(500, 520), eos]]
    tokens = Tokenized(
        np.concatenate([np.array(d, np.uint16) for d in docs]),
        np.cumsum([0] + [len(d) for d in docs]),
        np.array([0, 1, 2], np.int32),
        ["empty.txt", "a.txt", "b.txt"],
    )
    data = chunk_all(tokens, 16, tok.pad_token_id)
    listed = evaluate_loss(model, data, files=tokens.files, every_file=True)
    assert list(listed.per_file) == ["empty.txt", "a.txt", "b.txt"]
    assert listed.per_file["empty.txt"] == {
        "loss": None,
        "perplexity": None,
        "tokens": 0,
        "note": NO_TOKENS_NOTE,
    }
    # chunk starts (stream positions 16, 32, 48) are never predicted
    assert listed.per_file["a.txt"]["tokens"] == 30 and listed.per_file["b.txt"]["tokens"] == 19
    # the training report keeps its meaning: only files with scored test tokens
    assert "empty.txt" not in evaluate_loss(model, data, files=tokens.files).per_file
