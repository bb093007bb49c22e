"""Any checkpoint of a run loads on its own: `eval` and `generate` on it give what a
model folder saved from it gives, and a folder whose tokenizer can't be the model's
is refused by name instead of giving garbage numbers."""

from __future__ import annotations

import json
import shutil

import pytest
from support.cli import cli, textgen

from textgen_core.model.tokenizer_check import TOKENIZER_FILES

FAST = ["--lr", "3e-3", "--chunk-size", "64", "--quiet", "--memorization-prompts", "2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, corpus_dir, tiny_model):
    out = tmp_path_factory.mktemp("ckpt") / "run"
    done = textgen(
        "train", corpus_dir, "--output", out, "--model", tiny_model, "--max-steps", "4",
        "--eval-steps", "2", *FAST,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def _saved_from(checkpoint, folder):
    """A plain model folder saved from the checkpoint with transformers alone."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(checkpoint).save_pretrained(folder)
    AutoTokenizer.from_pretrained(checkpoint).save_pretrained(folder)
    return folder


def _eval(model, corpus_dir):
    done = textgen("eval", model, corpus_dir / "part00.txt", corpus_dir / "part01.txt",
                   "--chunk-size", "64")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _generate(model, *flags):
    done = textgen("generate", model, "--prompt", "To be", "--max-new-tokens", "12", *flags)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_mid_run_checkpoint_evaluates_and_generates_like_a_model_saved_from_it(
    run, corpus_dir, tmp_path
):
    checkpoint = run / "checkpoints" / "checkpoint-2"
    marker = json.loads((checkpoint / "textgen_complete.json").read_text())
    assert "tokenizer.json" in marker["files"]  # written before the checkpoint was marked
    saved = _saved_from(checkpoint, tmp_path / "saved")
    on_checkpoint, on_saved = _eval(checkpoint, corpus_dir), _eval(saved, corpus_dir)
    assert on_checkpoint["step"] == 2 and on_saved["step"] is None
    assert on_checkpoint["tokens"] > 1000 and len(on_checkpoint["per_file"]) == 2
    assert {k: v for k, v in on_checkpoint.items() if k != "step"} == {
        k: v for k, v in on_saved.items() if k != "step"
    }
    for flags in (["--temperature", "0"], ["--seed", "3"]):
        assert _generate(checkpoint, *flags) == _generate(saved, *flags)


def test_checkpoint_without_tokenizer_files_takes_its_runs_tokenizer(run, corpus_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    checkpoint = copy / "checkpoints" / "checkpoint-2"
    for name in (*TOKENIZER_FILES, "special_tokens_map.json", "merges.txt"):
        (checkpoint / name).unlink(missing_ok=True)
    expected = _eval(run / "checkpoints" / "checkpoint-2", corpus_dir)
    assert _eval(checkpoint, corpus_dir) == expected
    shutil.rmtree(copy / "model")  # then from the base model recorded for the run
    assert _eval(checkpoint, corpus_dir) == expected


def test_model_folder_reports_the_step_of_the_checkpoint_it_was_kept_from(run, corpus_dir):
    results = json.loads((run / "results.json").read_text())
    best = int(results["best_checkpoint"].rsplit("-", 1)[1])
    assert _eval(run / "model", corpus_dir)["step"] == best


def test_folder_whose_tokenizer_cannot_be_the_models_is_refused_naming_it(
    run, corpus_dir, tmp_path
):
    lone = tmp_path / "lone"
    lone.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(run / "checkpoints" / "checkpoint-2" / name, lone / name)
    for command in (["eval", lone, corpus_dir / "part00.txt"], ["generate", lone]):
        done = cli(*command)
        assert done.returncode == 2, done.stderr
        assert str(lone) in done.stderr and "tokenizer" in done.stderr
        assert "embedding rows" in done.stderr and "model/ folder" in done.stderr
