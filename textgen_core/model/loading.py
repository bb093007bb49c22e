"""Load a model and its tokenizer: a Hub id, a local folder, or `scratch:<arch>`.

What differs by family (textgen_core.families): a tokenizer without a pad token
gets `[PAD]` on GPT-2 (an added row, the embeddings resized to a multiple of 64,
which keeps the LM-head matmul on fast shapes) and pads with its EOS token on
every other family, so their models keep their shape. Embedding rows are added
only where the tokenizer gives text an id the model has no row for. A tokenizer
without an EOS token is refused: every document ends with it. Token ids the
tokenizer cannot produce are suppressed in the saved generation config, so plain
`transformers` generation never samples them.
"""

from __future__ import annotations

import json
from pathlib import Path

from textgen_core.chat_template import stop_ids
from textgen_core.errors import TextgenError
from textgen_core.families import SCRATCH_ARCHITECTURES, Architecture, family
from textgen_core.model.offline_tokenizers import gpt2_tokenizer_dir as gpt2_tokenizer_dir  # API
from textgen_core.model.offline_tokenizers import tokenizer_dir
from textgen_core.model.tokenizer_check import check_tokenizer, tokenizer_source

PAD_TOKEN = "[PAD]"
PAD_MULTIPLE = 64
SCRATCH_PREFIX = "scratch:"
# Learned position-embedding modules by architecture (GPT-2, GPT-Neo: wpe; OPT: embed_positions).
_POSITION_EMBEDDINGS = {"wpe", "embed_positions"}

SCRATCH_ARCHS = {name: a.config for name, a in SCRATCH_ARCHITECTURES.items()}
"""Architectures for from-scratch training and offline use (families.ARCHITECTURES
with an offline tokenizer), by name: `scratch:tiny`, `scratch:qwen3-0.6b`, ..."""


def _scratch_arch(name: str) -> Architecture:
    arch = name[len(SCRATCH_PREFIX) :]
    if arch not in SCRATCH_ARCHITECTURES:
        raise TextgenError(
            f"--model {name}: unknown scratch architecture; choose one of "
            + ", ".join(SCRATCH_PREFIX + a for a in SCRATCH_ARCHITECTURES)
        )
    return SCRATCH_ARCHITECTURES[arch]


