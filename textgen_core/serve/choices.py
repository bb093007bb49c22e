"""One API request's choices, decoded in its model's `Batcher`, awaited from asyncio.

Every choice is a `Row` of the batcher (so requests from many clients, and the
`n` choices of one, are decoded together); the rows' text pieces cross from
the batcher's thread to the event loop through `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from textgen_core.data.tokens import or_start_token, with_start
from textgen_core.generate.batched import Row
from textgen_core.serve.batching import END, Batcher
from textgen_core.serve.schema import ApiError, CompletionBody, _Body


@dataclass
class Choice:
    index: int
    prompt: list[int]
    """The prompt's token ids."""
    row: Row


class _Sink:
    """Where the batcher's thread puts one row's pieces: the request's event queue."""

    def __init__(self, loop: asyncio.AbstractEventLoop, events: asyncio.Queue, index: int):
        self.loop, self.events, self.index = loop, events, index

    def put(self, item: object) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (self.index, item))
        except RuntimeError:  # the loop is closed: the server is shutting down
            pass


def encode(tokenizer, prompt: str | list[int]) -> list[int]:
    """A prompt's token ids as `textgen generate` makes them (text after the
    tokenizer's start ids; ids as given); an empty prompt starts from the start
    (or end-of-text) token."""
    if isinstance(prompt, list):
        if any(not 0 <= t < len(tokenizer) for t in prompt):
            raise ApiError(
                400, f"prompt: token ids must be in [0, {len(tokenizer)})", param="prompt"
            )
        ids = list(prompt)
    else:
        ids = with_start(tokenizer, tokenizer(prompt, add_special_tokens=False)["input_ids"])
    ids = or_start_token(tokenizer, ids)
    if not ids:
        raise ApiError(400, "prompt: empty, and the model has no start token", param="prompt")
    return ids


def check_fits(ids: list[int], max_new_tokens: int, context: int) -> None:
    if len(ids) + max_new_tokens > context:
        raise ApiError(
            413,
            f"prompt: {len(ids)} tokens + max_tokens {max_new_tokens} exceed the model's "
            f"context of {context} tokens; shorten the prompt or ask for fewer tokens",
            param="prompt",
            code="context_length_exceeded",
        )


def make_choices(
    body: _Body, prompts: list[list[int]], max_new: list[int], logprobs: int | None
) -> list[Choice]:
    """`body.n` choices per prompt, in OpenAI's order (prompt by prompt)."""
    echo = isinstance(body, CompletionBody) and body.echo
    choices = []
    for p, ids in enumerate(prompts):
        for j in range(body.n):
            cfg = body.generate_config(max_new[p], choice=j)
            cfg.validate()
            row = Row(ids, cfg, emit=lambda piece: None, logprobs=logprobs, prompt_logprobs=echo)
            choices.append(Choice(len(choices), ids, row))
    return choices


def decode(batcher: Batcher, choices: list[Choice]) -> AsyncIterator[tuple[Choice, str | None]]:
    """Queue the choices now (raises `Busy`, with nothing queued, when the
    model's waiting line is full); then (choice, text piece) as they are
    decoded, and (choice, None) when a choice is done. Called on the event loop."""
    loop, events = asyncio.get_running_loop(), asyncio.Queue()
    sinks = [_Sink(loop, events, c.index) for c in choices]
    for choice, sink in zip(choices, sinks, strict=True):
        choice.row.emit = sink.put
    batcher.submit([c.row for c in choices], sinks)
    return _events(events, choices)


async def _events(events: asyncio.Queue, choices: list[Choice]):
    running = len(choices)
    try:
        while running:
            index, item = await events.get()
            if isinstance(item, BaseException):
                raise item
            if item is END:
                running -= 1
                yield choices[index], None
            else:
                yield choices[index], item
    finally:  # a caller that stops reading frees its rows at their next token
        for choice in choices:
            choice.row.stopped = True
