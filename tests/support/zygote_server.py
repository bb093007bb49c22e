"""A Python interpreter that has imported what `textgen` imports and forks a copy of
itself for each command it is sent: the command starts with torch, transformers, peft,
datasets and textgen already in memory instead of importing them (about 6 s of every
`textgen` subprocess on a 2-core machine; the suite starts ~150 of them).

Run by `support.zygote` (never by hand) as `python zygote_server.py SOCKET`, with the
environment the commands will get. It prints `ready` once it listens on the Unix
socket SOCKET. A line on its stdin retires it: it takes no more commands and exits
once the processes it forked have ended (a server a test started keeps running);
when its stdin closes (its test process ended) it kills them and exits. Each
connection sends one request (a length-prefixed JSON object: argv, cwd, environment)
with three file descriptors (stdin, stdout, stderr); the server answers the child's
pid, then its exit status as `subprocess` gives it (negative: killed by that signal).

The child becomes what `python -m textgen_core ARGS` or `python SCRIPT ARGS` would be:
its own process (own pid, killable), the descriptors as 0/1/2, the working folder,
the environment, sys.argv and sys.path[0] set as the interpreter sets them, the
module run as __main__, and a normal interpreter exit (atexit handlers, flushed
streams). The environment may differ from the server's only in what is read at run
time (support.zygote checks that before sending a request here).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import sys
import threading

PRELOAD = (
    "torch",
    "transformers",
    "peft",
    "datasets",
    "textgen_core.cli.main",
    "textgen_core.cli.commands",
    "textgen_core.train.run",
)
# Threads a library starts at import that survive a fork by design: jemalloc (pyarrow's
# allocator) registers fork handlers and restarts its background thread in the child.
FORK_SAFE_THREADS = {"jemalloc_bg_thd"}


def preload() -> None:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    tasks = os.listdir("/proc/self/task")
    others = [
        open(f"/proc/self/task/{t}/comm").read().strip() for t in tasks if int(t) != os.getpid()
    ]
    unsafe = [n for n in others if n not in FORK_SAFE_THREADS]
    if unsafe or threading.active_count() != 1:
        # Forking beside other threads can copy a lock another thread holds: refuse.
        raise SystemExit(f"threads started by the imports: {unsafe}")


def receive(conn: socket.socket) -> tuple[dict, list[int]]:
    head, fds, _, _ = socket.recv_fds(conn, 4, 3)
    (size,) = struct.unpack("!I", head)
    body = b""
    while len(body) < size:
        body += conn.recv(size - len(body))
    return json.loads(body), fds


def serve(path: str) -> tuple[dict, list[int]]:
    """Answer requests until told to retire or until stdin closes; in a forked
    child, return its request."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    print("ready", flush=True)
    children: dict[int, socket.socket] = {}
    retiring = False
    while True:
        watched = [sys.stdin] if retiring else [listener, sys.stdin]
        readable, _, _ = select.select(watched, [], [], 0.1)
        reap(children)
        if sys.stdin in readable:
            if not os.read(sys.stdin.fileno(), 64):  # the test process ended
                for pid in children:
                    os.kill(pid, signal.SIGKILL)
                leave(path)
            retiring = True  # "retire": no new commands; the running ones go on
            listener.close()
        if retiring and not children:
            leave(path)
        if listener in readable and not retiring:
            conn, _ = listener.accept()
            request, fds = receive(conn)
            pid = os.fork()
            if pid == 0:
                listener.close()
                for other in children.values():
                    other.close()
                conn.close()
                return request, fds
            for fd in fds:
                os.close(fd)
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
            children[pid] = conn


def leave(path: str) -> None:
    """Exit, removing the socket and the folder support.zygote made for it."""
    for remove, target in ((os.unlink, path), (os.rmdir, os.path.dirname(path))):
        try:
            remove(target)
        except OSError:
            pass
    raise SystemExit(0)


def reap(children: dict[int, socket.socket]) -> None:
    while children:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return
        conn = children.pop(pid)
        try:
            conn.sendall(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}).encode())
        except OSError:  # the test process stopped listening
            pass
        conn.close()


def become(request: dict, fds: list[int]) -> None:
    """In the child: take the request's descriptors, folder, environment and argv."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"])


def main() -> None:
    # The server's own directory is not the commands' sys.path[0].
    del sys.path[0]
    preload()
    request, fds = serve(sys.argv[1])
    become(request, fds)
    import runpy

    if request["module"]:
        sys.path.insert(0, os.getcwd())  # as `python -m` does
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(request["argv"][0])))
        runpy.run_path(request["argv"][0], run_name="__main__")


if __name__ == "__main__":
    main()
