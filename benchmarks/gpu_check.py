"""One GPU, one JSON line: bf16 training tokens/s and model-FLOPs utilisation
(MFU) of textgen against the stock Trainer with bf16=True (both with fused
AdamW), evaluation tokens/s and generation tokens/s. Run by gpu_check.sh.

MFU here = achieved matmul FLOP/s / this GPU's *measured* bf16 GEMM rate
(8192^3, best of several), the same definition the CPU benchmarks use; the
datasheet peak is not assumed.
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

from benchmarks.common import (  # noqa: E402
    build_model,
    corpus_chunks,
    emit,
    gpt2_tokenizer,
)
from benchmarks.limits import (  # noqa: E402
    gpt2_train_flops,
)

BATCH, SEQ = 16, 512


def gpu_gemm_gflops(n: int = 8192) -> float:
    import torch

    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    best = float("inf")
    for _ in range(8):
        torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def train_side(trainer_class, chunks, steps: int, warmup: int) -> dict:
    import torch
    import transformers

    class Clock(transformers.TrainerCallback):
        times: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            torch.cuda.synchronize()
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            torch.cuda.synchronize()
            self.times.append(time.perf_counter() - self.t0)

    model = build_model(42)
    model.resize_token_embeddings(model.config.vocab_size, pad_to_multiple_of=64)
    data = [
        {"input_ids": c, "attention_mask": torch.ones_like(c), "labels": c.clone()} for c in chunks
    ]
    args = transformers.TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="gpu-check-"),
        per_device_train_batch_size=BATCH,
        max_steps=warmup + steps,
        learning_rate=5e-5,
        bf16=True,
        optim="adamw_torch_fused",
        logging_steps=10,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    clock = Clock()
    clock.times = []
    trainer_class(model=model, args=args, train_dataset=data, callbacks=[clock]).train()
    step_s = statistics.median(clock.times[warmup:])
    return {"s_per_step": round(step_s, 4), "tokens_per_s": round(BATCH * SEQ / step_s, 1)}, model


def eval_tokens_per_s(model, chunks) -> float:
    import torch

    from textgen_core.kernels.lm_loss import token_loss_sum

    model.eval()
    batches = [chunks[i : i + 32].cuda() for i in range(0, len(chunks), 32)]
    token_loss_sum(model, batches[0], None, batches[0])
    torch.cuda.synchronize()
    start = time.perf_counter()
    for b in batches:
        token_loss_sum(model, b, None, b)
    torch.cuda.synchronize()
    return round(sum(b.numel() for b in batches) / (time.perf_counter() - start), 1)


def generate_tokens_per_s(model, rows: int, new: int = 128) -> float:
    import torch

    ids = torch.full((rows, 8), 464, device="cuda")
    kwargs = dict(max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0)
    model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=False)
    torch.cuda.synchronize()
    start = time.perf_counter()
    model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
    torch.cuda.synchronize()
    return round(rows * new / (time.perf_counter() - start), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    opts = parser.parse_args()
    import torch
    import transformers

    from textgen_core.train.trainer import TextgenTrainer

    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device")
    load_before = os.getloadavg()[0]
    chunks = corpus_chunks(gpt2_tokenizer(), (opts.steps + opts.warmup) * BATCH, SEQ)
    gemm = gpu_gemm_gflops()
    flops = gpt2_train_flops(n_layer=6, n_embd=768, vocab=50304, batch=BATCH, seq=SEQ)
    report = {
        "benchmark": "gpu_check",
        "gpu": torch.cuda.get_device_name(0),
        "batch": [BATCH, SEQ],
        "bf16_gemm_gflops": round(gemm, 1),
        "flops_per_step_g": round(flops / 1e9, 1),
    }
    sides = {}
    for name, cls in (("stock_bf16", transformers.Trainer), ("textgen_bf16", TextgenTrainer)):
        side, model = train_side(cls, chunks, opts.steps, opts.warmup)
        side["mfu"] = round(flops / side["s_per_step"] / (gemm * 1e9), 3)
        sides[name] = side
        torch.cuda.empty_cache()
    report.update(sides)
    report["textgen_vs_stock"] = round(
        sides["stock_bf16"]["s_per_step"] / sides["textgen_bf16"]["s_per_step"], 3
    )
    report["eval_tokens_per_s"] = eval_tokens_per_s(model, chunks[: 32 * 8])
    report["generate_tokens_per_s"] = {
        "batch_1": generate_tokens_per_s(model, 1),
        "batch_8": generate_tokens_per_s(model, 8),
    }
    emit(report, load_before)


if __name__ == "__main__":
    main()
