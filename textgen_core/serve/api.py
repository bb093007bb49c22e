"""An OpenAI-compatible HTTP API over textgen's batched decoder, added to any
FastAPI app by one call:

    mount_openai_api(app, {"my-model": "runs/x/model"}, api_key="secret")

adds `GET /v1/models`, `GET /v1/models/{model}`, `POST /v1/completions`,
`POST /v1/chat/completions` (models whose tokenizer has a chat template),
`GET /health` and `GET /metrics` (Prometheus). `textgen serve` builds a
FastAPI app and calls it; the web app calls it on Gradio's server.

Requests from all clients for one model are decoded together (`batching.Batcher`),
so greedy text is the text `textgen generate` gives, and a seeded request
draws from its own generator whoever shares its batch. Errors answer in
OpenAI's shape with 400 (a bad field, named), 401 (no or a wrong key),
404 (unknown model), 413 (prompt too long for the context, or a body over
the server's `max_request_mb`, refused before it is read whole) or 429 with
Retry-After (the model's waiting line is full).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from textgen_core.errors import TextgenError
from textgen_core.serve import answers as fmt
from textgen_core.serve.batching import Batcher, Busy, Server
from textgen_core.serve.choices import check_fits, decode, encode, make_choices
from textgen_core.serve.metrics import Metrics
from textgen_core.serve.schema import ApiError, ChatBody, CompletionBody, parse
from textgen_core.serve.stream import ChatChunks, CompletionChunks, stream

Models = Mapping[str, str] | Callable[[], Mapping[str, str]]
"""Served model names -> what loads them (folder, Hub id, scratch:*), or a function giving that."""


def mount_openai_api(
    app,
    models: Models,
    *,
    api_key: str | None = None,
    server: Server | None = None,
    any_model: bool = False,
) -> None:
    """Add the `/v1` routes, `/health` and `/metrics` to the FastAPI `app`.

    models: {name clients use: folder, Hub id or scratch:*}, or a function
        returning it (asked at each request; GET /v1/models lists it).
    api_key: when set, /v1 and /metrics need `Authorization: Bearer <api_key>`.
    server: the `Server` to decode in (the web app shares its own, so its
        page's and the API's requests batch together); default a new one.
    any_model: also serve names not in `models` that load as a model (as the
        web app's Generate tab does); otherwise they answer 404.

    On a Gradio app, whose FastAPI app only exists inside `launch()`, use
    `textgen_core.app.openai_mount.launch_with_api` instead.
    """
    app.include_router(openai_router(models, api_key=api_key, server=server, any_model=any_model))


def openai_router(
    models: Models,
    *,
    api_key: str | None = None,
    server: Server | None = None,
    any_model: bool = False,
):
    """The routes `mount_openai_api` adds, as a FastAPI `APIRouter`."""
    from fastapi import APIRouter

    api = _Api(models, server or Server(), api_key, any_model)
    router = APIRouter()
    routes = [
        ("/v1/models", "GET", api.list_models),
        ("/v1/models/{model:path}", "GET", api.get_model),
        ("/v1/completions", "POST", api.completions),
        ("/v1/chat/completions", "POST", api.chat_completions),
        ("/metrics", "GET", api.prometheus),
    ]
    for path, method, handler in routes:
        router.add_api_route(path, _answering(api, path, handler), methods=[method])
    router.add_api_route("/health", api.health, methods=["GET"])
    return router


def served_names(sources: list[str]) -> dict[str, str]:
    """Names for `textgen serve MODEL...`: NAME=SOURCE names it; a run's
    `runs/x/model` is `x`; another folder its own name; a Hub id or scratch:* itself."""
    names: dict[str, str] = {}
    for source in sources:
        name, sep, rest = source.partition("=")
        if not sep or not name:
            name, rest = _default_name(source), source
        if name in names:
            raise TextgenError(f"MODEL {source}: the name {name!r} is taken; use NAME={source}")
        names[name] = rest
    return names


def _default_name(source: str) -> str:
    path = Path(source)
    if not path.is_dir():
        return source
    path = path.resolve()
    return path.parent.name if path.name == "model" else path.name


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _answering(api: _Api, route: str, handler):
    """Run `handler`, answering its ApiError (and a TextgenError as a 400) in
    OpenAI's shape, after the key check; count it in /metrics."""

    async def endpoint(request: Request) -> Response:
        began = time.perf_counter()
        try:
            api.check_key(request)
            response = await handler(request)
        except ApiError as exc:
            response = JSONResponse(exc.body(), exc.status, headers=exc.headers)
        except TextgenError as exc:
            response = JSONResponse(ApiError(400, str(exc)).body(), 400)
        except Exception as exc:  # a bug or a failed decode: still an answer in OpenAI's shape
            logging.getLogger(__name__).exception("%s failed", route)
            response = JSONResponse(ApiError(500, f"{type(exc).__name__}: {exc}").body(), 500)
        if isinstance(response, StreamingResponse):
            return response  # counted when the stream ends
        api.metrics.answered(route, response.status_code, time.perf_counter() - began)
        return response

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


class _Api:
    def __init__(self, models: Models, server: Server, api_key: str | None, any_model: bool):
        self.models, self.server, self.api_key, self.any_model = models, server, api_key, any_model
        self.metrics = Metrics(server)
        self.started = int(time.time())

    def listed(self) -> dict[str, str]:
        return dict(self.models() if callable(self.models) else self.models)

    def check_key(self, request: Request) -> None:
        if self.api_key is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            given.strip().encode(), self.api_key.encode()
        ):
            raise ApiError(
                401,
                "missing or wrong API key: send the header `Authorization: Bearer <key>` "
                "(the openai client's api_key)",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def _model_object(self, name: str) -> dict:
        return {"id": name, "object": "model", "created": self.started, "owned_by": "textgen"}

    async def health(self) -> dict:
        """Answers while the server runs (no key needed; it tells nothing else)."""
        return {"status": "ok"}

    async def prometheus(self, request: Request) -> Response:
        """Prometheus text: requests, tokens, queue depth, batch sizes, latency."""
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)

    async def list_models(self, request: Request) -> Response:
        """The served models."""
        data = [self._model_object(name) for name in self.listed()]
        return JSONResponse({"object": "list", "data": data})

    async def get_model(self, request: Request) -> Response:
        """One served model."""
        name = request.path_params["model"]
        if name not in self.listed():
            raise self._unknown(name)
        return JSONResponse(self._model_object(name))

    def _unknown(self, name: str, why: str = "") -> ApiError:
        return ApiError(
            404,
            f"model: {name!r} is not served here{why}; GET /v1/models lists those that are",
            param="model",
            code="model_not_found",
        )

    async def _batcher(self, name: str) -> Batcher:
        listed = self.listed()
        if name not in listed and not self.any_model:
            raise self._unknown(name)
        try:  # loading takes seconds: off the event loop
            return await run_in_threadpool(self.server.batcher, listed.get(name, name))
        except TextgenError as exc:
            raise self._unknown(name, f" ({exc})") from None

    async def _body(self, request: Request, kind):
        raw = await read_limited(request, self.server.config.max_request_bytes)
        try:
            data = json.loads(raw or b"null")
        except ValueError:
            raise ApiError(400, "body: not valid JSON; send a JSON object") from None
        return parse(kind, data)

    async def completions(self, request: Request) -> Response:
        """OpenAI's (legacy) completions: text continuations of a prompt."""
        body = await self._body(request, CompletionBody)
        batcher = await self._batcher(body.model)
        tokenizer, context = batcher.tokenizer, _context(batcher)
        texts = body.prompts()
        prompts = [encode(tokenizer, p) for p in texts]
        for ids in prompts:
            check_fits(ids, body.limit(), context)
        choices = make_choices(body, prompts, [body.limit()] * len(prompts), body.logprobs)
        shown = [t if isinstance(t, str) else tokenizer.decode(t) for t in texts]
        echoed = [shown[c.index // body.n] if body.echo else "" for c in choices]
        events = _queue(batcher, choices)
        if body.stream:
            chunks = CompletionChunks(body, tokenizer, choices, echoed)
            return _sse(chunks, choices, events, self.metrics)
        async for _ in events:
            pass
        texts = [prefix + c.row.text for prefix, c in zip(echoed, choices, strict=True)]
        answer = fmt.completion(body.model, tokenizer, choices, texts, body)
        self.metrics.counted(answer["usage"])
        return JSONResponse(answer)

    async def chat_completions(self, request: Request) -> Response:
        """OpenAI's chat completions, for models whose tokenizer has a chat template."""
        body = await self._body(request, ChatBody)
        batcher = await self._batcher(body.model)
        tokenizer, context = batcher.tokenizer, _context(batcher)
        if not getattr(tokenizer, "chat_template", None):
            raise ApiError(
                400,
                f"model: {body.model} is a plain text model (its tokenizer has no chat "
                "template), so it does not take chat messages; send a prompt to "
                "/v1/completions instead",
                param="model",
                code="model_not_chat",
            )
        messages = [{**m.model_dump(exclude_none=True), "content": m.text()} for m in body.messages]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = encode(tokenizer, text)
        limit = body.limit() or max(1, context - len(ids))
        check_fits(ids, limit, context)
        top = (body.top_logprobs or 0) if body.logprobs else None
        choices = make_choices(body, [ids], [limit], top)
        events = _queue(batcher, choices)
        if body.stream:
            return _sse(ChatChunks(body, tokenizer, choices), choices, events, self.metrics)
        async for _ in events:
            pass
        answer = fmt.chat(body.model, tokenizer, choices, body)
        self.metrics.counted(answer["usage"])
        return JSONResponse(answer)


async def read_limited(request: Request, limit: int) -> bytes:
    """The request's body, or ApiError(413) as soon as it is known to be longer
    than `limit` bytes: from its Content-Length before reading any of it, else
    (a chunked upload) while it streams in, so a large body is never held whole."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, f"{declared} bytes, more")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, "more")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int, size: str) -> ApiError:
    return ApiError(
        413,
        f"body: {size} than this server takes ({limit} bytes, its --max-request-mb); "
        "send a shorter request",
        code="request_too_large",
    )


def _context(batcher: Batcher) -> int:
    from textgen_core.model.loading import context_length

    return context_length(batcher.model)


def _queue(batcher: Batcher, choices):
    try:
        return decode(batcher, choices)
    except Busy as exc:
        raise ApiError(
            429,
            f"{exc}; retry after the seconds in the Retry-After header",
            code="rate_limit_exceeded",
            headers={"Retry-After": "1"},
        ) from None


def _sse(chunks, choices, events, metrics: Metrics) -> StreamingResponse:
    return StreamingResponse(
        stream(chunks, choices, events, metrics), media_type="text/event-stream"
    )
