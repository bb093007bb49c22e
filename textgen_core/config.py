"""Typed settings shared by the CLI, the app, the search and the saved run record.

Each field carries its own docstring; `validate()` rejects values that cannot
work, naming the flag and the reason.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from dataclasses import dataclass, field
from functools import cache

from textgen_core.errors import TextgenError
from textgen_core.precision import DECODE_PRECISIONS, TRAIN_PRECISIONS


def _require(ok: bool, flag: str, reason: str) -> None:
    if not ok:
        raise TextgenError(f"{flag}: {reason}")


@cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass (the attribute-docstring
    convention that litgpt and Sphinx read), as one line each."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body
    docs = {}
    for node, after in zip(body, body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


TRAIN_ON = ("answers", "all")
"""Values of `--train-on`: the tokens of prompt/answer and chat data the loss is on."""

_DURATION_UNITS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text: str, flag: str = "--time-budget") -> float:
    """Seconds in a duration like `30m`, `1h30m`, `90s`, `1.5h` or a plain
    number of seconds; a TextgenError naming `flag` otherwise."""
    import re

    value = (text or "").strip().lower()
    parts = re.fullmatch(r"((\d+(\.\d+)?)h)?((\d+(\.\d+)?)m)?((\d+(\.\d+)?)s?)?", value)
    if not value or parts is None:
        raise TextgenError(f"{flag}: {text!r} is not a duration; write e.g. 30m, 1h30m or 90s")
    hours, minutes, seconds = parts.group(2), parts.group(5), parts.group(8)
    total = float(hours or 0) * 3600 + float(minutes or 0) * 60 + float(seconds or 0)
    if total <= 0:
        raise TextgenError(f"{flag}: must be longer than zero, got {text!r}")
    return total


@dataclass
class DataConfig:
    chunk_size: int = 200
    """Tokens per training example; documents are concatenated then cut."""
    val_fraction: float = 0.15
    """Share of the non-test data held out for validation."""
    test_fraction: float = 0.1
    """Share of all data held out first for the final test."""
    seed: int = field(default=42, metadata={"cli": False})
    """Seed of the split (the run's --seed)."""
    dataset: str | None = field(default=None, metadata={"metavar": "NAME"})
    """Also train on this datasets dataset: a Hub name, a local folder of
    parquet/json/csv files, or a folder written by save_to_disk; one document per row."""
    dataset_config: str | None = field(default=None, metadata={"metavar": "C"})
    """Its configuration (subset), if any."""
    dataset_split: str = "train"
    """Its split."""
    text_column: str = "text"
    """Its text column."""
    prompt_column: str = field(default="prompt", metadata={"metavar": "NAME"})
    """The prompt column (or JSON field) of prompt/answer tables: a file or --dataset with
    this column and --response-column is read as prompt and answer pairs."""
    response_column: str = field(default="completion", metadata={"metavar": "NAME"})
    """The answer column (or JSON field) of prompt/answer tables."""
    train_on: str = field(default="answers", metadata={"choices": TRAIN_ON})
    """Prompt/answer and chat data: answers trains on the answers only (completions,
    assistant turns); all on every token, prompts too. Text files train on every
    token either way; test and validation losses are over the answers."""
    doc_separator: str | None = field(default=None, metadata={"metavar": "STRING"})
    """Cut each file's text into documents at this string (e.g. `***` between
    poems), so the split by document can use them; default: one file, one document."""

    def validate(self) -> None:
        if self.dataset is not None:
            _require(bool(self.dataset.strip()), "--dataset", "give a dataset name or folder")
            _require(bool(self.dataset_split), "--dataset-split", "give a split name")
            _require(bool(self.text_column), "--text-column", "give a column name")
        _require(bool(self.prompt_column), "--prompt-column", "give a column name")
        _require(bool(self.response_column), "--response-column", "give a column name")
        _require(
            self.prompt_column != self.response_column,
            "--prompt-column/--response-column",
            f"name two different columns, got {self.prompt_column!r} twice",
        )
        _require(
            self.train_on in TRAIN_ON,
            "--train-on",
            f"must be one of {', '.join(TRAIN_ON)}, got {self.train_on!r}",
        )
        _require(
            self.doc_separator is None or bool(self.doc_separator.strip()),
            "--doc-separator",
            "give a string that is not only whitespace, such as *** or ---",
        )
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
    """Comma-separated module names that get adapters, or all-linear (default: the
    family's attention and MLP projections: c_attn,c_proj,c_fc on GPT-2,
    q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj on Llama, Qwen and
    Gemma; PEFT's defaults for other model types)."""
    merge: bool = field(
        default=True,
        metadata={
            "flag": "--no-merge",
            "invert": True,
            "help": "with --lora, save only the adapter (model/adapter), not a merged model",
        },
    )
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
    """Chunks per micro-batch in each process; under torchrun / accelerate launch the
    effective batch is this x processes x accumulation steps."""
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
    """Evaluate and checkpoint every N steps (default: every epoch)."""
    early_stopping_patience: int | None = field(default=3, metadata={"zero_is_none": True})
    """Evaluations without a better validation loss before stopping; 0 = never."""
    save_total_limit: int = 2
    """Complete checkpoints kept besides the best one."""
    seed: int = 42
    """Seed of initialisation, data order and dropout."""
    lora: LoraConfig | None = field(default=None, metadata={"switch": True})
    """Train a LoRA adapter (PEFT) instead of all weights: far fewer trained
    parameters and less optimizer memory, usually a higher loss than full fine-tuning."""
    freeze_embeddings: bool = False
    """Keep the token and position embeddings fixed. GPT-2 ties its output layer to
    the token embeddings, so the output layer stays fixed too: about half the
    trainable weights and ~0.5 GB less memory for distilgpt2, at most a few percent
    faster, but the model adapts less (slightly higher validation loss; BENCHMARKS.md)."""
    activation_checkpointing: bool = False
    """Recompute each block's activations in the backward pass instead of keeping
    them (transformers' activation checkpointing, once called gradient
    checkpointing): a large model's step keeps far less memory, and takes about a
    third more time. The same losses either way."""
    data: DataConfig = field(default_factory=DataConfig, metadata={"flatten": True})
    """How files become chunks and splits."""
    sample_prompts: list[str] = field(
        default_factory=list,
        metadata={"flag": "--sample-prompt", "append": True, "metavar": "TEXT"},
    )
    """Continue TEXT (seeded with --seed) with the base model and after every
    evaluation, into samples.jsonl; repeatable (default: the opening words of two
    validation documents)."""
    sample_tokens: int = field(default=40, metadata={"metavar": "N"})
    """Tokens generated per sample prompt at each evaluation; 0 takes no samples."""
    precision: str = field(default="auto", metadata={"choices": TRAIN_PRECISIONS})
    """Number format of the matrix products: auto (bf16 on CUDA and on CPUs with
    native bf16 (AVX512_BF16 or AMX), fp16 on older CUDA GPUs, fp32 otherwise),
    fp32, bf16, or fp16 (CUDA only, with loss scaling). Weights and optimizer
    state stay fp32; evaluation runs in fp32."""
    time_budget: str | None = field(default=None, metadata={"metavar": "DURATION"})
    """Finish within this duration, evaluations included (e.g. 30m, 1h30m, 90s):
    the step count is set from a short timed calibration (never more than the
    epochs or max_steps allow), re-fitted once from the run's own first steps,
    and the learning-rate schedule's decay ends exactly at the last step."""
    memorization_prompts: int = 32
    """Held-out test prompts the trained model continues (128 tokens each) to
    measure whether it copies its training text; 0 = no memorization report."""

    def validate(self) -> None:
        self.data.validate()
        _require(
            self.precision in TRAIN_PRECISIONS,
            "--precision",
            f"must be one of {', '.join(TRAIN_PRECISIONS)}, got {self.precision!r}",
        )
        if self.time_budget is not None:
            parse_duration(self.time_budget)
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
        _require(
            0 <= self.sample_tokens <= 1000,
            "--sample-tokens",
            f"must be between 0 and 1000 (0 = no samples), got {self.sample_tokens}",
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        values = dict(values)
        data = DataConfig(**values.pop("data", {}))
        lora = values.pop("lora", None)
        # {} (a bare --lora, or `"lora": {}` in a config file) is LoRA with its defaults
        if lora is True:
            lora = {}
        return cls(data=data, lora=None if lora in (None, False) else LoraConfig(**lora), **values)


@dataclass
class GenerateConfig:
    max_new_tokens: int = 100
    """Tokens to generate after the prompt."""
    temperature: float = 0.8
    """Sampling temperature; 0 = greedy decoding."""
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
    stop: list[str] = field(default_factory=list, metadata={"append": True, "metavar": "TEXT"})
    """Cut the text at the first of these strings (repeatable)."""

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


@dataclass
class DecodeConfig:
    precision: str = field(default="auto", metadata={"choices": DECODE_PRECISIONS})
    """Weights to decode from on CPU: bf16 (CPUs with AVX512_BF16 or AMX) or int8
    (dynamic quantization) decode faster from smaller weights; greedy output may
    differ slightly from fp32 (auto = fp32)."""


@dataclass
class EvalConfig:
    batch_size: int = 16
    """Chunks scored together."""
    memorization: bool = False
    """Also report whether MODEL copies PATH, its training text: PATH is split as the
    model's training run split it (its recorded settings, when MODEL is a run's model
    or checkpoint folder), 32 held-out prompts are continued by 128 tokens and
    compared with the training split. Costs 32x128 generated tokens (about a minute
    for distilgpt2 on a laptop CPU) plus an index of the training tokens (seconds,
    ~20 bytes a token)."""
