"""The OpenAI API's request bodies, checked, and its error answer.

pydantic checks types (strictly: `"0.5"` is not a number, `1.0` not a count)
and ranges, for completions and chat alike; a failure becomes one `ApiError`
(400) whose message and `param` name the field (`messages.0.role`). Defaults
are OpenAI's (temperature 1, top_p 1, max_tokens 16 for completions), not
textgen's generate defaults; `top_k` and `repetition_penalty` are accepted as
extensions (as vLLM does), off unless given. Fields OpenAI has and textgen
does not implement (tools, response formats, penalties, images...) are
refused by name when set to anything but their neutral value; fields it does
not know are ignored, as clients send fields of newer API versions.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from textgen_core.config import GenerateConfig

MAX_SEED = 2**63 - 1


class ApiError(Exception):
    """An error answer in OpenAI's shape: {"error": {message, type, param, code}}."""

    TYPES = {401: "authentication_error", 429: "rate_limit_error"}

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = headers or {}

    def body(self) -> dict:
        kind = self.TYPES.get(self.status)
        kind = kind or ("invalid_request_error" if self.status < 500 else "server_error")
        return {
            "error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}
        }


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    include_usage: bool = False
    """Send a last chunk with the usage and no choices (and `usage: null` on the others)."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    model: str = Field(min_length=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    n: int = Field(1, ge=1, le=64)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    top_k: int = Field(0, ge=0)
    repetition_penalty: float = Field(1.0, gt=0, le=10)
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict | None = None

    def unsupported(self) -> dict:
        return {
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
            "logit_bias": self.logit_bias or None,
        }

    def check(self) -> None:
        """What OpenAI refuses beyond each field's own type and range."""
        if self.stream_options is not None and not self.stream:
            raise ApiError(
                400, "stream_options: only allowed when stream is true", param="stream_options"
            )

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def stops(self) -> list[str]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return [s for s in stops if s]

    def generate_config(self, max_new_tokens: int, choice: int = 0) -> GenerateConfig:
        """The settings of one choice; choice i of a seeded request uses seed + i,
        so `n` choices differ and each repeats."""
        seed = None if self.seed is None else (self.seed + choice) % (MAX_SEED + 1)
        return GenerateConfig(
            max_new_tokens=max_new_tokens,
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            repetition_penalty=self.repetition_penalty,
            seed=seed,
            stop=self.stops(),
        )


class CompletionBody(_Body):
    prompt: str | list[str] | list[int] | list[list[int]] = ""
    max_tokens: int | None = Field(16, ge=1)
    echo: bool = False
    logprobs: int | None = Field(None, ge=0, le=20)
    best_of: int | None = None
    suffix: str | None = None

    def unsupported(self) -> dict:
        best_of = None if self.best_of in (None, self.n) else self.best_of
        return {**super().unsupported(), "best_of": best_of, "suffix": self.suffix or None}

    def limit(self) -> int:
        return self.max_tokens or 16  # null: OpenAI's default

    def prompts(self) -> list[str | list[int]]:
        """Each prompt: text, or token ids."""
        prompt = self.prompt
        if isinstance(prompt, str):
            return [prompt]
        if prompt and all(isinstance(p, int) for p in prompt):
            return [list(prompt)]
        return list(prompt) or [""]


class Message(BaseModel):
    # name, tool_call_id, ...: passed to the chat template as they are
    model_config = ConfigDict(extra="allow", strict=True)

    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict]
    """The text, or content parts of which only text ones exist here."""

    @field_validator("content")
    @classmethod
    def _text_parts_only(cls, content: str | list[dict]) -> str | list[dict]:
        for i, part in enumerate(content if isinstance(content, list) else []):
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ValueError(
                    f"part {i} is of type {part.get('type')!r}; only text parts "
                    '({"type": "text", "text": ...}) are supported by this server'
                )
        return content

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part["text"] for part in self.content)
        return self.content


class ChatBody(_Body):
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    tools: list | None = None
    tool_choice: str | dict | None = None
    functions: list | None = None
    function_call: str | dict | None = None
    response_format: dict | None = None
    audio: dict | None = None
    modalities: list[str] | None = None
    prediction: dict | None = None
    web_search_options: dict | None = None

    def unsupported(self) -> dict:
        text_only = self.response_format is None or self.response_format.get("type") == "text"
        return {
            **super().unsupported(),
            "tools": self.tools or None,
            "tool_choice": None if self.tool_choice in (None, "none") else self.tool_choice,
            "functions": self.functions or None,
            "function_call": None if self.function_call in (None, "none") else self.function_call,
            "response_format": None if text_only else self.response_format,
            "audio": self.audio,
            "modalities": None if self.modalities in (None, ["text"]) else self.modalities,
            "prediction": self.prediction,
            "web_search_options": self.web_search_options,
        }

    def check(self) -> None:
        super().check()
        if self.top_logprobs is not None and not self.logprobs:
            raise ApiError(400, "top_logprobs: needs logprobs: true", param="top_logprobs")

    def limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


def _field(loc: tuple) -> str:
    """The field's path, without the names pydantic gives the members of a union
    (`prompt.list[int].0` is `prompt.0`)."""
    kept = [str(p) for p in loc if not (isinstance(p, str) and (p in _TYPES or "[" in p))]
    return ".".join(kept) or "body"


_TYPES = {"str", "int", "float", "bool", "dict", "list", "none"}


def parse(kind: type[_Body], data: object) -> _Body:
    """`data` as a `kind` body, or ApiError(400) naming the first bad field."""
    if not isinstance(data, dict):
        raise ApiError(400, "body: send a JSON object", param=None)
    try:
        body = kind.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        field = _field(errors[0]["loc"])
        raise ApiError(400, f"{field}: {_said(errors, field)}", param=field) from None
    for field, value in body.unsupported().items():
        if value not in (None, 0, 0.0):
            raise ApiError(400, f"{field}: not supported by this server; leave it out", param=field)
    body.check()
    return body


def _said(errors: list[dict], field: str) -> str:
    """What is wrong with `field`, the first error's, in a user's words."""
    first = errors[0]
    if first["type"] == "missing":
        return "required"
    if first.get("input", "") is None:
        return "must not be null"
    forms = [_form(e["loc"]) for e in errors if _field(e["loc"]).startswith(field)]
    forms = list(dict.fromkeys(forms))
    if len(forms) > 1 and None not in forms:  # a union: none of its forms fitted
        return f"not any of the accepted forms ({', '.join(forms)})"
    return first["msg"].removeprefix("Value error, ")


def _form(loc: tuple) -> str | None:
    """The member of a union an error is about (`list[int]`), None if not in one."""
    form = next((p for p in loc if isinstance(p, str) and (p in _TYPES or "[" in p)), None)
    return form and form.replace("dict[any,any]", "dict")
