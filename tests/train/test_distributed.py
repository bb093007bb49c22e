"""Training under torchrun: two CPU processes (gloo) with batch 4 each against one
process with batch 8, same data and seed; the two-process run is also killed
and resumed on the way."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch.distributed
from support.runs import LEAN, LEAN_CONFIG

from textgen_core.config import DataConfig, TrainConfig
from textgen_core.errors import TextgenError
from textgen_core.train.run import train

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="needs torch.distributed with the gloo backend",
)

STEPS = 12  # within the first epoch (163 train chunks / 8): every batch is full on both sides


@pytest.fixture(scope="module")
def uneven_corpus(tmp_path_factory):
    """48 documents of 150 to 1,550 characters: many chunks are part padding, so
    the two processes see different numbers of real tokens in a step, which is
    what a wrong loss normalisation across processes would get wrong."""
    from support.models import shakespeare

    folder = tmp_path_factory.mktemp("uneven")
    text, start = shakespeare(), 0
    for i in range(48):
        size = 150 + (i * 997) % 1400
        (folder / f"doc{i:02d}.txt").write_text(text[start : start + size])
        start += size
    return folder


@pytest.fixture(scope="module")
def model_without_dropout(tmp_path_factory, tiny_model):
    """The tiny model with dropout off: dropout masks are drawn per process, so
    with it on the two runs could not be compared closely."""
    folder = tmp_path_factory.mktemp("no_dropout") / "model"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _train_cmd(corpus, model, out, batch_size: int) -> list[str]:
    return [
        *("-m", "textgen_core", "train", str(corpus), "--output", str(out)),
        *("--model", str(model), "--batch-size", str(batch_size), "--lr", "3e-3"),
        *("--chunk-size", "64", "--max-steps", str(STEPS), "--eval-steps", "6"),
        *("--early-stopping-patience", "0", "--quiet", *LEAN),
    ]


def _run(args: list[str], cwd, env=None, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert (done.returncode == 0) == ok, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def runs(tmp_path_factory, uneven_corpus, model_without_dropout):
    """One process with batch 8; two with batch 4 each, killed (SIGKILL of the main
    process, as a power cut) right after checkpoint 6 is complete, then resumed."""
    root = tmp_path_factory.mktemp("dist")
    one, two, cwd = root / "one", root / "two", root / "cwd"
    cwd.mkdir()
    cfg = TrainConfig(
        model=str(model_without_dropout),
        batch_size=8,
        lr=3e-3,
        max_steps=STEPS,
        eval_steps=6,
        early_stopping_patience=None,
        data=DataConfig(chunk_size=64),
        **LEAN_CONFIG,
    )
    train([uneven_corpus], one, cfg)  # in process: one interpreter start less
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd = torchrun + _train_cmd(uneven_corpus, model_without_dropout, two, 4)
    _run(cmd, cwd, env={**os.environ, "TEXTGEN_FAULT": "after_marker:6"}, ok=False)
    assert (two / "checkpoints" / "checkpoint-6").is_dir() and not (two / "results.json").exists()
    resumed = _run(cmd + ["--resume"], cwd)
    return one, two, cwd, resumed.stdout


def _results(out) -> dict:
    return json.loads((out / "results.json").read_text())


def test_two_processes_of_batch_4_match_one_process_of_batch_8(runs):
    one, two, _, _ = runs
    single, double = _results(one), _results(two)
    assert (single["processes"], double["processes"]) == (1, 2)
    assert single["effective_batch_size"] == double["effective_batch_size"] == 8
    assert single["steps"] == double["steps"] == STEPS
    # Same samples in every step and DDP's averaged gradient equals the batch-8
    # gradient, so only float summation order differs: ~1e-9 apart here, resume
    # included (it restores each process's data position and RNG state). Dividing
    # each process's loss by its own token count instead of the global one moves
    # these by ~1.5e-4 on this corpus; a different data order by ~1e-2.
    for key in ("val_loss", "test_loss", "train_loss"):
        assert double[key] == pytest.approx(single[key], abs=1e-5), key
    # Evaluation splits the test set between the processes (23 chunks: 12 + 11) and
    # adds up the sums: every token counted once, per file too.
    assert double["chunks"]["test"] % 2 == 1
    assert double["test_tokens_scored"] == single["test_tokens_scored"]
    assert double["test_per_file"].keys() == single["test_per_file"].keys()
    for path, stats in single["test_per_file"].items():
        assert double["test_per_file"][path]["tokens"] == stats["tokens"]
        assert double["test_per_file"][path]["loss"] == pytest.approx(stats["loss"], abs=1e-5)


def test_output_folder_is_complete_and_written_once(runs):
    from textgen_core.model.loading import load_for_inference
    from textgen_core.train.checkpoints import MARKER

    one, two, cwd, stdout = runs
    model, tokenizer = load_for_inference(str(two / "model"))
    assert model.config.vocab_size >= len(tokenizer)
    assert _results(two)["test_loss"] < _results(two)["base_test_loss"]
    top = {p.name for p in two.iterdir()}
    assert top == {p.name for p in one.iterdir()}
    assert {"model", "results.json", "metrics.jsonl", "loss.png", "README.md"} <= top
    # Only the main process logs: the same events as the single process, once each.
    lines = (two / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len((one / "metrics.jsonl").read_text().splitlines())
    assert len({json.dumps(json.loads(x)) for x in lines}) == len(lines)
    assert stdout.count("test loss:") == 1, "one report, from the main process"
    card = (two / "README.md").read_text()
    assert "| batch_size | 4 |" in card and "| effective_batch_size | 8 |" in card
    # Each checkpoint is marked complete after both processes wrote their part.
    for checkpoint in (two / "checkpoints").iterdir():
        files = json.loads((checkpoint / MARKER).read_text())["files"]
        assert {"rng_state_0.pth", "rng_state_1.pth", "model.safetensors"} <= set(files)
    assert list(cwd.iterdir()) == [], "no process wrote outside the output folder"


def test_resume_with_another_number_of_processes_is_refused(runs, uneven_corpus):
    _, two, _, _ = runs
    settings = json.loads((two / "textgen_run.json").read_text())["config"]
    cfg = TrainConfig.from_dict(settings)
    assert cfg.data == DataConfig(chunk_size=64)
    with pytest.raises(TextgenError, match=r"processes: 2 -> 1.*--force"):
        train([uneven_corpus], two, cfg, resume=True)


def test_tune_refuses_to_run_under_a_launcher(monkeypatch, uneven_corpus, tmp_path, capsys):
    from textgen_core.cli.main import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    args = ["tune", str(uneven_corpus), "--output", str(tmp_path / "t"), "--trials", "1"]
    assert main(args) == 2
    assert "not under torchrun or accelerate launch" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


WORKER = """
import json, sys
import numpy as np
from datasets import Dataset
from textgen_core.train import distributed
from textgen_core.errors import TextgenError

