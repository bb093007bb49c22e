"""Generation throughput: the `transformers` text-generation pipeline against
`textgen_core.generate.generate`, on the same model, prompt and sampling settings.

    python benchmarks/generate_throughput.py [--rounds 3] [--new-tokens 200]

The model is what `textgen generate scratch:distilgpt2` loads (distilgpt2's
architecture, random init from the seed, GPT-2 tokenizer + [PAD], vocabulary
padded to 50304). Sampling as textgen's defaults (temperature 0.8, top-k 50,
top-p 0.95, repetition penalty 1.1), one sequence, same seed on both sides.
The end-of-text token is disabled so every call produces exactly the asked-for
number of tokens. The sides alternate, round after round, in one process; the
first round warms up and is not counted. Prints one JSON line, with the
decoding threads textgen chose (the idle cores: textgen_core/generate/decode_threads.py).
`--busy 1` runs the same with one busy-loop process alongside: a shared machine,
or the app training while it serves.

    python benchmarks/generate_throughput.py --precisions fp32,bf16,int8

compares instead textgen's greedy decoding from fp32, bf16 and int8 weights
(`textgen generate --precision`), one stream and a batch of 8 prompts (the
demo's prompt and seven lines of the plays), and reports each precision's
tokens/s, its ratio to fp32, the share of prompts whose greedy text differs
from fp32's. Both modes end with this CPU's GEMM and memory read rates and
each side's fraction of the decoding limit they imply (benchmarks/limits.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import emit  # noqa: E402

PROMPT = "To be, or not to be, that is the question:"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per side")
    parser.add_argument("--new-tokens", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--precisions", help="e.g. fp32,bf16,int8: compare decode precisions")
    parser.add_argument(
        "--busy",
        type=int,
        default=0,
        help="busy-loop processes running alongside (a loaded machine)",
    )
    opts = parser.parse_args()
    if opts.precisions:
        precision_main(opts)
        return

    import torch
    from transformers import pipeline
    from transformers.utils import logging

    from benchmarks.limits import decode_limit
    from textgen_core.config import GenerateConfig
    from textgen_core.generate import decode_threads
    from textgen_core.generate.sampling import generate
    from textgen_core.model.loading import load_for_inference

    logging.set_verbosity_error()
    model, tokenizer = load_for_inference("scratch:distilgpt2")
    model.generation_config.eos_token_id = None  # always the full number of tokens
    cfg = GenerateConfig(max_new_tokens=opts.new_tokens, seed=opts.seed)
    pipe = pipeline("text-generation", model=model, tokenizer=tokenizer, device="cpu")
    sampling = dict(
        do_sample=True,
        max_new_tokens=cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_k=cfg.top_k,
        top_p=cfg.top_p,
        repetition_penalty=cfg.repetition_penalty,
        pad_token_id=tokenizer.pad_token_id,
    )
    prompt_tokens = len(tokenizer(PROMPT)["input_ids"])

    def run_pipeline():
        torch.manual_seed(opts.seed)
        out = pipe(PROMPT, return_tensors=True, **sampling)
        new = out[0]["generated_token_ids"][prompt_tokens:]
        return len(new), tokenizer.decode(new, skip_special_tokens=True)

    def run_textgen():
        texts = generate(model, tokenizer, PROMPT, cfg)
        return opts.new_tokens, texts[0]

    sides = {"pipeline": run_pipeline, "textgen": run_textgen}
    times: dict[str, list[float]] = {name: [] for name in sides}
    tokens: dict[str, int] = {}
    texts: dict[str, set[str]] = {name: set() for name in sides}
    threads_used: set[int] = set()
    load_before = os.getloadavg()[0]
    with busy_processes(opts.busy):
        for _ in range(opts.rounds + 1):
            for name, fn in sides.items():
                start = time.perf_counter()
                tokens[name], text = fn()
                times[name].append(time.perf_counter() - start)
                texts[name].add(text)
                if name == "textgen":
                    threads_used.add(decode_threads.last_count())
    report: dict = {"benchmark": "generate_throughput", "prompt_tokens": prompt_tokens}
    report.update(new_tokens=opts.new_tokens, sampling=sampling | {"seed": opts.seed})
    for name in sides:
        seconds = statistics.median(times[name][1:])
        report[name] = {
            "median_s": round(seconds, 3),
            "tokens_per_s": round(tokens[name] / seconds, 1),
            "s": [round(t, 3) for t in times[name]],
            "new_tokens": tokens[name],
        }
    report["ratio"] = round(
        report["textgen"]["tokens_per_s"] / report["pipeline"]["tokens_per_s"], 3
    )
    # Same seed, same model: both sides should sample the very same tokens.
    report["same_text_every_round_and_side"] = len(texts["textgen"] | texts["pipeline"]) == 1
    report["torch_threads"] = torch.get_num_threads()
    report["textgen_decoding_threads"] = sorted(threads_used)
    report["busy_processes"] = opts.busy
    sides = {name: ("fp32", 1, report[name]["tokens_per_s"]) for name in sides}
    report["limit"] = decode_limit(model, sides)
    emit(report, load_before)


@contextlib.contextmanager
def busy_processes(count: int):
    """`count` processes spinning on the CPU while the block runs."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.5 if count else 0)
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


