"""What a logged-in user can send and read over HTTP: an upload over --max-file-mb is
refused by the app's upload route; the file routes serve the app's downloads and
nothing else: not another job's uploads or run, not the app's other files, not the
machine's (whatever the spelling of the path)."""

from __future__ import annotations

import urllib.parse

import httpx
import pytest
from support.servers import APP_LOGIN, REPO

FILE_ROUTES = ["gradio_api/file=", "gradio_api/file/", "file="]


@pytest.fixture(scope="module")
def user(login_app):
    """An HTTP client logged in to the app (its cookie)."""
    name, password = APP_LOGIN.split(":")
    client = httpx.Client(base_url=login_app.url, timeout=60)
    client.post("login", data={"username": name, "password": password}).raise_for_status()
    yield client
    client.close()


def test_an_upload_over_max_file_mb_is_refused_by_the_upload_route(login_app, user):
    cap = int(float(login_app.args[login_app.args.index("--max-file-mb") + 1]) * 2**20)
    fits = user.post("gradio_api/upload", files={"files": ("fits.txt", b"x" * cap)})
    assert fits.status_code == 200, fits.text
    [stored] = fits.json()
    assert stored.startswith(str(login_app.gradio_uploads)) and stored.endswith("fits.txt")
    over = user.post("gradio_api/upload", files={"files": ("over.txt", b"x" * (cap + 1))})
    assert over.status_code == 413, over.text
    assert not list(login_app.gradio_uploads.rglob("over.txt"))  # nothing of it kept


def get(user, route: str, path) -> httpx.Response:
    return user.get(route + urllib.parse.quote(str(path)))


@pytest.mark.parametrize("route", FILE_ROUTES)
def test_file_routes_serve_the_downloads_and_nothing_else(login_app, login_app_job, user, route):
    data, job = login_app.data_dir, login_app_job
    download = data / "downloads" / job / "notes.txt"
    download.parent.mkdir(parents=True, exist_ok=True)
    download.write_text("a download")
    served = get(user, route, download)
    if route == "file=":  # Gradio 6 serves files under /gradio_api only
        assert served.status_code == 404
    else:
        assert (served.status_code, served.text) == (200, "a download")  # the routes work

    folder = data / "jobs" / job
    [upload, *_] = sorted((folder / "uploads").iterdir())
    secret = upload.read_text()[:200]
    private = [
        upload,  # another job's uploaded file
        folder / "job.json",
        folder / "run" / "model" / "config.json",
        f"{data}/downloads/../jobs/{job}/uploads/{upload.name}",  # out of the downloads
        f"{data}/downloads/{job}/../../jobs/{job}/uploads/{upload.name}",
        REPO / "app.py",
        "/etc/hostname",
        "/proc/self/environ",
    ]
    for path in private:
        answer = get(user, route, path)
        assert answer.status_code in (403, 404), (path, answer.status_code)
        assert secret not in answer.text and "ann:secret" not in answer.text


def test_textgen_routes_load_no_file_that_is_not_a_model(login_app, login_app_job, user):
    upload = sorted((login_app.data_dir / "jobs" / login_app_job / "uploads").iterdir())[0]
    secret = upload.read_text()[:200]
    headers = {"Authorization": f"Bearer {APP_LOGIN}"}
    for model in (str(upload), str(upload.parent), "/etc/hostname", "/proc/self/environ"):
        body = {"model": model, "prompt": "x", "max_tokens": 2}
        answer = user.post("v1/completions", json=body, headers=headers)
        assert answer.status_code == 404, (model, answer.text)
        assert secret not in answer.text and "ann:secret" not in answer.text
