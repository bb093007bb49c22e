"""The suite gives the same answers whatever Hugging Face settings the caller has
exported: offline mode, a token, a mirror endpoint."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_hub_tests_pass_with_offline_mode_and_a_stranger_token_exported():
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_TOKEN": "hf_not_a_token_the_local_hub_knows",
        "HF_ENDPOINT": "http://127.0.0.1:9",  # nothing listens there
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(TESTS / "hub" / "test_repo.py"),
            "-k",
            "push_model_puts_weights or rejected_token or resolve_token or offline_mode",
        ],
        env=env,
        cwd=TESTS.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"\b4 passed", done.stdout), done.stdout[-500:]
