"""The OpenAI-compatible `/v1` API on a Gradio app's own server.

Gradio builds its FastAPI app inside `launch()`, so the routes are added
right after it starts and before the main thread blocks: a Space, a
`--share` link or a plain `python app.py` then answers `/v1` on the same
port as the page, behind the same key.
"""

from __future__ import annotations

from textgen_core.app.jobs import JobStore
from textgen_core.generate.openai_api import Models, mount_openai_api
from textgen_core.generate.serving import Server


def trained_models(store: JobStore) -> Models:
    """The models trained in the app, by job id (what the Generate tab lists)."""

    def listed() -> dict[str, str]:
        return {
            job["id"]: str(store.run_dir(job["id"]) / "model")
            for job in store.list_jobs()
            if job["state"] == "completed" and job["kind"] == "train"
        }

    return listed


def launch_with_api(
    blocks,
    models: Models,
    *,
    api_key: str | None = None,
    server: Server | None = None,
    any_model: bool = False,
    **launch_kwargs,
) -> None:
    """`blocks.launch(**launch_kwargs)` with `mount_openai_api(...)` on its
    server (see there for the arguments); returns when the server stops."""
    blocks.launch(prevent_thread_lock=True, **launch_kwargs)
    mount_openai_api(blocks.server_app, models, api_key=api_key, server=server, any_model=any_model)
    blocks.block_thread()
