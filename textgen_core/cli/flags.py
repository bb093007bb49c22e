"""Command-line flags derived from the settings dataclasses in `config.py`.

Each dataclass field is one flag: its name gives the flag (`lr` -> `--lr`, a
nested `LoraConfig.r` -> `--lora-r`), its type the parser, its default the
default, and its docstring the help. `field(metadata=...)` covers the few
flags whose shape differs (`--no-merge`, comma lists, `0 = never`), and the
old names a renamed flag still answers to for one release (`aliases`).

Written by hand rather than with jsonargparse or HfArgumentParser: those name
nested fields `--data.chunk_size` / need `metadata={"help": ...}` on every
field, and textgen's flag names are a public contract; this module is also
stdlib only, so `textgen --help` stays instant.

Flags are parsed with `argparse.SUPPRESS` defaults, so a flag appears in the
namespace only when the user typed it: `--config FILE` then sits between the
dataclass defaults and the flags actually given, even a flag given with its
default value.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing

from textgen_core.config import field_docs


@dataclasses.dataclass(frozen=True)
class Flag:
    """One flag: where its value goes in the settings dict (`path`), the words
    its name is made of (`words`: a flattened parent adds none), its type."""

    path: tuple[str, ...]
    words: tuple[str, ...]
    field: dataclasses.Field
    hint: object
    help: str

    @property
    def name(self) -> str:
        return self.field.metadata.get("flag") or "--" + "-".join(self.words).replace("_", "-")

    @property
    def dest(self) -> str:
        return ".".join(self.path)

    @property
    def is_switch(self) -> bool:
        return bool(self.field.metadata.get("switch")) or _scalar(self.hint) is bool


def flags_of(cls: type, path: tuple[str, ...] = (), words: tuple[str, ...] = ()) -> list[Flag]:
    """Every flag of a settings dataclass, nested settings included. A nested
    dataclass field marked `metadata={"flatten": True}` adds no words to its
    flags' names; one marked `{"switch": True}` is also a flag that turns it on
    (`--lora`); `{"cli": False}` is no flag."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("cli") is False:
            continue
        here, said = (*path, f.name), (*words, f.name)
        inner = _dataclass_in(hints[f.name])
        if inner is None or f.metadata.get("switch"):
            out.append(Flag(here, said, f, hints[f.name], docs.get(f.name, "")))
        if inner is not None:
            out.extend(flags_of(inner, here, words if f.metadata.get("flatten") else said))
    return out


def _dataclass_in(hint) -> type | None:
    options = typing.get_args(hint) if _is_union(hint) else (hint,)
    return next((t for t in options if dataclasses.is_dataclass(t)), None)


def _is_union(hint) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _scalar(hint):
    if _is_union(hint):
        return next(t for t in typing.get_args(hint) if t is not type(None))
    return hint


def add_flags(
    parser: argparse.ArgumentParser, cls: type, defaults=None, only: tuple[str, ...] = ()
) -> None:
    """Add the flags of `cls` to `parser` (with `only`, those of these fields);
    `defaults` (an instance) fills the help."""
    defaults = defaults if defaults is not None else cls()
    for flag in flags_of(cls):
        if only and flag.dest not in only:
            continue
        meta = flag.field.metadata
        kwargs: dict = {"dest": flag.dest, "default": argparse.SUPPRESS}
        shown = ""
        if flag.is_switch:
            kwargs["action"] = "store_false" if meta.get("invert") else "store_true"
        elif meta.get("append"):  # a repeatable flag filling a list
            kwargs["action"] = "append"
            kwargs["metavar"] = meta.get("metavar") or flag.path[-1].upper()
        else:
            kwargs["type"] = _parser_of(flag.hint)
            kwargs["metavar"] = meta.get("metavar") or flag.path[-1].upper()
            if meta.get("choices"):
                kwargs["choices"], kwargs["metavar"] = meta["choices"], None
            default = _default_at(defaults, flag.path)
            shown = "" if default in (None, [], "") else f" (default {_shown(default)})"
        text = (meta.get("help") or flag.help).rstrip(".")
        kwargs["help"] = (text + shown).replace("%", "%%")
        parser.add_argument(flag.name, **kwargs)
        for old in meta.get("aliases", ()):
            hidden = {**kwargs, "help": argparse.SUPPRESS, "action": _renamed(flag.name)}
            parser.add_argument(old, **hidden)


def _renamed(new: str) -> type[argparse.Action]:
    """A flag's old name: it sets the same value, and says the new name."""

    class OldName(argparse._StoreAction):
        def __call__(self, parser, namespace, values, option_string=None):
            print(
                f"note: {option_string} is now {new}; the old name will be removed in a "
                "later release",
                file=sys.stderr,
            )
            super().__call__(parser, namespace, values, option_string)

    return OldName


def _default_at(obj, path: tuple[str, ...]):
    """The default under `path`; an optional nested setting that is off by
    default (TrainConfig.lora) shows its own class's defaults."""
    for name in path:
        if obj is None:
            return None
        hint = typing.get_type_hints(type(obj))[name]
        obj = getattr(obj, name)
        inner = _dataclass_in(hint)
        if obj is None and inner is not None:
            obj = inner()
    return obj


def _parser_of(hint):
    base = _scalar(hint)
    if typing.get_origin(base) is list:
        return lambda text: [part.strip() for part in text.split(",") if part.strip()]
    return base


def _shown(value) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)


def settings(args: argparse.Namespace, cls: type):
    """The `cls` instance of the flags typed: each field typed, else its default."""
    return _build(cls, given(args, cls))


def _build(cls: type, values: dict):
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        inner = _dataclass_in(hints[name])
        kwargs[name] = _build(inner, value) if inner and isinstance(value, dict) else value
    return cls(**kwargs)


def given(args: argparse.Namespace, cls: type) -> dict:
    """The settings the user typed, as a nested dict shaped like
    `dataclasses.asdict(cls())`; flags not typed are absent (argparse.SUPPRESS).
    A switch (`--lora`) given becomes an empty dict its sub-flags fill."""
    values = vars(args)
    out: dict = {}
    for flag in flags_of(cls):
        if flag.dest not in values:
            continue
        value = values[flag.dest]
        if flag.field.metadata.get("zero_is_none") and value == 0:
            value = None
        if flag.field.metadata.get("switch"):
            value = out.get(flag.path[-1], {}) if value else None
        target = out
        for name in flag.path[:-1]:
            target = target.setdefault(name, {})
        if isinstance(target.get(flag.path[-1]), dict) and isinstance(value, dict):
            continue  # sub-flags already filled it
        target[flag.path[-1]] = value
    return out
