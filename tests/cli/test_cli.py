"""The `textgen` command as a user runs it: exit codes, messages, files, Hub pushes."""

from __future__ import annotations

import json
import math
import os
import shutil

import pytest
from support.cli import cli, textgen
from support.runs import LEAN

PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)


FAST = ["--epochs", "2", "--lr", "3e-3", "--chunk-size", "64", "--quiet", *LEAN]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus_dir, tiny_model):
    """A user's folder with a stray image and an empty file, trained on once."""
    folder = tmp_path_factory.mktemp("mine")
    shutil.copytree(corpus_dir, folder / "texts")
    (folder / "texts" / "photo.png").write_bytes(PNG)
    (folder / "texts" / "draft.txt").write_text("")
    out = folder / "run"
    done = textgen("train", folder / "texts", "--output", out, "--model", tiny_model, *FAST)
    return folder, out, done


def test_train_skips_bad_files_with_reasons_and_reports_honestly(trained):
    _, out, done = trained
    assert done.returncode == 0, done.stderr
    assert "skipped" in done.stderr and "photo.png" in done.stderr and "draft.txt" in done.stderr
    results = json.loads((out / "results.json").read_text())
    reasons = {os.path.basename(s["path"]): s["reason"] for s in results["files_skipped"]}
    assert reasons.keys() == {"photo.png", "draft.txt"}
    assert "PNG image" in reasons["photo.png"] and "empty" in reasons["draft.txt"]
    assert math.isfinite(results["test_perplexity"])
    assert results["test_perplexity"] < results["base_test_perplexity"]
    assert "test perplexity: base" in done.stdout


def test_eval_prints_token_weighted_loss_and_perplexity_as_json(trained, corpus_dir):
    _, out, _ = trained
    done = textgen("eval", out / "model", corpus_dir / "part00.txt", "--chunk-size", "64")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["tokens"] > 1000
    assert report["perplexity"] == pytest.approx(math.exp(report["loss"]))


def test_generate_streams_text_after_the_prompt_and_greedy_repeats(trained):
    _, out, _ = trained
    args = [
        "generate",
        out / "model",
        "--prompt",
        "To be",
        "--temperature",
        "0",
        "--max-new-tokens",
        "12",
    ]
    first, second = textgen(*args), textgen(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("To be") and len(first.stdout) > len("To be\n")
    assert first.stdout == second.stdout
    several = textgen(
        "generate",
        out / "model",
        "--prompt",
        "The",
        "--num-return-sequences",
        "2",
        "--seed",
        "1",
        "--max-new-tokens",
        "5",
    )
    assert several.stdout.count("=== ") == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "-1"], "--lr: must be positive"),
        (["--chunk-size", "0"], "--chunk-size"),
        (["--val-fraction", "0.9", "--test-fraction", "0.9"], "--val-fraction/--test-fraction"),
        (["--epochs", "many"], "--epochs: invalid float value"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(tmp_path, corpus_dir, args, message):
    done = cli("train", corpus_dir, "--output", tmp_path / "out", *args)
    assert done.returncode == 2
    assert message in done.stderr


def test_missing_path_exits_2_naming_it(tmp_path):
    done = cli("train", tmp_path / "nowhere", "--output", tmp_path / "out")
    assert done.returncode == 2 and f"{tmp_path / 'nowhere'}: no such file" in done.stderr


def test_too_little_text_stops_before_loading_any_model(tmp_path, tiny_model):
    (tmp_path / "note.txt").write_text("A line or two of text is not a corpus.")
    no_weights = tmp_path / "no_weights"  # would fail to load, if it were ever loaded
    shutil.copytree(tiny_model, no_weights)
    (no_weights / "model.safetensors").unlink()
    done = cli("train", tmp_path / "note.txt", "--output", tmp_path / "out", "--model", no_weights)
    assert done.returncode == 2
    assert "corpus too small" in done.stderr and "at least 600 tokens" in done.stderr
    assert not (tmp_path / "out").exists()


def test_unloadable_model_is_a_one_line_error_saying_what_to_do(tmp_path, corpus_dir):
    done = textgen(
        "train",
        corpus_dir,
        "--output",
        tmp_path / "out",
        "--model",
        "someone/no-such-model",
        env={"HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "someone/no-such-model" in lines[0] and "scratch:tiny" in lines[0]


def test_train_pushes_model_and_checkpoints_and_resumes_from_the_hub(
    hub, tmp_path, corpus_dir, tiny_model
):
    first = textgen(
        "train",
        corpus_dir,
        "--output",
        tmp_path / "a",
        "--model",
        tiny_model,
        *FAST,
        "--eval-steps",
        "10",
        "--push-to-hub",
        "alice/verse",
        "--hub-checkpoints",
    )
    assert first.returncode == 0, first.stderr
    files = hub.files("alice/verse")
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "README.md",
        "results.json",
        "loss.png",
    ):
        assert name in files, name
    assert any(p.startswith("checkpoints/checkpoint-") for p in files)
    assert os.environ["HF_TOKEN"].encode() not in b"".join(files.values())

    # A fresh machine (empty output folder) picks up the pushed checkpoint.
    again = textgen(
        "train",
        corpus_dir,
        "--output",
        tmp_path / "b",
        "--model",
        tiny_model,
        *FAST,
        "--eval-steps",
        "10",
        "--push-to-hub",
        "alice/verse",
        "--resume-from-hub",
    )
    assert again.returncode == 0, again.stderr
    a, b = (json.loads((tmp_path / d / "results.json").read_text()) for d in "ab")
    assert b["steps"] == a["steps"]
    assert b["train_seconds"] < a["train_seconds"]  # nothing left to train but the tail


def test_generate_pulls_a_hub_model_at_a_revision_and_names_a_bad_one(hub, tmp_path, tiny_model):
    from textgen_core.hub.repo import push_model

    push_model(tiny_model, "alice/tiny")
    args = [
        "generate",
        "alice/tiny",
        "--prompt",
        "Hi",
        "--temperature",
        "0",
        "--max-new-tokens",
        "4",
    ]
    pulled = textgen(*args, "--revision", "main")
    local = textgen("generate", tiny_model, *args[2:])
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout == local.stdout
    missing = textgen(*args, "--revision", "no-such-branch")
    assert missing.returncode == 2
    assert "alice/tiny" in missing.stderr and "no-such-branch" in missing.stderr
