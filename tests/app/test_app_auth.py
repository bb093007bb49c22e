"""With --auth, every route of the running app that does work or shows data
requires the login; the test enumerates the routes from the app itself."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

# Routes Gradio serves to anyone so the login page can work; none runs a
# function or returns data (checked: user/token answer null, app_id a number,
# runs the page shell).
PUBLIC = {
    "/",
    "/login",
    "/login/",
    "/logout",
    "/favicon.ico",
    "/robots.txt",
    "/manifest.json",
    "/theme.css",
    "/openapi.json",
    "/gradio_api/theme.css",
    "/gradio_api/user",
    "/gradio_api/user/",
    "/gradio_api/token",
    "/gradio_api/token/",
    "/gradio_api/app_id",
    "/gradio_api/app_id/",
    "/gradio_api/runs",
    "/gradio_api/runs/",
    "/gradio_api/startup-events",
    "/gradio_api/heartbeat/{session_hash}",
    "/health",  # the /v1 API's liveness check: answers {"status": "ok"}, nothing else
}
REFUSED = {401, 403, 404, 422}  # no login, forbidden, nothing there, or rejected request


def status(opener, url: str, method: str) -> int:
    body = b"{}" if method == "POST" else None
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with opener.open(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except TimeoutError:
        return 408  # a streaming route that waits: it was not refused


@pytest.fixture(scope="module")
def app(login_app):
    return login_app


def test_every_route_refuses_requests_without_the_login(app):
    anonymous = urllib.request.build_opener()
    spec = json.load(anonymous.open(app.url + "openapi.json"))
    open_routes = []
    for path, operations in spec["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x", path.replace("{api_name}", "generate"))
        for method in operations:
            code = status(anonymous, app.url.rstrip("/") + concrete, method.upper())
            if path not in PUBLIC and code not in REFUSED:
                open_routes.append(f"{method.upper()} {path}: {code}")
    assert len(spec["paths"]) > 40
    assert open_routes == []
    for must_be_closed in (
        "/config",
        "/gradio_api/info",
        "/gradio_api/queue/join",
        "/gradio_api/call/generate",
        "/gradio_api/upload",
    ):
        method = "POST" if must_be_closed.endswith(("join", "generate", "upload")) else "GET"
        assert status(anonymous, app.url.rstrip("/") + must_be_closed, method) in (401, 403)


def test_the_same_routes_answer_after_logging_in(app):
    jar = http.cookiejar.CookieJar()
    user = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = urllib.parse.urlencode({"username": "ann", "password": "secret"}).encode()
    user.open(urllib.request.Request(app.url + "login", data=form, method="POST"))
    assert status(user, app.url + "config", "GET") == 200
    assert status(user, app.url + "gradio_api/info", "GET") == 200
    wrong = urllib.parse.urlencode({"username": "ann", "password": "guess"}).encode()
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(urllib.request.Request(app.url + "login", data=wrong))
