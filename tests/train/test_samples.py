"""Samples during training: the same prompts and seed before training and at
every evaluation, written to samples.jsonl, identical across a kill and
--resume, without changing the run, and shown before/after in the model card."""

from __future__ import annotations

import json

import pytest
import torch
from support.runs import cli_train, weights

from textgen_core.quality.samples import read_samples

STEPS = 54  # as in test_faults: 2 epochs of 27 steps, an evaluation every 5 and at the end
EVALUATIONS = [0, *range(5, STEPS, 5), STEPS]  # 0: the base model, before training


@pytest.fixture(scope="module")
def reference(reference_run):
    return reference_run


def test_every_evaluation_samples_the_same_two_validation_openings(reference):
    out, done = reference
    samples = read_samples(out / "samples.jsonl")
    prompts = sorted({s["prompt"] for s in samples})
    assert len(prompts) == 2 and all(len(p.split()) == 6 for p in prompts)
    for prompt in prompts:
        assert [s["step"] for s in samples if s["prompt"] == prompt] == EVALUATIONS
    texts = {s["step"]: s["text"] for s in samples if s["prompt"] == prompts[0]}
    assert texts[0] != texts[STEPS], "the fine-tuned model writes something else than the base"
    # the CLI's summary shows them (the base, the first and the last evaluation)
    assert "samples (same prompt and seed at each evaluation" in done.stdout
    assert f"step {STEPS}: " in done.stdout and "base model: " in done.stdout


def test_seeded_samples_are_identical_across_kill_and_resume(
    tmp_path, corpus_dir, tiny_model, reference
):
    ref, _ = reference
    out = tmp_path / "run"
    # The samples of step 10 are written, its checkpoint not marked complete:
    # the resume starts from checkpoint 5 and samples step 10 again, once.
    killed = cli_train(out, corpus_dir, tiny_model, fault="before_marker:10", samples=True)
    assert killed.returncode == -9, killed.stderr
    assert {s["step"] for s in read_samples(out / "samples.jsonl")} == {0, 5, 10}
    # Killed between checkpoints: samples of steps 5 and 10 are kept, not taken again.
    killed = cli_train(out, corpus_dir, tiny_model, fault="step:13", resume=True, samples=True)
    assert killed.returncode == -9, killed.stderr
    finished = cli_train(out, corpus_dir, tiny_model, resume=True, samples=True)
    assert finished.returncode == 0, finished.stderr

    assert read_samples(out / "samples.jsonl") == read_samples(ref / "samples.jsonl")
    mine, theirs = weights(out), weights(ref)
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)


def test_sampling_leaves_the_training_run_unchanged(tmp_path, corpus_dir, tiny_model, reference):
    ref, _ = reference
    out = tmp_path / "run"
    done = cli_train(out, corpus_dir, tiny_model, extra=["--sample-tokens", "0"])
    assert done.returncode == 0, done.stderr
    assert not (out / "samples.jsonl").exists()
    mine, theirs = weights(out), weights(ref)
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    assert json.loads((out / "results.json").read_text())["samples"] == []


def test_model_card_shows_the_base_and_the_saved_model_for_the_same_prompts(reference):
    out, _ = reference
    results = json.loads((out / "results.json").read_text())
    best = int(results["best_checkpoint"].rsplit("-", 1)[1])
    samples = read_samples(out / "samples.jsonl")
    card = (out / "README.md").read_text()
    assert "## Samples: before and after" in card
    assert len(results["samples"]) == 2
    for row in results["samples"]:
        at = {s["step"]: s["text"] for s in samples if s["prompt"] == row["prompt"]}
        assert row["step"] == best
        assert (row["base"], row["fine_tuned"]) == (at[0], at[best])
        assert row["prompt"] + row["base"] in card and row["prompt"] + row["fine_tuned"] in card


def test_a_sample_prompt_too_long_for_the_model_is_refused_before_training(
    tmp_path, corpus_dir, tiny_model
):
    too_long = "word " * 300  # the tiny model's context is 256 tokens
    done = cli_train(
        tmp_path / "run", corpus_dir, tiny_model, extra=["--sample-prompt", too_long], samples=True
    )
    assert done.returncode == 2
    assert "error: --sample-prompt 'word word" in done.stderr
    assert "exceed the model's context of 256" in done.stderr
    assert not (tmp_path / "run").exists()
