"""The memorization verdict on real cases: (a) a model overfitted on a tiny corpus
is caught reciting it, with the file it recites named; (b) a model trained
normally is not accused; (c) a barely trained model on indented, boilerplate
text (licences, code, indented verse) is not accused; (d) a model that recites a
passage with its indentation is caught, and the passage shown is words."""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
from support.cli import textgen
from support.models import build_tiny_model, shakespeare

from textgen_core.config import DataConfig, TrainConfig
from textgen_core.data.prepare import prepare
from textgen_core.kernels.lm_loss import causal_lm_loss
from textgen_core.model.loading import load_for_inference
from textgen_core.quality.memorization import SplitStream, measure, memorization_report
from textgen_core.quality.ngrams import NgramIndex
from textgen_core.quality.verdict import COPY_MARGIN, LONG_PASSAGE
from textgen_core.train.run import prepare_data

# Every position the report generates at is one the model trained at: its context
# (32 prompt + 64 generated tokens) is the chunk size. Wider than TINY, so that
# it can learn a few thousand tokens by heart in a minute.
WIDE = dict(n_embd=128, n_head=4, n_positions=96)
RUN = ["--chunk-size", "96", "--eval-steps", "100000", "--sample-tokens", "0", "--quiet"]
PLAYS = [
    "comedies/twelfth-night",
    "comedies/as-you-like-it",
    "tragedies/hamlet",
    "tragedies/macbeth",
    "tragedies/othello",
    "comedies/much-ado-about-nothing",
    "tragedies/king-lear",
    "comedies/the-comedy-of-errors",
]


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("wide_model"), **WIDE)


def train(corpus: Path, model: Path, out: Path, *flags: str) -> dict:
    done = textgen("train", corpus, "--output", out, "--model", model, *RUN, *flags)
    assert done.returncode == 0, done.stderr
    return json.loads((out / "results.json").read_text())


def test_a_model_overfitted_on_a_tiny_corpus_is_caught_copying_the_file_it_recites(
    tmp_path, wide_model
):
    corpus = tmp_path / "five-scenes"
    corpus.mkdir()
    # ~300 tokens from each of five plays: 120 steps learn them by heart (eight plays
    # took 180 steps for a weaker verdict, 29% copied against 37%)
    for play in PLAYS[:5]:
        (corpus / f"{play.split('/')[1]}.txt").write_text(shakespeare(play)[5000:6200])
    results = train(corpus, wide_model, tmp_path / "run", "--epochs", "60", "--lr", "3e-3")
    block = results["memorization"]
    assert block["verdict"].startswith(
        f"copies: {block['copied_ngram_rate']:.0%} of generated 8-grams (the "
        f"{block['informative_ngrams']} that carry words) appear in the training text vs "
        f"{block['reference_ngram_rate']:.0%} for the author's own unseen text; "
    ), block["verdict"]
    assert block["informative_ngrams"] >= 100
    assert block["copied_ngram_rate"] >= block["reference_ngram_rate"] + 0.10
    example = block["longest_copied_example"]
    assert example["file"] in results["files_used"]
    # the named file holds the passage; the recited text is no other file's
    holder = [p for p in corpus.iterdir() if example["text"].strip() in p.read_text()]
    assert [str(p) for p in holder] == [example["file"]]
    assert f"from {Path(example['file']).name}" in block["verdict"]


def test_a_model_trained_normally_on_a_larger_corpus_is_not_accused(
    tmp_path, wide_model, corpus_dir
):
    results = train(corpus_dir, wide_model, tmp_path / "run", "--epochs", "1", "--lr", "1e-3")
    block = results["memorization"]
    assert block["prompts"] >= 8, block  # measured, not skipped
    assert block["verdict"].startswith(
        f"no sign of copying: {block['copied_ngram_rate']:.0%} of generated 8-grams (the "
        f"{block['informative_ngrams']} that carry words) appear in the training text vs "
        f"{block['reference_ngram_rate']:.0%} for the author's own unseen text; "
    ), block["verdict"]
    # it writes words, as the author does, and far fewer of them come from training
    assert block["informative_ngrams"] >= 0.3 * block["generated_ngrams"]
    assert block["copied_ngram_rate"] < block["reference_ngram_rate"] + 0.10
    assert block["longest_copied_tokens"] < LONG_PASSAGE


def licence(distribution: str, name: str) -> str:
    """A licence text as an installed (pinned) package ships it."""
    files = importlib.metadata.distribution(distribution).files
    return next(f for f in files if f.name == name).read_text()


def indented(text: str, first: str = "    ", second: str = "        ") -> str:
    """Verse laid out as printed odes are: alternate lines indented."""
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join((second if i % 2 else first) + s for i, s in enumerate(lines)) + "\n"


