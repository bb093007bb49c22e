"""Token rows of conversations -> train / validation / test rows.

Whole conversations are held out (all the rows of one conversation land in
one split): the test set first, then validation, seeded, by count. Each row
is padded to one width with pad positions masked out of attention and loss.
Labels are the answer tokens (-100 elsewhere); with `--train-on all` the
training split's labels are every token, while validation and test stay on
the answers, so losses compare across the two settings.
"""

from __future__ import annotations

import numpy as np

from textgen_core.config import DataConfig
from textgen_core.data.chat_tokens import ChatTokenized
from textgen_core.data.splits import IGNORE_INDEX
from textgen_core.errors import TextgenError

ROW_BATCH = 4096  # rows written at a time


def conversation_split(conversations: int, cfg: DataConfig) -> np.ndarray:
    """The split of each conversation (0 train, 1 validation, 2 test)."""
    n_test = max(1, round(conversations * cfg.test_fraction))
    n_val = max(1, round((conversations - n_test) * cfg.val_fraction))
    if conversations - n_test - n_val < 1:
        raise TextgenError(
            f"too few examples: {conversations} prompt/answer pairs or conversations, but "
            "training needs at least one to train on, one to validate and one to test; "
            "add examples"
        )
    order = np.random.default_rng(cfg.seed).permutation(conversations)
    labels = np.zeros(conversations, np.int8)
    labels[order[:n_test]] = 2
    labels[order[n_test : n_test + n_val]] = 1
    return labels


def columns(chat: ChatTokenized, rows: np.ndarray, width: int, pad_id: int, every_token: bool):
    """The dataset columns of `rows`, padded to `width`: input_ids,
    attention_mask, labels (answers, or every token with `every_token`) and
    source (the file index of each token, -1 on padding)."""
    ids = np.full((len(rows), width), pad_id, np.int32)
    mask = np.zeros((len(rows), width), np.int8)
    labels = np.full((len(rows), width), IGNORE_INDEX, np.int64)
    source = np.full((len(rows), width), -1, np.int64)
    files = chat.conversation_sources[chat.row_conversation[rows]]
    for i, r in enumerate(rows):
        tokens, answers = chat.row(r)
        n = len(tokens)
        ids[i, :n] = tokens
        mask[i, :n] = 1
        trained = np.ones(n, bool) if every_token else answers
        labels[i, :n] = np.where(trained, tokens.astype(np.int64), IGNORE_INDEX)
        source[i, :n] = files[i]
    return {"input_ids": ids, "attention_mask": mask, "labels": labels, "source": source}


def split_rows(chat: ChatTokenized, cfg: DataConfig, pad_id: int, width: int):
    """(split index, columns) batches of every row, its conversation's split decided
    by `conversation_split`."""
    of_row = conversation_split(chat.conversations, cfg)[chat.row_conversation]
    for k in range(3):
        rows = np.flatnonzero(of_row == k)
        every = k == 0 and cfg.train_on == "all"
        for start in range(0, len(rows), ROW_BATCH):
            yield k, columns(chat, rows[start : start + ROW_BATCH], width, pad_id, every)
