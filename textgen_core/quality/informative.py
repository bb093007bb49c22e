"""Which n-grams of a text carry content, and so can be evidence of copying.

A run of spaces, a line of dashes, ", and the" or one token said eight times
occurs in any training text of the kind: an n-gram made of them matches
without anything being copied. An n-gram counts as *informative* when at
least MIN_WORDS of its tokens are word tokens and at least MIN_DISTINCT_WORDS
of those differ. A word token is one whose text holds anything other than
whitespace, punctuation and symbols: letters and digits of any script, and
the byte pieces that a byte-level tokenizer splits other scripts into.
memorization.py says which thresholds were chosen and on what figures.
"""

from __future__ import annotations

import unicodedata

import numpy as np

from textgen_core.quality.ngrams import N

MIN_WORDS = 4
MIN_DISTINCT_WORDS = 3


def _is_word(text: str) -> bool:
    # U+FFFD is what a byte-level tokenizer's piece of a multi-byte character
    # decodes to alone: part of a word of another script, not a symbol.
    return any(c == "\ufffd" or unicodedata.category(c)[0] not in "PSZC" for c in text)


class WordTokens:
    """Whether each token id is a word token, decoded once per id as asked."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.known: dict[int, bool] = {}

    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        tokens = np.asarray(tokens, np.int64)
        for t in np.unique(tokens).tolist():
            if t not in self.known:
                self.known[t] = _is_word(self.tokenizer.decode([t]))
        return np.array([self.known[t] for t in tokens.tolist()], bool)


def informative_ngrams(tokens: np.ndarray, words: np.ndarray, n: int = N) -> np.ndarray:
    """For each n-gram of `tokens` (whose word tokens `words` marks): whether
    it holds at least MIN_WORDS word tokens, MIN_DISTINCT_WORDS of them
    different."""
    tokens = np.asarray(tokens, np.int64)
    if len(tokens) < n:
        return np.zeros(0, bool)
    windows = np.lib.stride_tricks.sliding_window_view(np.where(words, tokens, -1), n)
    count = (windows >= 0).sum(1)
    ordered = np.sort(windows, axis=1)
    distinct = ((ordered[:, 1:] != ordered[:, :-1]) & (ordered[:, 1:] >= 0)).sum(1)
    distinct += ordered[:, 0] >= 0  # the smallest word token, when it is one
    return (count >= MIN_WORDS) & (distinct >= MIN_DISTINCT_WORDS)


def trimmed(start: int, end: int, words: np.ndarray) -> tuple[int, int]:
    """The span [start, end) without its leading and trailing non-word tokens
    (spaces, newlines, punctuation)."""
    while start < end and not words[start]:
        start += 1
    while end > start and not words[end - 1]:
        end -= 1
    return start, end
