"""Servers in subprocesses on free ports, for tests and benchmarks: one runner
(`ServerProcess`: start, wait until it answers, stop) under `textgen serve`
(`ApiServer`), the web app (`AppServer`) and a Space bundle (`space_runner`)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from support import zygote

REPO = Path(__file__).resolve().parents[2]
APP_LOGIN = "ann:secret"
"""USER:PASS of the apps tests start behind a login (`--auth`)."""
API_KEY = "sk-test-key"
"""The --api-key of the `textgen serve` tests share (tests/serve/conftest.py)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_repo_path(env: dict[str, str]) -> dict[str, str]:
    """`env` with this checkout first on PYTHONPATH, so the subprocess runs this code."""
    path = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return {**env, "PYTHONPATH": path}


class ServerProcess:
    """A command that serves HTTP on `self.port`: `start` runs it (output to `self.log`)
    and returns once `self.url + ready_path` answers; `stop` ends it."""

    what = "the server"
    ready_path = ""

    def __init__(self, log: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = Path(log)
        self.proc: subprocess.Popen | zygote.ForkedProcess | None = None

    def command(self) -> tuple[list[str], dict[str, str], Path | None]:
        """(argv, environment, working folder) of the server."""
        raise NotImplementedError

    def start(self, timeout: float = 240):
        cmd, env, cwd = self.command()
        with open(self.log, "ab") as log:
            self.proc = zygote.popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.what} exited: {self.log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(self.url + self.ready_path, timeout=2).close()
                return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(
            f"{self.what} did not start in {timeout} s: {self.log.read_text()[-3000:]}"
        )

    def kill(self) -> None:
        """SIGKILL, as a crash or power cut would."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


class ApiServer(ServerProcess):
    """`textgen serve MODEL... --port N [args]`; its log in `log_dir`/serve-N.log.
    `url` has no trailing slash (the OpenAI client's base is `url + "/v1"`)."""

    what, ready_path = "serve", "/health"

    def __init__(self, log_dir: Path, models: list[str], *args: str) -> None:
        port = free_port()
        super().__init__(Path(log_dir) / f"serve-{port}.log", port)
        self.url = self.url.rstrip("/")
        self.models, self.args = models, args

    def command(self):
        env = with_repo_path({**os.environ, "HF_HUB_OFFLINE": "1"})
        cmd = [sys.executable, "-m", "textgen_core", "serve", *self.models]
        return [*cmd, "--port", str(self.port), *self.args], env, None


class AppServer(ServerProcess):
    """`python app.py --port N` with its data in `data_dir`; the log in data_dir/../app-N.log."""

    what = "app"

    def __init__(self, data_dir: Path, *args: str, command: list[str] | None = None) -> None:
        """`command` replaces `python app.py` (e.g. an installed `textgen app`, run
        outside the source tree)."""
        port = free_port()
        self.data_dir = Path(data_dir)
        super().__init__(self.data_dir.parent / f"app-{port}.log", port)
        self.base, self.args = command, args
        self.gradio_uploads = self.data_dir.parent / "gradio"

    def command(self):
        env = {
            **os.environ,
            "TEXTGEN_DATA_DIR": str(self.data_dir),
            "HF_HUB_OFFLINE": "1",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "GRADIO_TEMP_DIR": str(self.gradio_uploads),  # its own, not /tmp/gradio
        }
        if self.base is None:
            env = with_repo_path(env)
        else:
            env.pop("PYTHONPATH", None)  # the installed textgen, not this checkout
        base = self.base or [sys.executable, str(REPO / "app.py")]
        return [*base, "--port", str(self.port), *self.args], env, self.data_dir.parent


@dataclass
class Answer:
    """One API call over plain HTTP: the worst HTTP status seen, how it ended
    (`complete` or `error`), the final output or error message, and its seconds."""

    status: int
    event: str
    data: object
    seconds: float


def call_api(url: str, api_name: str, data: list, timeout: float = 300) -> Answer:
    """POST /gradio_api/call/<api_name>, then read its event stream to the end."""
    began = time.perf_counter()
    base = f"{url.rstrip('/')}/gradio_api/call/{api_name}"
    request = urllib.request.Request(
        base, json.dumps({"data": data}).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            event_id = json.load(response)["event_id"]
        with urllib.request.urlopen(f"{base}/{event_id}", timeout=timeout) as response:
            status, event, payload = response.status, "", None
            for raw in response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[len("event: ") :]
                elif line.startswith("data: ") and event in ("complete", "error"):
                    payload = json.loads(line[len("data: ") :])
                    break
    except urllib.error.HTTPError as exc:
        status, event, payload = exc.code, "http_error", exc.read().decode(errors="replace")
    return Answer(status, event, payload, time.perf_counter() - began)


def metric(text: str, name: str) -> float:
    """The value of the sample `name` (with its labels, as printed) in Prometheus text."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise KeyError(name)
