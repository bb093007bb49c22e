"""Background training jobs for the app: one process per job, state on disk.

Each job lives in `<data dir>/jobs/<id>/`:

    job.json       what was asked: settings, files (original names), pid
    state.json     where it stands: queued, running, completed, failed,
                   cancelled or interrupted, and the error if any
    progress.json  step, total steps, ETA and the latest sample (the worker's)
    uploads/       the uploaded files under generated names
    run/           the `train` output folder (metrics.jsonl, checkpoints, model)
    log.txt        the worker's output

Training runs in its own process (`python -m textgen_core.app.worker JOB_DIR`) in
its own process group, so the app stays responsive, any browser tab sees the
same job, and cancelling kills everything the run started. The worker exits
when the app that started it dies; a job found `running` with no live process
is reported as interrupted and can be resumed from its last checkpoint.

This module stays import-light: torch and transformers load in the worker.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

from textgen_core.app.job_results import loss_curves, shown_results
from textgen_core.app.settings import AppConfig
from textgen_core.app.uploads import (
    StoredFile,
    UploadLimits,
    shown,
    store_uploads,
    usable_or_raise,
)
from textgen_core.config import TrainConfig
from textgen_core.errors import TextgenError
from textgen_core.quality.samples import FILE as SAMPLES_FILE
from textgen_core.quality.samples import read_samples
from textgen_core.run_folder import read_json, write_json
from textgen_core.train.results import RunResults

STATES = ("queued", "running", "completed", "failed", "cancelled", "interrupted")
ACTIVE = ("queued", "running")
RESUMABLE = ("interrupted", "cancelled", "failed")
_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")


class NoSuchJob(TextgenError):
    """No job has this id (it may be a model name instead)."""


class JobNotFinished(TextgenError):
    """The job exists but has no model yet (or failed, or was cancelled)."""


def data_dir() -> Path:
    """The app's data folder: TEXTGEN_DATA_DIR, default ./textgen_data."""
    return Path(os.environ.get("TEXTGEN_DATA_DIR") or "textgen_data").resolve()