BATCH_PROMPTS = [
    "**HAMLET**  \n",
    "To be, or not to be, that is the question:",
    "Friends, Romans, countrymen, lend me your ears;",
    "Now is the winter of our discontent",
    "All the world's a stage,",
    "If music be the food of love, play on;",
    "Is this a dagger which I see before me,",
    "O Romeo, Romeo, wherefore art thou Romeo?",
]


def precision_main(opts) -> None:
    import torch
    from transformers.utils import logging

    from benchmarks.limits import decode_limit
    from textgen_core.generate.decode_threads import decoding_threads
    from textgen_core.generate.decode_weights import for_decoding
    from textgen_core.model.loading import load_for_inference
    from textgen_core.precision import resolve_decode

    logging.set_verbosity_error()
    base, tokenizer = load_for_inference("scratch:distilgpt2")
    base.generation_config.eos_token_id = None  # always the full number of tokens
    tokenizer.padding_side = "left"
    greedy = dict(
        do_sample=False, max_new_tokens=opts.new_tokens, pad_token_id=tokenizer.pad_token_id
    )
    one = tokenizer([BATCH_PROMPTS[0]], return_tensors="pt")
    eight = tokenizer(BATCH_PROMPTS, return_tensors="pt", padding=True)
    load_before = os.getloadavg()[0]
    models = {p: for_decoding(base, resolve_decode(p)) for p in opts.precisions.split(",")}
    times = {(p, rows): [] for p in models for rows in (1, 8)}
    outputs = {}
    for _ in range(opts.rounds + 1):
        for p, model in models.items():
            for rows, enc in ((1, one), (8, eight)):
                with torch.inference_mode(), decoding_threads(model):
                    start = time.perf_counter()
                    out = model.generate(**enc, **greedy)
                    times[p, rows].append(time.perf_counter() - start)
                outputs[p, rows] = out[:, enc["input_ids"].shape[1] :].tolist()
    report: dict = {"benchmark": "decode_precision", "new_tokens": opts.new_tokens}
    for (p, rows), ts in times.items():
        tps = rows * opts.new_tokens / statistics.median(ts[1:])
        report.setdefault(p, {})[f"batch_{rows}"] = {"tokens_per_s": round(tps, 1)}
    for p in models:
        for rows in (1, 8):
            side = report[p][f"batch_{rows}"]
            fp32 = report.get("fp32", {}).get(f"batch_{rows}")
            if fp32:
                side["vs_fp32"] = round(side["tokens_per_s"] / fp32["tokens_per_s"], 3)
                ref = outputs["fp32", rows]
                side["prompts_differing_from_fp32"] = sum(
                    a != b for a, b in zip(outputs[p, rows], ref, strict=True)
                ) / len(ref)
    # This CPU's decoding limit for each side (weights read per step, or FLOPs).
    sides = {
        f"{p}_batch_{rows}": (p, rows, report[p][f"batch_{rows}"]["tokens_per_s"])
        for p in models
        for rows in (1, 8)
    }
    report["limit"] = decode_limit(base, sides)
    emit(report, load_before)


if __name__ == "__main__":
    main()
