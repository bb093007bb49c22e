"""The OpenAI API's answers: completion and chat objects, their streamed
chunks, usage counts and log-probabilities, from decoded `Choice`s."""

from __future__ import annotations

import json
import time
import uuid

from textgen_core.serve.choices import Choice


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def sse(data: dict | str) -> bytes:
    """One server-sent event; the stream ends with the event `[DONE]`."""
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()


def usage(choices: list[Choice]) -> dict:
    """Prompt tokens counted once per prompt (not per choice), as OpenAI does."""
    prompts = {id(c.prompt): len(c.prompt) for c in choices}
    prompt = sum(prompts.values())
    completion = sum(len(c.row.new) for c in choices)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _kept(tokenizer, choice: Choice, limit: int | None = None) -> list[tuple[int, str, tuple]]:
    """(token id, its text, its logprobs) of the new tokens whose text starts
    before the end of the returned text (a stop string cuts the rest); with
    `limit` (characters streamed so far), of those whose text was streamed whole."""
    row, kept, offset = choice.row, [], 0
    # copies: while streaming, the batcher's thread is still appending
    for token, logprobs in zip(list(row.new), list(row.token_logprobs), strict=False):
        piece = tokenizer.decode([token])
        if offset >= len(row.text) if limit is None else offset + len(piece) > limit:
            break
        kept.append((token, piece, logprobs))
        offset += len(piece)
    return kept


def completion_logprobs(
    tokenizer, choice: Choice, echo: bool, start: int = 0, limit: int | None = None
) -> dict:
    """The legacy completions `logprobs` object for the tokens from `start` on
    (prompt tokens first when echoed: the first of them has none); `limit` as
    in `_kept`."""
    entries: list[tuple[str, float | None, dict | None]] = []
    if echo:
        first = tokenizer.decode(choice.prompt[:1])
        entries.append((first, None, None))
        for token, (lp, top) in zip(
            choice.prompt[1:], choice.row.prompt_token_logprobs, strict=False
        ):
            entries.append((tokenizer.decode([token]), lp, top))
    entries += [(piece, lp, top) for _, piece, (lp, top) in _kept(tokenizer, choice, limit)]
    entries = entries[start:]
    offsets, offset = [], 0
    for piece, _, _ in entries:
        offsets.append(offset)
        offset += len(piece)
    return {
        "tokens": [piece for piece, _, _ in entries],
        "token_logprobs": [lp for _, lp, _ in entries],
        "top_logprobs": [
            None if top is None else {tokenizer.decode([t]): v for t, v in top.items()}
            for _, _, top in entries
        ],
        "text_offset": offsets,
    }


def chat_logprobs(tokenizer, choice: Choice, start: int = 0, limit: int | None = None) -> dict:
    def entry(token: int, lp: float) -> dict:
        text = tokenizer.decode([token])
        return {"token": text, "logprob": lp, "bytes": list(text.encode())}

    content = []
    for token, _, (lp, top) in _kept(tokenizer, choice, limit)[start:]:
        content.append({**entry(token, lp), "top_logprobs": [entry(t, v) for t, v in top.items()]})
    return {"content": content}


def completion(model: str, tokenizer, choices: list[Choice], texts: list[str], body) -> dict:
    return {
        "id": new_id("cmpl"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": c.index,
                "text": text,
                "logprobs": None
                if body.logprobs is None
                else completion_logprobs(tokenizer, c, body.echo),
                "finish_reason": c.row.finish_reason or "stop",
            }
            for c, text in zip(choices, texts, strict=True)
        ],
        "usage": usage(choices),
    }


def chat(model: str, tokenizer, choices: list[Choice], body) -> dict:
    return {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": c.index,
                "message": {"role": "assistant", "content": c.row.text},
                "logprobs": chat_logprobs(tokenizer, c) if body.logprobs else None,
                "finish_reason": c.row.finish_reason or "stop",
            }
            for c in choices
        ],
        "usage": usage(choices),
    }


def chunk(kind: str, ident: str, created: int, model: str, choices: list[dict]) -> dict:
    obj = "text_completion" if kind == "completion" else "chat.completion.chunk"
    return {"id": ident, "object": obj, "created": created, "model": model, "choices": choices}
