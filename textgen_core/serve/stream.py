"""Streamed answers: server-sent events of completion or chat chunks.

Each choice's first chunk (the echoed prompt, or the chat role), its text
pieces as they are decoded, its finishing chunk (finish_reason), then
`data: [DONE]`. As OpenAI does, only a request with
`stream_options: {"include_usage": true}` also gets a last chunk with the
usage and no choices, every other chunk then carrying `usage: null`: clients
read `chunk.choices[0]` of every chunk unless they asked for it. With
logprobs, a chunk carries those of the tokens streamed whole by then; the last
chunk of a choice carries the rest.
"""

from __future__ import annotations

import time

from textgen_core.serve import answers as fmt
from textgen_core.serve.choices import Choice
from textgen_core.serve.metrics import Metrics
from textgen_core.serve.schema import ApiError


class _Chunks:
    kind = ""
    route = ""

    def __init__(self, body, tokenizer, choices: list[Choice]) -> None:
        self.body, self.tokenizer = body, tokenizer
        self.ident, self.created = fmt.new_id(self.prefix), int(time.time())
        self.reported = [0] * len(choices)  # logprob entries sent, per choice
        self.streamed = [0] * len(choices)  # characters of new text sent, per choice

    def chunk(self, entries: list[dict]) -> dict:
        chunk = fmt.chunk(self.kind, self.ident, self.created, self.body.model, entries)
        if self.body.include_usage:
            chunk["usage"] = None  # filled in the last chunk only
        return chunk


class CompletionChunks(_Chunks):
    kind, prefix, route = "completion", "cmpl", "/v1/completions"

    def __init__(self, body, tokenizer, choices: list[Choice], echoed: list[str]) -> None:
        super().__init__(body, tokenizer, choices)
        self.echoed = echoed

    def _entry(self, choice: Choice, text: str, finish: str | None, echo: bool = False) -> dict:
        i, logprobs = choice.index, None
        self.streamed[i] += 0 if echo else len(text)
        if self.body.logprobs is not None:
            limit = None if finish else self.streamed[i]
            logprobs = fmt.completion_logprobs(
                self.tokenizer, choice, self.body.echo, self.reported[i], limit
            )
            self.reported[i] += len(logprobs["tokens"])
        return {"index": i, "text": text, "logprobs": logprobs, "finish_reason": finish}

    def first(self, choice: Choice) -> dict | None:
        if not self.body.echo:
            return None
        return self.chunk([self._entry(choice, self.echoed[choice.index], None, echo=True)])

    def middle(self, choice: Choice, text: str) -> dict:
        return self.chunk([self._entry(choice, text, None)])

    def last(self, choice: Choice) -> dict:
        return self.chunk([self._entry(choice, "", choice.row.finish_reason or "stop")])


class ChatChunks(_Chunks):
    kind, prefix, route = "chat", "chatcmpl", "/v1/chat/completions"

    def _entry(self, choice: Choice, delta: dict, finish: str | None) -> dict:
        i, logprobs = choice.index, None
        self.streamed[i] += len(delta.get("content") or "")
        if self.body.logprobs:
            limit = None if finish else self.streamed[i]
            logprobs = fmt.chat_logprobs(self.tokenizer, choice, self.reported[i], limit)
            self.reported[i] += len(logprobs["content"])
        return {"index": i, "delta": delta, "logprobs": logprobs, "finish_reason": finish}

    def first(self, choice: Choice) -> dict:
        return self.chunk([self._entry(choice, {"role": "assistant", "content": ""}, None)])

    def middle(self, choice: Choice, text: str) -> dict:
        return self.chunk([self._entry(choice, {"content": text}, None)])

    def last(self, choice: Choice) -> dict:
        return self.chunk([self._entry(choice, {}, choice.row.finish_reason or "stop")])


async def stream(chunks: _Chunks, choices: list[Choice], events, metrics: Metrics):
    """The SSE bytes of one answer. A failure after the answer began (its
    status line is sent) comes as an error event before [DONE]."""
    began, status = time.perf_counter(), 200
    try:
        for choice in choices:
            if (first := chunks.first(choice)) is not None:
                yield fmt.sse(first)
        async for choice, text in events:
            yield fmt.sse(chunks.middle(choice, text) if text is not None else chunks.last(choice))
        usage = fmt.usage(choices)
        metrics.counted(usage)
        if chunks.body.include_usage:
            yield fmt.sse({**chunks.chunk([]), "usage": usage})
    except Exception as exc:
        status = 500
        yield fmt.sse(ApiError(500, f"{type(exc).__name__}: {exc}").body())
    finally:
        metrics.answered(chunks.route, status, time.perf_counter() - began)
    yield fmt.sse("[DONE]")