def test_a_barely_trained_model_on_indented_boilerplate_is_not_accused(tmp_path):
    corpus = tmp_path / "boilerplate"
    corpus.mkdir()
    (corpus / "MPL-2.0.txt").write_text(licence("orjson", "LICENSE-MPL-2.0"))
    (corpus / "Apache-2.0.txt").write_text(licence("accelerate", "LICENSE"))
    (corpus / "LGPL-3.0.txt").write_text(licence("fpdf2", "LICENSE"))
    (corpus / "AGPL-3.0.txt").write_text(licence("ebooklib", "LICENSE.txt"))
    (corpus / "textwrap.py").write_text(inspect.getsource(textwrap))
    verse = [line.rstrip() for line in shakespeare("comedies/twelfth-night")[20000:28000].splitlines()
             if not line.startswith(("**", "_", "#"))]  # fmt: skip
    (corpus / "twelfth-night-ode.txt").write_text(indented("\n".join(verse)))
    # 33 steps of 4 chunks at a high rate: test perplexity in the hundreds, samples mostly
    # spaces; 16 prompts (half the default): whitespace either way, in half the time
    flags = ["--max-steps", "33", "--batch-size", "4", "--lr", "1e-2", "--chunk-size", "200",
             "--memorization-prompts", "16"]  # fmt: skip
    done = textgen("train", corpus, "--output", tmp_path / "run", "--model", "scratch:tiny",
                   "--eval-steps", "100000", "--sample-tokens", "0", "--quiet", *flags)  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    block = results["memorization"]
    share = block["informative_ngrams"] / block["generated_ngrams"]
    author = block["reference_informative_ngrams"] / block["reference_ngrams"]
    assert block["verdict"].startswith(
        f"not enough text to judge: only {block['informative_ngrams']} of the "
        f"{block['generated_ngrams']} generated 8-grams ({share:.0%}) carry words, against "
        f"{author:.0%} of the author's own: the model writes mostly whitespace"
    ), block["verdict"]
    assert share < 0.3 * author
    # Counted over every 8-gram, as before, the same continuations look far more copied than
    # the author's own unseen text: 10+ points above it (the verdict's COPY_MARGIN) and 1.5x
    # it (measured 0.284 against 0.150 on an AVX-512 BF16 AMD EPYC, more on other CPUs).
    model, tokenizer = load_for_inference(str(tmp_path / "run" / "model"))
    cfg = TrainConfig.from_dict(results["config"])
    _, _, splits = prepare_data([corpus], cfg, name_skipped=False)
    index = NgramIndex(SplitStream.of(splits.train, trained_only=True).tokens)
    m = measure(model, tokenizer, splits, index, prompts=block["prompts"], seed=cfg.seed)
    found = [index.contains(g) for g in m.generated]
    reference = [index.contains(r) for r in m.references]
    every = np.concatenate(found).mean()
    author_rate = np.concatenate(reference).mean()
    assert every >= author_rate + COPY_MARGIN and every >= 1.5 * author_rate
    assert sum(len(f) for f in found) == block["generated_ngrams"]


@pytest.fixture(scope="module")
def reciter(tmp_path_factory):
    """A small model taught to recite one indented passage of its training split
    after any held-out prompt, with the splits it is measured on and the passage."""
    import torch

    root = tmp_path_factory.mktemp("reciter")
    corpus = root / "odes"
    corpus.mkdir()
    for play in PLAYS:
        (corpus / f"{play.split('/')[1]}.txt").write_text(
            indented(shakespeare(play)[5000:6200], "  ", "    ")
        )
    folder = build_tiny_model(root / "model", n_embd=64, n_head=2, n_positions=256)
    model, tokenizer = load_for_inference(str(folder))
    _, splits = prepare([corpus], tokenizer, DataConfig(chunk_size=96), cache=None)
    train, test = SplitStream.of(splits.train, trained_only=True), SplitStream.of(splits.test)
    passage = train.tokens[200:296].astype(np.int64)
    # Written by hand rather than with the Trainer: the lesson is one fixed
    # continuation after random held-out openings, not the training text.
    rng, _ = np.random.default_rng(0), torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(100):
        starts = rng.integers(0, len(test.tokens) - 32, 8)
        rows = [np.concatenate([test.tokens[s : s + 32].astype(np.int64), passage]) for s in starts]
        batch = torch.tensor(np.stack(rows))
        labels = batch.clone()
        labels[:, :32] = -100
        causal_lm_loss(model, batch, None, labels).backward()  # textgen's fused loss: 2.4x
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    return model, tokenizer, splits, tokenizer.decode(passage.tolist())


def test_a_model_reciting_an_indented_passage_is_caught_and_shown_its_words(reciter):
    model, tokenizer, splits, passage = reciter
    block = memorization_report(model, tokenizer, splits, continuation_tokens=96)
    example = block["longest_copied_example"]
    assert block["verdict"].startswith(
        f"copies: {block['copied_ngram_rate']:.0%} of generated 8-grams (the "
        f"{block['informative_ngrams']} that carry words) appear in the training text vs "
        f"{block['reference_ngram_rate']:.0%} for the author's own unseen text; longest "
        f"copied passage {block['longest_copied_tokens']} tokens from "
        f"{Path(example['file']).name}"
    ), block["verdict"]
    assert block["copied_ngram_rate"] >= 0.5 and block["reference_ngram_rate"] < 0.1
    assert block["longest_copied_tokens"] >= 2 * LONG_PASSAGE
    text = example["text"]
    # words, not spaces: no blank at either end, the indentation kept inside
    assert text == text.strip() and len(re.findall(r"[A-Za-z']+", text)) >= 20
    assert re.search(r"\n {2,}\S", text)
    assert text in passage and text in Path(example["file"]).read_text()
