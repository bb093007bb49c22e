"""The web app's server also answers the OpenAI-compatible /v1 API, behind the
app's login (the key is USER:PASS, or --api-key), batching with the page's
requests; and every route, /v1 and path-parameter routes included, refuses a
stranger with 401/403 (a 404 or 422 would only mean the guess was wrong)."""

from __future__ import annotations

import json
import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from gradio_client import Client
from support.servers import APP_LOGIN, metric
from test_app_auth import PUBLIC as LOGIN_PAGE

KEY = APP_LOGIN
# Served to anyone so the login page works: the routes tests/app/test_app_auth.py
# lists (and says why each is harmless), plus Gradio's own frontend files and icons.
PUBLIC = LOGIN_PAGE | {
    "/assets/{path}",
    "/svelte/{path}",
    "/static/{path}",
    "/pwa_icon",
    "/pwa_icon/{size}",
}
PATH_PARAMETER_ROUTES = [
    ("GET", "/file=/etc/hostname"),
    ("GET", "/gradio_api/file=/etc/hostname"),
    ("GET", "/gradio_api/file/etc/hostname"),
    ("GET", "/gradio_api/proxy=https://example.com/x"),
    ("GET", "/gradio_api/call/generate/abc"),
    ("POST", "/gradio_api/call/generate"),
    ("GET", "/gradio_api/stream/abc"),
    ("GET", "/gradio_api/monitoring/abc"),
    ("GET", "/v1/models/anything"),
    ("POST", "/v1/completions"),
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
    ("GET", "/metrics"),
]


@pytest.fixture(scope="module")
def app(login_app):
    return login_app


def status(url: str, method: str) -> int:
    body = {} if method == "POST" else None
    try:
        return httpx.request(method, url, json=body, timeout=10).status_code
    except httpx.ReadTimeout:
        return 408  # a streaming route that waits: it was not refused


def test_every_route_refuses_a_stranger_with_401_or_403(app):
    spec = json.load(urllib.request.urlopen(app.url + "openapi.json"))
    assert {"/v1/completions", "/v1/chat/completions", "/v1/models", "/metrics"} <= set(
        spec["paths"]
    )
    routes = []
    for path, operations in spec["paths"].items():
        if path in PUBLIC:
            continue
        concrete = re.sub(r"\{[^}]+\}", "x", path.replace("{api_name}", "generate"))
        routes += [(method.upper(), concrete) for method in operations]
    open_routes = [
        f"{method} {path}: {code}"
        for method, path in routes + PATH_PARAMETER_ROUTES
        if (code := status(app.url.rstrip("/") + path, method)) not in (401, 403)
    ]
    assert open_routes == []


def test_v1_needs_the_key_and_answers_the_same_text_as_the_generate_endpoint(
    app, login_app_job, tiny_model
):
    for key in ("wrong", "ann:guess"):
        stranger = openai.OpenAI(base_url=app.url + "v1", api_key=key, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            stranger.completions.create(model=str(tiny_model), prompt="x")
    # retries: a kept-alive connection the server closed after 5 idle seconds is
    # reset when reused (openai retries only that and 408/409/429/5xx, never 4xx)
    client = openai.OpenAI(base_url=app.url + "v1", api_key=KEY, max_retries=2)
    answer = client.completions.create(
        model=str(tiny_model),
        prompt="Once upon a time",
        max_tokens=20,
        temperature=0,
        extra_body={"repetition_penalty": 1.1},
    )
    page = Client(app.url, auth=tuple(KEY.split(":")), verbose=False)
    expected = page.predict(
        str(tiny_model), "Once upon a time", 20, 0, 50, 0.95, 1.1, -1, api_name="/generate"
    )
    assert answer.choices[0].text == expected
    assert [m.id for m in client.models.list()] == [login_app_job]  # the app's one trained model
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="not/a-model-here", prompt="x")


def test_concurrent_requests_to_the_app_are_decoded_in_one_batch(app, tiny_model):
    headers = {"Authorization": f"Bearer {KEY}"}

    def ask(i: int) -> int:
        body = {"model": str(tiny_model), "prompt": f"{i}", "max_tokens": 40, "seed": i}
        return httpx.post(app.url + "v1/completions", json=body, headers=headers, timeout=120)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    metrics = httpx.get(app.url + "metrics", headers=headers).text
    batches = metric(metrics, "textgen_batch_size_count")
    assert metric(metrics, 'textgen_batch_size_bucket{le="1.0"}') < batches  # some had company


def test_models_trained_in_the_app_are_listed_and_served_by_job_id(app, login_app_job):
    page = Client(app.url, auth=tuple(KEY.split(":")), verbose=False)
    client = openai.OpenAI(base_url=app.url + "v1", api_key=KEY, max_retries=2)
    assert [m.id for m in client.models.list()] == [login_app_job]
    answer = client.completions.create(
        model=login_app_job,
        prompt="To be",
        max_tokens=8,
        temperature=0,
        extra_body={"repetition_penalty": 1.1},
    )
    expected = page.predict(login_app_job, "To be", 8, 0, 50, 0.95, 1.1, -1, api_name="/generate")
    assert answer.choices[0].text == expected


def test_v1_on_the_app_refuses_a_body_over_max_request_mb_with_413(app):
    body = b'{"model": "x", "prompt": "' + b"x" * (2 * 1024 * 1024) + b'"}'  # default limit: 1 MB
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    answer = httpx.post(app.url + "v1/completions", content=body, headers=headers, timeout=60)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "request_too_large"
