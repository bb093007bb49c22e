#!/usr/bin/env bash
# One GPU, ~3 minutes on an H200, one JSON line on stdout (progress on stderr):
# bf16 training tokens/s and MFU of textgen vs the stock Trainer with bf16=True
# (fused AdamW on both), evaluation tokens/s, generation tokens/s (batch 1 and 8);
# then SmolLM2-135M, Qwen3-0.6B and Gemma-3-270M, full and LoRA, with peak GPU memory.
#
#   benchmarks/gpu_check.sh [--steps 30] [--warmup 5] [--families smollm2-135m,...]
#
# Needs the project's .venv (make test sets it up) with a CUDA build of torch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2 || true
exec timeout 480 "$PY" benchmarks/gpu_check.py "$@"
