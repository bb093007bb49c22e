"""The n-gram index answers exactly what a brute-force scan of the tokens would."""

from __future__ import annotations

import numpy as np

from textgen_core.quality.ngrams import N, NgramIndex, ngram_hashes


def _brute_longest(corpus: np.ndarray, query: np.ndarray) -> int:
    best = 0
    for i in range(len(query)):
        for p in range(len(corpus)):
            k = 0
            while i + k < len(query) and p + k < len(corpus) and corpus[p + k] == query[i + k]:
                k += 1
            best = max(best, k)
    return best if best >= N else 0


def test_contains_marks_exactly_the_ngrams_that_occur_in_the_corpus():
    rng = np.random.default_rng(0)
    corpus = rng.integers(0, 50, 3000).astype(np.uint16)  # small vocabulary: many repeats
    query = np.concatenate([corpus[100:130], rng.integers(0, 50, 40)]).astype(np.uint16)
    grams = {tuple(corpus[i : i + N]) for i in range(len(corpus) - N + 1)}
    expected = [tuple(query[i : i + N]) in grams for i in range(len(query) - N + 1)]
    assert NgramIndex(corpus).contains(query).tolist() == expected
    assert all(expected[: 30 - N + 1])  # the planted copy is found


def test_longest_match_finds_the_planted_passage_and_its_position():
    rng = np.random.default_rng(1)
    corpus = rng.integers(0, 50_000, 20_000).astype(np.uint16)
    query = np.concatenate([rng.integers(0, 50_000, 20), corpus[5_000:5_057], [7, 7, 7]])
    match = NgramIndex(corpus).longest_match(query.astype(np.uint16))
    assert (match.start, match.length, match.position) == (20, 57, 5_000)


def test_longest_match_agrees_with_brute_force_on_repetitive_text():
    rng = np.random.default_rng(2)
    corpus = rng.integers(0, 4, 400).astype(np.uint16)  # 4 symbols: matches everywhere
    index = NgramIndex(corpus)
    for seed in range(5):
        query = np.random.default_rng(seed).integers(0, 4, 60).astype(np.uint16)
        match = index.longest_match(query)
        assert match.length == _brute_longest(corpus, query)
        if match.length:
            found = corpus[match.position : match.position + match.length]
            assert (found == query[match.start : match.start + match.length]).all()


def test_no_match_and_short_inputs_give_zero():
    corpus = np.arange(100, dtype=np.uint16)
    index = NgramIndex(corpus)
    assert index.longest_match(np.arange(200, 260, dtype=np.uint16)).length == 0
    assert index.contains(np.arange(5, dtype=np.uint16)).size == 0  # shorter than one n-gram
    assert len(ngram_hashes(np.arange(3))) == 0
