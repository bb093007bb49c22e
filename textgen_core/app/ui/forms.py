"""The app's form and API values, checked: bad ones become a `gr.Error` naming the field."""

from __future__ import annotations

import contextlib
import re

import gradio as gr

from textgen_core.config import DataConfig, GenerateConfig, LoraConfig, TrainConfig, field_docs
from textgen_core.errors import TextgenError
from textgen_core.families import FAMILIES

MODEL_HINT = (
    "distilgpt2, scratch:tiny, scratch:distilgpt2, a Hub id (tested families: "
    + ", ".join(f.examples[0] for f in FAMILIES.values() if f.model_type != "gpt2")
    + ", ...), or a local model folder"
)
_FLAG_FIELDS = {"lr": "learning_rate"}


def setting(settings, name: str, label: str, **kwargs) -> gr.Number:
    """A number box for one field of a settings dataclass: its value is the
    dataclass default and its hint the field's docstring, as for the CLI flag."""
    kind = settings if isinstance(settings, type) else type(settings)
    default = getattr(settings if not isinstance(settings, type) else settings(), name)
    if isinstance(default, int) and "precision" not in kwargs:
        kwargs["precision"] = 0
    return gr.Number(value=default, label=label, info=field_docs(kind).get(name), **kwargs)


def user_error(exc: TextgenError) -> gr.Error:
    """The core's message with its flag (`--top-k: ...`) named as the app field (`top_k: ...`)."""

    def field(match: re.Match) -> str:
        name = match.group(1).replace("-", "_")
        return _FLAG_FIELDS.get(name, name)

    return gr.Error(re.sub(r"^--([a-z-]+)", field, str(exc)), print_exception=False)


@contextlib.contextmanager
def shown_to_user():
    """A TextgenError raised inside reaches the page (or API caller) as its
    one-line message, with the flag named as the app's field."""
    try:
        yield
    except TextgenError as exc:
        raise user_error(exc) from None


def number(name: str, value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{name}: must be a number, got {value!r}", print_exception=False) from None


def whole(name: str, value) -> int:
    parsed = number(name, value)
    if not parsed.is_integer():
        raise gr.Error(f"{name}: must be a whole number, got {value!r}", print_exception=False)
    return int(parsed)


def doc_separator(value) -> str | None:
    """The form's document separator: None when left empty."""
    return value if isinstance(value, str) and value.strip() else None


_TRAIN = TrainConfig()


def train_config(
    model,
    epochs,
    batch_size,
    lr,
    chunk_size,
    use_lora,
    warmup=_TRAIN.warmup_ratio,
    seed=_TRAIN.seed,
    separator=None,
    precision=_TRAIN.precision,
    time_budget=None,
):
    """The TrainConfig of the form's (or the API's) values."""
    if not (model or "").strip():
        raise gr.Error(f"model: give a base model ({MODEL_HINT})", print_exception=False)
    seed = whole("seed", seed)
    return TrainConfig(
        model=model.strip(),
        epochs=number("epochs", epochs),
        batch_size=whole("batch_size", batch_size),
        lr=number("learning_rate", lr),
        warmup_ratio=number("warmup", warmup),
        seed=seed,
        lora=LoraConfig() if use_lora else None,
        data=DataConfig(
            chunk_size=whole("chunk_size", chunk_size),
            seed=seed,
            doc_separator=doc_separator(separator),
        ),
        precision=precision or _TRAIN.precision,
        time_budget=(time_budget or "").strip() or None,
    )


def generate_config(max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed, cap):
    """A validated GenerateConfig; a negative or empty seed means unseeded."""
    seed = None if seed is None or seed == "" else whole("seed", seed)
    cfg = GenerateConfig(
        max_new_tokens=whole("max_new_tokens", max_new_tokens),
        temperature=number("temperature", temperature),
        top_k=whole("top_k", top_k),
        top_p=number("top_p", top_p),
        repetition_penalty=number("repetition_penalty", repetition_penalty),
        seed=None if seed is None or seed < 0 else seed,
    )
    if not 1 <= cfg.max_new_tokens <= cap:
        raise gr.Error(
            f"max_new_tokens: must be between 1 and {cap} here, got {cfg.max_new_tokens}",
            print_exception=False,
        )
    with shown_to_user():
        cfg.validate()
    return cfg
