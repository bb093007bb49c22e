"""The Gradio web app (`python app.py`): forms, rendering, handlers and tabs."""

from textgen_core.webapp.tabs import build_app

__all__ = ["build_app"]
