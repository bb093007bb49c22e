"""The figures that show an export is faithful, measured in the runtimes themselves
(`runtimes`): perplexity on the same token chunks, the greedy continuation of one
prompt, and (for ONNX fp32) the largest logit difference.

Perplexity is taken over the tokens textgen can generate (`n_vocab`: the vocabulary
padding rows and a trailing `[PAD]` are masked, as textgen's generation suppresses
them and the GGUF file leaves them out), the same way for every runtime.
"""

from __future__ import annotations

import math

import numpy as np

PROMPT = "The meaning of life is"
GREEDY_TOKENS = 50
PARITY_CHUNKS = 8  # test chunks scored in every runtime (each up to the run's chunk size)
F16_TOLERANCE = 0.001  # relative perplexity change a lossless-in-effect export must stay within
LOGITS_TOLERANCE = 1e-4  # ONNX fp32 against PyTorch fp32


def _nll(logits: np.ndarray, ids: list[int]) -> tuple[float, int]:
    """Summed negative log-likelihood of ids[1:] given the logits before each."""
    x = logits[:-1].astype(np.float64)
    top = x.max(axis=1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(x - top).sum(axis=1))
    return float((log_z - x[np.arange(len(x)), ids[1:]]).sum()), len(ids) - 1


def perplexity(runtime, chunks: list[list[int]], n_vocab: int) -> float:
    total, count = 0.0, 0
    for ids in chunks:
        nll, n = _nll(runtime.logits(ids)[:, :n_vocab], ids)
        total, count = total + nll, count + n
    try:
        return math.exp(total / count)
    except OverflowError:
        return math.inf


def max_logit_gap(reference, runtime, chunks: list[list[int]], n_vocab: int) -> float:
    return max(
        float(np.abs(reference.logits(ids)[:, :n_vocab] - runtime.logits(ids)[:, :n_vocab]).max())
        for ids in chunks
    )


def greedy_match(expected: str, got: str) -> dict:
    """Whether two greedy continuations are the same text, and where they part."""
    same = expected == got
    differs_at = None
    if not same:
        differs_at = next(
            (i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b),
            min(len(expected), len(got)),
        )
    return {"identical": same, "text": got, "first_difference_at_char": differs_at}


def measure(reference, runtime, chunks, n_vocab: int, *, ref_ppl: float, ref_text: str) -> dict:
    """One runtime's figures against the reference's."""
    ppl = perplexity(runtime, chunks, n_vocab)
    return {
        "perplexity": ppl,
        "perplexity_change": ppl / ref_ppl - 1,
        "greedy": greedy_match(ref_text, runtime.greedy(PROMPT, GREEDY_TOKENS)),
    }
