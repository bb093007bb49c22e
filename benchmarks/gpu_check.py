"""One GPU, one JSON line: bf16 training tokens/s and model-FLOPs utilisation
(MFU) of textgen against the stock Trainer with bf16=True (both with fused
AdamW), evaluation tokens/s and generation tokens/s on distilgpt2's shape; then
each family at its published size (SmolLM2-135M, Qwen3-0.6B, Gemma-3-270M
architectures, random weights and token ids), full fine-tuning and LoRA, both
sides, with the GPU memory each side peaked at. Run by gpu_check.sh.

`--device cpu --batch 2 --seq 64 --steps 1 --warmup 1 --families smollm2-135m`
runs the whole script on a CPU (~10 minutes on 2 cores; its figures mean nothing
there), so that the short GPU lease is not spent finding a typo.

MFU here = achieved matmul FLOP/s / this GPU's *measured* bf16 GEMM rate
(8192^3, best of several), the same definition the CPU benchmarks use; the
datasheet peak is not assumed.
"""

from __future__ import annotations

import argparse
import gc
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
    build_model,
    corpus_chunks,
    emit,
    gpt2_tokenizer,
)
from benchmarks.families import DEFAULT_FAMILIES, decoder_train_flops, with_lora  # noqa: E402
from benchmarks.families import build_model as build_family_model  # noqa: E402
from benchmarks.limits import (  # noqa: E402
    gpt2_train_flops,
)


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def gemm_gflops(device: str) -> float:
    """The best of 8 bf16 products, n x n x n (8192 on a GPU, 1024 in a CPU dry run)."""
    import torch

    n = 8192 if device == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    best = float("inf")
    for _ in range(8):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def train_side(trainer_class, model, chunks, opts, bf16_block=None) -> dict:
    """Median s/step of `warmup + steps` bf16 steps of `model` on `chunks` (the
    first `warmup` excluded), and the accelerator memory the side peaked at."""
    import contextlib

    import torch
    import transformers

    device = opts.device

    class Clock(transformers.TrainerCallback):
        times: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            sync(device)
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            sync(device)
            self.times.append(time.perf_counter() - self.t0)

    data = [
        {"input_ids": c, "attention_mask": torch.ones_like(c), "labels": c.clone()} for c in chunks
    ]
    args = transformers.TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="gpu-check-"),
        per_device_train_batch_size=opts.batch,
        max_steps=opts.warmup + opts.steps,
        learning_rate=5e-5,
        bf16=True,
        optim="adamw_torch_fused",
        logging_steps=10,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        use_cpu=device == "cpu",
    )
    clock = Clock()
    clock.times = []
    # A bf16 Trainer's model outlives its side until a garbage collection (the
    # autocast wrapper is a reference cycle): collected here, the previous side's
    # model and optimizer state do not count in this side's peak.
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    trainer = trainer_class(model=model, args=args, train_dataset=data, callbacks=[clock])
    with bf16_block(model) if bf16_block else contextlib.nullcontext():
        trainer.train()
    step_s = statistics.median(clock.times[opts.warmup :])
    side = {
        "s_per_step": round(step_s, 4),
        "tokens_per_s": round(chunks[: opts.batch].numel() / step_s, 1),
        "loss": sorted(getattr(trainer, "loss_paths", [])) or ["stock"],
    }
    if device == "cuda":
        side["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return side


def eval_tokens_per_s(model, chunks, device: str) -> float:
    from textgen_core.kernels.lm_loss import token_loss_sum

    model.eval()
    batches = [chunks[i : i + 32].to(device) for i in range(0, len(chunks), 32)]
    token_loss_sum(model, batches[0], None, batches[0])
    sync(device)
    start = time.perf_counter()
    for b in batches:
        token_loss_sum(model, b, None, b)
    sync(device)
    return round(sum(b.numel() for b in batches) / (time.perf_counter() - start), 1)


def generate_tokens_per_s(model, rows: int, device: str, new: int = 128) -> float:
    import torch

    ids = torch.full((rows, 8), 464, device=device)
    kwargs = dict(max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0)
    model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=False)
    sync(device)
    start = time.perf_counter()
    model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
    sync(device)
    return round(rows * new / (time.perf_counter() - start), 1)


