"""Serving throughput of the running app: concurrent /generate requests against
the same requests one by one, or a load test of many at once.

    python benchmarks/serve_throughput.py [--requests 8] [--new-tokens 64] [--rounds 3]
    python benchmarks/serve_throughput.py --load 50 [--new-tokens 16]
    python benchmarks/serve_throughput.py --api [--clients 8,32] [--new-tokens 64]

Starts the real app (`python app.py`, as tests/support/servers.py does) on a model
folder of distilgpt2's shape (random init, GPT-2 tokenizer; `--model tiny`
for the 2-layer test model), with end-of-text disabled so every request
produces exactly `--new-tokens` tokens. Requests go over plain HTTP to the
app's `/gradio_api/call/generate` route, each with its own prompt and seed,
sampling with textgen's defaults.

Default mode: the `--requests` requests sent one after another (each decoded
alone), then all at once (decoded as a batch); the two alternate for
`--rounds` rounds after a warm-up. `--load N`: N requests at once, once, with
latency percentiles. `--api`: `textgen serve` instead of the app, requests to
its OpenAI-compatible `/v1/completions` (same settings, textgen's defaults
passed as top_k/repetition_penalty): `--requests` one by one, then each
`--clients` count at once, with p50/p95 latency and tokens/s against one by
one. Each mode ends with this CPU's decoding limit for each side (fp32
weights, the servers' default; benchmarks/limits.py) and the side's fraction
of it. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from support.servers import (  # noqa: E402
    ApiServer,  # noqa: E402
    AppServer,
    call_api,
)

from benchmarks.common import emit  # noqa: E402
from textgen_core.serve.settings import ServeConfig  # noqa: E402

PROMPTS = [
    "To be, or not to be, that is the question:",
    "Dear friend,",
    "Once upon a time",
    "The results of the experiment show",
    "Now is the winter of our discontent",
    "In the beginning",
    "Call me Ishmael.",
    "It was a bright cold day in April, and",
]


def build_model(folder: Path, shape: str):
    """A random model of `shape` saved as a plain folder, end-of-text disabled:
    (folder, model)."""
    from textgen_core.model.loading import load_for_inference

    model, tokenizer = load_for_inference(f"scratch:{shape}")
    model.generation_config.eos_token_id = None
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, model


SERVER_BATCH = ServeConfig().max_batch
"""The app's and `textgen serve`'s default --max-batch: rows decoded together."""


def add_limit(report: dict, model) -> None:
    """This CPU's decoding limit for each side of `report` (fp32 weights, the
    servers' default; rows: one request alone, else its concurrent requests,
    at most a batch) and the side's fraction of it."""
    from benchmarks.limits import decode_limit

    def rows(name: str, side: dict) -> int:
        together = side.get("requests") or report["requests"]
        return 1 if name == "one_by_one" else min(together, SERVER_BATCH)

    sides = {
        name: ("fp32", rows(name, side), side["tokens_per_s"])
        for name, side in report.items()
        if isinstance(side, dict) and "tokens_per_s" in side
    }
    if "tokens_per_s" in report:  # --load: the whole report is one side
        sides["load"] = ("fp32", rows("load", report), report["tokens_per_s"])
    report["limit"] = decode_limit(model, sides)


def request(url: str, model: Path, i: int, new_tokens: int):
    data = [str(model), PROMPTS[i % len(PROMPTS)], new_tokens, 0.8, 50, 0.95, 1.1, 1000 + i]
    return call_api(url, "generate", data)


def one_by_one(url, model, n, new_tokens) -> tuple[float, list]:
    began = time.perf_counter()
    answers = [request(url, model, i, new_tokens) for i in range(n)]
    return time.perf_counter() - began, answers


def at_once(url, model, n, new_tokens) -> tuple[float, list]:
    with ThreadPoolExecutor(n) as pool:
        began = time.perf_counter()
        answers = list(pool.map(lambda i: request(url, model, i, new_tokens), range(n)))
    return time.perf_counter() - began, answers


def texts(answers) -> list:
    bad = [a for a in answers if a.event != "complete"]
    if bad:
        raise SystemExit(f"requests failed: {bad[:3]}")
    return [a.data[0] for a in answers]


def compare(url, model, opts) -> dict:
    request(url, model, 0, 4)  # load the model
    times: dict[str, list[float]] = {"one_by_one": [], "at_once": []}
    outputs: dict[str, list] = {}
    for _ in range(opts.rounds + 1):  # the first round warms up
        for name, fn in (("one_by_one", one_by_one), ("at_once", at_once)):
            seconds, answers = fn(url, model, opts.requests, opts.new_tokens)
            times[name].append(seconds)
            outputs[name] = texts(answers)
    tokens = opts.requests * opts.new_tokens
    report = {"requests": opts.requests, "new_tokens_each": opts.new_tokens}
    for name, seconds in times.items():
        median = statistics.median(seconds[1:])
        report[name] = {
            "median_s": round(median, 2),
            "tokens_per_s": round(tokens / median, 1),
            "s": [round(s, 2) for s in seconds],
        }
    report["ratio"] = round(
        report["at_once"]["tokens_per_s"] / report["one_by_one"]["tokens_per_s"], 2
    )
    # Seeded requests: the same text whether decoded alone or in the batch.
    report["same_texts_alone_and_batched"] = outputs["one_by_one"] == outputs["at_once"]
    return report


