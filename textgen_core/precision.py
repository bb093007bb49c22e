"""Number formats: the values of every `--precision` and what each resolves
to on this device, for training and for decoding. The one place that knows
which CPU or GPU runs which format.

Training, `--precision auto|fp32|bf16|fp16` (`TRAIN_PRECISIONS`, `resolve`):

- `bf16`: autocast to bfloat16 (mixed precision: weights, gradients' master
  copies and optimizer state stay float32). On CPU only where the CPU computes
  bf16 natively (AVX512_BF16 or AMX); elsewhere bf16 is emulated and slower
  than fp32, so it is refused. On CUDA where the GPU supports it (Ampere+).
- `fp16`: autocast to float16 with loss scaling; CUDA GPUs without bf16 only.
- `fp32`: plain float32.
- `auto`: bf16 on CUDA when supported (else fp16); on CPU `AUTO_CPU_BF16`
  decides, from the measurements in BENCHMARKS.md; fp32 anywhere else.

Evaluation (validation and test losses) always runs in float32 on CPU, so
figures stay comparable across precisions.

Decoding, `--precision auto|fp32|bf16|int8` of generate, serve and the app
(`DECODE_PRECISIONS`, `resolve_decode`): which weights a model decodes from on
CPU (the conversions are in generate/decode_weights.py). `bf16` only where the
CPU computes it natively; `int8` is dynamic quantization; `auto` is fp32.

Stdlib only at import (torch is imported where it is used), so the settings
dataclasses can take their choices from here and `textgen --help` stays instant.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

from textgen_core.cpuinfo import cpu_flags
from textgen_core.errors import TextgenError

TRAIN_PRECISIONS = ("auto", "fp32", "bf16", "fp16")
"""Values of `textgen train --precision` (TrainConfig.precision)."""

DECODE_PRECISIONS = ("auto", "fp32", "bf16", "int8")
"""Values of `--precision` of generate, serve and the app (DecodeConfig.precision)."""

AUTO_CPU_BF16 = True
"""Whether `auto` trains in bf16 on a CPU with native bf16. Decided from
measurement (BENCHMARKS.md, "Precision"): on the Sapphire Rapids CI machine a
distilgpt2-shaped bf16 step ran 1.63x textgen's fp32 step, and validation loss
after a demo-sized run was 0.20% above fp32's (the rule: within 1%)."""


AUTO_BF16_MIN_WIDTH = 256
"""`auto` keeps fp32 on CPU for models narrower than this (hidden width): their
matrix products are too small for bf16 to pay for autocast's casts. Side by
side on the CI machine, a 32-wide GPT-2 step took 6.0-6.9 s in fp32 and
6.7-10.2 s in bf16, while distilgpt2's (768 wide) ran 1.63x faster in bf16."""


@functools.cache
def cpu_bf16_native() -> bool:
    """The CPU multiplies bf16 natively (AVX512_BF16 or AMX-BF16) and this
    PyTorch build can use it through oneDNN."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return False
    flags = cpu_flags()
    if flags:
        return bool({"avx512_bf16", "amx_bf16"} & flags)
    # No /proc/cpuinfo (not Linux): ask oneDNN, as PyTorch's bf16 matmul does.
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_int8_native() -> bool:
    """The CPU has int8 dot-product instructions (VNNI or AMX-INT8) that
    PyTorch's dynamic quantization uses."""
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & cpu_flags())


def _device_type(device) -> str:
    return getattr(device, "type", None) or str(device).split(":")[0]


def resolve(
    precision: str, device="cpu", flag: str = "--precision", width: int | None = None
) -> str:
    """What `precision` means on `device`: "fp32", "bf16" or "fp16"; a
    TextgenError naming `flag` when the device cannot run it. `width` (the
    model's hidden size, when known) lets `auto` keep fp32 for tiny models."""
    import torch

    _require_one_of(precision, TRAIN_PRECISIONS, flag)
    kind = _device_type(device)
    cuda_bf16 = kind == "cuda" and torch.cuda.is_bf16_supported()
    if precision == "auto":
        if kind == "cuda":
            return "bf16" if cuda_bf16 else "fp16"
        wide = width is None or width >= AUTO_BF16_MIN_WIDTH
        return "bf16" if kind == "cpu" and AUTO_CPU_BF16 and wide and cpu_bf16_native() else "fp32"
    if precision == "bf16" and kind == "cpu" and not cpu_bf16_native():
        raise TextgenError(
            f"{flag} bf16: this CPU has no native bf16 (AVX512_BF16 or AMX), where bf16 "
            "runs slower than fp32; use --precision fp32 or auto"
        )
    if precision == "bf16" and kind == "cuda" and not cuda_bf16:
        raise TextgenError(f"{flag} bf16: this GPU does not support bf16; use fp16 or auto")
    if precision == "fp16" and kind != "cuda":
        raise TextgenError(
            f"{flag} fp16: only on CUDA GPUs (with loss scaling); use bf16, fp32 or auto here"
        )
    return precision


def resolve_decode(precision: str, device="cpu", flag: str = "--precision") -> str:
    """What decoding `precision` means on `device`: "fp32", "bf16" or "int8"."""
    _require_one_of(precision, DECODE_PRECISIONS, flag)
    if precision in ("auto", "fp32"):
        return "fp32"
    if _device_type(device) != "cpu":
        raise TextgenError(f"{flag} {precision}: decoding precision applies on CPU only")
    if precision == "bf16" and not cpu_bf16_native():
        raise TextgenError(
            f"{flag} bf16: this CPU has no native bf16 (AVX512_BF16 or AMX); use int8 or fp32"
        )
    return precision


def _require_one_of(precision: str, values: tuple[str, ...], flag: str) -> None:
    if precision not in values:
        raise TextgenError(f"{flag}: must be one of {', '.join(values)}, got {precision!r}")


def torch_dtype(resolved: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[resolved]


@contextlib.contextmanager
def autocast(resolved: str, device="cpu") -> Iterator[None]:
    """Mixed-precision autocast for a resolved precision; nothing for fp32."""
    import torch

    if resolved == "fp32":
        yield
        return
    with torch.autocast(_device_type(device), dtype=torch_dtype(resolved)):
        yield


def autocast_dtype(device_type: str):
    """The autocast dtype active on `device_type`, or None when autocast is off."""
    import torch

    if not torch.is_autocast_enabled(device_type):
        return None
    return torch.get_autocast_dtype(device_type)
