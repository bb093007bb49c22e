"""The tests' forked `textgen` processes (support.zygote) behave as fresh ones: the
same output and exit status, a process of their own that a signal ends, the
environment's run-time variables seen, and a fresh interpreter wherever the
environment read at import differs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from support import zygote
from support.servers import with_repo_path

GENERATE = ["generate", "scratch:tiny", "--prompt", "Once", "--max-new-tokens", "6", "--seed", "3"]


def textgen_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "textgen_core", *args]


def test_a_forked_textgen_prints_and_exits_as_a_fresh_one():
    env = with_repo_path(dict(os.environ))
    fresh = subprocess.run(textgen_argv(*GENERATE), env=env, capture_output=True, text=True)
    runs = [zygote.run(textgen_argv(*GENERATE), env=env, timeout=300) for _ in range(2)]
    assert zygote._zygote_for(env) is not None  # the second run was forked
    assert fresh.returncode == 0, fresh.stderr
    for run in runs:
        assert (run.returncode, run.stdout) == (fresh.returncode, fresh.stdout)
    bad = zygote.run(textgen_argv("train", "--epochs", "x"), env=env, timeout=300)
    assert bad.returncode == 2 and "--epochs" in bad.stderr


def test_a_forked_process_has_its_own_pid_dies_by_signal_and_sees_run_time_variables(tmp_path):
    env = with_repo_path(dict(os.environ))
    zygote.run(textgen_argv("--help"), env=env, timeout=300)  # the zygote starts next
    script = tmp_path / "wait.py"
    script.write_text(
        "import os, sys, time\n"
        "print(os.getpid(), os.environ['TEXTGEN_MARK'], os.getcwd(), sys.argv[1:], flush=True)\n"
        "time.sleep(600)\n"
    )
    argv = [sys.executable, str(script), "a b"]
    env = {**env, "TEXTGEN_MARK": "seen"}
    proc = zygote.popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    assert isinstance(proc, zygote.ForkedProcess)
    pid, mark, cwd, args = proc.stdout.readline().split(" ", 3)
    assert (int(pid), mark, cwd, args.strip()) == (proc.pid, "seen", str(tmp_path), "['a b']")
    assert proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def test_each_environment_read_at_import_gets_its_own_interpreter(tmp_path):
    """huggingface_hub reads HF_HUB_OFFLINE once, at import, and torch its thread
    count: a process forked from a zygote started with another value would see the
    zygote's."""
    script = tmp_path / "imported.py"
    script.write_text(
        "import torch\nfrom huggingface_hub import constants\n"
        "print(constants.HF_HUB_OFFLINE, torch.get_num_threads())\n"
    )
    for offline, threads in [("1", "1"), ("0", "2"), ("1", "1")]:
        env = {**os.environ, "HF_HUB_OFFLINE": offline, "OMP_NUM_THREADS": threads}
        env = with_repo_path(env)
        for _ in range(2):  # fresh or forked, then forked from that environment's zygote
            done = zygote.run([sys.executable, str(script)], env=env, timeout=300)
            assert done.stdout.split() == [str(offline == "1"), threads], done.stderr
    assert zygote._zygote_for(env) is not None


def test_a_process_outlives_its_zygotes_retirement_and_reports_its_exit(tmp_path):
    """A test process keeps two zygotes; the one it retires for a third may have
    forked a server that a session-scoped fixture still uses."""
    env = with_repo_path(dict(os.environ))
    zygote.run(textgen_argv("--help"), env=env, timeout=300)  # the zygote starts next
    script = tmp_path / "serve.py"
    script.write_text("import time\nprint('up', flush=True)\ntime.sleep(600)\n")
    proc = zygote.popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    assert isinstance(proc, zygote.ForkedProcess) and proc.stdout.readline() == "up\n"
    retired = zygote._zygotes.pop(zygote._import_environment(env))  # as the third's start does
    retired.retire()
    time.sleep(1)
    assert proc.poll() is None and retired.proc.poll() is None  # both still running
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL  # reported by the retired zygote
    assert retired.proc.wait(timeout=30) == 0  # which then ends, leaving no socket behind
    assert not os.path.exists(retired.folder)
