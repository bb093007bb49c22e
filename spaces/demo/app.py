"""A demo of one model fine-tuned with textgen, as a Hugging Face Space.

`textgen deploy-space USER/SPACE --model USER/MODEL` uploads this file, the
textgen_core package and textgen_demo.json, which names the model and the commit
to serve. The Space runs `python app.py`; so can you, in a copy of the Space.
The address and port come from GRADIO_SERVER_NAME and GRADIO_SERVER_PORT (the
Space sets them), a login from the secret TEXTGEN_AUTH (USER:PASS) if there is one.
The same server answers the OpenAI-compatible /v1 API for the model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from textgen_core.app.demo import DemoModel, build_demo
from textgen_core.app.openai_mount import launch_with_api

SETTINGS = Path(__file__).with_name("textgen_demo.json")


def main() -> None:
    settings = json.loads(SETTINGS.read_text(encoding="utf-8"))
    model = DemoModel(settings["model"], settings["revision"])
    app = build_demo(model)
    login = os.environ.get("TEXTGEN_AUTH", "")
    auth = tuple(login.split(":", 1)) if ":" in login else None
    launch_with_api(  # the page, and the OpenAI-compatible /v1 API serving this one model
        app.queue(max_size=64),
        {model.model_id: model.model_id},
        api_key=login or None,
        server=model.server,
        auth=auth,
        show_error=True,
    )


if __name__ == "__main__":
    main()
