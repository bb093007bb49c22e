"""Training faults: kill -9 anywhere, a full disk, tampered state. Each run here is
a real `textgen train` process failed on purpose through TEXTGEN_FAULT
(textgen_core/faults.py), then resumed; the finished run must equal an
uninterrupted one bit for bit."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess

import pytest
import torch
from support import zygote
from support.runs import cli_command, cli_train, weights
from support.servers import with_repo_path

from textgen_core.quality.samples import read_samples
from textgen_core.train import checkpoints

STEPS = 54  # 2 epochs of 27 steps; a checkpoint every 5 steps and at the end
# Measured times differ between runs; so does the estimate, which each (re)start
# makes from a fresh calibration step.
TIMING = {
    "train_seconds",
    "run_seconds",
    "setup_seconds",
    "wall_seconds",
    "estimated_seconds",
    "train_tokens_per_second",
    "best_checkpoint",
}


@pytest.fixture(scope="module")
def reference(reference_run):
    """The uninterrupted run every interrupted one must equal."""
    return reference_run[0]


def assert_same_run(out, reference):
    """Bit-identical weights and identical results (timings aside) and metrics."""
    mine, theirs = weights(out), weights(reference)
    assert mine.keys() == theirs.keys()
    unequal = [k for k in theirs if not torch.equal(mine[k], theirs[k])]
    assert not unequal, f"tensors differ: {unequal}"
    got, want = (json.loads((d / "results.json").read_text()) for d in (out, reference))
    assert got["steps"] == want["steps"] == STEPS
    assert got["val_loss"] == want["val_loss"] and got["test_loss"] == want["test_loss"]
    assert {k: v for k, v in got.items() if k not in TIMING} == {
        k: v for k, v in want.items() if k not in TIMING
    }
    metrics = [
        [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
        for d in (out, reference)
    ]
    # Same logging and evaluation steps (none repeated after a resume), same validation losses.
    assert [m["step"] for m in metrics[0]] == [m["step"] for m in metrics[1]]
    assert [m.get("val_loss") for m in metrics[0]] == [m.get("val_loss") for m in metrics[1]]
    # The same seeded samples at every evaluation, none repeated or lost by the kills.
    assert read_samples(out / "samples.jsonl") == read_samples(reference / "samples.jsonl")


def killed_from_outside(out, corpus, model, fault: str, resume: bool):
    """Run until the `:pause` fault point says it is there, then SIGKILL it."""
    proc = zygote.popen(
        cli_command(out, corpus, model, resume=resume, samples=True),
        env=with_repo_path({**os.environ, "TEXTGEN_FAULT": fault}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("paused at "):
            proc.kill()
            break
    proc.wait(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", "".join(lines))


def test_kill_9_at_seven_points_then_resume_gives_the_uninterrupted_weights_bit_for_bit(
    tmp_path, corpus_dir, tiny_model, reference
):
    default_threads = torch.get_num_threads()
    other_threads = str(1 if default_threads > 1 else 2)
    between = random.Random(6).choice([s for s in range(26, 50) if s % 5])
    # (TEXTGEN_FAULT, extra environment, a line the next --resume must print)
    kills = [
        # inside step 3, before any checkpoint exists: killed from outside
        ("step:3:pause", {}, "no complete checkpoint"),
        # right after checkpoint 10 is complete
        ("after_marker:10", {}, None),
        # checkpoint 15 half written (weights only), killed from outside
        ("mid_save:15:pause", {}, "checkpoint-15 is incomplete"),
        # every file of checkpoint 20 written, no marker; this process resumes from
        # checkpoint 10 with another default thread count, which must not matter
        ("before_marker:20", {"OMP_NUM_THREADS": other_threads}, "checkpoint-20 is incomplete"),
        # as the evaluation after step 25 starts
        ("eval:25", {}, None),
        # inside a step between checkpoints
        (f"step:{between}", {}, None),
        # the last checkpoint complete, the model folder not yet written
        (f"after_marker:{STEPS}", {}, None),
    ]
    out = tmp_path / "run"
    expect = None
    for number, (fault, env, next_expect) in enumerate(kills):
        resume = number > 0
        if fault.endswith(":pause"):
            killed = killed_from_outside(out, corpus_dir, tiny_model, fault, resume)
        else:
            killed = cli_train(
                out, corpus_dir, tiny_model, fault=fault, resume=resume, env=env, samples=True
            )
        assert killed.returncode == -9, f"{fault}: {killed.stderr}"
        assert not (out / "results.json").exists()
        if expect:
            assert expect in killed.stderr, f"{fault}: {killed.stderr}"
        if env:
            assert f"instead of {other_threads}, so that the resumed run is exact" in killed.stderr
        expect = next_expect
    finished = cli_train(out, corpus_dir, tiny_model, resume=True, samples=True)
    assert finished.returncode == 0, finished.stderr
    assert_same_run(out, reference)


def test_full_disk_while_saving_stops_with_one_line_and_resumes_exactly(
    tmp_path, corpus_dir, tiny_model, reference
):
    out = tmp_path / "run"
    full = cli_train(out, corpus_dir, tiny_model, fault="enospc:15", samples=True)
    assert full.returncode == 2, full.stderr
    assert "Traceback" not in full.stderr
    [error] = [line for line in full.stderr.splitlines() if line.startswith("error:")]
    unfinished = out / "checkpoints" / "checkpoint-15"
    assert error.startswith(f"error: {unfinished}: disk full while saving this checkpoint")
    assert "checkpoint-10 is complete and kept" in error
    assert error.endswith("Free disk space, then run the same command again with --resume")
    # The unfinished save is gone; the two before it are complete and intact (the
    # failed save rotated nothing away).
    assert not unfinished.exists()
    left = checkpoints.all_checkpoints(out / "checkpoints")
    assert [p.name for p in left] == ["checkpoint-5", "checkpoint-10"]
    assert all(checkpoints.is_complete(p) and not checkpoints.damage(p) for p in left)
    assert not (out / "results.json").exists()

    resumed = cli_train(out, corpus_dir, tiny_model, resume=True, samples=True)  # space freed
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(out, reference)


class _RunsCode:
    """Unpickling this creates a file: stands in for any code in a pickle."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("name", ["optimizer.pt", "rng_state.pth"])
def test_checkpoint_state_holding_code_is_refused_not_run(
    tmp_path, corpus_dir, tiny_model, reference, name
):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    shutil.rmtree(out / "checkpoints" / f"checkpoint-{STEPS}")
    checkpoint = out / "checkpoints" / "checkpoint-50"  # mid-epoch: RNG state is loaded too
    ran = tmp_path / "code-ran"
    torch.save({"state": _RunsCode(str(ran))}, checkpoint / name)
    torch.load(checkpoint / name, weights_only=False)  # the payload does run if allowed to
    assert ran.exists()
    ran.unlink()
    checkpoints.mark_complete(checkpoint)  # as if whoever swapped it also rewrote the record

    refused = cli_train(out, corpus_dir, tiny_model, resume=True, samples=True)
    assert refused.returncode == 2, refused.stderr
    assert f"error: {checkpoint / name}" in refused.stderr
    assert "refused to load it" in refused.stderr
    assert not ran.exists()
