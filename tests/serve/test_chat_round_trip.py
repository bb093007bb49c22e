"""A model trained on conversations, served: `/v1/chat/completions` feeds it the
tokens training put before each answer, and answers what `textgen generate --chat`
answers, through the real `openai` client, streamed too."""

from __future__ import annotations

import json

import openai
import pytest
from support.servers import ApiServer

from textgen_core.cli.main import main
from textgen_core.data.chat_tokens import tokenize_conversations
from textgen_core.data.ingest import load_corpus
from textgen_core.model.loading import load_tokenizer

CONVERSATION = [
    {"role": "system", "content": "Answer in one line."},
    {"role": "user", "content": "Repeat the words: apple river stone"},
]
GREEDY = dict(max_tokens=16, temperature=0, top_p=1)
NEUTRAL = ["--top-k", "0", "--top-p", "1", "--repetition-penalty", "1"]  # OpenAI's defaults


@pytest.fixture(scope="module")
def client(tmp_path_factory, chat_run):
    server = ApiServer(tmp_path_factory.mktemp("serve_chat"), [f"qa={chat_run / 'model'}"])
    server.start()
    yield openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=2)
    server.stop()


def training_prompt(model_dir, tmp_path) -> list[int]:
    """The token ids training puts before the answer of CONVERSATION."""
    path = tmp_path / "one.jsonl"
    answered = [*CONVERSATION, {"role": "assistant", "content": "apple river stone"}]
    path.write_text(json.dumps({"messages": answered}) + "\n")
    tokenizer = load_tokenizer(str(model_dir))
    ids, answers = tokenize_conversations(load_corpus([path]), tokenizer, 512).row(0)
    return ids[: answers.argmax()].tolist()


def generate_chat(model_dir, capsys) -> str:
    capsys.readouterr()
    flags = ["--max-new-tokens", "16", "--temperature", "0", *NEUTRAL]
    system, user = (m["content"] for m in CONVERSATION)
    assert main(["generate", str(model_dir), "--chat", user, "--system", system, *flags]) == 0
    return capsys.readouterr().out.removesuffix("\n")


def test_served_chat_uses_the_training_tokens_and_answers_as_generate_chat(
    client, chat_run, tmp_path, capsys
):
    answer = client.chat.completions.create(
        model="qa",
        messages=CONVERSATION,
        extra_body={"top_k": 0, "repetition_penalty": 1.0},
        **GREEDY,
    )
    assert answer.usage.prompt_tokens == len(training_prompt(chat_run / "model", tmp_path))
    expected = generate_chat(chat_run / "model", capsys)
    assert answer.choices[0].message.content == expected
    # stopped at the end of its turn (never shown), or ran to max_tokens
    finish = answer.choices[0].finish_reason
    assert finish == ("stop" if answer.usage.completion_tokens < 16 else "length")
    assert "<|im_end|>" not in expected

    chunks = client.chat.completions.create(
        model="qa",
        messages=CONVERSATION,
        stream=True,
        extra_body={"top_k": 0, "repetition_penalty": 1.0},
        **GREEDY,
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == expected
