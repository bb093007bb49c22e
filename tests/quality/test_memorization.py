"""The memorization report: its verdict, its honest baseline, and its answer for a
model that recites its training text and for one that does not."""

from __future__ import annotations

import numpy as np
import pytest

from textgen_core.config import DataConfig
from textgen_core.data.prepare import prepare
from textgen_core.model.loading import load_for_inference
from textgen_core.quality.memorization import SplitStream, measure, memorization_report
from textgen_core.quality.ngrams import NgramIndex
from textgen_core.quality.verdict import Figures, verdict


def figures(copied, reference, longest, reference_longest, file="x.txt", **counts) -> Figures:
    """Figures of 32 continuations whose 8-grams mostly carry words, like the
    author's own (`counts` overrides: informative, ngrams, ...)."""
    values = dict(informative=3500, ngrams=3872, reference_informative=3300, reference_ngrams=3872)
    return Figures(copied, reference, longest, reference_longest, file, **{**values, **counts})


def test_verdict_copies_when_generated_overlap_far_exceeds_the_authors_unseen_text():
    text = verdict(figures(0.41, 0.03, 20, 12, "/data/chapter-3.txt"))
    assert text == (
        "copies: 41% of generated 8-grams (the 3500 that carry words) appear in the training "
        "text vs 3% for the author's own unseen text; longest copied passage 20 tokens from "
        "chapter-3.txt"
    )


def test_verdict_copies_on_one_long_recited_passage_even_at_a_low_rate():
    text = verdict(figures(0.05, 0.04, 212, 15, "a/b.md"))
    assert text.startswith("copies:") and "212 tokens from b.md" in text
    # a recited passage is copying even when the rest is whitespace
    mostly_spaces = verdict(figures(0.05, 0.04, 212, 15, "a/b.md", informative=300))
    assert mostly_spaces.startswith("copies: 5% of generated 8-grams (the 300 that carry words)")


def test_verdict_no_sign_when_overlap_is_near_the_chance_level():
    assert verdict(figures(0.14, 0.10, 20, 15)).startswith("no sign of copying: 14%")
    # boilerplate-heavy text: 12 points above, but not twice the author's own rate
    assert verdict(figures(0.52, 0.40, 30, 25)).startswith("no sign of copying")
    # a long passage that the author's own unseen text matches as long: a refrain
    assert verdict(figures(0.05, 0.05, 40, 30)).startswith("no sign of copying")
    assert verdict(figures(0.0, 0.0, 0, 0, None)).endswith(
        "no passage of 8+ tokens with words copied"
    )


def test_verdict_has_not_enough_text_to_judge_when_the_model_writes_whitespace():
    # the licence model: 58% of all its 8-grams "found", nearly none of them words
    text = verdict(figures(0.0, 0.01, 0, 9, None, informative=151, ngrams=1089))
    assert text == (
        "not enough text to judge: only 151 of the 1089 generated 8-grams (14%) carry words, "
        "against 85% of the author's own: the model writes mostly whitespace, punctuation or "
        "the same words over and over; no passage of 8+ tokens with words copied"
    )
    # a high rate over too few informative n-grams is no evidence either
    assert verdict(figures(0.6, 0.01, 20, 9, informative=400)).startswith("not enough text")


def test_verdict_has_not_enough_text_to_judge_when_too_little_was_generated():
    text = verdict(figures(0.3, 0.0, 11, 0, "h.txt", informative=73, ngrams=73))
    assert text.startswith(
        "not enough text to judge: only 73 generated 8-grams carry words, fewer than the 100 "
        "the rates need; add test text or raise --memorization-prompts"
    )


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
