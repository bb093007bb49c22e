"""Run a function on one file in a separate process, under a time and a memory
cap, so a hostile or broken file costs only itself.

Extraction libraries can hang on a malformed PDF, exhaust memory on an XML
bomb or overflow the stack on deeply nested tags; none of that may take the
run (or the app) down with it. Files go one at a time to a worker process
(`python -m textgen_core.data.extract.worker`, started once and reused, so
its imports are paid once) whose address space is capped; the parent waits
for each answer at most the time cap, and kills the worker (a new one starts
for the next file) when it is late, dies or ran out of memory.

A plain subprocess rather than multiprocessing: multiprocessing's children
re-run the caller's main script when it has no `if __name__ == "__main__"`
guard, which a user's own script calling `train()` may well lack.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from textgen_core.errors import TextgenError

_HEADER = struct.Struct("<Q")


@dataclass(frozen=True)
class Limits:
    seconds: float = 120.0
    """Wall-clock time one file may take."""
    memory_bytes: int = 2 << 30
    """Memory one file's extraction may take, besides the interpreter's own."""
    file_bytes: int = 512 << 20
    """Largest file handed to an extractor."""


def send(stream, message) -> None:
    data = json.dumps(message).encode()
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


class _Late(Exception):
    pass


def _read_exactly(fd: int, size: int, deadline: float) -> bytes:
    """`size` bytes from `fd` before `deadline`; EOFError when it closes."""
    parts, left = [], size
    while left:
        wait = deadline - time.monotonic()
        if wait <= 0 or not select.select([fd], [], [], wait)[0]:
            raise _Late
        data = os.read(fd, min(left, 1 << 20))
        if not data:
            raise EOFError
        parts.append(data)
        left -= len(data)
    return b"".join(parts)


class Worker:
    """The extraction worker process of this process, started when first needed."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.memory_bytes = 0
        self.lock = threading.Lock()

    def _start(self, memory_bytes: int) -> subprocess.Popen:
        if (
            self.process is None
            or self.process.poll() is not None
            or (self.memory_bytes != memory_bytes)
        ):
            self.stop()
            root = str(Path(__file__).resolve().parents[3])
            path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
            self.process = subprocess.Popen(
                [sys.executable, "-m", "textgen_core.data.extract.worker", str(memory_bytes)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # libraries' warnings about odd files: noise here
                env={**os.environ, "PYTHONPATH": path},
            )
            self.memory_bytes = memory_bytes
        return self.process

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                stream.close()
        self.process = None

    def call(self, module: str, function: str, arg, limits: Limits):
        """`module.function(arg)` in the worker; TextgenError with the reason
        when it raises, runs out of memory or time, or dies."""
        with self.lock:
            process = self._start(limits.memory_bytes)
            deadline = time.monotonic() + limits.seconds
            try:
                send(process.stdin, {"module": module, "function": function, "arg": arg})
                fd = process.stdout.fileno()
                (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size, deadline))
                status, value = json.loads(_read_exactly(fd, size, deadline))
            except _Late:
                self.stop()
                raise TextgenError(
                    f"took longer than {limits.seconds:g} s to read; gave up on it"
                ) from None
            except (EOFError, BrokenPipeError, OSError, ValueError):
                self.stop()
                raise TextgenError("the reader crashed on it") from None
        if status == "memory":
            self.stop()  # a fresh worker for the next file, its heap unfragmented
            raise TextgenError(
                f"needed more than {limits.memory_bytes / 2**20:,.0f} MB of memory to read; "
                "gave up on it"
            )
        if status == "refused":
            raise TextgenError(value)
        return value


_worker = Worker()
atexit.register(_worker.stop)


def stop_worker() -> None:
    """End this process's extraction worker now (a new one starts when needed)."""
    _worker.stop()


def run_limited(module: str, function: str, arg, limits: Limits):
    """`module.function(arg)` (JSON in, JSON out) in the capped worker process."""
    return _worker.call(module, function, arg, limits)
