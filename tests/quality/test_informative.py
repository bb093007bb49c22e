"""Which n-grams count as evidence of copying (quality/informative.py), on GPT-2's
real tokenizer, and the longest copied passage made of them."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from textgen_core.model.loading import gpt2_tokenizer_dir
from textgen_core.quality.informative import WordTokens, informative_ngrams, trimmed
from textgen_core.quality.ngrams import NgramIndex


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(gpt2_tokenizer_dir())


def ids(tokenizer, text: str) -> np.ndarray:
    return np.array(tokenizer(text)["input_ids"])


def shares(tokenizer, text: str) -> float:
    tokens = ids(tokenizer, text)
    return float(informative_ngrams(tokens, WordTokens(tokenizer)(tokens)).mean())


def test_whitespace_punctuation_and_one_word_repeated_carry_nothing(tokenizer):
    assert shares(tokenizer, "    \n" * 30 + " " * 69) == 0
    assert shares(tokenizer, ", . ; : -- ( ) " * 20 + "=" * 40) == 0
    assert shares(tokenizer, " the" * 50) == 0
    assert shares(tokenizer, " la la, la la!" * 20) == 0


def test_prose_code_and_other_scripts_carry_words(tokenizer):
    assert shares(tokenizer, "If music be the food of love, play on; give me excess of it") == 1
    code = "def wrap(text, width=70):\n    return TextWrapper(width=width).wrap(text)\n"
    assert shares(tokenizer, code) > 0.5
    # byte-level pieces of Chinese characters decode alone to U+FFFD: still words
    assert shares(tokenizer, "床前明月光，疑是地上霜。举头望明月，低头思故乡。") > 0.5


def test_an_ngram_needs_four_word_tokens_three_of_them_different(tokenizer):
    words = np.array([True] * 8)
    assert informative_ngrams(np.array([1, 2, 3, 1, 2, 3, 1, 2]), words).tolist() == [True]
    assert informative_ngrams(np.array([1, 2, 1, 2, 1, 2, 1, 2]), words).tolist() == [False]
    four = np.array([True, True, True, True, False, False, False, False])
    assert informative_ngrams(np.array([1, 2, 3, 4, 9, 9, 9, 9]), four).tolist() == [True]
    assert informative_ngrams(np.array([1, 2, 3, 4, 9, 9, 9, 9]), ~four).tolist() == [False]


def test_the_longest_copied_passage_is_the_longest_with_words_trimmed(tokenizer):
    poem = "    Shall I compare thee to a summer's day?\n        Thou art more lovely"
    spaces = " " * 60 + "\n"
    training = ids(tokenizer, "Some preface.\n" + spaces + "\n" + poem + "\n and the rest.")
    # generated: a longer run of the training text's spaces, then the poem
    generated = ids(tokenizer, "x" + spaces + "\nnothing here at all\n" + poem + " ...")
    index, is_word = NgramIndex(training), WordTokens(tokenizer)(generated)
    raw = index.longest_match(generated)  # counting every n-gram: the run of spaces
    assert raw.length >= 60 and not is_word[raw.start : raw.start + raw.length].any()
    match = index.longest_match(generated, informative_ngrams(generated, is_word))
    start, end = trimmed(match.start, match.start + match.length, is_word)
    passage = tokenizer.decode(generated[start:end].tolist())
    assert passage.strip() == poem.strip()  # its inner indentation kept, its ends trimmed