def load(url, model, opts) -> dict:
    request(url, model, 0, 4)
    seconds, answers = at_once(url, model, opts.load, opts.new_tokens)
    done = [a for a in answers if a.event == "complete"]
    latencies = sorted(a.seconds for a in done)
    statuses = sorted({a.status for a in answers})
    after = request(url, model, 0, 4)
    return {
        "requests": opts.load,
        "new_tokens_each": opts.new_tokens,
        "answered": len(done),
        "refused": [a.data for a in answers if a.event != "complete"][:3],
        "http_statuses": statuses,
        "server_errors": sum(a.status >= 500 for a in answers),
        "p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 2) if latencies else None,
        "max_s": round(latencies[-1], 2) if latencies else None,
        "wall_s": round(seconds, 2),
        "tokens_per_s": round(len(done) * opts.new_tokens / seconds, 1),
        "serves_afterwards": after.event == "complete",
    }


def api_request(url: str, i: int, new_tokens: int) -> tuple[int, str, float]:
    """One /v1/completions request: (HTTP status, text, seconds)."""
    import httpx

    body = {
        "model": "bench",
        "prompt": PROMPTS[i % len(PROMPTS)],
        "max_tokens": new_tokens,
        "temperature": 0.8,
        "top_p": 0.95,
        "top_k": 50,
        "repetition_penalty": 1.1,
        "seed": 1000 + i,
    }
    began = time.perf_counter()
    response = httpx.post(url + "/v1/completions", json=body, timeout=900)
    text = response.json()["choices"][0]["text"] if response.status_code == 200 else ""
    return response.status_code, text, time.perf_counter() - began


def api_side(url: str, n: int, new_tokens: int, *, together: bool) -> dict:
    began = time.perf_counter()
    if together:
        with ThreadPoolExecutor(n) as pool:
            answers = list(pool.map(lambda i: api_request(url, i, new_tokens), range(n)))
    else:
        answers = [api_request(url, i, new_tokens) for i in range(n)]
    wall = time.perf_counter() - began
    latencies = sorted(seconds for status, _, seconds in answers if status == 200)
    ok = len(latencies)
    return {
        "requests": n,
        "answered": ok,
        "server_errors": sum(status >= 500 for status, _, _ in answers),
        "wall_s": round(wall, 2),
        "tokens_per_s": round(ok * new_tokens / wall, 1),
        "p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "p95_s": round(latencies[int(0.95 * (ok - 1))], 2) if latencies else None,
        "texts": [text for _, text, _ in answers],
    }


def api_compare(url: str, opts) -> dict:
    api_request(url, 0, 4)  # warm up
    alone = api_side(url, opts.requests, opts.new_tokens, together=False)
    report = {"new_tokens_each": opts.new_tokens, "one_by_one": alone}
    for clients in (int(c) for c in opts.clients.split(",")):
        side = api_side(url, clients, opts.new_tokens, together=True)
        side["ratio"] = round(side["tokens_per_s"] / alone["tokens_per_s"], 2)
        # seeded requests: the same text alone and batched
        side["same_texts_as_one_by_one"] = side["texts"][: opts.requests] == alone["texts"]
        report[f"at_once_{clients}"] = side
    for side in report.values():
        if isinstance(side, dict):
            side.pop("texts", None)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8, help="concurrent requests to compare")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per side")
    parser.add_argument("--load", type=int, default=0, help="load test: this many at once")
    parser.add_argument("--model", choices=("distilgpt2", "tiny"), default="distilgpt2")
    parser.add_argument("--app-arg", action="append", default=[], help="extra app.py flag")
    parser.add_argument("--api", action="store_true", help="textgen serve's /v1/completions")
    parser.add_argument("--clients", default="8,32", help="--api: concurrent clients to compare")
    opts = parser.parse_args()
    if opts.api:
        with tempfile.TemporaryDirectory() as tmp:
            model, weights = build_model(Path(tmp) / "model", opts.model)
            server = ApiServer(Path(tmp), [f"bench={model}"]).start()
            try:
                load_before = os.getloadavg()[0]
                report = {"benchmark": "serve_api_throughput"}
                report.update(
                    model=f"scratch:{opts.model} (random)", **api_compare(server.url, opts)
                )
            finally:
                server.stop()
        add_limit(report, weights)
        emit(report, load_before)
        return

    with tempfile.TemporaryDirectory() as tmp:
        model, weights = build_model(Path(tmp) / "model", opts.model)
        (Path(tmp) / "data").mkdir()
        app = AppServer(Path(tmp) / "data", *opts.app_arg).start()
        try:
            load_before = os.getloadavg()[0]
            fn = load if opts.load else compare
            report = {"benchmark": "serve_load" if opts.load else "serve_throughput"}
            report.update(model=f"scratch:{opts.model} (random)", **fn(app.url, model, opts))
        finally:
            app.stop()
    report["app_args"] = opts.app_arg
    add_limit(report, weights)
    emit(report, load_before)


if __name__ == "__main__":
    main()
