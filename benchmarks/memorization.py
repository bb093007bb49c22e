"""The memorization report's own cost on a large corpus: reading the training
split's tokens, building the n-gram index, and scoring 32 generated and 32
real continuations of 128 tokens against it.

    python benchmarks/memorization.py [--mb 100] [--generate]

The corpus is synthetic: `--mb` megabytes of text at 4 bytes a token (GPT-2
averages about that on English prose), drawn from a Zipf distribution over
GPT-2's vocabulary so frequent tokens repeat as in text. It is chunked and
split by textgen's own code (`prepare.split`) into memory-mapped Arrow files in
a temporary folder, as a training run has them. Each "generated" continuation
copies a 64-token passage of the training split between random tokens, so the
longest-match search has real work to do. `--generate` also times producing
the continuations: 32 prompts x 128 tokens, decoded together, with a randomly
initialised distilgpt2-shaped model (the default model's cost; the sampled
text itself is not scored).

Prints one JSON line: seconds per phase (wall clock, and the CPU time of the
report's phases, which load on a shared machine inflates less), peak resident
memory (VmHWM, reset once the corpus is written), the report's figures, and
this machine's floors for its phases (reading the tokens once at the measured
memory rate, NumPy's argsort of as many keys as the index sorts; with
--generate, the decoding limit of benchmarks/limits.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import emit, peak_rss_mb, reset_peak_rss  # noqa: E402

BYTES_PER_TOKEN = 4
VOCAB = 50257


def synthetic_split(folder: Path, tokens: int, seed: int):
    """Splits of `tokens` Zipf-distributed tokens in 200-token documents of 10 files."""
    import numpy as np

    from textgen_core.config import DataConfig
    from textgen_core.data.prepare import split
    from textgen_core.data.tokens import Tokenized

    rng = np.random.default_rng(seed)
    ids = (rng.zipf(1.2, tokens) - 1) % VOCAB
    docs = tokens // 200
    offsets = np.arange(docs + 1, dtype=np.int64) * 200
    sources = (np.arange(docs) % 10).astype(np.int32)
    tok = Tokenized(
        ids[: docs * 200].astype(np.uint16), offsets, sources, [f"f{i}" for i in range(10)]
    )
    return split(tok, DataConfig(), pad_id=VOCAB, folder=folder)


def continuations(train_tokens, count: int, length: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed + 1)
    out = []
    for _ in range(count):
        start = int(rng.integers(0, len(train_tokens) - 64))
        noise = ((rng.zipf(1.2, length - 64) - 1) % VOCAB).astype(np.uint16)
        out.append(np.concatenate([noise[:32], train_tokens[start : start + 64], noise[32:]]))
    return out


def generation_seconds(count: int, prompt: int, length: int) -> tuple[float, dict]:
    from benchmarks.common import build_model, gpt2_tokenizer
    from benchmarks.limits import decode_limit
    from textgen_core.config import GenerateConfig
    from textgen_core.model.loading import prepare_for_tokenizer
    from textgen_core.quality.memorization import continue_prompts

    tokenizer = gpt2_tokenizer()
    model = build_model(seed=0)
    prepare_for_tokenizer(model, tokenizer)
    prompts = [list(range(1000 + i, 1000 + i + prompt)) for i in range(count)]
    start = time.time()
    made = continue_prompts(
        model, tokenizer, prompts, GenerateConfig(max_new_tokens=length, seed=0)
    )
    assert sum(len(m) for m in made) > 0
    seconds = time.time() - start
    limit = decode_limit(model, {"generate": ("fp32", count, count * length / seconds)})
    return seconds, limit


def floors(tokens, read_seconds: float, index_seconds: float) -> dict:
    """This machine's floors for the report's two big phases, measured now:
    reading the training tokens once at the memory read rate, and NumPy's
    argsort of as many random 64-bit keys as the index sorts (its core)."""
    import numpy as np

    from benchmarks.limits import memory_read_gbps

    read_gbps = memory_read_gbps()
    one_read = np.asarray(tokens).nbytes / (read_gbps * 1e9)
    keys = np.random.default_rng(0).integers(0, 2**63, len(tokens), dtype=np.uint64)
    start = time.time()
    np.argsort(keys)
    sort_seconds = time.time() - start
    print(
        f"memory read {read_gbps} GB/s: reading the tokens once takes {one_read:.3f} s "
        f"({read_seconds:.2f} s here); argsort of {len(keys):,} keys {sort_seconds:.2f} s "
        f"(the index {index_seconds:.2f} s, {sort_seconds / index_seconds:.0%} of it the sort's)",
        file=sys.stderr,
    )
    return {
        "memory_read_gbps": read_gbps,
        "read_tokens_floor_seconds": round(one_read, 3),
        "argsort_floor_seconds": round(sort_seconds, 2),
        "index_fraction_of_limit": round(sort_seconds / index_seconds, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=100, help="corpus size in MB of text")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--length", type=int, default=128, help="tokens per continuation")
    parser.add_argument("--generate", action="store_true", help="also time the generation")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    load = os.getloadavg()[0]

    from textgen_core.quality.memorization import SplitStream, overlap
    from textgen_core.quality.ngrams import NgramIndex
    from textgen_core.quality.verdict import verdict

    tokens = int(args.mb * 1e6 / BYTES_PER_TOKEN)
    with tempfile.TemporaryDirectory(prefix="textgen-mem-bench-") as tmp:
        start = time.time()
        splits = synthetic_split(Path(tmp), tokens, args.seed)
        prepare_seconds = time.time() - start
        reset_peak_rss()
        rss_before = peak_rss_mb()
        cpu_start = time.process_time()  # CPU time: what load on a shared machine doesn't inflate
        start = time.time()
        train = SplitStream.of(splits.train)
        read_seconds = time.time() - start
        start = time.time()
        index = NgramIndex(train.tokens)
        index_seconds = time.time() - start
        test = SplitStream.of(splits.test)
        generated = continuations(train.tokens, args.prompts, args.length, args.seed)
        references = [
            test.tokens[i * 200 + 32 : i * 200 + 32 + args.length] for i in range(args.prompts)
        ]
        start = time.time()
        made = [overlap(index, g) for g in generated]
        real = [overlap(index, r) for r in references]
        score_seconds = time.time() - start
        cpu_seconds = time.process_time() - cpu_start
        peak = peak_rss_mb()
        copied = sum(o.found for o in made) / sum(o.ngrams for o in made)
        reference = sum(o.found for o in real) / sum(o.ngrams for o in real)
        longest = max(o.longest for o in made)
        report = {
            "benchmark": "memorization",
            "corpus_mb": args.mb,
            "train_tokens": int(len(train.tokens)),
            "prompts": args.prompts,
            "continuation_tokens": args.length,
            "prepare_split_seconds": round(prepare_seconds, 2),
            "read_tokens_seconds": round(read_seconds, 2),
            "index_seconds": round(index_seconds, 2),
            "score_seconds": round(score_seconds, 3),
            "report_seconds": round(read_seconds + index_seconds + score_seconds, 2),
            "report_cpu_seconds": round(cpu_seconds, 2),
            "peak_rss_mb": round(peak, 1),
            "rss_before_mb": round(rss_before, 1),
            "copied_ngram_rate": round(copied, 4),
            "reference_ngram_rate": round(reference, 4),
            "longest_copied_tokens": longest,
            "verdict": verdict(copied, reference, longest, max(o.longest for o in real), "f0"),
        }
        report["limit"] = floors(train.tokens, read_seconds, index_seconds)
    if args.generate:
        seconds, report["generate_limit"] = generation_seconds(args.prompts, 32, args.length)
        report["generate_seconds"] = round(seconds, 2)
    emit(report, load)


if __name__ == "__main__":
    main()
