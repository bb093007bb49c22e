"""Start `textgen` (or a script of this checkout) as a subprocess without paying its
imports each time: `popen` and `run` mirror `subprocess.Popen` and `subprocess.run`
for `[sys.executable, "-m", MODULE, ...]` and `[sys.executable, SCRIPT, ...]`, and
fork the process from a pre-imported interpreter (zygote_server.py) when that gives
the same start as a fresh one; any other command runs through `subprocess`.

Used while pytest runs a test; elsewhere (benchmarks) every command starts afresh.
The same start means the same environment at import: a zygote is started with one
environment, and forks only for commands whose environment equals it apart from the
variables read while running (textgen's own TEXTGEN_*, and pytest's
PYTEST_CURRENT_TEST). An environment's second command starts its zygote; each test
process keeps the two used last. Set TEXTGEN_TESTS_NO_ZYGOTE=1 to start every command afresh.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

SERVER = Path(__file__).with_name("zygote_server.py")
KEPT = 2


def _import_environment(env: dict[str, str]) -> tuple:
    return tuple(
        sorted(
            (k, v)
            for k, v in env.items()
            if not k.startswith("TEXTGEN_") and k != "PYTEST_CURRENT_TEST"
        )
    )


class _Zygote:
    def __init__(self, env: dict[str, str]) -> None:
        self.folder = tempfile.mkdtemp(prefix="textgen-zygote-")
        self.path = os.path.join(self.folder, "socket")
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), self.path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=self.folder,
        )
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            self.proc.wait()
            os.rmdir(self.folder)
            raise RuntimeError(f"the zygote did not start (exit {self.proc.returncode})")

    def retire(self) -> None:
        """No more commands: it exits once the processes it forked have ended (a
        session's server started from it keeps running and reporting its exit)."""
        self.proc.stdin.write(b"retire\n")
        self.proc.stdin.flush()
        _retired.append(self)  # its stdin closes, and it ends, with this process


_zygotes: OrderedDict[tuple, _Zygote | None] = OrderedDict()
_retired: list[_Zygote] = []
_seen: set[tuple] = set()


def _zygote_for(env: dict[str, str]) -> _Zygote | None:
    """The zygote for `env`, started on its second request (a zygote costs what one
    fresh start does: an environment used once, such as a test Hub's, gains nothing)."""
    key = _import_environment(env)
    if key not in _seen:
        _seen.add(key)
        return None
    if key not in _zygotes:
        try:
            _zygotes[key] = _Zygote(env)
        except RuntimeError as exc:
            print(f"support.zygote: starting afresh ({exc})", file=sys.stderr)
            _zygotes[key] = None
        while len(_zygotes) > KEPT:
            _, old = _zygotes.popitem(last=False)
            if old is not None:
                old.retire()
    _zygotes.move_to_end(key)
    return _zygotes[key]


def _forkable(argv: list[str]) -> tuple[str | None, list[str]] | None:
    """(module or None for a script, sys.argv for it) if argv is this Python running
    a module or a .py script, else None."""
    if len(argv) < 2 or argv[0] != sys.executable:
        return None
    if argv[1] == "-m" and len(argv) > 2:
        return argv[2], ["-m", *argv[3:]]
    if argv[1].endswith(".py"):
        return None, argv[1:]
    return None


def _descriptor(spec, default: int, opened: list[int]):
    """(fd to send the child, our end of a new pipe or None) for a `subprocess` stream
    argument; fds this opens for the child are added to `opened`."""
    if spec is None:
        return default, None
    if spec == subprocess.DEVNULL:
        fd = os.open(os.devnull, os.O_RDWR)
        opened.append(fd)
        return fd, None
    if spec == subprocess.PIPE:
        ours, theirs = os.pipe()
        opened.append(theirs)
        return theirs, ours
    return (spec if isinstance(spec, int) else spec.fileno()), None


class ForkedProcess:
    """The part of `subprocess.Popen` the tests use, for a process forked by a zygote:
    stdin is /dev/null; stdout and stderr as `subprocess` takes them."""

    def __init__(self, zygote, module, argv, args, env, cwd, stdout, stderr, text):
        self.args, self.returncode = args, None
        self.stdin = self.stdout = self.stderr = None
        opened: list[int] = []
        fd_in, _ = _descriptor(subprocess.DEVNULL, 0, opened)
        fd_out, ours_out = _descriptor(stdout, 1, opened)
        if stderr == subprocess.STDOUT:
            fd_err, ours_err = fd_out, None
        else:
            fd_err, ours_err = _descriptor(stderr, 2, opened)
        mode = "r" if text else "rb"
        self.stdout = open(ours_out, mode) if ours_out is not None else None
        self.stderr = open(ours_err, mode) if ours_err is not None else None
        request = json.dumps(
            {"module": module, "argv": argv, "env": env, "cwd": str(cwd or os.getcwd())}
        ).encode()
        self._conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._conn.connect(zygote.path)
            head = struct.pack("!I", len(request))
            socket.send_fds(self._conn, [head], [fd_in, fd_out, fd_err])
            self._conn.sendall(request)
        finally:
            for fd in opened:  # the child has its own copies now
                os.close(fd)
        self._reader = self._conn.makefile("rb")
        self.pid = json.loads(self._reader.readline())["pid"]

    def poll(self):
        """The exit status once the zygote has reported it, else None."""
        if self.returncode is None and select.select([self._conn], [], [], 0)[0]:
            self.returncode = json.loads(self._reader.read())["returncode"]
            self._reader.close()
            self._conn.close()
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            select.select([self._conn], [], [], 0.05)
        return self.returncode

    def send_signal(self, sig) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def popen(argv, *, env=None, cwd=None, stdout=None, stderr=None, text=False):
    """`subprocess.Popen(argv, ...)`, forked from a zygote where that starts the same."""
    argv = [str(a) for a in argv]
    env = dict(os.environ if env is None else env)
    forkable = _forkable(argv)
    zygote = None
    # Tests only: a benchmark (benchmarks/serve_throughput.py) measures fresh processes.
    testing = "PYTEST_CURRENT_TEST" in os.environ
    if forkable and testing and not os.environ.get("TEXTGEN_TESTS_NO_ZYGOTE"):
        zygote = _zygote_for(env)
    if zygote is None:
        return subprocess.Popen(argv, env=env, cwd=cwd, stdout=stdout, stderr=stderr, text=text)
    module, child_argv = forkable
    return ForkedProcess(zygote, module, child_argv, argv, env, cwd, stdout, stderr, text)


def run(argv, *, env=None, cwd=None, timeout=None) -> subprocess.CompletedProcess:
    """`subprocess.run(argv, capture_output=True, text=True, ...)` through `popen`. The
    output goes through files rather than pipes, so nothing waits on a full pipe."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = popen(argv, env=env, cwd=cwd, stdout=out, stderr=err)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, proc.returncode, out.read(), err.read())
