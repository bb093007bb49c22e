"""The web app end to end: the real `python app.py` in a subprocess, driven through
its named API endpoints with gradio_client, as any other program would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from support.servers import REPO, AppServer, free_port

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

SMALL_RUN = dict(epochs=2, batch_size=8, learning_rate=3e-3, chunk_size=64, use_lora=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    app = AppServer(tmp_path_factory.mktemp("app") / "data").start()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url, verbose=False)


def generate(client, model, prompt="To be, or not", **settings):
    values = dict(
        max_new_tokens=12, temperature=0.0, top_k=50, top_p=0.95, repetition_penalty=1.1, seed=1
    )
    values.update(settings)
    return client.predict(str(model), prompt, *values.values(), api_name="/generate")


def start(client, files, model, **settings):
    values = {**SMALL_RUN, **settings}
    uploads = [handle_file(str(f)) for f in files]
    return client.predict(uploads, str(model), *values.values(), api_name="/start_training")


def wait_for(client, job_id, done, timeout=900) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = client.predict(job_id, api_name="/job_status")
        if done(status):
            return status
        time.sleep(0.5)
    raise AssertionError(f"timed out; last status {status}")


def finished(status) -> bool:
    return status["state"] not in ("queued", "running")


def texts(corpus_dir):
    return sorted(corpus_dir.glob("*.txt"))


def test_generate_repeats_itself_greedy_and_with_a_seed(client, tiny_model):
    greedy = generate(client, tiny_model)
    assert isinstance(greedy, str) and greedy
    assert generate(client, tiny_model) == greedy
    sampled = generate(client, tiny_model, temperature=0.9, seed=7, max_new_tokens=20)
    assert generate(client, tiny_model, temperature=0.9, seed=7, max_new_tokens=20) == sampled


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(temperature=-0.5), "temperature: must be a finite number >= 0"),
        (dict(max_new_tokens=10**9), "max_new_tokens: must be between 1 and 512"),
        (dict(top_p=0), r"top_p: must be in \(0, 1\]"),
        (dict(top_k=-3), "top_k: must be >= 0"),
        (dict(repetition_penalty=0), "repetition_penalty: must be a positive number"),
    ],
)
def test_bad_generation_settings_are_refused_by_name(client, tiny_model, settings, message):
    with pytest.raises(AppError, match=message):
        generate(client, tiny_model, **settings)
    assert generate(client, tiny_model)  # still serving


def test_unknown_model_is_a_clear_error(client, tmp_path):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(AppError, match="holds no loadable model"):
        generate(client, empty)


def test_binary_and_empty_uploads_are_refused_with_the_reason(client, tiny_model, tmp_path):
    binary = tmp_path / "scan.txt"
    binary.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 4)
    empty = tmp_path / "blank.txt"
    empty.write_bytes(b"")
    with pytest.raises(AppError, match=r"scan.txt: damaged PDF"):
        start(client, [binary], tiny_model)
    with pytest.raises(AppError, match="blank.txt: empty or whitespace-only"):
        start(client, [empty], tiny_model)
    with pytest.raises(AppError, match="epochs: must be positive"):
        start(client, [tmp_path / "scan.txt"], tiny_model, epochs=0)
    with pytest.raises(AppError, match="no such job"):
        client.predict("../../etc", api_name="/job_status")
    assert generate(client, tiny_model)  # still serving


def test_training_job_completes_and_beats_the_base_model(client, tiny_model, corpus_dir):
    job_id = start(client, texts(corpus_dir), tiny_model)
    status = wait_for(client, job_id, finished)
    assert status["state"] == "completed", status["error"]
    assert status["step"] == status["total_steps"] > 0
    assert status["losses"]["train"] and status["losses"]["validation"]
    results = status["results"]
    assert results["test_perplexity"] < results["base_test_perplexity"]
    assert set(results["test_per_file"]) <= {f.name for f in texts(corpus_dir)}
    assert "/" not in json.dumps(results["files_used"])  # names, never server paths
    assert generate(client, job_id)  # the trained model, by job id


def test_cancel_stops_a_job_and_only_one_runs_at_a_time(client, tiny_model, corpus_dir):
    job_id = start(client, texts(corpus_dir), tiny_model, epochs=500)
    with pytest.raises(AppError, match="a training job is already running"):
        start(client, texts(corpus_dir), tiny_model)
    wait_for(client, job_id, lambda s: s["state"] == "running")
    assert client.predict(job_id, api_name="/cancel_training") == {"state": "cancelled"}
    status = client.predict(job_id, api_name="/job_status")
    assert status["state"] == "cancelled" and status["results"] is None


def test_tuning_job_fills_its_trials_table_as_it_runs(client, tiny_model, corpus_dir):
    uploads = [handle_file(str(f)) for f in texts(corpus_dir)]
    settings = dict(trials=2, timeout=0, epochs=1, chunk_size=64, use_lora=False)
    job_id = client.predict(uploads, str(tiny_model), *settings.values(), api_name="/start_tuning")
    seen = []
    status = wait_for(client, job_id, lambda s: seen.append(s) or finished(s))
    assert status["state"] == "completed", status["error"]
    assert status["kind"] == "tune" and status["step"] == status["total_steps"] == 2
    assert any(s["state"] == "running" and s["trials"] for s in seen)  # rows while it ran
    assert [t["number"] for t in status["trials"]] == [0, 1]
    assert {t["state"] for t in status["trials"]} <= {"complete", "pruned"}
    results = status["results"]
    best = status["trials"][results["best_trial"]]
    assert status["best_config"]["lr"] == pytest.approx(best["lr"])
    assert results["best"]["val_loss"] == pytest.approx(best["val_loss"])
    assert "/" not in json.dumps(results)  # no server paths


def test_job_running_when_the_app_is_killed_is_interrupted_and_resumes(
    tmp_path, tiny_model, corpus_dir
):
    data = tmp_path / "data"
    app = AppServer(data).start()
    try:
        first = Client(app.url, verbose=False)
        # Half the files: a checkpoint a third of the way through comes as surely, sooner.
        job_id = start(first, texts(corpus_dir)[:6], tiny_model, epochs=3)
        wait_for(
            first, job_id, lambda s: s["step"] > (s["total_steps"] or 1e9) / 3
        )  # past a checkpoint
        worker = json.loads((data / "jobs" / job_id / "job.json").read_text())["pid"]
        app.kill()
    finally:
        app.stop()
    deadline = time.time() + 30
    while _alive(worker) and time.time() < deadline:
        time.sleep(0.2)
    assert not _alive(worker), "the worker exits with the app that started it"

    app = AppServer(data).start()
    try:
        client = Client(app.url, verbose=False)
        status = client.predict(job_id, api_name="/job_status")
        assert status["state"] == "interrupted", status
        assert client.predict(job_id, api_name="/resume_training") == {"state": "queued"}
        status = wait_for(client, job_id, finished)
        assert status["state"] == "completed", status["error"]
        assert status["step"] == status["total_steps"]
    finally:
        app.stop()
    log = (data / "jobs" / job_id / "log.txt").read_text()
    assert "training starts from the beginning" not in log


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = f"/proc/{pid}/stat"
    return not (os.path.exists(stat) and open(stat).read().rsplit(")", 1)[-1].split()[0] == "Z")


def test_public_host_without_auth_prints_a_warning(tmp_path):
    cmd = [sys.executable, str(REPO / "app.py"), "--host", "0.0.0.0", "--port", str(free_port())]
    env = {**os.environ, "TEXTGEN_DATA_DIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    try:
        line = proc.stderr.readline().decode()
    finally:
        proc.kill()
        proc.wait()
    assert "without --auth: anyone on the network can use this app" in line
