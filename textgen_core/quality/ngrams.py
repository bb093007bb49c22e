"""An index of every token n-gram of a token array, built once, for two
questions about any other token sequence: which of its n-grams occur in the
array, and what is the longest stretch of it that occurs there verbatim (and
where).

Each n-gram is hashed to 64 bits (a polynomial in the token ids, modulo 2**64,
with a random odd base: numpy's wrapping uint64 arithmetic, vectorised over
the whole array) and the hashes are sorted together with their positions.
A lookup is then a binary search. Written with numpy rather than a suffix
array library: building the index is a handful of vectorised passes and one
argsort (a few seconds and ~20 bytes a token for a 25M-token corpus), and no
package on PyPI builds suffix arrays over integer tokens that fast.

Two different n-grams share a hash with probability about n_grams / 2**64
per lookup (~1e-12 for a 100 MB corpus): negligible for the rates, and the
longest span is checked token by token against the array anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N = 8
_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd, so the hash is a bijection per step
_MAX_CANDIDATES = 512  # occurrences of one n-gram compared when extending a match


def ngram_hashes(tokens: np.ndarray, n: int = N) -> np.ndarray:
    """uint64 hash of every n-gram of `tokens` (len(tokens) - n + 1 of them)."""
    tokens = np.asarray(tokens)
    count = len(tokens) - n + 1
    if count <= 0:
        return np.zeros(0, np.uint64)
    out = np.zeros(count, np.uint64)
    with np.errstate(over="ignore"):  # wrapping modulo 2**64 is the point
        for k in range(n):
            out *= _BASE
            out += tokens[k : k + count].astype(np.uint64)
    return out


@dataclass
class Match:
    """The longest verbatim stretch of a query found in the indexed array."""

    start: int  # in the query
    length: int  # tokens
    position: int  # in the indexed array (-1 when length is 0)


class NgramIndex:
    """Sorted n-gram hashes of `tokens`, with the position of each."""

    def __init__(self, tokens: np.ndarray, n: int = N):
        self.tokens = np.asarray(tokens)
        self.n = n
        hashes = ngram_hashes(self.tokens, n)
        # uint32 positions halve the index for any corpus under 4G tokens
        pos_type = np.uint32 if len(hashes) < 1 << 32 else np.int64
        order = np.argsort(hashes)  # introsort: ~2x a stable sort on random keys
        self.sorted = hashes[order]
        del hashes
        self.positions = order.astype(pos_type)
        del order

    def __len__(self) -> int:
        return len(self.sorted)

    def contains(self, query: np.ndarray) -> np.ndarray:
        """For each n-gram of `query`: whether it occurs in the indexed array."""
        hashes = ngram_hashes(query, self.n)
        if not len(self.sorted) or not len(hashes):
            return np.zeros(len(hashes), bool)
        at = np.searchsorted(self.sorted, hashes).clip(max=len(self.sorted) - 1)
        return self.sorted[at] == hashes

    def occurrences(self, query: np.ndarray, start: int) -> np.ndarray:
        """Positions where the n-gram of `query` at `start` occurs (at most
        _MAX_CANDIDATES of them)."""
        value = ngram_hashes(query[start : start + self.n], self.n)
        lo, hi = (
            np.searchsorted(self.sorted, value[0], "left"),
            np.searchsorted(self.sorted, value[0], "right"),
        )
        return self.positions[lo : min(hi, lo + _MAX_CANDIDATES)].astype(np.int64)

    def _extend(self, query: np.ndarray, start: int, positions: np.ndarray) -> tuple[int, int]:
        """(longest match of query[start:] at one of `positions`, that position)."""
        width = min(len(query) - start, len(self.tokens) - int(positions.min()))
        offsets = np.arange(width)
        window = positions[:, None] + offsets[None, :]
        inside = window < len(self.tokens)
        found = np.where(inside, self.tokens[window.clip(max=len(self.tokens) - 1)], -1)
        equal = found == query[start : start + width][None, :]
        lengths = np.where(equal.all(1), width, equal.argmin(1))
        best = int(lengths.argmax())
        return int(lengths[best]), int(positions[best])

    def longest_match(self, query: np.ndarray, counted: np.ndarray | None = None) -> Match:
        """The longest stretch of `query` (at least n tokens) that occurs
        verbatim in the indexed array; length 0 when none does. With `counted`
        (a mask over the query's n-grams), a stretch starts at a counted
        n-gram and its length ends with the last counted n-gram inside it.

        A match starting at i covers only n-grams found in the index, so its
        length is at most the run of found n-grams from i plus n - 1: starts
        are tried longest bound first, stopping once no bound beats the best."""
        query = np.asarray(query)
        present = self.contains(query)
        counted = present if counted is None else np.asarray(counted, bool)
        if not (present & counted).any():
            return Match(0, 0, -1)
        runs = np.zeros(len(present) + 1, np.int64)
        for i in range(len(present) - 1, -1, -1):
            runs[i] = runs[i + 1] + 1 if present[i] else 0
        last_counted = _last_true_at_or_before(counted)
        best = Match(0, 0, -1)
        for i in np.argsort(-runs[:-1], kind="stable"):
            bound = int(runs[i]) + self.n - 1
            if runs[i] == 0 or bound <= best.length:
                break
            if not counted[i]:
                continue
            length, position = self._extend(query, int(i), self.occurrences(query, int(i)))
            if length < self.n:  # a hash collision
                continue
            length = int(last_counted[i + length - self.n]) + self.n - int(i)
            if length > best.length:
                best = Match(int(i), length, position)
        return best


def _last_true_at_or_before(mask: np.ndarray) -> np.ndarray:
    """For each index i: the largest j <= i with mask[j] (-1 when none)."""
    where = np.where(mask, np.arange(len(mask)), -1)
    return np.maximum.accumulate(where) if len(where) else where