def distilgpt2_check(opts, gemm: float) -> dict:
    """Both sides on distilgpt2's shape and the bundled corpus, then evaluation and
    generation speed of the model textgen trained."""
    import transformers

    from textgen_core.train.trainer import TextgenTrainer, without_autocast_wrapper

    chunks = corpus_chunks(gpt2_tokenizer(), (opts.steps + opts.warmup) * opts.batch, opts.seq)
    flops = gpt2_train_flops(n_layer=6, n_embd=768, vocab=50304, batch=opts.batch, seq=opts.seq)
    report = {"flops_per_step_g": round(flops / 1e9, 1)}
    for name, cls in (("stock_bf16", transformers.Trainer), ("textgen_bf16", TextgenTrainer)):
        model = build_model(42)
        model.resize_token_embeddings(model.config.vocab_size, pad_to_multiple_of=64)
        report[name] = train_side(cls, model, chunks, opts)
        report[name]["mfu"] = round(flops / report[name]["s_per_step"] / (gemm * 1e9), 3)
    report["textgen_vs_stock"] = round(
        report["stock_bf16"]["s_per_step"] / report["textgen_bf16"]["s_per_step"], 3
    )
    model = without_autocast_wrapper(model)  # as `textgen train` hands it on
    report["eval_tokens_per_s"] = eval_tokens_per_s(model, chunks[: 32 * 8], opts.device)
    report["generate_tokens_per_s"] = {
        f"batch_{rows}": generate_tokens_per_s(model, rows, opts.device) for rows in (1, 8)
    }
    return report


def family_check(arch: str, opts, gemm: float) -> dict:
    """One family at its published size: stock Trainer against textgen's, full
    fine-tuning and LoRA on the family's default targets (as families.py runs
    them, in one process here: each side's GPU memory is read on its own)."""
    import copy

    import torch
    import transformers

    from textgen_core.kernels.frozen_bf16 import bf16_steps
    from textgen_core.train.trainer import TextgenTrainer

    base = build_family_model(arch, 42)
    generator = torch.Generator().manual_seed(0)
    n = (opts.steps + opts.warmup) * opts.batch
    chunks = torch.randint(base.config.vocab_size, (n, opts.seq), generator=generator)
    entry = {"parameters": sum(p.numel() for p in base.parameters())}
    for mode in ("full", "lora"):
        flops = decoder_train_flops(base, opts.batch, opts.seq, mode == "lora")
        sides = {}
        for side, cls in (("stock", transformers.Trainer), ("textgen", TextgenTrainer)):
            model = copy.deepcopy(base)
            if mode == "lora":
                torch.manual_seed(42)
                model = with_lora(model, side)
            block = (lambda m: bf16_steps(m, "bf16")) if side == "textgen" else None
            sides[side] = train_side(cls, model, chunks, opts, block)
            sides[side]["mfu"] = round(flops / sides[side]["s_per_step"] / (gemm * 1e9), 3)
            del model
        sides["textgen_vs_stock"] = round(
            sides["stock"]["s_per_step"] / sides["textgen"]["s_per_step"], 3
        )
        entry[mode] = sides
        print(f"{arch} {mode}: {json.dumps(sides)}", file=sys.stderr)
    return entry


def guarded(name: str, work):
    """A section's report, or the error that stopped it (the other sections still run)."""
    try:
        return work()
    except Exception as error:  # noqa: BLE001 -- one failed section must not lose the others
        print(f"gpu_check: {name} failed: {error!r}", file=sys.stderr)
        return {"error": repr(error)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--families", default=DEFAULT_FAMILIES, help="comma-separated; '' for none")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    opts = parser.parse_args()
    import torch

    if opts.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device")
    load_before = os.getloadavg()[0]
    gemm = gemm_gflops(opts.device)
    report = {
        "benchmark": "gpu_check",
        "gpu": torch.cuda.get_device_name(0) if opts.device == "cuda" else "none (cpu dry run)",
        "torch": torch.__version__,
        "batch": [opts.batch, opts.seq],
        "bf16_gemm_gflops": round(gemm, 1),
    }
    report.update(guarded("distilgpt2", lambda: distilgpt2_check(opts, gemm)))
    report["families"] = {
        arch: guarded(arch, lambda arch=arch: family_check(arch, opts, gemm))
        for arch in filter(None, opts.families.split(","))
    }
    emit(report, load_before)


if __name__ == "__main__":
    main()
