"""Typed settings shared by the CLI, the app, the search and the saved run record.

Each field carries its own docstring; `validate()` rejects values that cannot
work, naming the flag and the reason.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from textgen_core.errors import TextgenError


def _require(ok: bool, flag: str, reason: str) -> None:
    if not ok:
        raise TextgenError(f"{flag}: {reason}")


@dataclass
class DataConfig:
    chunk_size: int = 200
    """Tokens per training example; documents are concatenated then cut."""
    val_fraction: float = 0.15
    """Share of the non-test data held out for validation."""
    test_fraction: float = 0.1
    """Share of all data held out first for the final test."""
    seed: int = 42
    """Seed of the split."""
    dataset: str | None = None
    """A `datasets` dataset to train on as well (Hub name, local data folder, or a
    folder written by save_to_disk); each row of `text_column` is one document."""
    dataset_config: str | None = None
    """Configuration (subset) of `dataset`."""
    dataset_split: str = "train"
    """Split of `dataset` to read."""
    text_column: str = "text"
    """Column of `dataset` holding the text."""

    def validate(self) -> None:
        if self.dataset is not None:
            _require(bool(self.dataset.strip()), "--dataset", "give a dataset name or folder")
            _require(bool(self.dataset_split), "--dataset-split", "give a split name")
            _require(bool(self.text_column), "--text-column", "give a column name")
        _require(self.chunk_size >= 2, "--chunk-size", f"must be at least 2, got {self.chunk_size}")
        _require(
            0 < self.test_fraction < 1,
            "--test-fraction",
            f"must be between 0 and 1, got {self.test_fraction}",
        )
        _require(
            0 < self.val_fraction < 1,
            "--val-fraction",
            f"must be between 0 and 1, got {self.val_fraction}",
        )
        train_share = (1 - self.test_fraction) * (1 - self.val_fraction)
        _require(
            train_share >= 0.05,
            "--val-fraction/--test-fraction",
            f"leave only {train_share:.0%} of the data for training; lower them",
        )


@dataclass
class LoraConfig:
    r: int = 8
    """Rank of the LoRA update matrices."""
    alpha: int = 16
    """LoRA scaling numerator (scale = alpha / r)."""
    dropout: float = 0.05
    """Dropout on the LoRA branch."""
    targets: list[str] | None = None
    """Module names that get adapters; None = GPT-2's c_attn, c_proj, c_fc on the
    GPT-2 family, PEFT's defaults for the model type otherwise."""
    merge: bool = True
    """Also save the adapter merged into a full model (loads with plain transformers)."""

    def validate(self) -> None:
        _require(self.r >= 1, "--lora-r", f"must be at least 1, got {self.r}")
        _require(self.alpha > 0, "--lora-alpha", f"must be positive, got {self.alpha}")
        _require(0 <= self.dropout < 1, "--lora-dropout", f"must be in [0, 1), got {self.dropout}")


