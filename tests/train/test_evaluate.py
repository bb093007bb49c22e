"""Evaluation is token-weighted, ignores pad, and attributes tokens to files."""

from __future__ import annotations

import math

import torch
from datasets import Dataset

from textgen_core.data.prepare import IGNORE_INDEX
from textgen_core.model.loading import load_for_inference
from textgen_core.train.evaluate import evaluate_loss, perplexity


def rows(ids: list[list[int]], pad: int, size: int, sources=None) -> Dataset:
    data = {"input_ids": [], "attention_mask": [], "labels": [], "source": []}
    for i, row in enumerate(ids):
        fill = size - len(row)
        data["input_ids"].append(row + [pad] * fill)
        data["attention_mask"].append([1] * len(row) + [0] * fill)
        data["labels"].append(row + [IGNORE_INDEX] * fill)
        data["source"].append([sources[i] if sources else 0] * len(row) + [-1] * fill)
    return Dataset.from_dict(data)


def test_loss_is_token_weighted_and_pad_free(tiny_model):
    model, tok = load_for_inference(str(tiny_model))
    long, short = list(range(100, 132)), list(range(200, 204))
    result = evaluate_loss(model, rows([long, short], tok.pad_token_id, 32), batch_size=1)
    with torch.no_grad():  # reference: per-sequence mean losses, weighted by predicted tokens
        a = model(torch.tensor([long]), labels=torch.tensor([long])).loss.item()
        b = model(torch.tensor([short]), labels=torch.tensor([short])).loss.item()
    assert result.tokens == 31 + 3
    assert math.isclose(result.loss, (31 * a + 3 * b) / 34, rel_tol=1e-5)
    batched = evaluate_loss(model, rows([long, short], tok.pad_token_id, 32), batch_size=2)
    assert math.isclose(batched.loss, result.loss, rel_tol=1e-5)


def test_per_file_losses_add_up_to_the_total(tiny_model):
    model, tok = load_for_inference(str(tiny_model))
    data = rows([list(range(300, 340)), list(range(500, 520))], tok.pad_token_id, 40, [0, 1])
    result = evaluate_loss(model, data, files=["a.txt", "b.txt"])
    files = result.per_file
    assert files["a.txt"]["tokens"] == 39 and files["b.txt"]["tokens"] == 19
    total = sum(f["loss"] * f["tokens"] for f in files.values()) / result.tokens
    assert math.isclose(total, result.loss, rel_tol=1e-6)


def test_perplexity_overflow_is_infinity_not_a_crash():
    assert perplexity(1000.0) == math.inf
    assert math.isclose(perplexity(math.log(7.0)), 7.0)
