"""Conversations -> token rows, each token marked as answer or prompt.

A conversation is rendered with the tokenizer's chat template exactly as
`/v1/chat/completions` renders it at serve time (`apply_chat_template`,
tokenized without added special tokens), and the tokens of each answer are
found by rendering the conversation up to that answer twice: as the prompt
for it (`add_generation_prompt=True`: what serve gives the model) and with
the answer. The answer is what the second adds to the first, up to and
including the template's end-of-turn token (`chat_template.end_of_turn_id`;
what a template writes after it, whitespace or the next turn's header, is
never generated, so it is not trained). Every assistant turn is an answer;
system and user turns are prompt.

When each answer, with the prompt before it, begins the tokens of the whole
conversation (true of ChatML, Llama 3 and Gemma 3 templates), the
conversation is one row and every answer in it is trained once. When they don't (Qwen 3's template drops the
empty think block of earlier answers as a conversation grows), each answer
gets a row of its own, in the context serve gives it: the tokens of its
prompt, then its answer. Either way the tokens a trained answer follows are
the tokens serve feeds the model for that conversation.

trl's own masks (`return_assistant_tokens_mask` with its `{% generation %}`
training templates) need a template trl has a patched copy of; of the
families' tokenizers that is Gemma 3's alone, so the rendering-based masks
here serve every template, and are checked against the serve-time tokens by
construction.

A row longer than `max_tokens` is cut after the last answer that fits (a
turn boundary); a conversation whose first answer does not fit is left out.
Both are counted and listed by file and row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from textgen_core.chat_template import end_of_turn_id
from textgen_core.data.tokens import encoder

BATCH_CONVERSATIONS = 512


@dataclass
class ChatTokenized:
    tokens: np.ndarray  # every row's tokens, back to back
    answers: np.ndarray  # bool per token: part of an answer
    offsets: np.ndarray  # row r is tokens[offsets[r]:offsets[r + 1]]
    row_conversation: np.ndarray  # conversation index of each row
    conversation_sources: np.ndarray  # file index of each conversation
    files: list[str]
    cut: list[tuple[str, int]] = field(default_factory=list)  # (file, row) cut at a turn
    left_out: list[tuple[str, int, str]] = field(default_factory=list)  # (file, row, why)

    def row(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        start, stop = self.offsets[r], self.offsets[r + 1]
        return self.tokens[start:stop], self.answers[start:stop]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def conversations(self) -> int:
        return len(self.conversation_sources)

    def stats(self) -> dict[str, dict]:
        """Per file with conversations: examples (conversations used), prompt
        and answer tokens over all its rows, and the rows cut at a turn."""
        rows_file = self.conversation_sources[self.row_conversation]
        token_file = np.repeat(rows_file, self.lengths)
        n = len(self.files)
        answers = np.bincount(token_file, weights=self.answers, minlength=n)
        total = np.bincount(token_file, minlength=n)
        examples = np.bincount(self.conversation_sources, minlength=n)
        return {
            path: {
                "examples": int(examples[i]),
                "prompt_tokens": int(total[i] - answers[i]),
                "answer_tokens": int(answers[i]),
                "cut_rows": [row for p, row in self.cut if p == path],
            }
            for i, path in enumerate(self.files)
            if examples[i]
        }


@dataclass
class _Plan:
    """What to tokenize for one conversation: the texts its rows are made of
    (see `_rows`)."""

    path: str
    row: int
    full: str | None  # the whole conversation (None with a single answer)
    prompts: list[str]  # per answer: the conversation up to it, with the answer prompt
    throughs: list[str]  # per answer: the conversation through it (end of turn included)

    @property
    def texts(self) -> list[str]:
        return [*self.prompts, *self.throughs, *([self.full] if self.full else [])]


def _plan(path: str, row: int, messages: list[dict], tokenizer) -> _Plan:
    """The texts of one conversation; ValueError when its answers can't be
    told apart from what the template renders around them."""

    def render(upto: int, prompt: bool) -> str:
        return tokenizer.apply_chat_template(
            messages[:upto], tokenize=False, add_generation_prompt=prompt
        )

    answers = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    try:
        prompts = [render(i, True) for i in answers]
        throughs = [render(i + 1, False).rstrip() for i in answers]
        full = render(len(messages), False) if len(answers) > 1 else None
    except Exception as exc:  # jinja2's TemplateError, or an exception the template raises
        raise ValueError(f"the chat template refuses it ({exc})") from None
    if not all(t.startswith(p) for p, t in zip(prompts, throughs, strict=True)):
        raise ValueError(
            "the chat template renders the conversation before an answer differently once "
            "the answer follows, so the answer can't be told apart"
        )
    return _Plan(path, row, full, prompts, throughs)


def _starts(short: list[int], long: list[int]) -> bool:
    return len(short) <= len(long) and long[: len(short)] == short


def _turn_end(ids: list[int], start: int, end_of_turn: int | None) -> int:
    """Where the answer that starts at `start` ends: after the first
    end-of-turn token from there on (else at the end of `ids`)."""
    if end_of_turn is not None and end_of_turn in ids[start:]:
        return ids.index(end_of_turn, start) + 1
    return len(ids)


def _rows(plan: _Plan, ids: dict[str, list[int]], encode, end_of_turn: int | None) -> list:
    """(token ids, answer spans [(start, stop)]) of each row of a conversation."""
    rows = []
    for k, text in enumerate(plan.prompts):
        p, t = ids[text], ids[plan.throughs[k]]
        if not _starts(p, t):  # the answer's first token merged with the prompt's last
            t = p + encode([plan.throughs[k][len(text) :]])[0]
        end = _turn_end(t, len(p), end_of_turn)
        rows.append((t[:end], [(len(p), end)]))
    whole = ids[plan.full] if plan.full is not None else rows[-1][0]
    if all(_starts(row, whole) for row, _ in rows):  # one row holds every answer
        return [(whole[: rows[-1][1][0][1]], [spans[0] for _, spans in rows])]
    return rows


def _fit(row: list[int], spans: list, limit: int):
    """(row, spans) cut after the last answer that ends within `limit`
    tokens, or None when the first one doesn't."""
    kept = [span for span in spans if span[1] <= limit]
    if not kept:
        return None
    return row[: kept[-1][1]], kept


