"""The OpenAI-compatible `/v1` API on a Gradio app's own server.

Gradio builds its FastAPI app inside `launch()`; the API's routes (and the
login gate) go in through `launch(app_kwargs=...)`, which Gradio hands to
FastAPI, so they exist before the server answers its first request. A Space,
a `--share` link or a plain `python app.py` then answers `/v1` on the same
port as the page.
"""

from __future__ import annotations

from textgen_core.app.jobs import JobStore
from textgen_core.app.login_gate import LoginGate
from textgen_core.serve.api import Models, openai_router
from textgen_core.serve.batching import Server


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
    """`blocks.launch(**launch_kwargs)` with the routes of `mount_openai_api`
    (see there for the arguments) on its server and, with a login (`auth=`),
    every route closed to strangers (`LoginGate`). Blocks like `launch()`."""
    from starlette.middleware import Middleware

    router = openai_router(models, api_key=api_key, server=server, any_model=any_model)
    app_kwargs = dict(launch_kwargs.pop("app_kwargs", None) or {})
    app_kwargs["routes"] = [*app_kwargs.get("routes", []), *router.routes]
    app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), Middleware(LoginGate)]
    blocks.launch(app_kwargs=app_kwargs, **launch_kwargs)
