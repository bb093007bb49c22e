"""The web app behind a login, started once for every test of a logged-in user (and of
a stranger) over HTTP, and a training job run in it."""

from __future__ import annotations

import time

import httpx
import pytest
from support.browser import browser_page
from support.servers import APP_LOGIN as LOGIN
from support.servers import AppServer

MAX_FILE_MB = 1  # the app's --max-file-mb: small, so a test can send a file over it


@pytest.fixture(scope="session")
def login_app(tmp_path_factory):
    """`python app.py --auth ann:secret --max-file-mb 1`, its data in a temp folder."""
    data = tmp_path_factory.mktemp("login_app") / "data"
    server = AppServer(data, "--auth", LOGIN, "--max-file-mb", str(MAX_FILE_MB)).start()
    deadline = time.time() + 60  # /v1 is added right after Gradio's server starts
    while httpx.get(server.url + "health").status_code != 200 and time.time() < deadline:
        time.sleep(0.2)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def login_app_job(login_app, tiny_model, corpus_dir) -> str:
    """The id of a training job completed in `login_app` (one epoch on four files)."""
    from gradio_client import Client, handle_file

    page = Client(login_app.url, auth=tuple(LOGIN.split(":")), verbose=False)
    uploads = [handle_file(str(f)) for f in sorted(corpus_dir.glob("*.txt"))[:4]]
    job_id = page.predict(
        uploads, str(tiny_model), 1, 8, 3e-3, 64, False, api_name="/start_training"
    )
    deadline = time.time() + 600
    while (state := page.predict(job_id, api_name="/job_status")["state"]) in ("queued", "running"):
        assert time.time() < deadline
        time.sleep(1)
    assert state == "completed"
    return job_id


@pytest.fixture
def page():
    """A page in a headless Chromium (support.browser)."""
    yield from browser_page()