distributed.start()
rank = distributed.rank()
rows = list(distributed.shard(Dataset.from_dict({"i": list(range(7))}))["i"])
counts = np.zeros(7)
np.add.at(counts, rows, 1)
seen = distributed.all_reduce_sum(counts).tolist()
stop = distributed.any_process(rank == 1)
value = distributed.on_main(lambda: {"rank": distributed.rank()})
try:
    distributed.on_main(lambda: 1 / 0)
    error = None
except (ZeroDivisionError, TextgenError) as exc:
    error = type(exc).__name__ + ": " + str(exc)
report = dict(rank=rank, rows=rows, seen=seen, stop=stop, value=value, error=error)
# One file per process: two processes printing to one pipe may interleave.
open(f"report-{rank}.json", "w").write(json.dumps(report))
"""


def test_distributed_helpers_share_work_and_decisions_across_two_processes(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    _run([*torchrun, str(script)], tmp_path)
    reports = [json.loads((tmp_path / f"report-{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in reports] == [0, 1]
    # Contiguous slices, sizes 4 and 3: every row once, none repeated.
    assert reports[0]["rows"] == [0, 1, 2, 3] and reports[1]["rows"] == [4, 5, 6]
    assert all(r["seen"] == [1.0] * 7 for r in reports)
    assert all(r["stop"] for r in reports), "a stop asked by rank 1 reaches rank 0"
    assert all(r["value"] == {"rank": 0} for r in reports), "computed once, on rank 0"
    assert reports[0]["error"] == "ZeroDivisionError: division by zero"
    assert (
        reports[1]["error"]
        == "TextgenError: on the main process: ZeroDivisionError: division by zero"
    )
