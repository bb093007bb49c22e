"""What textgen knows about each family of models, in one place, by `model_type`.

A family is an architecture that transformers implements (`config.model_type`).
textgen tests every path (load, full and LoRA training, evaluation, generation,
serving, export) on five of them, `FAMILIES`; any other causal LM still trains
and generates through transformers with the generic rules of `OTHER` (no fused
loss, PEFT's own LoRA targets).

What differs between families, and why:

- **LoRA targets**: the module names of the attention and MLP projections, as
  PEFT addresses them (PEFT's own defaults for these families are q_proj and
  v_proj only, which trains noticeably less).
- **The fused loss** (kernels.lm_loss) computes exactly the model's own loss only
  where its forward is a plain, bias-free `lm_head` followed by cross-entropy:
  read from each family's transformers 5.24 modeling file. Gemma 3 applies
  `final_logit_softcapping` when its config sets it (the published 270M and 1B
  leave it unset), so that config is checked at run time as well.
- **The pad token**: a tokenizer that has one keeps it. GPT-2's has none and
  gets `[PAD]`, an added row, with the vocabulary padded to a multiple of 64
  (50257 -> 50304 rows, a faster LM-head shape measured in BENCHMARKS.md), as
  textgen always did. Every other family's tokenizer without a pad (Llama 3's,
  SmolLM2's) pads with its EOS token: the model keeps its shape, and since
  padding is masked by the attention mask (never by token id), the EOS that
  ends each document is still trained.
- **Licence notes** for model cards: the base model's licence applies to a
  fine-tuned model; where a family spans licences, the note says which.

Plain data: nothing here imports torch or transformers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The projections of a Llama-style decoder block, as PEFT names them.
_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Family:
    model_type: str
    """`config.model_type` of the family's models."""
    name: str
    """How people call it."""
    examples: tuple[str, ...] = ()
    """Hub ids of small published models of the family."""
    lora_targets: tuple[str, ...] | None = None
    """Default LoRA target modules; None: PEFT's default for the model type."""
    plain_lm_head: bool = False
    """The causal-LM forward is `lm_head(hidden)` + cross-entropy, nothing else,
    so the fused LM-head loss reproduces its loss exactly."""
    adds_pad_token: bool = False
    """A tokenizer without a pad gets an added `[PAD]` row (and the vocabulary
    padded to a multiple of 64); otherwise EOS doubles as pad."""
    licence: str = "the base model's own licence (see its model card)"
    """Licence note for the model card of a model fine-tuned from this family."""
    hub_licence: str | None = None
    """The Hub's `license:` identifier, where the whole family shares one."""
    offline_tokenizer: str | None = None
    """The tokenizer of the family that textgen fetches without the Hub
    (model.offline_tokenizers), for scratch models and tests."""


FAMILIES: dict[str, Family] = {
    f.model_type: f
    for f in (
        Family(
            "gpt2",
            "GPT-2",
            examples=("distilgpt2", "openai-community/gpt2"),
            lora_targets=("c_attn", "c_proj", "c_fc"),
            plain_lm_head=True,
            adds_pad_token=True,
            licence="MIT (GPT-2, OpenAI); distilgpt2: Apache 2.0 (Hugging Face)",
            offline_tokenizer="gpt2",
        ),
        Family(
            "llama",
            "Llama",
            examples=(
                "HuggingFaceTB/SmolLM2-135M",
                "HuggingFaceTB/SmolLM2-360M",
                "meta-llama/Llama-3.2-1B",
                "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
            ),
            lora_targets=_PROJECTIONS,
            plain_lm_head=True,
            licence=(
                "depends on the model: SmolLM2 and TinyLlama Apache 2.0; Llama 3.x the "
                "Llama 3.x Community License (Meta), whose terms a fine-tuned model inherits"
            ),
            offline_tokenizer="llama3",
        ),
        Family(
            "qwen2",
            "Qwen2 / Qwen2.5",
            examples=("Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-0.5B-Instruct"),
            lora_targets=_PROJECTIONS,
            plain_lm_head=True,
            licence="Apache 2.0 for Qwen2.5 0.5B, 1.5B, 7B, 14B, 32B; the Qwen licence for 3B and 72B",
            offline_tokenizer="qwen3",  # Qwen2.5 and Qwen3 share the byte-level BPE
        ),
        Family(
            "qwen3",
            "Qwen3",
            examples=("Qwen/Qwen3-0.6B", "Qwen/Qwen3-0.6B-Base"),
            lora_targets=_PROJECTIONS,
            plain_lm_head=True,
            licence="Apache 2.0 (Qwen)",
            hub_licence="apache-2.0",
            offline_tokenizer="qwen3",
        ),
        Family(
            "gemma3_text",
            "Gemma 3",
            examples=("google/gemma-3-270m", "google/gemma-3-270m-it", "google/gemma-3-1b-it"),
            lora_targets=_PROJECTIONS,
            plain_lm_head=True,  # unless final_logit_softcapping is set: checked per model
            licence="Gemma Terms of Use (Google), whose use restrictions a fine-tuned model inherits",
            hub_licence="gemma",
            offline_tokenizer="gemma3",
        ),
    )
}
"""The families every path is tested on, by model_type."""

