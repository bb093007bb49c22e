"""Background training jobs: state transitions, persistence, one at a time,
cancel, interrupted detection and resume. Each job trains a tiny model in a real
worker process."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from support.runs import LEAN_CONFIG

from textgen_core.app import worker
from textgen_core.app.jobs import JobStore
from textgen_core.app.uploads import UploadLimits
from textgen_core.config import DataConfig, TrainConfig
from textgen_core.errors import TextgenError
from textgen_core.model.loading import load_for_inference


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def config(model, **overrides) -> TrainConfig:
    values = dict(
        model=str(model),
        epochs=1,
        lr=3e-3,
        batch_size=8,
        early_stopping_patience=None,
        data=DataConfig(chunk_size=64),
        **LEAN_CONFIG,
    )
    return TrainConfig(**{**values, **overrides})


def files(corpus_dir) -> list:
    return sorted(corpus_dir.glob("*.txt"))


def wait_for(store: JobStore, job_id: str, done, timeout: float = 900) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = store.status(job_id)
        if done(status):
            return status
        time.sleep(0.3)
    raise AssertionError(f"timed out; last status {status}")


def finished(status: dict) -> bool:
    return status["state"] not in ("queued", "running")


def test_job_runs_to_completion_and_its_state_survives_a_new_store(
    tmp_path, tiny_model, corpus_dir
):
    store = JobStore(tmp_path)
    job_id = store.start(files(corpus_dir), config(tiny_model, max_steps=6, eval_steps=3))
    assert store.status(job_id)["state"] in ("queued", "running")
    seen = {store.status(job_id)["state"]}
    status = wait_for(store, job_id, lambda s: seen.add(s["state"]) or finished(s))
    assert status["state"] == "completed", status["error"]
    assert "running" in seen
    assert status["step"] == status["total_steps"] == 6
    assert status["eta_seconds"] == 0 and status["error"] is None
    assert len(status["losses"]["validation"]) == 2
    results = status["results"]
    assert results["test_perplexity"] < results["base_test_perplexity"]
    assert set(results["test_per_file"]) <= {f.name for f in files(corpus_dir)}
    # The sample is the greedy text of the model at the last evaluation (step 6, the
    # best: the saved model), not the message the worker shows when sampling fails.
    run = tmp_path / "jobs" / job_id / "run"
    best = json.loads((run / "results.json").read_text())["best_checkpoint"]
    assert best.endswith("checkpoint-6")
    model, _ = load_for_inference(str(run / "model"))
    assert not status["sample"].startswith("(no sample")
    assert status["sample"] == worker._sample(model, str(tiny_model))
    assert JobStore(tmp_path).status(job_id) == status  # all of it is on disk
    assert store.list_jobs()[0] == {
        "id": job_id,
        "state": "completed",
        "model": str(tiny_model),
        "kind": "train",
    }
    with store.model_zip(job_id).open("rb") as f:
        assert f.read(2) == b"PK"


def test_second_job_is_refused_while_one_runs_and_cancel_stops_it(tmp_path, tiny_model, corpus_dir):
    store = JobStore(tmp_path)
    job_id = store.start(files(corpus_dir), config(tiny_model, epochs=500))
    with pytest.raises(TextgenError, match="already running"):
        store.start(files(corpus_dir), config(tiny_model))
    wait_for(store, job_id, lambda s: s["state"] == "running")
    pid = store._procs[job_id].pid
    assert store.cancel(job_id) == {"state": "cancelled"}
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the whole process group is gone
    assert store.status(job_id)["state"] == "cancelled"
    assert store.cancel(job_id) == {"state": "cancelled"}  # cancelling twice is harmless
    assert store.running() == []


def test_dead_worker_shows_as_interrupted_after_restart_and_resumes(
    tmp_path, tiny_model, corpus_dir
):
    store = JobStore(tmp_path)
    job_id = store.start(files(corpus_dir), config(tiny_model, max_steps=30, eval_steps=5))
    checkpoints = tmp_path / "jobs" / job_id / "run" / "checkpoints"
    wait_for(store, job_id, lambda s: any(checkpoints.glob("*/textgen_complete.json")))
    pid = store._procs[job_id].pid
    os.killpg(pid, signal.SIGKILL)
    store._procs[job_id].wait()

    restarted = JobStore(tmp_path)  # a new app knows nothing of the old process
    status = restarted.status(job_id)
    assert status["state"] == "interrupted"
    assert "resume" in status["error"]
    assert 0 < status["step"] < 30
    assert restarted.resume(job_id) == {"state": "queued"}
    status = wait_for(restarted, job_id, finished)
    assert status["state"] == "completed", status["error"]
    assert status["step"] == 30
    log = (tmp_path / "jobs" / job_id / "log.txt").read_text()
    assert "training starts from the beginning" not in log


def test_files_without_usable_text_are_refused_and_leave_no_job(tmp_path, tiny_model):
    binary = tmp_path / "picture.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    empty = tmp_path / "empty.md"
    empty.write_bytes(b"")
    store = JobStore(tmp_path / "data")
    with pytest.raises(TextgenError, match=r"picture.txt: binary file \(PNG image\).*empty.md"):
        store.start([binary, empty], config(tiny_model))
    assert store.list_jobs() == []


def test_upload_limits_and_settings_are_checked_before_anything_runs(tmp_path, tiny_model):
    text = tmp_path / "a.txt"
    text.write_text("word " * 1000)
    store = JobStore(tmp_path / "data")
    with pytest.raises(TextgenError, match=r"a.txt is 4.9 kB; the limit is 0.1 kB per file"):
        store.start([text], config(tiny_model), UploadLimits(max_file_bytes=100))
    with pytest.raises(TextgenError, match="--lr: must be positive"):
        store.start([text], config(tiny_model, lr=-1))
    assert store.list_jobs() == []


@pytest.mark.parametrize("bad", ["", "../jobs", "20260101-000000-zzzzzz", "x/../../etc"])
def test_unknown_or_malformed_job_ids_are_refused(tmp_path, bad):
    with pytest.raises(TextgenError, match="no such job"):
        JobStore(tmp_path).status(bad)


def test_a_search_is_a_job_too_cancelled_with_its_process_group(tmp_path, tiny_model, corpus_dir):
    store = JobStore(tmp_path)
    with pytest.raises(TextgenError, match="trials: must be a whole number of at least 1"):
        store.start(files(corpus_dir), config(tiny_model), tune={"trials": 0, "timeout": None})
    tune = {"trials": 50, "timeout": None}
    job_id = store.start(files(corpus_dir), config(tiny_model, epochs=3), tune=tune)
    with pytest.raises(TextgenError, match="already running"):
        store.start(files(corpus_dir), config(tiny_model))
    status = wait_for(store, job_id, lambda s: s["trials"])  # the first trial has started
    assert status["kind"] == "tune" and status["total_steps"] == 50
    assert status["trials"][0]["number"] == 0 and status["best_config"] is None
    pid = store._procs[job_id].pid
    assert store.cancel(job_id) == {"state": "cancelled"}
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert JobStore(tmp_path).status(job_id)["state"] == "cancelled"
    assert store.list_jobs()[0]["kind"] == "tune"


def test_a_job_without_a_model_yet_is_named_as_such_not_sent_to_the_model_loader(
    tmp_path, tiny_model, corpus_dir
):
    import gradio as gr

    from textgen_core.app.ui.handlers import Handlers

    store = JobStore(tmp_path)
    handlers = Handlers(store, server=None, limits=None, cap=100)
    job_id = store.start(files(corpus_dir), config(tiny_model, epochs=500))
    try:
        wait_for(store, job_id, lambda s: s["state"] == "running")
        with pytest.raises(gr.Error, match=rf"job {job_id}: is running; only a completed job"):
            next(handlers.generate(job_id, "Hello", 5, 0, 0, 1.0, 1.0, -1))
    finally:
        store.cancel(job_id)
    assert handlers._model_path("alice/tiny-model") == "alice/tiny-model"  # not a job: a model


def test_run_dir_finds_a_jobs_folder_from_its_state_alone(tmp_path, monkeypatch):
    """Not from its whole status (losses, samples, results read and parsed)."""
    from textgen_core.app.jobs import JobNotFinished, write_state
    from textgen_core.run_folder import write_json

    store = JobStore(tmp_path)
    job_id = "20260101-120000-abc123"
    folder = store.jobs / job_id
    folder.mkdir(parents=True)
    write_json(folder / "job.json", {"id": job_id, "config": {}, "files": [], "pid": None})
    write_state(folder, "completed")
    monkeypatch.setattr(store, "status", lambda _: pytest.fail("run_dir built a whole status"))
    assert store.run_dir(job_id) == folder / "run"
    write_state(folder, "failed", "boom")
    with pytest.raises(JobNotFinished, match=f"job {job_id}: is failed"):
        store.run_dir(job_id)
