"""The real `openai` client's usual loops, written as its README writes them
(sync and async, completions and chat, streamed and not), against `textgen serve`:
a stream's every chunk has a choice unless the request asked for usage with
`stream_options={"include_usage": True}`, and then only its last one has none."""

from __future__ import annotations

import asyncio

import openai
import pytest
from support.servers import API_KEY

MESSAGES = [
    {"role": "developer", "content": "Talk like a pirate."},
    {"role": "user", "content": "How do I check if a Python object is an instance of a class?"},
]
GREEDY = dict(max_tokens=12, temperature=0)


def test_completions_print_in_the_usual_loop(client, capsys):
    completion = client.completions.create(model="tiny", prompt="Dear friend,", **GREEDY)
    print(completion.choices[0].text)

    stream = client.completions.create(model="tiny", prompt="Dear friend,", stream=True, **GREEDY)
    for chunk in stream:
        print(chunk.choices[0].text, end="")

    printed = capsys.readouterr().out
    assert completion.choices[0].text
    assert printed == completion.choices[0].text + "\n" + completion.choices[0].text


def test_chat_prints_in_the_usual_loop(client, capsys):
    completion = client.chat.completions.create(model="chat", messages=MESSAGES, **GREEDY)
    print(completion.choices[0].message.content)

    stream = client.chat.completions.create(model="chat", messages=MESSAGES, stream=True, **GREEDY)
    for chunk in stream:
        print(chunk.choices[0].delta.content or "", end="")

    content = completion.choices[0].message.content
    assert content and capsys.readouterr().out == content + "\n" + content


def test_the_async_client_streams_in_the_usual_loop(served):
    async def main() -> tuple[str, str, str]:
        async with openai.AsyncOpenAI(
            base_url=served.url + "/v1", api_key=API_KEY, max_retries=2
        ) as client:
            whole = await client.completions.create(model="tiny", prompt="Once", **GREEDY)
            stream = await client.completions.create(
                model="tiny", prompt="Once", stream=True, **GREEDY
            )
            text = "".join([chunk.choices[0].text async for chunk in stream])
            stream = await client.chat.completions.create(
                model="chat", messages=MESSAGES, stream=True, **GREEDY
            )
            chat = ""
            async for chunk in stream:
                chat += chunk.choices[0].delta.content or ""
            return whole.choices[0].text, text, chat

    whole, text, chat = asyncio.run(main())
    assert whole and text == whole and chat


@pytest.mark.parametrize("kind", ["completions", "chat"])
def test_include_usage_adds_one_last_chunk_with_the_usage_and_no_choices(client, kind):
    if kind == "completions":
        create, request = client.completions.create, dict(model="tiny", prompt="Dear friend,")
    else:
        create, request = client.chat.completions.create, dict(model="chat", messages=MESSAGES)
    whole = create(**request, **GREEDY)
    chunks = list(create(**request, stream=True, stream_options={"include_usage": True}, **GREEDY))
    *answer, last = chunks
    assert last.choices == [] and last.usage == whole.usage
    assert last.usage.completion_tokens == GREEDY["max_tokens"]
    assert all(c.choices and c.usage is None for c in answer)  # OpenAI: usage null on the rest


def test_include_usage_false_or_stream_options_without_a_stream(client):
    chunks = list(
        client.completions.create(
            model="tiny",
            prompt="x",
            stream=True,
            stream_options={"include_usage": False},
            max_tokens=3,
        )
    )
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)
    with pytest.raises(openai.BadRequestError) as refused:
        client.completions.create(
            model="tiny", prompt="x", stream_options={"include_usage": True}, max_tokens=3
        )
    assert refused.value.body["param"] == "stream_options"
    assert "only allowed when stream is true" in refused.value.body["message"]


def test_a_prompt_of_token_ids_continues_as_its_text_does(client, tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    texts = ["To be, or not to be", "Call me Ishmael."]
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    by_text = client.completions.create(model="tiny", prompt=texts, **GREEDY)
    one = client.completions.create(model="tiny", prompt=ids[0], **GREEDY)  # list[int]
    both = client.completions.create(model="tiny", prompt=ids, **GREEDY)  # list[list[int]]
    assert one.choices[0].text == by_text.choices[0].text
    assert [c.text for c in both.choices] == [c.text for c in by_text.choices]
    assert both.usage.prompt_tokens == sum(map(len, ids))
    echoed = client.completions.create(model="tiny", prompt=ids[0], echo=True, **GREEDY)
    assert echoed.choices[0].text == texts[0] + one.choices[0].text
    with pytest.raises(openai.BadRequestError) as refused:
        client.completions.create(model="tiny", prompt=[1, len(tokenizer) + 5], max_tokens=2)
    assert refused.value.body["param"] == "prompt"
