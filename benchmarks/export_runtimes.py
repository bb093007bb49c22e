"""Exported models in their runtimes: greedy decoding speed of textgen's PyTorch path,
llama.cpp (GGUF f16 and q8_0) and onnxruntime (fp32 and int8) on one model, with
file sizes and the perplexity change each export measured against textgen.

    python benchmarks/export_runtimes.py [--new-tokens 200] [--rounds 2]

The model is `scratch:distilgpt2` (distilgpt2's architecture, random init, GPT-2
tokenizer + [PAD]). One prompt, greedy; each side decodes the prompt then
`--new-tokens` tokens one at a time with its own cache (textgen: transformers'
DynamicCache on the idle cores' threads, as `textgen generate` decodes; llama.cpp:
its KV cache on all cores; onnxruntime: the exported past key values, its default threads). The first
round warms up and is not counted. Perplexity changes are those `textgen export`
measured on bundled text (8 chunks of 200 tokens). Ends with this CPU's
decoding limit for each side's weights (benchmarks/limits.py) and the side's
fraction of it. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import emit  # noqa: E402
from benchmarks.limits import decode_limit  # noqa: E402

PROMPT = "To be, or not to be, that is the question:"
MODEL = "scratch:distilgpt2"


def _exports(folder: Path) -> dict:
    from textgen_core.export.run import export

    quiet = dict(log=lambda _: None)
    records = {}
    for label, to, quantize, path in (
        ("gguf_f16", "gguf", "f16", folder / "f16" / "model.gguf"),
        ("gguf_q8_0", "gguf", "q8_0", folder / "q8_0" / "model.gguf"),
        ("onnx", "onnx", "int8", folder / "onnx"),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        records[label] = export(MODEL, to, path, quantize=quantize, **quiet)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds per side")
    parser.add_argument("--new-tokens", type=int, default=200)
    opts = parser.parse_args()

    from transformers.utils import logging

    from textgen_core.export.runtimes import LlamaCpp, OnnxRuntime, Torch
    from textgen_core.model.loading import load_for_inference

    logging.set_verbosity_error()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        records = _exports(folder)
        model, tokenizer = load_for_inference(MODEL)
        model.generation_config.eos_token_id = None  # always the full number of tokens
        never = sorted(model.generation_config.suppress_tokens or [])
        context = len(tokenizer(PROMPT)["input_ids"]) + opts.new_tokens + 8
        sides = {
            "textgen_pytorch": Torch(model, tokenizer),
            "llama_cpp_f16": LlamaCpp(folder / "f16" / "model.gguf", context),
            "llama_cpp_q8_0": LlamaCpp(folder / "q8_0" / "model.gguf", context),
            "onnxruntime_fp32": OnnxRuntime(folder / "onnx", "onnx/model.onnx", never),
            "onnxruntime_int8": OnnxRuntime(folder / "onnx", "onnx/model_quantized.onnx", never),
        }
        times: dict[str, list[float]] = {name: [] for name in sides}
        produced: dict[str, int] = {}
        for _ in range(opts.rounds + 1):
            for name, side in sides.items():
                start = time.perf_counter()
                side.greedy(PROMPT, opts.new_tokens)
                times[name].append(time.perf_counter() - start)
                produced[name] = getattr(side, "generated", opts.new_tokens)
        sizes = {
            "gguf_f16": (folder / "f16" / "model.gguf").stat().st_size,
            "gguf_q8_0": (folder / "q8_0" / "model.gguf").stat().st_size,
            "onnx_fp32": (folder / "onnx" / "onnx" / "model.onnx").stat().st_size,
            "onnx_int8": (folder / "onnx" / "onnx" / "model_quantized.onnx").stat().st_size,
        }
    report: dict = {"benchmark": "export_runtimes", "model": MODEL, "new_tokens": opts.new_tokens}
    for name in sides:
        seconds = statistics.median(times[name][1:])
        report[name] = {
            "tokens_per_s": round(produced[name] / seconds, 1),
            "new_tokens": produced[name],
            "s": [round(t, 3) for t in times[name]],
        }
    # on AMX CPUs llama.cpp runs without its repacked (AMX) weights: README, q8_0 on AMX
    report["llama_cpp_no_repack"] = sides["llama_cpp_q8_0"].no_repack
    report["file_mb"] = {k: round(v / 2**20, 1) for k, v in sizes.items()}
    changes = {
        "gguf_f16": records["gguf_f16"]["parity"]["runtimes"]["llama.cpp"],
        "gguf_q8_0": records["gguf_q8_0"]["parity"]["runtimes"]["llama.cpp"],
        "onnx_fp32": records["onnx"]["parity"]["runtimes"]["fp32"],
        "onnx_int8": records["onnx"]["parity"]["runtimes"]["int8"],
    }
    report["perplexity_change"] = {k: round(v["perplexity_change"], 6) for k, v in changes.items()}
    report["greedy_50_identical"] = {k: v["greedy"]["identical"] for k, v in changes.items()}
    report["reference_perplexity"] = records["gguf_f16"]["parity"]["reference"]["perplexity"]
    weights = dict(zip(sides, ("fp32", "f16", "q8_0", "fp32", "int8"), strict=True))
    limit_sides = {n: (weights[n], 1, report[n]["tokens_per_s"]) for n in sides}
    report["limit"] = decode_limit(model, limit_sides)
    emit(report, load_before)


if __name__ == "__main__":
    main()