class JobStore:
    """Create, start, watch, cancel and resume training jobs under `root`."""

    def __init__(self, root: Path | None = None, *, max_running: int = AppConfig.max_jobs) -> None:
        self.root = Path(root) if root else data_dir()
        self.jobs = self.root / "jobs"
        self.downloads = self.root / "downloads"
        self.max_running = max_running
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()

    # -- asking -------------------------------------------------------------------------

    def start(
        self,
        sources: list[str | Path],
        cfg: TrainConfig,
        limits: UploadLimits | None = None,
        *,
        tune: dict | None = None,
    ) -> str:
        """Store the files, check them, and start training in the background; the
        job id. With `tune` ({"trials": N, "timeout": seconds or None}) the job is
        a hyperparameter search around `cfg` instead (tune_jobs.py)."""
        cfg.validate()
        if tune is not None:
            _check_tune(tune)
        with self._lock:
            self._refuse_if_busy()
            job_id = self._create(sources, cfg, limits, tune)
            self._spawn(job_id)
        return job_id

    def resume(self, job_id: str) -> dict:
        """Continue an interrupted, cancelled or failed job from its last checkpoint."""
        with self._lock:
            state = self.status(job_id)["state"]
            if state not in RESUMABLE:
                raise TextgenError(f"job {job_id}: is {state}; only {', '.join(RESUMABLE)} resume")
            self._refuse_if_busy()
            self._write_state(job_id, "queued")
            self._spawn(job_id)
        return {"state": "queued"}

    def cancel(self, job_id: str) -> dict:
        """Stop a queued or running job (its whole process group); its state."""
        with self._lock:
            state = self.status(job_id)["state"]
            if state not in ACTIVE:
                return {"state": state}
            self._kill(job_id)
            settled = _read_optional(self.jobs / job_id / "state.json").get("state")
            if settled in ACTIVE or settled is None:  # else it finished as we stopped it
                settled = "cancelled"
                self._write_state(job_id, settled)
        return {"state": settled}

    # -- reading ------------------------------------------------------------------------

    def status(self, job_id: str) -> dict:
        """The job's state, progress, losses, results and error, as one JSON-able dict."""
        folder = self._folder(job_id)
        job, state = read_json(folder / "job.json"), self._state(job_id)
        progress = _read_optional(folder / "progress.json")
        raw = _read_optional(folder / "run" / "results.json")
        results = RunResults.from_dict(raw) if raw else None
        names = {str(folder / "uploads" / f["stored"]): f["name"] for f in job["files"]}
        done = state["state"] == "completed" and results
        total = progress.get("total_steps")
        status = {
            "id": job_id,
            "state": state["state"],
            "step": results.steps if done else progress.get("step", 0),
            "total_steps": results.steps if done and not total else total,
            "eta_seconds": 0 if done else progress.get("eta_seconds"),
            "losses": loss_curves(folder / "run" / "metrics.jsonl"),
            "sample": progress.get("sample"),
            "samples": read_samples(folder / "run" / SAMPLES_FILE),
            "results": shown_results(results, names) if done else None,
            "error": shown(state["error"], names) if state.get("error") else None,
            "model": job["config"]["model"],
            "files": [f["name"] for f in job["files"]],
            "created": job["created"],
            "kind": job.get("kind", "train"),
        }
        if status["kind"] == "tune":
            from textgen_core.app.tune_jobs import progress

            status.update(progress(folder / "run", job["tune"], state["state"]))
        return status

    def list_jobs(self) -> list[dict]:
        """id, state, model and creation time of every job, newest first."""
        if not self.jobs.is_dir():
            return []
        ids = sorted((p.name for p in self.jobs.iterdir() if _ID.match(p.name)), reverse=True)
        rows = []
        for job_id in ids:
            job = _read_optional(self.jobs / job_id / "job.json")
            if job:
                state = self._state(job_id)["state"]
                model, kind = job["config"]["model"], job.get("kind", "train")
                rows.append({"id": job_id, "state": state, "model": model, "kind": kind})
        return rows

    def latest(self) -> str | None:
        jobs = self.list_jobs()
        return jobs[0]["id"] if jobs else None

    def running(self) -> list[str]:
        return [j["id"] for j in self.list_jobs() if j["state"] in ACTIVE]

    def run_dir(self, job_id: str) -> Path:
        """The output folder of a completed job (from its state alone)."""
        folder = self._folder(job_id)
        state = self._state(folder.name)["state"]
        if state != "completed":
            raise JobNotFinished(f"job {folder.name}: is {state}; only a completed job has a model")
        return folder / "run"

    def model_zip(self, job_id: str) -> Path:
        """A zip of the job's model folder, card, results and loss plot (made once)."""
        run = self.run_dir(job_id)
        target = self.downloads / job_id / f"textgen-model-{job_id}.zip"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
                for path in sorted(run.rglob("*")):
                    rel = path.relative_to(run)
                    if path.is_file() and rel.parts[0] != "checkpoints":
                        zf.write(path, Path(f"textgen-model-{job_id}") / rel)
            tmp.replace(target)
        return target

    # -- internals ----------------------------------------------------------------------

    def _folder(self, job_id: str) -> Path:
        job_id = (job_id or "").strip()
        if not _ID.match(job_id) or not (self.jobs / job_id / "job.json").is_file():
            raise NoSuchJob(f"job id {job_id!r}: no such job")
        return self.jobs / job_id

    def _refuse_if_busy(self) -> None:
        busy = self.running()
        if len(busy) >= self.max_running:
            raise TextgenError(
                f"a training job is already running ({busy[0]}); wait for it to finish "
                "or cancel it before starting another"
            )

    def _create(self, sources, cfg: TrainConfig, limits: UploadLimits | None, tune) -> str:
        job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        folder = self.jobs / job_id
        try:
            stored = store_uploads(sources, folder / "uploads", limits)
            usable_or_raise(folder / "uploads", stored, cfg.data)
        except BaseException:
            _remove_tree(folder)
            raise
        self._write_job(job_id, cfg, stored, tune)
        self._write_state(job_id, "queued")
        return job_id

    def _write_job(self, job_id: str, cfg: TrainConfig, stored: list[StoredFile], tune) -> None:
        job = {
            "id": job_id,
            "kind": "tune" if tune else "train",
            "tune": tune,
            "created": time.time(),
            "config": cfg.to_dict(),
            "files": [f.to_dict() for f in stored],
            "pid": None,
        }
        write_json(self.jobs / job_id / "job.json", job)

    def _spawn(self, job_id: str) -> None:
        folder = self.jobs / job_id
        package_root = str(Path(__file__).resolve().parents[1])
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (package_root, os.environ.get("PYTHONPATH")) if p
            ),
        }
        cmd = [
            sys.executable,
            "-m",
            "textgen_core.app.worker",
            str(folder),
            "--parent",
            str(os.getpid()),
        ]
        with open(folder / "log.txt", "ab") as log:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group, so cancel reaches all of it
            )
        self._procs[job_id] = proc
        job = read_json(folder / "job.json")
        write_json(folder / "job.json", {**job, "pid": proc.pid})

    def _kill(self, job_id: str) -> None:
        pid = read_json(self.jobs / job_id / "job.json").get("pid")
        if not pid:
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.time() + wait
            while time.time() < deadline and self._alive(job_id, pid):
                time.sleep(0.1)
            if not self._alive(job_id, pid):
                break

    def _state(self, job_id: str) -> dict:
        """state.json, with a queued/running job whose process is gone settled:
        failed if it crashed under this app, interrupted if the app stopped."""
        folder = self.jobs / job_id
        state = _read_optional(folder / "state.json") or {"state": "queued"}
        if state["state"] not in ACTIVE:
            return state
        pid = (_read_optional(folder / "job.json") or {}).get("pid")
        if pid and self._alive(job_id, pid):
            return state
        state = _read_optional(folder / "state.json") or state  # it may just have finished
        if state["state"] not in ACTIVE:
            return state
        proc = self._procs.get(job_id)
        if proc is not None and proc.returncode not in (None, 0):
            error = f"the training process ended unexpectedly (exit status {proc.returncode})"
            state = {"state": "failed", "error": f"{error}: {_log_tail(folder)}"}
        else:
            state = {
                "state": "interrupted",
                "error": "the app stopped while this job ran; resume it",
            }
        self._write_state(job_id, state["state"], error=state["error"])
        return state

    def _alive(self, job_id: str, pid: int) -> bool:
        proc = self._procs.get(job_id)
        if proc is not None and proc.pid == pid:
            return proc.poll() is None
        return _pid_runs_job(pid, job_id)

    def _write_state(self, job_id: str, state: str, error: str | None = None) -> None:
        write_state(self.jobs / job_id, state, error)


def write_state(folder: Path, state: str, error: str | None = None) -> None:
    assert state in STATES, state
    write_json(folder / "state.json", {"state": state, "error": error, "updated": time.time()})


def _pid_runs_job(pid: int, job_id: str) -> bool:
    """Whether `pid` is a live (not zombie) process working on `job_id`; a
    recycled pid running something else does not count."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():
        return True  # no /proc to look closer: trust the signal check
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z" and job_id in cmdline


def _check_tune(tune: dict) -> None:
    trials, timeout = tune.get("trials"), tune.get("timeout")
    if not isinstance(trials, int) or trials < 1:
        raise TextgenError(f"trials: must be a whole number of at least 1, got {trials!r}")
    if timeout is not None and not timeout > 0:
        raise TextgenError(f"timeout: must be positive seconds (or none), got {timeout!r}")


def _read_optional(path: Path) -> dict:
    try:
        return read_json(path)
    except (OSError, ValueError):
        return {}


def _log_tail(folder: Path, lines: int = 3) -> str:
    try:
        text = (folder / "log.txt").read_text(errors="replace").strip()
    except OSError:
        return "no log"
    return " | ".join(text.splitlines()[-lines:]) or "no output"


def _remove_tree(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
