"""Kept so that `from textgen_core.modeling import load_for_inference`, the Python
API documented before the `model` package existed, still works."""

from textgen_core.model.loading import load_for_inference, load_model, load_tokenizer

__all__ = ["load_for_inference", "load_model", "load_tokenizer"]
