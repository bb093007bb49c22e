"""The Gradio web app (`python app.py`): forms, rendering, handlers and tabs."""

from textgen_core.app.ui.tabs import build_app

__all__ = ["build_app"]
