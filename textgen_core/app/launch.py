"""Starting the web app: its flags and launch, shared by `textgen app` and
`python app.py` (the file a Hugging Face Space runs). Gradio is imported only
when the app starts, so `textgen --help` stays instant."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from textgen_core.precision import DECODE_PRECISIONS


def add_app_flags(p: argparse.ArgumentParser) -> None:
    """The flags of `textgen app` and `python app.py`."""
    env = os.environ.get  # a Space sets the address and port, and the login as a secret
    host, port = env("GRADIO_SERVER_NAME", "127.0.0.1"), int(env("GRADIO_SERVER_PORT", "7860"))
    p.add_argument("--host", default=host, help="address to bind (default %(default)s)")
    p.add_argument("--port", type=int, default=port, help="default %(default)s")
    p.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    p.add_argument(
        "--auth",
        metavar="USER:PASS",
        default=env("TEXTGEN_AUTH") or None,
        help="require this login (default: the TEXTGEN_AUTH variable, if set)",
    )
    p.add_argument("--max-file-mb", type=float, default=50, help="per uploaded file")
    p.add_argument("--max-total-mb", type=float, default=200, help="per upload, all files")
    p.add_argument("--max-new-tokens", type=int, default=512, help="cap for generation")
    p.add_argument(
        "--generate-concurrency", type=int, default=16, help="generation requests admitted at once"
    )
    p.add_argument(
        "--generate-batch", type=int, default=8, help="requests decoded together, per model"
    )
    p.add_argument(
        "--queue-size", type=int, default=256, help="requests waiting at most (more: refused)"
    )
    p.add_argument(
        "--precision",
        choices=DECODE_PRECISIONS,
        default="auto",
        help="weights generation decodes from on CPU: bf16 (AVX512_BF16/AMX) or int8 "
        "(dynamic quantization) are faster; greedy output may differ slightly (auto = fp32)",
    )
    p.add_argument("--max-jobs", type=int, default=1, help="training jobs at once")
    p.add_argument(
        "--api-key",
        metavar="KEY",
        help="key of the /v1 API (Authorization: Bearer KEY); default with --auth: USER:PASS",
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="textgen web app")
    add_app_flags(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    launch(parse_args(argv))


def launch(args: argparse.Namespace) -> None:
    """Start the app with parsed flags and serve until stopped."""
    from textgen_core.app.jobs import JobStore
    from textgen_core.app.openai_mount import launch_with_api, trained_models
    from textgen_core.app.ui import build_app
    from textgen_core.app.uploads import MB, UploadLimits
    from textgen_core.serve.api import is_loopback
    from textgen_core.serve.batching import Server

    auth = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not (sep and user and password):
            sys.exit("error: --auth must be USER:PASS")
        auth = (user, password)
    if not is_loopback(args.host) and auth is None:
        print(
            f"warning: serving on {args.host} without --auth: anyone on the network can use "
            "this app, train on this machine and read what it generates",
            file=sys.stderr,
        )
    limits = UploadLimits(int(args.max_file_mb * MB), int(args.max_total_mb * MB))
    store = JobStore(max_running=args.max_jobs)
    store.downloads.mkdir(parents=True, exist_ok=True)
    interrupted = [j["id"] for j in store.list_jobs() if j["state"] == "interrupted"]
    if interrupted:
        print(f"interrupted jobs (resume them in the Train tab): {', '.join(interrupted)}")
    server = Server(
        max_batch=args.generate_batch, max_waiting=args.queue_size, precision=args.precision
    )
    app = build_app(
        store,
        limits=limits,
        max_new_tokens=args.max_new_tokens,
        generate_concurrency=args.generate_concurrency,
        generate_batch=args.generate_batch,
        server=server,
        precision=args.precision,
    )
    launch_with_api(  # the page, and the OpenAI-compatible /v1 API on the same server
        app.queue(max_size=args.queue_size),
        trained_models(store),
        api_key=args.api_key or (args.auth if auth else None),
        server=server,
        any_model=True,
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        auth=auth,
        max_file_size=limits.max_file_bytes,
        allowed_paths=[str(Path(store.downloads))],
        show_error=True,
    )