def _scratch_config(name: str, tokenizer=None):
    """The transformers config of `scratch:NAME`; GPT-2's vocabulary is the
    tokenizer's own length (its [PAD] included), the others' the published one."""
    from transformers import AutoConfig

    arch = _scratch_arch(name)
    values = dict(arch.config)
    if tokenizer is not None:
        values.setdefault("vocab_size", len(tokenizer))
        values.update(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    return AutoConfig.for_model(arch.model_type, **values)


def base_config(name: str, *, revision: str | None = None):
    """The transformers config of model `name` (a scratch architecture, a LoRA
    adapter's base, a folder or a Hub id), read without the weights; None when
    there is none to read."""
    from transformers import AutoConfig

    if name.startswith(SCRATCH_PREFIX):
        return _scratch_config(name)
    if adapter_dir(name):
        return base_config(_adapter_base(adapter_dir(name)))
    try:
        return AutoConfig.from_pretrained(name, revision=revision)
    except Exception:  # no config, no network: the callers have a generic rule
        return None


def _load_error(name: str, exc: Exception, revision: str | None = None) -> TextgenError:
    if Path(name).is_dir():
        first = str(exc).strip().split("\n")[0]
        return TextgenError(
            f"--model {name}: the folder holds no loadable model ({first}); point --model at "
            "the model/ folder of a textgen run, a Hub id, or scratch:tiny"
        )
    from textgen_core.errors import describe_load_error

    return describe_load_error(name, exc, revision=revision)


def load_tokenizer(name: str, *, revision: str | None = None):
    """The tokenizer of `name`, with an EOS and a pad token (`give_pad_token`)."""
    from transformers import AutoTokenizer

    if name.startswith(SCRATCH_PREFIX):
        source = tokenizer_dir(_scratch_arch(name).tokenizer)
    elif adapter_dir(name):
        source = str(adapter_dir(name))
    else:
        source = name
    if not name.startswith(SCRATCH_PREFIX):
        # a run's checkpoint without tokenizer files: its run's tokenizer
        resolved, resolved_revision = tokenizer_source(str(source))
        if resolved != str(source):
            return load_tokenizer(resolved, revision=resolved_revision)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
    except (OSError, ValueError) as exc:
        raise _load_error(name, exc, revision) from None
    if tokenizer.eos_token_id is None:
        raise TextgenError(
            f"--model {name}: its tokenizer has no end-of-text (EOS) token, which textgen puts "
            "after every document so the model learns where texts end; choose a model whose "
            'tokenizer has one, or set "eos_token" in its tokenizer_config.json'
        )
    config = base_config(name, revision=revision)
    give_pad_token(tokenizer, getattr(config, "model_type", None))
    return tokenizer


def save_tokenizer(tokenizer, folder) -> None:
    """`save_pretrained`, keeping a SentencePiece `tokenizer.model` beside
    tokenizer.json: transformers 5 writes only the latter, and llama.cpp's converter
    builds Gemma's GGUF vocabulary from the former (textgen export)."""
    tokenizer.save_pretrained(folder)
    vocab_file = getattr(tokenizer, "vocab_file", None)
    if isinstance(vocab_file, str) and vocab_file.endswith(".model") and Path(vocab_file).is_file():
        tokenizer.save_vocabulary(str(folder))  # copies it to folder/tokenizer.model


def give_pad_token(tokenizer, model_type: str | None) -> None:
    """A pad token for a tokenizer without one: `[PAD]`, an added token, for
    families that add one (GPT-2, as textgen always did); else its EOS token,
    which changes nothing in the model. Padding is masked by the attention
    mask, never by token id, so the EOS that ends a document is still trained."""
    if tokenizer.pad_token is not None:
        return
    if family(model_type).adds_pad_token:
        tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    else:
        tokenizer.pad_token = tokenizer.eos_token


def load_model(name: str, tokenizer, *, seed: int = 42, revision: str | None = None):
    """The causal LM of `name` in float32, embeddings resized for the tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM

    if adapter_dir(name):
        return _load_adapter(adapter_dir(name), tokenizer, seed=seed)
    if name.startswith(SCRATCH_PREFIX):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(_scratch_config(name, tokenizer))
    else:
        try:
            # float32 whatever the checkpoint's own type: transformers 5 loads a bf16
            # checkpoint (SmolLM2, Qwen3, Gemma 3 ship bf16) as bf16 by default, and
            # training would then keep bf16 master weights and optimizer updates
            # (lost below bf16's resolution), and `--precision fp32` compute in bf16.
            model = AutoModelForCausalLM.from_pretrained(
                name, revision=revision, dtype=torch.float32
            )
        except (OSError, ValueError) as exc:
            raise _load_error(name, exc, revision) from None
        check_tokenizer(model, tokenizer, name)
    prepare_for_tokenizer(model, tokenizer)
    return model


def adapter_dir(name: str) -> Path | None:
    """The PEFT adapter folder `name` stands for: the folder itself, or the
    `adapter/` of a model folder that holds no full model (--no-merge)."""
    path = Path(name)
    if (path / "adapter_config.json").is_file():
        return path
    if (
        not (path / "config.json").is_file()
        and (path / "adapter" / "adapter_config.json").is_file()
    ):
        return path / "adapter"
    return None


def _load_adapter(folder: Path, tokenizer, *, seed: int):
    """Base model + LoRA adapter, merged for plain, fast inference."""
    from peft import PeftModel

    model = load_model(_adapter_base(folder), tokenizer, seed=seed)
    return PeftModel.from_pretrained(model, folder).merge_and_unload()


def _adapter_base(folder: Path) -> str:
    return json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"]


def _linear_names(model) -> set[str]:
    import torch
    from transformers.pytorch_utils import Conv1D

    return {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, (torch.nn.Linear, Conv1D))
    }


ALL_LINEAR = "all-linear"
"""`--lora-targets all-linear`: every linear layer but the output head (PEFT's shorthand)."""


def lora_targets(model, requested: list[str] | None) -> list[str] | str | None:
    """The LoRA target modules: `requested`, else the family's defaults (None:
    PEFT's own for the model type). Names not in the model are refused."""
    if requested and ALL_LINEAR in requested:
        return ALL_LINEAR
    targets = requested
    if targets is None and family(model.config.model_type).lora_targets:
        targets = list(family(model.config.model_type).lora_targets)
    found = _linear_names(model)
    if targets is not None and not set(targets) <= found:
        raise TextgenError(
            f"--lora-targets: {', '.join(sorted(set(targets) - found))} not in this model; "
            f"its linear layers are: {', '.join(sorted(found))} (or {ALL_LINEAR})"
        )
    return targets


def apply_lora(model, lora):
    """Wrap `model` with trainable LoRA adapters (PEFT); everything else frozen."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora_targets(model, lora.targets),
        fan_in_fan_out=model.config.model_type == "gpt2",  # GPT-2 stores Conv1D weights transposed
        task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        raise TextgenError(f"--lora: {exc}; name the layers with --lora-targets") from None


def freeze_embeddings(model) -> list[str]:
    """Stop training the token and position embeddings; returns the names of the
    frozen parameters. A tied output layer (GPT-2's LM head shares the token
    embedding matrix) is frozen with them, which also spares the head's weight
    gradient, about a sixth of a training step's matmul work on distilgpt2."""
    modules = [model.get_input_embeddings()]
    modules += [m for n, m in model.named_modules() if n.rsplit(".", 1)[-1] in _POSITION_EMBEDDINGS]
    targets = {id(p) for m in modules for p in m.parameters()}
    frozen = []
    for name, param in model.named_parameters():
        if id(param) in targets:
            param.requires_grad_(False)
            frozen.append(name)
    return frozen


def embeddings_resized(model, name: str, *, revision: str | None = None) -> bool:
    """Whether `model`'s embedding rows differ from those of the base model
    `name` (textgen added `[PAD]` or rows for the tokenizer), so that a LoRA
    adapter must carry the embeddings to be loaded on top of the base."""
    config = base_config(name, revision=revision)
    rows = model.get_input_embeddings().weight.shape[0]
    return config is None or getattr(config, "vocab_size", None) != rows


def parameter_counts(model) -> dict:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {
        "trainable_parameters": trainable,
        "total_parameters": total,
        "trainable_fraction": trainable / total,
    }


def _resize_embeddings(model, size: int) -> None:
    """Grow the embeddings to `size` rounded up to a multiple of 64; new rows
    start at the mean of the old ones. Deterministic, unlike transformers'
    sampled initialisation, so a base model rebuilt on resume (LoRA trains on
    top of it) is the same one."""
    import torch

    old = model.get_input_embeddings().weight.shape[0]
    model.resize_token_embeddings(size, pad_to_multiple_of=PAD_MULTIPLE, mean_resizing=False)
    with torch.no_grad():
        for layer in (model.get_input_embeddings(), model.get_output_embeddings()):
            if layer is not None and layer.weight.shape[0] > old:
                layer.weight[old:] = layer.weight[:old].mean(dim=0)


def rows_needed(tokenizer, rows: int) -> int:
    """Embedding rows the text path needs: every id the tokenizer gives
    ordinary text, and its pad, EOS and BOS ids. A special token past the
    model's `rows` that is none of these needs no row: Gemma 3's tokenizer has
    262145 tokens for the model's 262144 rows, the last being
    `<image_soft_token>`, which only its image model uses."""
    used = {tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id}
    added = tokenizer.added_tokens_decoder
    needed = [
        i
        for i in range(rows, len(tokenizer))
        if i in used or i not in added or not added[i].special
    ]
    return max(needed, default=rows - 1) + 1


def prepare_for_tokenizer(model, tokenizer) -> None:
    """Resize the embeddings only where the tokenizer needs more rows (and, on
    families that add `[PAD]`, to a multiple of 64), and record the pad and
    stop ids (EOS, the chat template's end of turn, the model's own) and the
    never-produced ids in the configs."""
    rows = model.get_input_embeddings().weight.shape[0]
    needed = rows_needed(tokenizer, rows)
    padded_family = family(model.config.model_type).adds_pad_token
    if rows < needed or (padded_family and (rows < len(tokenizer) or rows % PAD_MULTIPLE)):
        _resize_embeddings(model, max(needed, len(tokenizer) if padded_family else needed))
    vocab = model.get_input_embeddings().weight.shape[0]
    model.config.pad_token_id = tokenizer.pad_token_id
    gen = model.generation_config
    eos = end_token_ids(gen.eos_token_id, stop_ids(tokenizer))
    gen.pad_token_id = tokenizer.pad_token_id
    gen.eos_token_id = eos[0] if len(eos) == 1 else eos or None
    gen.bos_token_id = tokenizer.bos_token_id
    never = set(range(len(tokenizer), vocab))
    if tokenizer.pad_token_id not in eos:
        never.add(tokenizer.pad_token_id)
    gen.suppress_tokens = sorted(never) or None


def end_token_ids(model_eos, stops: list[int]) -> list[int]:
    """The ids generation stops at: `stops` (the tokenizer's EOS, which ends every
    training document, and its chat template's end of turn) first, then the
    model's own (Qwen3's config also stops at `<|endoftext|>`)."""
    own = model_eos if isinstance(model_eos, list) else [] if model_eos is None else [model_eos]
    return [*stops, *(i for i in own if i not in stops)]


def context_length(model) -> int:
    config = model.config
    for key in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    return 1024


def load_for_inference(name: str, *, revision: str | None = None):
    """Model (eval mode) and tokenizer of a trained folder, Hub id or scratch arch."""
    tokenizer = load_tokenizer(name, revision=revision)
    model = load_model(name, tokenizer, revision=revision)
    model.eval()
    return model, tokenizer