@dataclass
class TrainConfig:
    model: str = "distilgpt2"
    """Hub id, local folder, or scratch:distilgpt2 / scratch:tiny."""
    revision: str | None = None
    """Branch, tag or commit of a Hub model (default: main)."""
    epochs: float = 3
    """Passes over the training chunks."""
    batch_size: int = 8
    """Chunks per optimizer step (per device, before accumulation)."""
    gradient_accumulation_steps: int = 1
    """Micro-batches summed into one optimizer step."""
    lr: float = 5e-5
    """Peak learning rate of AdamW."""
    warmup_ratio: float = 0.1
    """Share of the steps spent warming the learning rate up linearly."""
    weight_decay: float = 0.01
    """AdamW weight decay (not applied to biases and LayerNorm weights)."""
    max_grad_norm: float = 1.0
    """Gradient clipping threshold."""
    max_steps: int | None = None
    """Stop after this many optimizer steps (overrides epochs)."""
    eval_steps: int | None = None
    """Also evaluate every N steps (always once per epoch when unset)."""
    early_stopping_patience: int | None = 3
    """Stop after this many evaluations without a better validation loss."""
    save_total_limit: int = 2
    """Complete checkpoints kept besides the best one."""
    seed: int = 42
    """Seed of initialisation, data order and dropout."""
    lora: LoraConfig | None = None
    """Train a LoRA adapter instead of all weights."""
    freeze_embeddings: bool = False
    """Keep the token and position embeddings fixed. GPT-2 ties its output
    layer to the token embeddings, so that layer stays fixed too: about half
    the trainable weights and less memory, but less room to adapt."""
    data: DataConfig = field(default_factory=DataConfig)
    """How files become chunks and splits."""
    memorization_prompts: int = 32
    """Held-out test prompts the trained model continues (128 tokens each) to
    measure whether it copies its training text; 0 = no memorization report."""

    def validate(self) -> None:
        self.data.validate()
        if self.lora:
            self.lora.validate()
        _require(self.lr > 0, "--lr", f"must be positive, got {self.lr}")
        _require(self.epochs > 0, "--epochs", f"must be positive, got {self.epochs}")
        _require(self.batch_size >= 1, "--batch-size", f"must be at least 1, got {self.batch_size}")
        _require(
            self.gradient_accumulation_steps >= 1,
            "--gradient-accumulation-steps",
            f"must be at least 1, got {self.gradient_accumulation_steps}",
        )
        _require(
            0 <= self.warmup_ratio < 1,
            "--warmup-ratio",
            f"must be in [0, 1), got {self.warmup_ratio}",
        )
        _require(
            self.weight_decay >= 0,
            "--weight-decay",
            f"must not be negative, got {self.weight_decay}",
        )
        _require(
            self.max_steps is None or self.max_steps >= 1,
            "--max-steps",
            f"must be at least 1, got {self.max_steps}",
        )
        _require(
            0 <= self.memorization_prompts <= 1024,
            "--memorization-prompts",
            f"must be between 0 and 1024, got {self.memorization_prompts}",
        )
        _require(
            self.eval_steps is None or self.eval_steps >= 1,
            "--eval-steps",
            f"must be at least 1, got {self.eval_steps}",
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        values = dict(values)
        data = DataConfig(**values.pop("data", {}))
        lora = values.pop("lora", None)
        return cls(data=data, lora=LoraConfig(**lora) if lora else None, **values)


@dataclass
class GenerateConfig:
    max_new_tokens: int = 100
    """Tokens to generate after the prompt."""
    temperature: float = 0.8
    """Sampling temperature; 0 means greedy decoding."""
    top_k: int = 50
    """Sample only among the k most likely tokens (0 = no limit)."""
    top_p: float = 0.95
    """Sample only from the smallest set of tokens whose probability reaches p."""
    repetition_penalty: float = 1.1
    """Values above 1 discourage repeating tokens."""
    seed: int | None = None
    """Seed for reproducible sampling."""
    num_return_sequences: int = 1
    """How many continuations to return."""
    stop: list[str] = field(default_factory=list)
    """Cut the text at the first of these strings."""

    def validate(self) -> None:
        import math

        _require(
            1 <= self.max_new_tokens <= 100_000,
            "--max-new-tokens",
            f"must be between 1 and 100000, got {self.max_new_tokens}",
        )
        _require(
            math.isfinite(self.temperature) and self.temperature >= 0,
            "--temperature",
            f"must be a finite number >= 0 (0 = greedy), got {self.temperature}",
        )
        _require(self.top_k >= 0, "--top-k", f"must be >= 0, got {self.top_k}")
        _require(
            math.isfinite(self.top_p) and 0 < self.top_p <= 1,
            "--top-p",
            f"must be in (0, 1], got {self.top_p}",
        )
        _require(
            math.isfinite(self.repetition_penalty) and self.repetition_penalty > 0,
            "--repetition-penalty",
            f"must be a positive number, got {self.repetition_penalty}",
        )
        _require(
            1 <= self.num_return_sequences <= 64,
            "--num-return-sequences",
            f"must be between 1 and 64, got {self.num_return_sequences}",
        )
