"""A chat request's fields are checked as a completion's are: each bad one is a
400 in OpenAI's error shape whose `param` and message name it."""

from __future__ import annotations

import httpx
import pytest
from support.servers import API_KEY

HI = [{"role": "user", "content": "Hi"}]


def ask(served, body: dict) -> httpx.Response:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    return httpx.post(served.url + "/v1/chat/completions", json=body, headers=headers)


@pytest.mark.parametrize(
    "fields, param, says",
    [
        ({"messages": [{"role": "robot", "content": "Hi"}]}, "messages.0.role", "'user'"),
        ({"messages": [{"role": "user"}]}, "messages.0.content", "required"),
        ({"messages": [{"role": "user", "content": None}]}, "messages.0.content", "null"),
        ({"messages": [{"content": "Hi"}]}, "messages.0.role", "required"),
        ({"messages": [{"role": "user", "content": 7}]}, "messages.0.content", "accepted forms"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages.0.content",
            "only text parts",
        ),
        ({"messages": []}, "messages", "at least 1"),
        ({"messages": "Hi"}, "messages", "valid list"),
        ({"temperature": 3}, "temperature", "less than or equal to 2"),
        ({"temperature": "0.5"}, "temperature", "valid number"),
        ({"n": 0}, "n", "greater than or equal to 1"),
        ({"n": 65}, "n", "less than or equal to 64"),
        ({"n": 2.0}, "n", "valid integer"),
        ({"max_tokens": 0}, "max_tokens", "greater than or equal to 1"),
        ({"max_completion_tokens": "5"}, "max_completion_tokens", "valid integer"),
        ({"top_p": 0}, "top_p", "greater than 0"),
        ({"stream": "yes"}, "stream", "valid boolean"),
        ({"stop": [1]}, "stop", "accepted forms"),
        ({"seed": -1}, "seed", "greater than or equal to 0"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs", "less than or equal to 20"),
        ({"top_logprobs": 2}, "top_logprobs", "needs logprobs: true"),
        ({"stream_options": {"include_usage": True}}, "stream_options", "only allowed"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools", "not supported"),
        ({"tool_choice": "required"}, "tool_choice", "not supported"),
        ({"response_format": {"type": "json_object"}}, "response_format", "not supported"),
        ({"presence_penalty": 0.5}, "presence_penalty", "not supported"),
        ({"logit_bias": {"50256": -100}}, "logit_bias", "not supported"),
        ({"modalities": ["text", "audio"]}, "modalities", "not supported"),
        ({"model": ""}, "model", "at least 1 character"),
    ],
)
def test_a_bad_chat_field_is_a_400_naming_it(served, fields, param, says):
    response = ask(served, {"model": "chat", "messages": HI, "max_tokens": 2, **fields})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"{param}: ") and says in error["message"], error


def test_neutral_values_of_unsupported_fields_and_text_parts_are_accepted(served):
    parts = [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]
    body = {
        "model": "chat",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": parts},
        ],
        "max_tokens": 3,
        "temperature": 0,
        "tool_choice": "none",
        "response_format": {"type": "text"},
        "modalities": ["text"],
        "presence_penalty": 0,
        "parallel_tool_calls": True,  # a field this server does not know: ignored
    }
    response = ask(served, body)
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["completion_tokens"] == 3
