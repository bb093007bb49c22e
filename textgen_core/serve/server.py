"""`textgen serve`: a FastAPI app holding only the OpenAI-compatible API, run by uvicorn."""

from __future__ import annotations

import logging

from textgen_core.errors import TextgenError
from textgen_core.model.cache import ModelCache
from textgen_core.serve.api import is_loopback, mount_openai_api
from textgen_core.serve.batching import Server
from textgen_core.serve.settings import ServeConfig

logger = logging.getLogger(__name__)


def build_server_app(models: dict[str, str], cfg: ServeConfig | None = None):
    """The API app for `models` ({name: source}), every model loaded before it
    answers, so a slow first request or a bad model shows at start-up."""
    from fastapi import FastAPI

    cfg = cfg or ServeConfig()
    server = Server(ModelCache(capacity=len(models)), config=cfg)
    for name, source in models.items():
        logger.info(f"loading {name} from {source}")
        server.batcher(source)
    app = FastAPI(title="textgen", summary="OpenAI-compatible API of textgen models")
    mount_openai_api(app, models, api_key=cfg.key(), server=server)
    return app


def serve(models: dict[str, str], cfg: ServeConfig, *, host: str, port: int) -> None:
    """Serve until interrupted. A key is required off the loopback address:
    otherwise anyone on the network could use this machine's CPU or GPU."""
    import uvicorn

    cfg.validate()
    if not is_loopback(host) and not cfg.key():
        raise TextgenError(
            f"--api-key: required when --host is not a loopback address ({host}); "
            "choose a secret key, or serve on 127.0.0.1"
        )
    app = build_server_app(models, cfg)
    logger.info(f"serving {', '.join(models)} on http://{host}:{port}/v1 (OpenAI-compatible)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
