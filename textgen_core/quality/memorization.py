"""Does the model write like the author, or recite the author's files?

Prompts are the first `prompt_tokens` tokens of seeded held-out test chunks.
The model continues each one (`continuation_tokens` new tokens, the default
sampling settings of `GenerateConfig`, a seed per prompt, all prompts decoded
together). Each continuation is compared with the training split through an
n-gram index built once (ngrams.py): the share of its informative 8-grams
that occur in the training text, and the longest informative stretch of it
found there verbatim, with the file it comes from.

The same two figures for the *real* continuation of each prompt (the test
text the author wrote next, which the model never saw) are the chance level
of overlap for this author: shared phrases, names, refrains and formatting.
A model that learned the style lands near it; a model that recites lands
well above.

What counts as evidence. Indentation, blank lines, rules of dashes and a
model saying one token over and over match any training text of the kind
without anything being copied: a 2-layer model trained 33 steps on four
software licences (test perplexity ~590), its samples mostly spaces, had
60% of its 8-grams "found in the training text" against 1% for the
licences' own unseen text, and a 69-token "copied passage" of spaces. So only
*informative* n-grams count (informative.py): at least MIN_WORDS (4) of the 8
tokens are word tokens (letters or digits, any script), MIN_DISTINCT_WORDS
(3) of them different: at least half the n-gram is words, and no one word
makes it. The rates are shares of informative n-grams, the author's reference
rate too, and the longest copied passage is the longest stretch that starts
and ends with informative n-grams, trimmed of the spaces and punctuation at
its ends. Measured with GPT-2's tokenizer, these n-grams are 84-95% of what
trained models wrote (the overfitted and the normal runs of the tests), 88%
of a play's Markdown, 64-98% of licence texts, 63% of indented verse and
25-35% of Python source; 0-14% of what the barely trained models wrote on
licences, code and indented verse, and none of a run of spaces, of
punctuation or of one word repeated. Under 3 words of which 2 different the
barely trained models' shares barely move (1-19% against 1-14%); over 5 of
which 4 different, a play keeps only 52% and code 13%, too little to judge
code by.

The verdict on these figures, and why its thresholds: verdict.py.

Prompt/answer and chat data: the evidence is answers copied from training
answers. The index holds only what the model was trained to write (tokens
with a label: the answers; every token with --train-on all), a held-out
conversation's prompt is its tokens up to its first answer, and the reference
continuation is that answer, the one its author wrote. Text and
conversations in one run are measured together, each kind its own way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textgen_core.config import DataConfig, GenerateConfig, TrainConfig
from textgen_core.data.splits import IGNORE_INDEX
from textgen_core.quality.informative import WordTokens, informative_ngrams, trimmed
from textgen_core.quality.ngrams import N, NgramIndex
from textgen_core.quality.verdict import Figures, verdict

PROMPTS = 32
PROMPT_TOKENS = 32
CONTINUATION_TOKENS = 128


@dataclass
class SplitStream:
    """The tokens of a split back to back (its real, non-pad tokens, or with
    `trained_only` those with a label), whether each is trained (an answer of
    prompt/answer data; every token of text), and where each row ends."""

    tokens: np.ndarray
    trained: np.ndarray
    row_ends: np.ndarray

    @classmethod
    def of(cls, dataset, trained_only: bool = False) -> SplitStream:
        import pyarrow.compute as pc

        table = dataset.data.table

        def flat(name: str) -> np.ndarray:
            return pc.list_flatten(table.column(name)).to_numpy()

        mask = flat("attention_mask").astype(bool)
        labeled = flat("labels") != IGNORE_INDEX
        keep = labeled if trained_only else mask
        ids = flat("input_ids")[keep]
        width = len(keep) // max(1, len(dataset))  # every row has the same slots
        kept = keep.reshape(len(dataset), width).sum(1) if len(dataset) else np.zeros(0)
        dtype = np.uint16 if len(ids) == 0 or int(ids.max()) < 1 << 16 else np.int32
        return cls(ids.astype(dtype), labeled[keep], np.cumsum(kept).astype(np.int64))

    @property
    def row_starts(self) -> np.ndarray:
        return np.concatenate([[0], self.row_ends[:-1]]).astype(np.int64)

    def row_of(self, position: int) -> tuple[int, int]:
        """(row, offset among its kept tokens) of a stream position."""
        row = int(np.searchsorted(self.row_ends, position, side="right"))
        return row, position - int(self.row_starts[row])


@dataclass
class Overlap:
    """How much of one token sequence occurs in the training split, counting
    only its informative n-grams (informative.py)."""

    ngrams: int
    informative: int
    found: int  # informative n-grams that occur in the training split
    longest: int  # tokens of the longest informative passage found verbatim, trimmed
    longest_start: int
    longest_position: int  # in the training stream


def overlap(index: NgramIndex, tokens: np.ndarray, words: WordTokens) -> Overlap:
    is_word = words(tokens)
    counted = informative_ngrams(tokens, is_word, index.n)
    present = index.contains(tokens)
    match = index.longest_match(tokens, counted)
    start, end = trimmed(match.start, match.start + match.length, is_word)
    position = match.position + start - match.start if end > start else -1
    return Overlap(
        len(present), int(counted.sum()), int((present & counted).sum()), end - start, start,
        position,
    )  # fmt: skip


@dataclass
class Prompt:
    """A held-out prompt and its real continuation, as spans of the test stream."""

    start: int
    end: int  # of the prompt; the reference starts here
    reference_end: int


def candidate_prompts(test: SplitStream, prompt_tokens: int, length: int) -> list[Prompt]:
    """Every row that can give a prompt: a text chunk with `prompt_tokens`
    tokens and at least one n-gram after them (its continuation may run on
    into the next chunk, as the text does), and a conversation, whose prompt is
    everything up to its first answer and whose reference is that answer."""
    found = []
    for start, end in zip(test.row_starts.tolist(), test.row_ends.tolist(), strict=True):
        trained = test.trained[start:end]
        if trained.all():  # text
            if start + prompt_tokens + N <= len(test.tokens):
                cut = start + prompt_tokens
                found.append(Prompt(start, cut, min(cut + length, len(test.tokens))))
        elif trained.any():  # a conversation: its prompt, then its first answer
            first = int(trained.argmax())
            answer = first + int(np.argmin(np.append(trained[first:], False)))
            found.append(Prompt(start, start + first, start + min(answer, first + length)))
    return found


def held_out_prompts(
    test: SplitStream, count: int, prompt_tokens: int, length: int, seed: int
) -> list[Prompt]:
    """Up to `count` seeded `candidate_prompts`, in stream order."""
    fits = candidate_prompts(test, prompt_tokens, length)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(fits), size=min(count, len(fits)), replace=False) if fits else []
    return [fits[i] for i in sorted(int(c) for c in chosen)]


def continue_prompts(model, tokenizer, prompts: list[list[int]], cfg: GenerateConfig, lengths=None):
    """The new token ids after each prompt, all decoded together; prompt i
    is sampled with seed cfg.seed + i, for `lengths[i]` new tokens (default
    cfg.max_new_tokens)."""
    from dataclasses import replace

    from textgen_core.generate.batched import Row, decode

    if not prompts:
        return []
    lengths = lengths or [cfg.max_new_tokens] * len(prompts)
    rows = [
        Row(
            ids=[int(t) for t in p],
            cfg=replace(cfg, seed=(cfg.seed or 0) + i, max_new_tokens=n),
            emit=_ignore,
        )
        for i, (p, n) in enumerate(zip(prompts, lengths, strict=True))
    ]
    was_training = model.training
    model.eval()  # no dropout while sampling
    try:
        decode(model, tokenizer, rows)
    finally:
        model.train(was_training)
    return [np.asarray(r.new, np.int64) for r in rows]


def _ignore(_: str) -> None:
    pass


@dataclass
class Measurement:
    """Prompts, the real and the generated continuations (token ids, all from
    the test split but the generated ones), and their overlaps with training."""

    starts: list[int]  # of the prompts, in the test split's token stream
    prompts: list[np.ndarray]
    references: list[np.ndarray]
    generated: list[np.ndarray]
    made: list[Overlap]
    real: list[Overlap]
    continuation_tokens: int


def measure(
    model,
    tokenizer,
    splits,
    index: NgramIndex,
    *,
    cfg: GenerateConfig | None = None,
    prompts: int = PROMPTS,
    prompt_tokens: int = PROMPT_TOKENS,
    continuation_tokens: int = CONTINUATION_TOKENS,
    seed: int = 42,
) -> Measurement:
    from dataclasses import replace

    from textgen_core.model.loading import context_length

    context = context_length(model)
    length = min(continuation_tokens, context - prompt_tokens)
    cfg = replace(cfg or GenerateConfig(), max_new_tokens=length, seed=seed, stop=[])
    test = SplitStream.of(splits.test)
    chosen = held_out_prompts(test, prompts, prompt_tokens, length, seed)
    chosen = [p for p in chosen if p.end - p.start < context]  # room to write
    starts = [p.start for p in chosen]
    prompt_ids = [test.tokens[p.start : p.end] for p in chosen]
    references = [test.tokens[p.end : p.reference_end] for p in chosen]
    lengths = [min(length, context - (p.end - p.start)) for p in chosen]
    generated = continue_prompts(model, tokenizer, prompt_ids, cfg, lengths)
    words = WordTokens(tokenizer)
    made = [overlap(index, g, words) for g in generated]
    real = [overlap(index, r, words) for r in references]
    return Measurement(starts, prompt_ids, references, generated, made, real, length)


def memorization_report(
    model,
    tokenizer,
    splits,
    *,
    cfg: GenerateConfig | None = None,
    prompts: int = PROMPTS,
    prompt_tokens: int = PROMPT_TOKENS,
    continuation_tokens: int = CONTINUATION_TOKENS,
    seed: int = 42,
) -> dict:
    """The `memorization` block of results.json for `model` trained on
    `splits.train`, prompted from `splits.test` (see the module docstring):
    `cfg` gives the sampling settings (its length and seed are replaced)."""
    train = SplitStream.of(splits.train, trained_only=True)
    index = NgramIndex(train.tokens)
    m = measure(
        model,
        tokenizer,
        splits,
        index,
        cfg=cfg,
        prompts=prompts,
        prompt_tokens=prompt_tokens,
        continuation_tokens=continuation_tokens,
        seed=seed,
    )
    example = _example(m, train, splits, tokenizer)
    figures = Figures(
        copied=_rate(m.made),
        reference=_rate(m.real),
        longest=max((o.longest for o in m.made), default=0),
        reference_longest=max((o.longest for o in m.real), default=0),
        file=example["file"],
        informative=sum(o.informative for o in m.made),
        ngrams=sum(o.ngrams for o in m.made),
        reference_informative=sum(o.informative for o in m.real),
        reference_ngrams=sum(o.ngrams for o in m.real),
    )
    if m.prompts:
        judged = verdict(figures)
    else:
        judged = (
            f"not measured: the test split has no chunk long enough for a {prompt_tokens}-token "
            f"prompt and {N} tokens after it; add text or raise --test-fraction"
        )
    return {
        "prompts": len(m.prompts),
        "prompt_tokens": prompt_tokens,
        "continuation_tokens": m.continuation_tokens,
        "generated_tokens": int(sum(len(g) for g in m.generated)),
        "ngram": N,
        "copied_ngram_rate": figures.copied,
        "reference_ngram_rate": figures.reference,
        "longest_copied_tokens": figures.longest,
        "longest_copied_chars": len(example["text"]),
        "longest_copied_example": example,
        "reference_longest_tokens": figures.reference_longest,
        "generated_ngrams": figures.ngrams,
        "informative_ngrams": figures.informative,
        "reference_ngrams": figures.reference_ngrams,
        "reference_informative_ngrams": figures.reference_informative,
        "verdict": judged,
    }


def _rate(overlaps: list[Overlap]) -> float:
    total = sum(o.informative for o in overlaps)
    return sum(o.found for o in overlaps) / total if total else 0.0


def _example(m: Measurement, train: SplitStream, splits, tokenizer) -> dict:
    """The longest copied informative passage's text (trimmed) and the
    training file it comes from."""
    if not m.made or max(o.longest for o in m.made) == 0:
        return {"text": "", "file": None}
    top = max(range(len(m.made)), key=lambda i: m.made[i].longest)
    o = m.made[top]
    span = m.generated[top][o.longest_start : o.longest_start + o.longest]
    row, offset = train.row_of(o.longest_position)
    record = splits.train[row]
    trained = np.flatnonzero(np.asarray(record["labels"]) != IGNORE_INDEX)
    source = record["source"][int(trained[offset])]
    return {"text": tokenizer.decode(span.tolist()).strip(), "file": splits.files[source]}


def memorization_on_files(model, tokenizer, corpus, model_name: str, *, chunk_size: int) -> dict:
    """The memorization block for `model` given the files it was trained on:
    they are split as its training run split them (the data settings and seed
    recorded beside a run's model or checkpoint folder; else the defaults with
    `chunk_size`), so the prompts come from text it never saw."""
    from textgen_core.data.prepare import make_splits

    settings = recorded_settings(model_name)
    data = settings.data if settings else DataConfig(chunk_size=chunk_size)
    seed = settings.seed if settings else data.seed
    prompts = settings.memorization_prompts if settings else PROMPTS
    splits = make_splits(corpus, tokenizer, data)
    return memorization_report(model, tokenizer, splits, prompts=prompts or PROMPTS, seed=seed)


def recorded_settings(model_name: str) -> TrainConfig | None:
    """The TrainConfig of the run whose model or checkpoint folder `model_name`
    is, or None."""
    from textgen_core.model.tokenizer_check import RUN_RECORD, run_root

    root = run_root(Path(model_name)) if Path(model_name).is_dir() else None
    if root is None:
        return None
    try:
        return TrainConfig.from_dict(json.loads((root / RUN_RECORD).read_text())["config"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
