"""Serving throughput of the running app: concurrent /generate requests against
the same requests one by one, or a load test of many at once.

    python benchmarks/serve_throughput.py [--requests 8] [--new-tokens 64] [--rounds 3]
    python benchmarks/serve_throughput.py --load 50 [--new-tokens 16]

Starts the real app (`python app.py`, as tests/app_server.py does) on a model
folder of distilgpt2's shape (random init, GPT-2 tokenizer; `--model tiny`
for the 2-layer test model), with end-of-text disabled so every request
produces exactly `--new-tokens` tokens. Requests go over plain HTTP to the
app's `/gradio_api/call/generate` route, each with its own prompt and seed,
sampling with textgen's defaults.

Default mode: the `--requests` requests sent one after another (each decoded
alone), then all at once (decoded as a batch); the two alternate for
`--rounds` rounds after a warm-up. `--load N`: N requests at once, once, with
latency percentiles. Prints one JSON line.
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

from app_server import AppServer, call_api  # noqa: E402

from benchmarks.common import emit  # noqa: E402

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


def build_model(folder: Path, shape: str) -> Path:
    """A random model of `shape` saved as a plain folder, end-of-text disabled."""
    from textgen_core.model.loading import load_for_inference

    model, tokenizer = load_for_inference(f"scratch:{shape}")
    model.generation_config.eos_token_id = None
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8, help="concurrent requests to compare")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per side")
    parser.add_argument("--load", type=int, default=0, help="load test: this many at once")
    parser.add_argument("--model", choices=("distilgpt2", "tiny"), default="distilgpt2")
    parser.add_argument("--app-arg", action="append", default=[], help="extra app.py flag")
    opts = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = build_model(Path(tmp) / "model", opts.model)
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
    emit(report, load_before)


if __name__ == "__main__":
    main()
