"""Batches as the model sees them. Rows of prompt/answer data are padded on
the right to the longest row of the whole set; a batch keeps only the columns
up to its own longest row, so a batch of short examples costs what their
tokens cost. Pad positions are masked out of attention and loss either way,
so the losses are the same with or without the cut."""

from __future__ import annotations


def trim_padding(batch: dict) -> dict:
    """`batch` (2-D tensors: input_ids, attention_mask, labels, ...) without
    the trailing columns that are padding in every row."""
    mask = batch["attention_mask"]
    used = mask.any(dim=0).nonzero()
    width = int(used.max()) + 1 if len(used) else 1
    if width == mask.shape[1]:
        return batch
    return {k: v[:, :width] if getattr(v, "ndim", 0) == 2 else v for k, v in batch.items()}


def collate_trimmed(features: list[dict]) -> dict:
    """The Trainer's default collation, then `trim_padding`."""
    from transformers import default_data_collator

    return trim_padding(default_data_collator(features))
