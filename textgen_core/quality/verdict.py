"""The copying verdict: from the memorization figures (memorization.py), one line a
person can act on, with its numbers.

When too few informative n-grams were generated, the rates say nothing and
the verdict is "not enough text to judge", with the figures: when fewer than
ENOUGH_INFORMATIVE (100, a single continuation's worth) were generated, or
when their share of all generated n-grams is under ENOUGH_SHARE (0.3) times
that share in the author's own unseen text. That ratio was 0.00-0.15 for the
six barely trained models measured (licences, code, indented verse: mostly
whitespace) and 0.59-1.13 for the trained ones (a licence model writing word
salad, the overfitted and the normal runs, a model of indented verse); 0.3
lies between.

The verdict is "copies" when either holds:

- the copied 8-gram rate is at least COPY_MARGIN (10 points) above the
  reference rate *and* at least COPY_RATIO (2x) times it (never when there
  is not enough text to judge). The margin is about three standard errors
  of the difference: n-grams of one continuation are not independent (one
  copied passage gives many hits), so the sample is roughly the 32
  continuations, whose rates spread by ~10-15 points, i.e. ~2-3 points for
  their mean. The ratio keeps a corpus full of shared boilerplate (a
  reference rate of 40%, say) from being flagged for a small excess.
- one continuation holds an informative verbatim passage of at least
  LONG_PASSAGE tokens (about 25 words, two or three lines) that is also more
  than twice the longest stretch the author's own unseen text shares with
  the training text: reciting one passage is copying even when the rest is
  new, or is whitespace.

Otherwise "no sign of copying". Either way the verdict carries the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textgen_core.quality.ngrams import N

COPY_MARGIN = 0.10
COPY_RATIO = 2.0
LONG_PASSAGE = 32
ENOUGH_INFORMATIVE = 100
ENOUGH_SHARE = 0.3


@dataclass
class Figures:
    """What the verdict weighs: for the generated continuations and the
    author's real ones, the share of informative n-grams found in the
    training text, the longest informative passage found there, and how many
    n-grams were informative."""

    copied: float
    reference: float
    longest: int
    reference_longest: int
    file: str | None
    informative: int
    ngrams: int
    reference_informative: int
    reference_ngrams: int

    @property
    def enough(self) -> bool:
        """Enough informative n-grams were generated for the rates to judge."""
        share = self.informative / self.ngrams if self.ngrams else 0.0
        reference_share = self.reference_informative / max(1, self.reference_ngrams)
        return self.informative >= ENOUGH_INFORMATIVE and share >= ENOUGH_SHARE * reference_share


def verdict(f: Figures) -> str:
    """The one-line judgement, with its numbers (the module docstring says why
    these thresholds)."""
    passage = (
        f"longest copied passage {f.longest} tokens from {Path(f.file).name}"
        if f.longest
        else f"no passage of {N}+ tokens with words copied"
    )
    by_passage = f.longest >= LONG_PASSAGE and f.longest > 2 * f.reference_longest
    if not f.enough and not by_passage:
        share = f.informative / max(1, f.ngrams)
        reference_share = f.reference_informative / max(1, f.reference_ngrams)
        why = (
            f"only {f.informative} of the {f.ngrams} generated {N}-grams ({share:.0%}) carry "
            f"words, against {reference_share:.0%} of the author's own: the model writes "
            "mostly whitespace, punctuation or the same words over and over"
            if share < ENOUGH_SHARE * reference_share
            else f"only {f.informative} generated {N}-grams carry words, fewer than the "
            f"{ENOUGH_INFORMATIVE} the rates need; add test text or raise --memorization-prompts"
        )
        return f"not enough text to judge: {why}; {passage}"
    rates = (
        f"{f.copied:.0%} of generated {N}-grams (the {f.informative} that carry words) appear "
        f"in the training text vs {f.reference:.0%} for the author's own unseen text"
    )
    by_rate = (
        f.enough and f.copied >= f.reference + COPY_MARGIN and f.copied >= COPY_RATIO * f.reference
    )
    return f"{'copies' if by_rate or by_passage else 'no sign of copying'}: {rates}; {passage}"
