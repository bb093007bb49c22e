"""Starting the web app from its settings (`AppConfig`), for `textgen app` and
`python app.py` (the file a Hugging Face Space runs), which parse the same flags.
Gradio is imported only when the app starts, so `textgen --help` stays instant."""

from __future__ import annotations

import sys
from pathlib import Path

from textgen_core.app.settings import AppConfig


def launch(cfg: AppConfig) -> None:
    """Start the app and serve until stopped."""
    from textgen_core.app.jobs import JobStore
    from textgen_core.app.openai_mount import launch_with_api, trained_models
    from textgen_core.app.ui import build_app
    from textgen_core.serve.api import is_loopback
    from textgen_core.serve.batching import Server

    auth = cfg.login()
    if not is_loopback(cfg.host) and auth is None:
        print(
            f"warning: serving on {cfg.host} without --auth: anyone on the network can use "
            "this app, train on this machine and read what it generates",
            file=sys.stderr,
        )
    limits = cfg.upload_limits()
    store = JobStore(max_running=cfg.max_jobs)
    store.downloads.mkdir(parents=True, exist_ok=True)
    interrupted = [j["id"] for j in store.list_jobs() if j["state"] == "interrupted"]
    if interrupted:
        print(f"interrupted jobs (resume them in the Train tab): {', '.join(interrupted)}")
    server = Server(config=cfg.serve)
    app = build_app(store, cfg, server=server)
    launch_with_api(  # the page, and the OpenAI-compatible /v1 API on the same server
        app.queue(max_size=cfg.serve.queue_size),
        trained_models(store),
        api_key=cfg.api_key(),
        server=server,
        any_model=True,
        server_name=cfg.host,
        server_port=cfg.port,
        share=cfg.share,
        auth=auth,
        max_file_size=limits.max_file_bytes,
        allowed_paths=[str(Path(store.downloads))],
        show_error=True,
    )
