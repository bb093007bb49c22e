"""The three splits a run trains, validates and tests on, as memory-mapped datasets."""

from __future__ import annotations

from dataclasses import dataclass

from datasets import Dataset

IGNORE_INDEX = -100  # label value the loss skips (pad positions)
SPLITS = ("train", "validation", "test")


@dataclass
class Splits:
    train: Dataset
    validation: Dataset
    test: Dataset
    files: list[str]
    split_by: (
        str  # "document" or "token_range" (text), "example" (conversations), or both joined by +
    )
    chat: dict | None = None
    """With prompt/answer or chat data: `per_file` {path: {examples, prompt_tokens,
    answer_tokens, cut_rows}}, `left_out` [[path, row, reason]] and `train_on`."""

    def tokens(self, name: str) -> int:
        """Real (non-pad) tokens in a split."""
        import pyarrow.compute as pc

        mask = getattr(self, name).data.table.column("attention_mask")
        return int(pc.sum(pc.list_flatten(mask)).as_py() or 0)

    def summary(self) -> dict:
        return {
            "split_by": self.split_by,
            **{f"{name}_chunks": len(getattr(self, name)) for name in SPLITS},
            **{f"{name}_tokens": self.tokens(name) for name in SPLITS},
        }
