"""The training run end to end (in process): output folder, honest results, resume."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from support import zygote
from support.runs import REPORTS, cli_command, cli_train, tiny_config
from support.servers import with_repo_path
from test_results import KEYS as RESULTS_KEYS
from transformers import AutoModelForCausalLM, AutoTokenizer

from textgen_core.config import TrainConfig
from textgen_core.errors import TextgenError
from textgen_core.train.results import RunResults
from textgen_core.train.run import train

RESULT_KEYS = {
    "base_model",
    "train_loss",
    "val_loss",
    "test_loss",
    "test_perplexity",
    "base_test_loss",
    "base_test_perplexity",
    "train_tokens",
    "val_tokens",
    "test_tokens",
    "steps",
    "train_seconds",
    "train_tokens_per_second",
    "files_used",
    "files_skipped",
}


def config(model, **overrides) -> TrainConfig:
    """The settings of the session's `tiny_run` (every report on), changed by `overrides`."""
    return tiny_config(model, **{**REPORTS, "eval_steps": 10, **overrides})


@pytest.fixture(scope="module")
def run(tiny_run):
    return tiny_run


def test_output_folder_holds_everything_design_promises(run):
    out, results = run
    for name in (
        "model/config.json",
        "model/model.safetensors",
        "model/tokenizer.json",
        "model/generation_config.json",
        "results.json",
        "metrics.jsonl",
        "loss.png",
        "README.md",
    ):
        assert (out / name).stat().st_size > 0, name
    assert RESULT_KEYS <= set(json.loads((out / "results.json").read_text()))
    assert results["files_skipped"] == [] and len(results["files_used"]) == 12
    assert (out / "README.md").read_text().startswith("---\n")
    assert all((c / "textgen_complete.json").exists() for c in (out / "checkpoints").iterdir())


def test_fine_tuned_model_beats_the_base_model_on_held_out_test_text(run):
    _, results = run
    assert 0 < results["test_perplexity"] < results["base_test_perplexity"]
    assert results["test_loss"] < results["base_test_loss"] - 1.0
    assert results["test_per_file"], "per-file perplexity for a by-document split"
    for stats in results["test_per_file"].values():
        assert stats["loss"] < stats["base_loss"]


def test_losses_fall_and_are_logged_per_step_and_per_evaluation(run):
    out, results = run
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train_losses = [r["loss"] for r in records if "loss" in r]
    val_losses = [r["val_loss"] for r in records if "val_loss" in r]
    assert train_losses[-1] < train_losses[0] - 1.0
    assert val_losses[-1] < val_losses[0]
    assert len(val_losses) == -(-results["steps"] // 10)  # every 10 steps and at the end
    assert results["val_loss"] == min(val_losses)


def test_model_folder_loads_with_plain_transformers(run):
    out, _ = run
    tokenizer = AutoTokenizer.from_pretrained(out / "model")
    model = AutoModelForCausalLM.from_pretrained(out / "model")
    assert tokenizer.pad_token == "[PAD]"
    ids = tokenizer("To be, or not to be", return_tensors="pt")
    generated = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert generated.shape[1] == ids["input_ids"].shape[1] + 8
    assert (generated < len(tokenizer)).all() and (generated != tokenizer.pad_token_id).all()


def test_existing_run_is_never_overwritten_without_resume(run, corpus_dir, tiny_model):
    out, _ = run
    with pytest.raises(TextgenError, match="already holds a training run"):
        train([corpus_dir], out, config(tiny_model))


def test_resume_refuses_changed_settings_and_names_them(run, corpus_dir, tiny_model):
    out, _ = run
    with pytest.raises(TextgenError, match=r"batch_size: 8 -> 4"):
        train(
            [corpus_dir],
            out,
            config(tiny_model, batch_size=4),
            resume=True,
        )


def test_resume_refuses_changed_training_files(run, corpus_dir, tiny_model, tmp_path):
    out, _ = run
    changed = tmp_path / "changed"
    shutil.copytree(corpus_dir, changed)
    first = sorted(p for p in changed.rglob("*") if p.is_file())[0]
    first.write_text(first.read_text() + "\nOne line more.\n")
    with pytest.raises(TextgenError, match=r"the training files changed"):
        train([changed], out, config(tiny_model), resume=True)


def test_sigterm_saves_a_checkpoint_exits_nonzero_and_resumes(tmp_path, corpus_dir, tiny_model):
    import signal
    import time

    out = tmp_path / "run"
    # The suite's tiny run, made longer (3 epochs) and without evaluations: the later
    # flags win.
    extra = ["--epochs", "3", "--eval-steps", "1000"]
    cmd = cli_command(out, corpus_dir, tiny_model, extra=extra)
    env = with_repo_path(dict(os.environ))
    with open(tmp_path / "stderr", "w+") as log:
        proc = zygote.popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.time() + 120
        while not (out / "metrics.jsonl").exists() and time.time() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        sent = time.time()
        proc.wait(timeout=60)
        log.seek(0)
        stderr = log.read()
    assert proc.returncode == 130, stderr
    assert time.time() - sent < 10 and "checkpoint saved" in stderr
    from textgen_core.train.checkpoints import latest_complete, step_of

    latest, _ = latest_complete(out / "checkpoints")
    assert latest is not None and step_of(latest) > 0
    resumed = zygote.run(cmd + ["--resume"], env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "results.json").read_text())["epochs_completed"] == 3


def test_damaged_checkpoint_stops_resume_until_forced(tmp_path, corpus_dir, tiny_model):
    out = tmp_path / "run"
    assert cli_train(out, corpus_dir, tiny_model, fault="after_marker:10").returncode == -9
    weights_file = out / "checkpoints" / "checkpoint-10" / "model.safetensors"
    weights_file.write_bytes(weights_file.read_bytes()[:100])
    refused = cli_train(out, corpus_dir, tiny_model, resume=True)
    assert refused.returncode == 2
    assert f"{weights_file}: 100 bytes" in refused.stderr and "--force" in refused.stderr
    forced = cli_train(out, corpus_dir, tiny_model, resume=True, extra=["--force"])
    assert forced.returncode == 0, forced.stderr
    assert "checkpoint-10 is damaged" in forced.stderr
    assert (out / "results.json").exists()


def test_a_run_writes_exactly_the_results_keys_it_always_wrote(run):
    out, results = run
    written = json.loads((out / "results.json").read_text())
    assert list(written)[: len(RESULTS_KEYS)] == RESULTS_KEYS
    assert RunResults.from_dict(written).to_dict() == written
    assert results["test_perplexity"] == results.test_perplexity == written["test_perplexity"]
