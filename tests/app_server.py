"""The real web app (`python app.py`) in a subprocess on a free port, for tests."""

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

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """`python app.py --port N` with its data in `data_dir`; the log in data_dir/../app-N.log."""

    def __init__(self, data_dir: Path, *args: str, command: list[str] | None = None) -> None:
        """`command` replaces `python app.py` (e.g. an installed `textgen app`, run
        outside the source tree)."""
        self.data_dir = Path(data_dir)
        self.command = command
        self.port = free_port()
        self.args = args
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = self.data_dir.parent / f"app-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> AppServer:
        env = {
            **os.environ,
            "TEXTGEN_DATA_DIR": str(self.data_dir),
            "HF_HUB_OFFLINE": "1",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        if self.command is not None:
            env.pop("PYTHONPATH")
        base = self.command or [sys.executable, str(REPO / "app.py")]
        cmd = [*base, "--port", str(self.port), *self.args]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.data_dir.parent
            )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited: {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(self.url, timeout=2).close()
                return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"app did not start in {timeout} s: {self.log.read_text()[-2000:]}")

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
