"""Deprecated: use `textgen_core.api` (`from textgen_core.api import
load_for_inference`). Kept for one release so that code written against the
Python API documented before `textgen_core.api` existed still runs."""

import warnings

from textgen_core.model.loading import load_for_inference, load_model, load_tokenizer

warnings.warn(
    "textgen_core.modeling is deprecated; import from textgen_core.api instead",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["load_for_inference", "load_model", "load_tokenizer"]
