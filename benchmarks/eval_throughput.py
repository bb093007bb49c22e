"""Evaluation throughput: `transformers.Trainer.evaluate` against textgen's
inference-mode evaluation (`lm_loss.token_loss_sum`), distilgpt2 architecture,
fp32, batches of 8 x 200 tokens.

    python benchmarks/eval_throughput.py [--batches 10] [--skip 1]

Both sides evaluate the same seeded model on the same chunks of the bundled
corpus, each in its own worker process, batch by batch in lock-step (see
common.Worker). Also measures this CPU's GEMM rates and prints the limit they
imply for a batch and each side's fraction of it. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import (  # noqa: E402
    Worker,
    build_model,
    corpus_chunks,
    emit,
    gpt2_tokenizer,
    peak_rss_mb,
    reset_peak_rss,
    worker_channel,
)
from benchmarks.limits import (  # noqa: E402
    gemm_rates,
    gpt2_train_flops,
    limit_report,
    print_limit,
)

BATCH = 8


def run_baseline(chunks, seed: int, cmd, out) -> dict:
    import torch
    import transformers

    model = build_model(seed)
    dataset = [
        {"input_ids": c, "attention_mask": torch.ones_like(c), "labels": c.clone()} for c in chunks
    ]
    times: list[float] = []

    class LockStep(transformers.TrainerCallback):
        def on_prediction_step(self, args, state, control, **kwargs):
            times.append(time.perf_counter() - self.t0)
            out.write(json.dumps({"batch_s": times[-1]}) + "\n")
            cmd.readline()
            self.t0 = time.perf_counter()

    lockstep = LockStep()
    args = transformers.TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="textgen-bench-"),
        per_device_eval_batch_size=BATCH,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = transformers.Trainer(model=model, args=args, callbacks=[lockstep])
    reset_peak_rss()
    cmd.readline()
    lockstep.t0 = time.perf_counter()
    metrics = trainer.evaluate(dataset)
    return {"times": times, "loss": metrics["eval_loss"]}


def run_textgen(chunks, seed: int, cmd, out) -> dict:
    import torch

    from textgen_core.kernels.lm_loss import token_loss_sum
    from textgen_core.kernels.memory import reuse_freed_memory

    reuse_freed_memory()

    model = build_model(seed).eval()
    reset_peak_rss()
    times: list[float] = []
    loss_sum, tokens, trainer_style = 0.0, 0, []
    for start in range(0, len(chunks), BATCH):
        cmd.readline()
        t0 = time.perf_counter()
        ids = chunks[start : start + BATCH]
        result = token_loss_sum(model, ids, torch.ones_like(ids), ids)
        times.append(time.perf_counter() - t0)
        out.write(json.dumps({"batch_s": times[-1]}) + "\n")
        loss_sum += float(result.loss_sum)
        tokens += int(result.num_tokens)
        # Trainer 5.24 divides GPT-2's summed loss by every label, the unshifted
        # position 0 included (its loss_type is unset), then averages batches.
        trainer_style.append(float(result.loss_sum) / ids.numel())
    return {
        "times": times,
        "loss": loss_sum / tokens,
        "loss_as_trainer_reports_it": statistics.mean(trainer_style),
    }


def run_worker(side: str, data_path: str, seed: int, fds: str) -> None:
    import torch

    cmd, out = worker_channel(fds)
    chunks = torch.load(data_path)
    result = (run_baseline if side == "baseline" else run_textgen)(chunks, seed, cmd, out)
    result["peak_rss_mb"] = peak_rss_mb()
    out.write(json.dumps(result) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=10, help="timed batches of 8 x 200")
    parser.add_argument("--skip", type=int, default=1, help="warm-up batches, not timed")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--fds", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.worker:
        run_worker(opts.worker, opts.data, opts.seed, opts.fds)
        return
    import torch

    total = opts.skip + opts.batches
    chunks = corpus_chunks(gpt2_tokenizer(), n_chunks=total * BATCH, chunk_size=200)
    with tempfile.TemporaryDirectory() as tmp:
        data_path = os.path.join(tmp, "chunks.pt")
        torch.save(chunks, data_path)
        load_before = os.getloadavg()[0]
        args = ["--data", data_path, "--seed", str(opts.seed)]
        workers = [Worker(__file__, side, args) for side in ("baseline", "textgen")]
        for _ in range(total):
            for worker in workers:
                worker.step()
        workers[0].cmd.write("go\n")  # release the Trainer after its last batch
        results = {w.name: w.finish() for w in workers}
    report: dict = {"benchmark": "eval_throughput", "batch": [BATCH, 200], "dtype": "float32"}
    report["batches_timed"] = opts.batches
    report["warmup_batches_excluded"] = opts.skip
    for side, res in results.items():
        batch_s = statistics.median(res["times"][opts.skip :])
        report[side] = {
            "median_s_per_batch": round(batch_s, 3),
            "tokens_per_s": round(BATCH * 200 / batch_s, 1),
            "batch_s": [round(t, 3) for t in res["times"]],
            "loss": res["loss"],
            "peak_rss_mb": round(res["peak_rss_mb"]),
        }
    report["textgen"]["loss_as_trainer_reports_it"] = results["textgen"][
        "loss_as_trainer_reports_it"
    ]
    report["ratio"] = round(
        report["baseline"]["median_s_per_batch"] / report["textgen"]["median_s_per_batch"], 3
    )
    base_loss = results["baseline"]["loss"]
    report["rel_loss_diff_same_definition"] = (
        abs(results["textgen"]["loss_as_trainer_reports_it"] - base_loss) / base_loss
    )
    # This CPU's limit for a forward pass over one batch, and each side's fraction of it.
    flops = gpt2_train_flops(n_layer=6, n_embd=768, vocab=50304, batch=BATCH, seq=200, passes=1)
    sides = {side: ("fp32", report[side]["median_s_per_batch"]) for side in results}
    report["limit"] = limit_report(flops, gemm_rates(), sides)
    print_limit(report["limit"])
    emit(report, load_before)


if __name__ == "__main__":
    main()
