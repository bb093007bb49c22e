"""Prompt/answer and chat records: which format a table holds, and each row as
a conversation (OpenAI's list of `{"role", "content"}` messages).

A table's format is told by its columns (the keys of its JSON records):

| format | columns | conversation |
| --- | --- | --- |
| `messages` | `messages`: [{role, content}] | as given (system, user, assistant turns) |
| `sharegpt` | `conversations`: [{from, value}] | from: system / human / gpt |
| `prompt-completion` | `prompt`, `completion` (`--prompt-column`, `--response-column`) | user: prompt, assistant: completion |
| `alpaca` | `instruction`, `output`, optional `input` | user: instruction (+ a blank line and the input), assistant: output |
| `text` | anything else | none: the `text` column is plain text, as before |

A row that cannot be a conversation (a field missing, roles out of order, an
empty answer) raises `BadRow` with the reason; its file skips it and uses the
rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

TEXT = "text"
CHAT_FORMATS = ("messages", "sharegpt", "prompt-completion", "alpaca")
"""The formats that become conversations, in the order detection tries them."""

LABELS = {
    TEXT: "text",
    "messages": "chat (messages)",
    "sharegpt": "chat (ShareGPT conversations)",
    "prompt-completion": "prompt/completion",
    "alpaca": "Alpaca (instruction/output)",
}
"""How each format is named to people."""


def counted(fmt: str, rows: int) -> str:
    """`12 texts`, `messages, 40 conversations`, `alpaca, 1 pair`."""
    if fmt == TEXT:
        return f"{rows} text{'s' if rows != 1 else ''}"
    unit = "conversation" if fmt in ("messages", "sharegpt") else "pair"
    return f"{fmt}, {rows} {unit}{'s' if rows != 1 else ''}"


# ShareGPT's speaker names -> OpenAI's roles. trl's `maybe_convert_to_chatml`
# renames the keys but keeps ShareGPT's speaker names (human, gpt), which chat
# templates reject, so the mapping is written here.
_SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
}


class BadRow(ValueError):
    """A row that cannot become a conversation; the message says why."""


@dataclass(frozen=True)
class Columns:
    """Where the prompt and the answer are in prompt/completion tables."""

    prompt: str = "prompt"
    response: str = "completion"

    @classmethod
    def of(cls, data) -> Columns:
        """The columns a DataConfig names."""
        return cls(data.prompt_column, data.response_column)


def detect(columns: Iterable[str], names: Columns = Columns()) -> str:
    """The format of a table with these columns (see the module docstring)."""
    present = set(columns)
    if "messages" in present:
        return "messages"
    if "conversations" in present:
        return "sharegpt"
    if {names.prompt, names.response} <= present:
        return "prompt-completion"
    if {"instruction", "output"} <= present:
        return "alpaca"
    return TEXT


def conversation(record, fmt: str, names: Columns = Columns()) -> list[dict]:
    """The messages of one row of a table in format `fmt`; BadRow when the row
    has none that can be trained on."""
    if not isinstance(record, dict):
        raise BadRow(f"not a JSON object but {type(record).__name__}")
    if fmt == "messages":
        messages = [_message(m, "role", "content", i) for i, m in enumerate(_turns(record, fmt))]
    elif fmt == "sharegpt":
        messages = [_sharegpt(m, i) for i, m in enumerate(_turns(record, fmt))]
    elif fmt == "prompt-completion":
        messages = [
            {"role": "user", "content": _text(record, names.prompt)},
            {"role": "assistant", "content": _answer(record, names.response)},
        ]
    elif fmt == "alpaca":
        prompt = _text(record, "instruction")
        extra = record.get("input")
        if extra is not None and not isinstance(extra, str):
            raise BadRow(f"'input' is {type(extra).__name__}, not text")
        if extra and extra.strip():
            prompt = f"{prompt}\n\n{extra}"
        messages = [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": _answer(record, "output")},
        ]
    else:
        raise ValueError(f"not a conversation format: {fmt}")
    check_roles(messages)
    return messages


def check_roles(messages: list[dict]) -> None:
    """Roles must run: an optional system message, then user and assistant
    turns taking turns, starting with a user and ending with an assistant
    whose answer is not empty."""
    roles = [m["role"] for m in messages]
    body = roles[1:] if roles[:1] == ["system"] else roles
    if not body:
        raise BadRow("no user or assistant message")
    for i, role in enumerate(body):
        expected = "user" if i % 2 == 0 else "assistant"
        if role != expected:
            where = i + len(roles) - len(body)
            raise BadRow(
                f"roles out of order: message {where} is {role!r} where {expected!r} was "
                "expected (an optional system message, then user and assistant in turn)"
            )
    if body[-1] != "assistant":
        raise BadRow("ends with a user message that has no answer")
    for i, m in enumerate(messages):
        if m["role"] == "assistant" and not m["content"].strip():
            raise BadRow(f"empty answer (message {i})")


def _turns(record: dict, fmt: str) -> list:
    key = "messages" if fmt == "messages" else "conversations"
    turns = record.get(key)
    if turns is None:
        raise BadRow(f"no '{key}' field")
    if not isinstance(turns, list):
        raise BadRow(f"'{key}' is {type(turns).__name__}, not a list of messages")
    return turns


def _message(item, role_key: str, content_key: str, index: int) -> dict:
    if not isinstance(item, dict):
        raise BadRow(f"message {index} is {type(item).__name__}, not an object")
    role, content = item.get(role_key), item.get(content_key)
    if not isinstance(role, str):
        raise BadRow(f"message {index} has no '{role_key}'")
    if not isinstance(content, str):
        raise BadRow(f"message {index} has no text '{content_key}'")
    if role not in ("system", "user", "assistant"):
        raise BadRow(f"message {index}: role {role!r} is not system, user or assistant")
    return {"role": role, "content": content}


def _sharegpt(item, index: int) -> dict:
    if isinstance(item, dict) and isinstance(item.get("from"), str):
        item = {**item, "from": _SHAREGPT_ROLES.get(item["from"].lower(), item["from"])}
    return _message(item, "from", "value", index)


def _text(record: dict, key: str) -> str:
    value = record.get(key)
    if value is None:
        raise BadRow(f"no '{key}' field")
    if not isinstance(value, str):
        raise BadRow(f"'{key}' is {type(value).__name__}, not text")
    return value


def _answer(record: dict, key: str) -> str:
    value = _text(record, key)
    if not value.strip():
        raise BadRow(f"empty answer ('{key}')")
    return value
