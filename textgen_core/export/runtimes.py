"""The runtimes an export is measured in, behind one small interface: `logits(ids)`
(every position of one token sequence, as float32 numpy) and `greedy(prompt, n)`
(the runtime's own tokenizer and decoding loop, text out).

`Torch` is textgen itself, the reference; `LlamaCpp` is llama.cpp through
llama-cpp-python, `TransformersGGUF` is transformers' GGUF loader, `OnnxRuntime` runs
the exported graph with its past key values, as an app embedding it would.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from textgen_core.config import GenerateConfig
from textgen_core.cpuinfo import cpu_flags


class Torch:
    """textgen's PyTorch model, decoding exactly as `textgen generate` does."""

    name = "textgen (PyTorch)"

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer

    def logits(self, ids: list[int]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model(torch.tensor([ids])).logits[0].float().numpy()

    def greedy(self, prompt: str, n: int) -> str:
        from textgen_core.generate.sampling import generate

        cfg = GenerateConfig(max_new_tokens=n, temperature=0, repetition_penalty=1.0)
        return generate(self.model, self.tokenizer, prompt, cfg)[0]


LLAMA_CPP_MISSING = (
    'llama-cpp-python is not installed: pip install "textgen[llama]" (in a clone: '
    'pip install ".[llama]"; built from source where PyPI has no wheel, a few minutes)'
)


class LlamaCpp:
    """A GGUF file in llama.cpp (llama-cpp-python), its own tokenizer and sampler."""

    name = "llama.cpp"

    def __init__(self, path: Path, context: int):
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # an optional extra: say how to get it
            raise ImportError(LLAMA_CPP_MISSING, name="llama_cpp") from exc

        self.no_repack = "amx_int8" in cpu_flags()
        with _without_repacking() if self.no_repack else contextlib.nullcontext():
            self.llm = Llama(
                model_path=str(path),
                n_ctx=context,
                logits_all=True,  # perplexity needs every position's logits
                n_threads=_threads(),
                seed=0,
                verbose=False,
            )

    def logits(self, ids: list[int]) -> np.ndarray:
        self.llm.reset()
        self.llm.eval(ids)
        return np.array(self.llm.scores[: len(ids)], dtype=np.float32)

    def greedy(self, prompt: str, n: int) -> str:
        self.llm.reset()
        out = self.llm.create_completion(
            prompt, max_tokens=n, temperature=0.0, repeat_penalty=1.0, top_k=1, top_p=1.0
        )
        self.generated = out["usage"]["completion_tokens"]
        return out["choices"][0]["text"]

    def close(self) -> None:
        self.llm.close()


def _threads() -> int:
    """llama.cpp's threads hand work to each other as torch's do, and stall the same
    way behind a busy core (measured: 50 greedy tokens of a tiny model take 0.4 s of
    CPU on one thread, 3-6 s on two while the other core is busy): they get the
    idle cores, as textgen's own decoding does."""
    from textgen_core.generate.decode_threads import threads_for
    from textgen_core.kernels.cpu_load import idle_cores

    return threads_for(idle_cores(), os.cpu_count() or 1)


@contextlib.contextmanager
def _without_repacking():
    """Load llama.cpp models without its repacked weight buffers.

    On CPUs with AMX (Intel Xeon 4th generation and later) llama.cpp moves
    quantized weights (q8_0 here) into an AMX buffer, and its AMX matrix product
    then segfaults on the first evaluation (llama.cpp issue #20824; the same
    file runs once the weights stay where they are). `llama-cli --no-repack`
    avoids it; llama-cpp-python has no argument for it, so its default model
    parameters are wrapped while the model loads. The arithmetic is the same
    either way: only the weights' layout in memory differs."""
    import llama_cpp.llama as module

    default = module.llama_cpp.llama_model_default_params

    def without_repacking():
        params = default()
        params.use_extra_bufts = False
        return params

    module.llama_cpp.llama_model_default_params = without_repacking
    try:
        yield
    finally:
        module.llama_cpp.llama_model_default_params = default


class Unsupported(Exception):
    """The runtime cannot load this export at all: recorded, not measured."""


@contextlib.contextmanager
def _one_reader(path: Path):
    """Parse the GGUF file once while transformers loads it: its config, tokenizer
    and weights each construct a `gguf.GGUFReader` of the whole file, whose parse of
    a 150k-token vocabulary and its merges takes most of the load (measured on the
    Qwen3 tokenizer: 6 s of CPU a parse, 37 s for the whole load before). The reader
    is read-only (a memory map), so every caller gets the same one; the contents,
    and so what transformers builds, are unchanged."""
    import gguf

    from textgen_core.export.gguf_read import read_gguf

    made = gguf.GGUFReader
    reader = read_gguf(path)

    def shared(file, *args, **kwargs):
        return (
            reader
            if Path(file).resolve() == path.resolve() and not args and not kwargs
            else made(file, *args, **kwargs)
        )

    gguf.GGUFReader = shared
    try:
        yield reader
    finally:
        gguf.GGUFReader = made


def _gguf_fields(reader) -> dict:
    """The GGUF file's scalar and boolean-array metadata, by key."""
    import gguf

    fields = {}
    for key, field in reader.fields.items():
        kinds = field.types
        if (
            not kinds
            or kinds[0] == gguf.GGUFValueType.ARRAY
            and kinds[-1] != gguf.GGUFValueType.BOOL
        ):
            continue
        fields[key] = field.contents()
    return fields


def _carry_over(config, architecture: str, fields: dict) -> None:
    """Keys transformers' GGUF loader leaves unread for these families (so it would
    build the published models' shapes), taken from the file itself: GPT-2's context
    (it sizes the position table from `n_positions`), Qwen3's and Gemma 3's head size,
    Gemma 3's attention scale and sliding-window layers."""
    if getattr(config, "n_ctx", None):
        config.n_positions = config.n_ctx
    head_dim = fields.get(f"{architecture}.attention.key_length")
    if head_dim is not None and hasattr(config, "head_dim"):
        config.head_dim = head_dim
    if head_dim is not None and hasattr(config, "query_pre_attn_scalar"):
        config.query_pre_attn_scalar = head_dim  # llama.cpp's Gemma 3 scale (gguf_file)
    pattern = fields.get(f"{architecture}.attention.sliding_window_pattern")
    if isinstance(pattern, list) and hasattr(config, "layer_types"):
        config.layer_types = [
            "sliding_attention" if sliding else "full_attention" for sliding in pattern
        ]


class TransformersGGUF:
    """A GGUF file loaded back by transformers (`from_pretrained(..., gguf_file=...)`)."""

    name = "transformers (GGUF)"

    def __init__(self, path: Path):
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

        # The file by its full path: given a bare name, transformers loads the weights
        # from a file of that name in the working folder when there is one.
        folder, file = str(path.parent), str(path.resolve())
        with _one_reader(path) as reader:
            fields = _gguf_fields(reader)
            architecture = fields["general.architecture"]
            if architecture not in GGUF_SUPPORTED_ARCHITECTURES:
                raise Unsupported(f"transformers' GGUF loader does not read {architecture} files")
            config = AutoConfig.from_pretrained(folder, gguf_file=file)
            _carry_over(config, architecture, fields)
            self.model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, config=config)
            self.tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
        self.model.eval()

    def logits(self, ids: list[int]) -> np.ndarray:
        return Torch(self.model, self.tokenizer).logits(ids)

    def greedy(self, prompt: str, n: int) -> str:
        import torch

        ids = self.tokenizer(prompt, return_tensors="pt").input_ids
        with torch.inference_mode():
            out = self.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=n,
                do_sample=False,
                pad_token_id=self.tokenizer.eos_token_id,
            )
        return self.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