OTHER = Family("other", "other (through transformers)")
"""The generic rules for any other model_type."""


def family(model_type: str | None) -> Family:
    """The family of `model_type`; OTHER (generic rules) for any other."""
    return FAMILIES.get(model_type or "", OTHER)


def supported() -> str:
    """The tested families, for messages: `gpt2, llama, ...`."""
    return ", ".join(FAMILIES)


@dataclass(frozen=True)
class Architecture:
    """A published model's shape, to build with random weights (`scratch:NAME`)
    or to measure (benchmarks/families.py)."""

    model_type: str
    config: dict = field(default_factory=dict)
    """Arguments of the model_type's transformers config."""
    tokenizer: str | None = None
    """The offline tokenizer whose vocabulary the published model has; an
    architecture without one is measured but is no `scratch:` preset."""
    published_as: str | None = None
    """The Hub id of the model with this shape."""


_QWEN3_0_6B = dict(
    vocab_size=151936,
    hidden_size=1024,
    intermediate_size=3072,
    num_hidden_layers=28,
    num_attention_heads=16,
    num_key_value_heads=8,
    head_dim=128,
    max_position_embeddings=40960,
    rope_theta=1_000_000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)
_QWEN2_5_0_5B = dict(
    vocab_size=151936,
    hidden_size=896,
    intermediate_size=4864,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    max_position_embeddings=32768,
    rope_theta=1_000_000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)
_GEMMA3_270M = dict(
    vocab_size=262144,
    hidden_size=640,
    intermediate_size=2048,
    num_hidden_layers=18,
    num_attention_heads=4,
    num_key_value_heads=1,
    head_dim=256,
    max_position_embeddings=32768,
    query_pre_attn_scalar=256,
    sliding_window=512,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)
_SMOLLM2_135M = dict(
    vocab_size=49152,
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    max_position_embeddings=8192,
    rope_theta=100_000.0,
    rms_norm_eps=1e-5,
    tie_word_embeddings=True,
)

ARCHITECTURES: dict[str, Architecture] = {
    # GPT-2's vocabulary is the tokenizer's (50257 + [PAD]), as textgen always built them.
    "distilgpt2": Architecture(
        "gpt2", dict(n_layer=6, n_embd=768, n_head=12, n_positions=1024), "gpt2", "distilgpt2"
    ),
    "gpt2": Architecture(
        "gpt2",
        dict(n_layer=12, n_embd=768, n_head=12, n_positions=1024),
        "gpt2",
        "openai-community/gpt2",
    ),
    # Small enough to learn visibly in a few CPU minutes.
    "tiny": Architecture("gpt2", dict(n_layer=2, n_embd=128, n_head=4, n_positions=512), "gpt2"),
    "qwen3-0.6b": Architecture("qwen3", _QWEN3_0_6B, "qwen3", "Qwen/Qwen3-0.6B"),
    "gemma3-270m": Architecture("gemma3_text", _GEMMA3_270M, "gemma3", "google/gemma-3-270m"),
    # SmolLM2's and Qwen2.5's own tokenizers are not available offline: measured, not presets.
    "qwen2.5-0.5b": Architecture("qwen2", _QWEN2_5_0_5B, None, "Qwen/Qwen2.5-0.5B"),
    "smollm2-135m": Architecture("llama", _SMOLLM2_135M, None, "HuggingFaceTB/SmolLM2-135M"),
}
"""Published architectures, by the name `scratch:NAME` gives them."""

SCRATCH_ARCHITECTURES = {name: a for name, a in ARCHITECTURES.items() if a.tokenizer}
"""The ones `--model scratch:NAME` builds (those with an offline tokenizer)."""
