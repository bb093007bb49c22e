"""Load a model and its tokenizer: a Hub id, a local folder, or `scratch:<arch>`.

Every tokenizer gets a pad token (`[PAD]`, added as a special token) and the
embeddings are resized to a multiple of 64, which keeps the LM-head matmul on
fast shapes. Token ids the tokenizer cannot produce are suppressed in the saved
generation config, so plain `transformers` generation never samples them.
"""

from __future__ import annotations

import json
from pathlib import Path

from textgen_core.chat_template import stop_ids
from textgen_core.errors import TextgenError
from textgen_core.model.offline_tokenizers import gpt2_tokenizer_dir
from textgen_core.model.tokenizer_check import check_tokenizer, tokenizer_source

PAD_TOKEN = "[PAD]"
PAD_MULTIPLE = 64
SCRATCH_PREFIX = "scratch:"
# Learned position-embedding modules by architecture (GPT-2, GPT-Neo: wpe; OPT: embed_positions).
_POSITION_EMBEDDINGS = {"wpe", "embed_positions"}

# Architectures for from-scratch training and offline use. `tiny` is small
# enough to learn visibly in a few CPU minutes.
SCRATCH_ARCHS = {
    "distilgpt2": dict(n_layer=6, n_embd=768, n_head=12, n_positions=1024),
    "gpt2": dict(n_layer=12, n_embd=768, n_head=12, n_positions=1024),
    "tiny": dict(n_layer=2, n_embd=128, n_head=4, n_positions=512),
}


def _scratch_arch(name: str) -> dict:
    arch = name[len(SCRATCH_PREFIX) :]
    if arch not in SCRATCH_ARCHS:
        raise TextgenError(
            f"--model {name}: unknown scratch architecture; choose one of "
            + ", ".join(SCRATCH_PREFIX + a for a in SCRATCH_ARCHS)
        )
    return SCRATCH_ARCHS[arch]


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
    """The tokenizer of `name`, with a pad token."""
    from transformers import AutoTokenizer

    source = gpt2_tokenizer_dir() if name.startswith(SCRATCH_PREFIX) else name
    if name.startswith(SCRATCH_PREFIX):
        _scratch_arch(name)
    elif adapter_dir(name):
        source = str(adapter_dir(name))
    if not name.startswith(SCRATCH_PREFIX):
        # a run's checkpoint without tokenizer files: its run's tokenizer
        resolved, resolved_revision = tokenizer_source(str(source))
        if resolved != str(source):
            return load_tokenizer(resolved, revision=resolved_revision)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
    except (OSError, ValueError) as exc:
        raise _load_error(name, exc, revision) from None
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    return tokenizer


def save_tokenizer(tokenizer, folder) -> None:
    """`save_pretrained`, keeping a SentencePiece `tokenizer.model` beside
    tokenizer.json: transformers 5 writes only the latter, and llama.cpp's converter
    builds Gemma's GGUF vocabulary from the former (textgen export)."""
    tokenizer.save_pretrained(folder)
    vocab_file = getattr(tokenizer, "vocab_file", None)
    if isinstance(vocab_file, str) and vocab_file.endswith(".model") and Path(vocab_file).is_file():
        tokenizer.save_vocabulary(str(folder))  # copies it to folder/tokenizer.model


def load_model(name: str, tokenizer, *, seed: int = 42, revision: str | None = None):
    """The causal LM of `name`, embeddings resized for the tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    if adapter_dir(name):
        return _load_adapter(adapter_dir(name), tokenizer, seed=seed)
    if name.startswith(SCRATCH_PREFIX):
        torch.manual_seed(seed)
        config = GPT2Config(
            vocab_size=len(tokenizer),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **_scratch_arch(name),
        )
        model = GPT2LMHeadModel(config)
    else:
        try:
            model = AutoModelForCausalLM.from_pretrained(name, revision=revision)
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

    base = json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"]
    model = load_model(base, tokenizer, seed=seed)
    return PeftModel.from_pretrained(model, folder).merge_and_unload()


def _linear_names(model) -> set[str]:
    import torch
    from transformers.pytorch_utils import Conv1D

    return {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, (torch.nn.Linear, Conv1D))
    }


def apply_lora(model, lora):
    """Wrap `model` with trainable LoRA adapters (PEFT); everything else frozen."""
    from peft import LoraConfig, get_peft_model

    targets = lora.targets
    if targets is None and model.config.model_type == "gpt2":
        targets = ["c_attn", "c_proj", "c_fc"]
    found = _linear_names(model)
    if targets is not None and not set(targets) <= found:
        raise TextgenError(
            f"--lora-targets: {', '.join(sorted(set(targets) - found))} not in this model; "
            f"its linear layers are: {', '.join(sorted(found))}"
        )
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=targets,
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


def prepare_for_tokenizer(model, tokenizer) -> None:
    """Resize embeddings for the tokenizer (padded to a multiple of 64), and
    record pad/eos ids (and the chat template's end of turn) and the
    never-produced ids in the configs."""
    rows = model.get_input_embeddings().weight.shape[0]
    if rows < len(tokenizer) or rows % PAD_MULTIPLE:
        _resize_embeddings(model, len(tokenizer))
    vocab = model.get_input_embeddings().weight.shape[0]
    model.config.pad_token_id = tokenizer.pad_token_id
    gen = model.generation_config
    gen.pad_token_id = tokenizer.pad_token_id
    stop = stop_ids(tokenizer)  # with a chat template, its end of turn too
    gen.eos_token_id = stop[0] if len(stop) == 1 else stop or None
    gen.bos_token_id = tokenizer.bos_token_id
    never = set(range(len(tokenizer), vocab))
    if tokenizer.pad_token_id != tokenizer.eos_token_id:
        never.add(tokenizer.pad_token_id)
    gen.suppress_tokens = sorted(never) or None


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