class OnnxRuntime:
    """An exported ONNX folder in onnxruntime: the shipped tokenizer, one call for the
    prompt, then one token per call with the past key values fed back."""

    def __init__(self, folder: Path, file: str, never: list[int]):
        import onnxruntime as ort
        from transformers import AutoTokenizer

        self.name = f"onnxruntime ({Path(file).stem})"
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(folder / file), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.never = never  # ids textgen's generation suppresses
        self.outputs = [o.name for o in self.session.get_outputs()]
        past = [i for i in self.session.get_inputs() if i.name.startswith("past_key_values.")]
        self.past_names = [i.name for i in past]
        self.heads, self.head_size = past[0].shape[1], past[0].shape[3]

    def _run(self, ids: list[int], past: list[np.ndarray] | None):
        start = past[0].shape[2] if past else 0
        if past is None:
            past = [np.zeros((1, self.heads, 0, self.head_size), np.float32)] * len(self.past_names)
        feed = {
            "input_ids": np.array([ids], np.int64),
            "attention_mask": np.ones((1, start + len(ids)), np.int64),
            "position_ids": np.arange(start, start + len(ids), dtype=np.int64)[None],
            **dict(zip(self.past_names, past, strict=True)),
        }
        logits, *present = self.session.run(self.outputs, feed)
        return logits[0], present

    def logits(self, ids: list[int]) -> np.ndarray:
        return self._run(ids, None)[0]

    def greedy(self, prompt: str, n: int) -> str:
        ids = self.tokenizer(prompt)["input_ids"]
        out, past, step = [], None, ids
        for _ in range(n):
            logits, past = self._run(step, past)
            last = logits[-1].copy()
            last[self.never] = -np.inf
            token = int(last.argmax())
            if token == self.tokenizer.eos_token_id:
                break
            out.append(token)
            step = [token]
        self.generated = len(out)
        return self.tokenizer.decode(out, skip_special_tokens=True)
