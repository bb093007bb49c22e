"""Token-weighted loss and perplexity, overall and per source file.

The loss is the mean over every predicted token (pad positions excluded), not
a mean of per-batch means, so a short last batch weighs what its tokens weigh.
Under several processes each scores its own slice of the data and the sums are
added up (textgen_core.distributed), so every process gets the figures of the
whole set, each token counted once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from textgen_core.config import EvalConfig
from textgen_core.data.prepare import IGNORE_INDEX
from textgen_core.train import distributed
from textgen_core.train.batches import trim_padding


def perplexity(loss: float) -> float:
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


@dataclass
class EvalResult:
    loss: float
    tokens: int  # predicted tokens that counted
    per_file: dict[str, dict] = field(default_factory=dict)

    @property
    def perplexity(self) -> float:
        return perplexity(self.loss)

    def to_dict(self) -> dict:
        return {"loss": self.loss, "perplexity": self.perplexity, "tokens": self.tokens}


def _token_losses(model, input_ids, attention_mask, labels):
    """Per-position loss of predicting token t+1 (0 where ignored), computed
    without materialising the full logits (textgen_core.lm_loss)."""
    from textgen_core.kernels.lm_loss import token_loss_sum

    out = token_loss_sum(model, input_ids, attention_mask, labels, per_token=True)
    return out.per_token, labels[:, 1:] != IGNORE_INDEX


NO_TOKENS_NOTE = (
    "no tokens scored: the file gives no token to predict with this tokenizer "
    "(nothing after tokenizing, or a single token at the start of a chunk)"
)


def evaluate_loss(
    model,
    dataset,
    *,
    batch_size: int = EvalConfig.batch_size,
    files: list[str] | None = None,
    progress: bool = False,
    every_file: bool = False,
) -> EvalResult:
    """Loss over every chunk of `dataset` (columns input_ids, attention_mask,
    labels and optionally source); per-file figures when `files` is given.
    With `every_file`, a file with no scored token is listed too (tokens 0,
    loss and perplexity None, and a note) instead of left out.
    In a distributed run this is collective: call it on every process."""
    has_source = files is not None and "source" in dataset.column_names
    n_files = len(files) if has_source else 0
    sums = _loss_sums(model, distributed.shard(dataset), batch_size, n_files, progress)
    # One all-reduce of [loss sum, token count, per-file sums, per-file counts].
    total, count, file_sums, file_counts = np.split(
        distributed.all_reduce_sum(sums), [1, 2, 2 + n_files]
    )
    total, count, file_counts = float(total[0]), int(count[0]), file_counts.astype(np.int64)
    loss = total / count if count else math.nan
    per_file = {
        Path(files[i]).as_posix(): {
            "loss": file_sums[i] / file_counts[i],
            "perplexity": perplexity(file_sums[i] / file_counts[i]),
            "tokens": int(file_counts[i]),
        }
        for i in np.flatnonzero(file_counts)
    }
    if every_file and has_source:
        for i in np.flatnonzero(file_counts == 0):
            per_file[Path(files[i]).as_posix()] = {
                "loss": None,
                "perplexity": None,
                "tokens": 0,
                "note": NO_TOKENS_NOTE,
            }
        per_file = {Path(f).as_posix(): per_file[Path(f).as_posix()] for f in files}
    return EvalResult(loss, count, per_file)


def _loss_sums(model, dataset, batch_size: int, n_files: int, progress: bool) -> np.ndarray:
    """[loss sum, token count, per-file loss sums..., per-file token counts...]
    over `dataset`, in float64."""
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    columns = ["input_ids", "attention_mask", "labels"] + (["source"] if n_files else [])
    data = dataset.with_format("torch", columns=columns)
    total, count = 0.0, 0
    file_sums = np.zeros(n_files)
    file_counts = np.zeros(n_files, dtype=np.int64)
    batches = range(0, len(data), batch_size)
    show = progress and distributed.is_main()
    with torch.inference_mode():
        for start in tqdm(batches, desc="Evaluating", disable=not show, leave=False):
            batch = trim_padding(data[start : start + batch_size])
            ids, mask, labels = (batch[k].to(device) for k in columns[:3])
            losses, counted = _token_losses(model, ids, mask, labels)
            total += float(losses.sum(dtype=torch.float64))
            count += int(counted.sum())
            if n_files:
                src = batch["source"][:, 1:][counted.cpu()].numpy()
                np.add.at(file_sums, src, losses[counted].double().cpu().numpy())
                np.add.at(file_counts, src, 1)
    model.train(was_training)
    return np.concatenate([[total, count], file_sums, file_counts]).astype(np.float64)
