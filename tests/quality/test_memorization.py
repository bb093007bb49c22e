"""The memorization report: its verdict, its honest baseline, and its answer for a
model that recites its training text and for one that does not."""

from __future__ import annotations

import numpy as np
import pytest

from textgen_core.config import DataConfig
from textgen_core.data.prepare import prepare
from textgen_core.model.loading import load_for_inference
from textgen_core.quality.memorization import SplitStream, measure, memorization_report, verdict
from textgen_core.quality.ngrams import NgramIndex


def test_verdict_copies_when_generated_overlap_far_exceeds_the_authors_unseen_text():
    text = verdict(0.41, 0.03, 20, 12, "/data/chapter-3.txt")
    assert text == (
        "copies: 41% of generated 8-grams appear in the training text vs 3% for the "
        "author's own unseen text; longest copied passage 20 tokens from chapter-3.txt"
    )


def test_verdict_copies_on_one_long_recited_passage_even_at_a_low_rate():
    assert verdict(0.05, 0.04, 212, 15, "a/b.md").startswith("copies:")
    assert "212 tokens from b.md" in verdict(0.05, 0.04, 212, 15, "a/b.md")


def test_verdict_no_sign_when_overlap_is_near_the_chance_level():
    assert verdict(0.14, 0.10, 20, 15, "x.txt").startswith("no sign of copying: 14%")
    # boilerplate-heavy text: 12 points above, but not twice the author's own rate
    assert verdict(0.52, 0.40, 30, 25, "x.txt").startswith("no sign of copying")
    # a long passage that the author's own unseen text matches as long: a refrain
    assert verdict(0.05, 0.05, 40, 30, "x.txt").startswith("no sign of copying")
    assert verdict(0.0, 0.0, 0, 0, None).endswith("no passage of 8+ tokens copied")


@pytest.fixture(scope="module")
def prepared(corpus_dir, tiny_model):
    model, tokenizer = load_for_inference(str(tiny_model))
    _, splits = prepare([corpus_dir], tokenizer, DataConfig(chunk_size=64), cache=None)
    return model, tokenizer, splits


def test_reference_continuations_are_test_text_from_files_never_trained_on(prepared):
    model, tokenizer, splits = prepared
    assert splits.split_by == "document"
    train, test = SplitStream.of(splits.train), SplitStream.of(splits.test)
    m = measure(model, tokenizer, splits, NgramIndex(train.tokens), prompts=6,
                continuation_tokens=16, seed=3)  # fmt: skip
    trained_files = {s for row in splits.train["source"] for s in row if s >= 0}
    assert len(m.references) == 6 and all(len(r) == 16 for r in m.references)
    for start, prompt, reference in zip(m.starts, m.prompts, m.references, strict=True):
        assert (test.tokens[start : start + 32 + 16] == np.concatenate([prompt, reference])).all()
        row, offset = test.row_of(start)
        assert splits.test[row]["source"][offset] not in trained_files
    again = measure(model, tokenizer, splits, NgramIndex(train.tokens), prompts=6,
                    continuation_tokens=16, seed=3)  # fmt: skip
    assert all((a == b).all() for a, b in zip(m.generated, again.generated, strict=True))


def test_report_says_not_measured_when_no_test_chunk_holds_a_prompt(prepared):
    model, tokenizer, splits = prepared
    block = memorization_report(model, tokenizer, splits, prompt_tokens=100_000)
    assert block["prompts"] == 0 and block["generated_tokens"] == 0
    assert block["verdict"].startswith("not measured: the test split has no chunk")
