"""The chat template a model is trained, served and exported with.

A tokenizer that has a chat template (Qwen, Llama 3, Gemma 3 ...) keeps its
own. One without (GPT-2, `scratch:*`) gets textgen's minimal template,
ChatML: each message is

    <|im_start|>{role}
    {content}<|im_end|>

followed by a newline, and the prompt for an answer ends with
`<|im_start|>assistant` and a newline. `<|im_start|>` and `<|im_end|>` are
added to the tokenizer as special tokens (so they are single tokens that
user text cannot split), and the template is saved with the tokenizer, so
plain `transformers` `apply_chat_template` works on the saved model, and
llama.cpp and Ollama, which know ChatML, read it too. ChatML rather than a
new format because those runtimes recognise it by name and stop at
`<|im_end|>` on their own.

The token that ends an assistant turn (`end_of_turn_id`) is a stop token of
generation besides the end-of-text token.
"""

from __future__ import annotations

START, END = "<|im_start|>", "<|im_end|>"
MINIMAL_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
"""textgen's minimal template (ChatML), for tokenizers that have none."""

_SENTINEL = "\u2063textgen-answer\u2063"


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def ensure_chat_template(tokenizer) -> bool:
    """Give `tokenizer` textgen's minimal template (and its two special
    tokens) unless it has a chat template; True when it was added."""
    if has_chat_template(tokenizer):
        return False
    tokenizer.add_special_tokens({"additional_special_tokens": [START, END]})
    tokenizer.chat_template = MINIMAL_TEMPLATE
    return True


def end_of_turn_id(tokenizer) -> int | None:
    """The special token the chat template puts right after an answer
    (`<|im_end|>`, `<|eot_id|>`, `<end_of_turn>`), or None."""
    if not has_chat_template(tokenizer):
        return None
    messages = [{"role": "user", "content": "x"}, {"role": "assistant", "content": _SENTINEL}]
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False)
    except Exception:  # a template that refuses this conversation: no turn end to find
        return None
    after = text.split(_SENTINEL, 1)[-1] if _SENTINEL in text else ""
    special = set(tokenizer.all_special_ids) | set(tokenizer.get_added_vocab().values())
    for token in tokenizer(after, add_special_tokens=False)["input_ids"]:
        if token in special:
            return token
    return None


def stop_ids(tokenizer) -> list[int]:
    """The token ids generation stops at: end-of-text, and the end of an
    assistant turn when the tokenizer has a chat template."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    turn = end_of_turn_id(tokenizer)
    return ids + ([turn] if turn is not None and turn not in ids else [])


def chat_prompt(tokenizer, message: str, system: str | None = None) -> str:
    """The text a chat model continues to answer `message` (after `system`),
    rendered with its template as `/v1/chat/completions` renders it."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": message})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
