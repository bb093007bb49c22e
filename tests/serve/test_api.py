"""`textgen serve` through the real `openai` client: completions (plain,
streamed, n > 1, stop, seed, echo, logprobs), chat for models with a chat
template, every error status, /health and /metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from support.servers import API_KEY as KEY
from support.servers import REPO, ApiServer, metric


def textgen_generate(model, prompt: str, capsys, *flags: str) -> str:
    """What `textgen generate MODEL --prompt PROMPT FLAGS` prints after the prompt."""
    from textgen_core.cli.main import main

    capsys.readouterr()
    assert main(["generate", str(model), "--prompt", prompt, *flags]) == 0
    out = capsys.readouterr().out
    assert out.startswith(prompt) and out.endswith("\n")
    return out[len(prompt) : -1]


NEUTRAL = ["--top-k", "0", "--top-p", "1", "--repetition-penalty", "1"]  # OpenAI's defaults


def test_greedy_and_seeded_completions_equal_textgen_generate(client, tiny_model, capsys):
    prompt = "To be, or not to be"
    greedy = client.completions.create(model="tiny", prompt=prompt, max_tokens=20, temperature=0)
    expected = textgen_generate(
        tiny_model, prompt, capsys, "--max-new-tokens", "20", "--temperature", "0", *NEUTRAL
    )
    assert greedy.choices[0].text == expected
    assert greedy.choices[0].finish_reason == "length"
    assert greedy.usage.completion_tokens == 20

    seeded = client.completions.create(
        model="tiny", prompt=prompt, max_tokens=20, temperature=0.9, seed=7
    )
    flags = ["--max-new-tokens", "20", "--temperature", "0.9", "--seed", "7", *NEUTRAL]
    assert seeded.choices[0].text == textgen_generate(tiny_model, prompt, capsys, *flags)
    assert seeded.choices[0].text != greedy.choices[0].text
    # textgen's own knobs pass through as extensions, with textgen generate's meaning
    tuned = client.completions.create(
        model="tiny",
        prompt=prompt,
        max_tokens=12,
        temperature=0.8,
        seed=3,
        top_p=0.95,
        extra_body={"top_k": 50, "repetition_penalty": 1.1},
    )
    flags = ["--max-new-tokens", "12", "--temperature", "0.8", "--seed", "3"]
    assert tuned.choices[0].text == textgen_generate(tiny_model, prompt, capsys, *flags)


def test_seeded_requests_repeat_and_unseeded_ones_differ(client):
    def ask(**kw):
        answer = client.completions.create(
            model="tiny", prompt="Once", max_tokens=16, temperature=1.0, **kw
        )
        return answer.choices[0].text

    assert ask(seed=11) == ask(seed=11)
    assert ask(seed=11) != ask(seed=12)
    assert len({ask() for _ in range(3)}) > 1


def test_stream_joins_to_the_same_text_and_ends_with_its_finish_then_done(client, served):
    settings = dict(model="tiny", prompt="Dear friend,", max_tokens=24, temperature=0.7, seed=4)
    whole = client.completions.create(**settings).choices[0].text
    chunks = list(client.completions.create(stream=True, **settings))
    assert "".join(c.choices[0].text for c in chunks) == whole  # every chunk has a choice
    assert chunks[-1].choices[0].finish_reason == "length"

    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.stream(
        "POST", served.url + "/v1/completions", json={**settings, "stream": True}, headers=headers
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in events)
    assert events[-1] == "data: [DONE]"
    assert all("usage" not in json.loads(line[6:]) for line in events[:-1])  # not asked for


def test_n_choices_for_each_prompt_are_seeded_apart_and_counted_in_usage(client):
    prompts = ["In the beginning", "Call me"]
    answer = client.completions.create(
        model="tiny", prompt=prompts, n=3, max_tokens=10, temperature=1.0, seed=5
    )
    assert [c.index for c in answer.choices] == list(range(6))
    texts = [c.text for c in answer.choices]
    assert len(set(texts[:3])) == 3  # choice j draws with seed + j
    again = client.completions.create(
        model="tiny", prompt=prompts[1], max_tokens=10, temperature=1.0, seed=5 + 2
    )
    assert again.choices[0].text == texts[5]
    assert answer.usage.prompt_tokens == 3 + 2  # each prompt counted once, not per choice
    assert answer.usage.completion_tokens == 60
    streamed = list(
        client.completions.create(
            model="tiny", prompt=prompts, n=3, max_tokens=10, temperature=1.0, seed=5, stream=True
        )
    )
    joined = [
        "".join(c.choices[0].text for c in streamed if c.choices and c.choices[0].index == i)
        for i in range(6)
    ]
    assert joined == texts


def test_stop_string_cuts_the_text_and_the_finish_reason_is_stop(client):
    full = client.completions.create(model="tiny", prompt="Hi", max_tokens=30, temperature=0)
    text = full.choices[0].text
    stop = text[len(text) // 2 : len(text) // 2 + 3]
    cut = client.completions.create(
        model="tiny", prompt="Hi", max_tokens=30, temperature=0, stop=[stop, "never there"]
    )
    assert cut.choices[0].text == text[: text.index(stop)]
    assert cut.choices[0].finish_reason == "stop"
    streamed = client.completions.create(
        model="tiny", prompt="Hi", max_tokens=30, temperature=0, stop=stop, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices) == text[: text.index(stop)]


def test_echo_and_logprobs_give_the_prompt_and_each_tokens_top_alternatives(client):
    answer = client.completions.create(
        model="tiny", prompt="Now is the winter", max_tokens=6, temperature=0, echo=True, logprobs=3
    )
    choice = answer.choices[0]
    assert choice.text.startswith("Now is the winter") and len(choice.text) > 17
    lp = choice.logprobs
    assert "".join(lp.tokens) == choice.text
    assert len(lp.tokens) == 4 + 6 and lp.token_logprobs[0] is None
    assert all(v < 0 for v in lp.token_logprobs[1:])
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(len(lp.tokens))]
    for chosen, top in zip(lp.token_logprobs[4:], lp.top_logprobs[4:], strict=True):
        assert len(top) == 3
        assert chosen == pytest.approx(max(top.values()))  # greedy picks the most likely


def test_chat_works_for_a_template_model_and_plain_models_are_sent_to_completions(
    client, chat_model
):
    from transformers import AutoTokenizer

    messages = [{"role": "user", "content": "Hello"}]
    answer = client.chat.completions.create(
        model="chat", messages=messages, max_tokens=12, temperature=0
    )
    assert answer.choices[0].message.role == "assistant"
    prompt = AutoTokenizer.from_pretrained(chat_model).apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True
    )
    plain = client.completions.create(model="chat", prompt=prompt, max_tokens=12, temperature=0)
    assert answer.choices[0].message.content == plain.choices[0].text
    assert answer.usage.completion_tokens == 12
    stream = client.chat.completions.create(
        model="chat", messages=messages, max_tokens=12, temperature=0, stream=True
    )
    assert (
        "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        == plain.choices[0].text
    )

    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="tiny", messages=messages, max_tokens=5)
    message = refused.value.body["message"]
    assert "plain text model" in message and "/v1/completions" in message


def test_models_health_and_key(served, client):
    assert sorted(m.id for m in client.models.list()) == ["chat", "tiny"]
    assert client.models.retrieve("tiny").id == "tiny"
    assert httpx.get(served.url + "/health").json() == {"status": "ok"}
    for key in (None, "wrong"):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        for method, path in (
            ("GET", "/v1/models"),
            ("GET", "/v1/models/tiny"),
            ("POST", "/v1/completions"),
            ("POST", "/v1/chat/completions"),
            ("GET", "/metrics"),
        ):
            body = {"model": "tiny", "prompt": "x"} if method == "POST" else None
            response = httpx.request(method, served.url + path, json=body, headers=headers)
            assert response.status_code == 401, (key, path)
            assert response.json()["error"]["code"] == "invalid_api_key"
    wrong = openai.OpenAI(base_url=served.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.completions.create(model="tiny", prompt="x")


@pytest.mark.parametrize(
    "body, status, param",
    [
        ({"model": "tiny", "prompt": "x", "temperature": 5}, 400, "temperature"),
        ({"model": "tiny", "prompt": "x", "max_tokens": 0}, 400, "max_tokens"),
        ({"model": "tiny", "prompt": {"a": 1}}, 400, "prompt"),
        ({"model": "tiny", "prompt": "x", "n": 0}, 400, "n"),
        ({"model": "tiny", "prompt": "x", "presence_penalty": 1}, 400, "presence_penalty"),
        ({"prompt": "x"}, 400, "model"),
        ({"model": "nope", "prompt": "x"}, 404, "model"),
        ({"model": "tiny", "prompt": "word " * 300, "max_tokens": 4}, 413, "prompt"),
        ({"model": "tiny", "prompt": "x", "max_tokens": 300}, 413, "prompt"),
    ],
)
def test_bad_requests_answer_in_openai_error_shape_naming_the_field(served, body, status, param):
    headers = {"Authorization": f"Bearer {KEY}"}
    response = httpx.post(served.url + "/v1/completions", json=body, headers=headers)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["param"] == param and error["message"].startswith(param)
    assert error["type"] == "invalid_request_error"


def test_a_body_that_is_not_json_is_a_400(served):
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    response = httpx.post(served.url + "/v1/completions", content=b"{nope", headers=headers)
    assert response.status_code == 400 and "JSON" in response.json()["error"]["message"]


def test_full_queue_answers_429_with_retry_after_and_serves_again(tmp_path, tiny_model):
    server = ApiServer(tmp_path, [f"tiny={tiny_model}"], "--max-batch", "1", "--queue-size", "1")
    server.start()
    try:
        body = {"model": "tiny", "prompt": "x", "max_tokens": 200, "temperature": 0}

        def ask(_):
            return httpx.post(server.url + "/v1/completions", json=body, timeout=120)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, range(8)))
        statuses = sorted(a.status_code for a in answers)
        assert set(statuses) == {200, 429} and statuses.count(200) >= 2
        busy = next(a for a in answers if a.status_code == 429)
        assert busy.headers["Retry-After"] == "1"
        assert busy.json()["error"]["type"] == "rate_limit_error"
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        assert client.completions.create(model="tiny", prompt="x", max_tokens=3).choices[0].text
        metrics = httpx.get(server.url + "/metrics").text
        assert metric(metrics, 'textgen_requests_total{route="/v1/completions",status="429"}') > 0
    finally:
        server.stop()


def test_serving_beyond_loopback_needs_an_api_key(tiny_model):
    result = subprocess.run(
        [sys.executable, "-m", "textgen_core", "serve", str(tiny_model), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 2
    assert "--api-key" in result.stderr and "0.0.0.0" in result.stderr


def test_streamed_logprobs_cover_each_token_once_and_match_the_whole_answer(client):
    settings = dict(
        model="tiny", prompt="Now is the winter", max_tokens=8, temperature=0, echo=True, logprobs=2
    )
    whole = client.completions.create(**settings).choices[0]
    chunks = [c.choices[0] for c in client.completions.create(stream=True, **settings) if c.choices]
    assert "".join(c.text for c in chunks) == whole.text
    streamed = [c.logprobs for c in chunks if c.logprobs]
    assert [t for lp in streamed for t in lp.tokens] == whole.logprobs.tokens
    values = [v for lp in streamed for v in lp.token_logprobs]
    assert values[0] is None and values[1:] == pytest.approx(whole.logprobs.token_logprobs[1:])


def test_chat_logprobs_give_each_tokens_top_alternatives(client):
    answer = client.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "Hi"}],
        max_tokens=6,
        temperature=0,
        logprobs=True,
        top_logprobs=2,
    )
    content = answer.choices[0].logprobs.content
    assert "".join(e.token for e in content) == answer.choices[0].message.content
    for entry in content:
        assert len(entry.top_logprobs) == 2
        assert entry.logprob == pytest.approx(max(t.logprob for t in entry.top_logprobs))


def test_served_names_follow_the_run_folder_or_are_given(tmp_path):
    from textgen_core.errors import TextgenError
    from textgen_core.serve.api import served_names

    (tmp_path / "runs" / "x" / "model").mkdir(parents=True)
    (tmp_path / "plain").mkdir()
    names = served_names(
        [str(tmp_path / "runs/x/model"), str(tmp_path / "plain"), "me/hub-model", "b=scratch:tiny"]
    )
    assert names == {
        "x": str(tmp_path / "runs/x/model"),
        "plain": str(tmp_path / "plain"),
        "me/hub-model": "me/hub-model",
        "b": "scratch:tiny",
    }
    with pytest.raises(TextgenError, match="NAME="):
        served_names(["scratch:tiny", "scratch:tiny"])


def test_null_max_tokens_means_openais_default_of_16(served):
    body = {"model": "tiny", "prompt": "x", "max_tokens": None, "temperature": 0}
    headers = {"Authorization": f"Bearer {KEY}"}
    answer = httpx.post(served.url + "/v1/completions", json=body, headers=headers).json()
    assert answer["usage"]["completion_tokens"] == 16