def _batches(corpus, size: int) -> Iterator[list[tuple[str, int, list[dict]]]]:
    batch = []
    for item in corpus.conversations():
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def tokenize_conversations(corpus, tokenizer, max_tokens: int) -> ChatTokenized:
    """Every usable conversation of `corpus` as rows of at most `max_tokens`
    tokens (the tokenizer must have a chat template)."""
    encode = encoder(tokenizer)
    end_of_turn = end_of_turn_id(tokenizer)
    files = corpus.files_used
    index = {path: i for i, path in enumerate(files)}
    dtype = np.uint16 if len(tokenizer) <= 1 << 16 else np.int32
    out = ChatTokenized(*[None] * 5, files=files)
    parts, masks, row_conv, conv_src = [], [], [], []
    for batch in _batches(corpus, BATCH_CONVERSATIONS):
        plans = []
        for path, row, messages in batch:
            try:
                plans.append(_plan(path, row, messages, tokenizer))
            except ValueError as exc:
                out.left_out.append((path, row, str(exc)))
        texts = list(dict.fromkeys(t for plan in plans for t in plan.texts))
        ids = dict(zip(texts, encode(texts), strict=True))
        for plan in plans:
            rows = _rows(plan, ids, encode, end_of_turn)
            kept = [f for f in (_fit(r, spans, max_tokens) for r, spans in rows) if f]
            if not kept:
                why = f"longer than --chunk-size {max_tokens} tokens up to its first answer"
                out.left_out.append((plan.path, plan.row, why))
                continue
            if sum(len(s) for _, s in kept) < sum(len(s) for _, s in rows):
                out.cut.append((plan.path, plan.row))
            for row, spans in kept:
                mask = np.zeros(len(row), bool)
                for start, stop in spans:
                    mask[start:stop] = True
                parts.append(np.asarray(row, dtype))
                masks.append(mask)
                row_conv.append(len(conv_src))
            conv_src.append(index[plan.path])
    out.tokens = np.concatenate(parts) if parts else np.zeros(0, dtype)
    out.answers = np.concatenate(masks) if masks else np.zeros(0, bool)
    out.offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
    out.row_conversation = np.asarray(row_conv, np.int64)
    out.conversation_sources = np.asarray(conv_src, np.int32)
    return out
