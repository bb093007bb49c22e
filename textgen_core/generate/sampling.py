"""Text from a prompt: sampling or greedy, streaming, stop strings."""

from __future__ import annotations

from collections.abc import Iterator
from threading import Thread

from textgen_core.config import GenerateConfig
from textgen_core.data.tokens import or_start_token, with_start
from textgen_core.errors import TextgenError
from textgen_core.generate.decode_threads import decoding_threads
from textgen_core.model.loading import context_length


def prompt_ids(model, tokenizer, prompt: str, cfg: GenerateConfig):
    """A prompt's ids as training documents begin: after the tokenizer's start ids
    (Gemma's and Llama 3's BOS), never with its end token; an empty prompt of a
    tokenizer without start ids starts from its BOS, else its EOS."""
    import torch

    text_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = or_start_token(tokenizer, with_start(tokenizer, text_ids))
    if not ids:
        raise TextgenError("prompt: empty, and the model has no start token; give a prompt")
    ids = torch.tensor([ids])
    limit = context_length(model)
    if ids.shape[1] + cfg.max_new_tokens > limit:
        raise TextgenError(
            f"max_new_tokens: prompt ({ids.shape[1]} tokens) + {cfg.max_new_tokens} new tokens "
            f"exceeds the model's context of {limit}; shorten the prompt or ask for fewer tokens"
        )
    return ids.to(next(model.parameters()).device)


def _generate_kwargs(model, tokenizer, cfg: GenerateConfig) -> dict:
    kwargs = dict(
        max_new_tokens=cfg.max_new_tokens,
        repetition_penalty=cfg.repetition_penalty,
        num_return_sequences=cfg.num_return_sequences,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=cfg.temperature > 0,
    )
    if cfg.temperature > 0:
        kwargs.update(temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p)
    else:
        # Greedy: unset the sampling knobs the saved generation config may hold.
        kwargs.update(temperature=None, top_k=None, top_p=None)
    if cfg.stop:
        kwargs.update(stop_strings=cfg.stop, tokenizer=tokenizer)
    return kwargs


def cut_at_stop(text: str, stop: list[str]) -> str:
    """The text before the first stop string."""
    cuts = [text.find(s) for s in stop if s and s in text]
    return text[: min(cuts)] if cuts else text


def _prepare(model, tokenizer, prompt: str, cfg: GenerateConfig):
    import torch

    cfg.validate()
    ids = prompt_ids(model, tokenizer, prompt, cfg)
    if cfg.seed is not None:
        torch.manual_seed(cfg.seed)
    return ids, _generate_kwargs(model, tokenizer, cfg)


def generate(model, tokenizer, prompt: str, cfg: GenerateConfig) -> list[str]:
    """`cfg.num_return_sequences` continuations of `prompt` (prompt not included)."""
    import torch

    ids, kwargs = _prepare(model, tokenizer, prompt, cfg)
    with torch.inference_mode(), decoding_threads(model):
        out = model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
    texts = tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)
    return [cut_at_stop(t, cfg.stop) for t in texts]


def stream(model, tokenizer, prompt: str, cfg: GenerateConfig) -> Iterator[str]:
    """Yield pieces of one continuation as they are generated, stopping before
    any stop string (text that could start one is held back until it can't)."""
    import torch
    from transformers import TextIteratorStreamer

    if cfg.num_return_sequences != 1:
        raise TextgenError("num_return_sequences: streaming produces one sequence at a time")
    ids, kwargs = _prepare(model, tokenizer, prompt, cfg)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)

    failure: list[BaseException] = []

    def run():
        try:
            with torch.inference_mode(), decoding_threads(model):
                model.generate(
                    ids, attention_mask=torch.ones_like(ids), streamer=streamer, **kwargs
                )
        except BaseException as exc:  # re-raised in the caller's thread below
            failure.append(exc)
            streamer.end()

    worker = Thread(target=run, daemon=True)
    worker.start()
    hold = max((len(s) for s in cfg.stop), default=1) - 1
    text, sent, stopped = "", 0, False
    for piece in streamer:
        if stopped:  # drain what the worker still produces, so it can finish
            continue
        text += piece
        cut = cut_at_stop(text, cfg.stop)
        stopped = len(cut) < len(text)
        safe = len(cut) if stopped else len(text) - hold
        if safe > sent:
            yield text[sent:safe]
            sent = safe
    if not stopped and len(text) > sent:
        yield text[sent:]
    worker.join()
    if failure:
        raise failure[0]
