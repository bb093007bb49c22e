"""The running app under load: many /generate requests at once over plain HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from support.servers import AppServer, call_api


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    app = AppServer(tmp_path_factory.mktemp("load") / "data").start()
    yield app
    app.stop()


def ask(server, model, i, tokens=8):
    data = [str(model), f"Request {i}:", tokens, 0.8, 50, 0.95, 1.1, i]
    return call_api(server.url, "generate", data, timeout=120)


def test_fifty_concurrent_requests_are_all_answered_and_the_app_still_serves(server, tiny_model):
    ask(server, tiny_model, -1)  # the model loaded
    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda i: ask(server, tiny_model, i), range(50)))
    assert [a.status for a in answers if a.status >= 500] == []
    assert [a.data for a in answers if a.event != "complete"] == []
    texts = [a.data[0] for a in answers]
    assert all(isinstance(t, str) and t for t in texts)
    assert len(set(texts)) > 40  # each its own prompt and seed
    assert ask(server, tiny_model, 3).data == answers[3].data  # seeded: same text later
    log = server.log.read_text()
    assert "Traceback" not in log


def test_bad_request_in_a_crowd_fails_alone(server, tiny_model):
    def one(i):
        if i == 2:
            data = [str(tiny_model), "x", 10**6, 0.8, 50, 0.95, 1.1, 1]
            return call_api(server.url, "generate", data, timeout=120)
        return ask(server, tiny_model, i)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(one, range(6)))
    assert answers[2].event == "error" and "max_new_tokens" in str(answers[2].data)
    assert all(a.event == "complete" for i, a in enumerate(answers) if i != 2)
    assert all(a.status < 500 for a in answers)
