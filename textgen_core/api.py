"""textgen from Python: the one documented face of the library.

    from textgen_core.api import GenerateConfig, TrainConfig, generate, load_for_inference, train

    results = train(["my_texts/"], "runs/first", TrainConfig(epochs=3))
    model, tokenizer = load_for_inference("runs/first/model")
    print(generate(model, tokenizer, "Once upon a time", GenerateConfig(seed=1))[0])

The settings dataclasses are the ones the command line's flags come from; the
functions are what the `textgen` commands call. Importing this module loads
torch and transformers (seconds); the command line does not import it.
"""

from __future__ import annotations

from textgen_core.config import (
    DataConfig,
    DecodeConfig,
    EvalConfig,
    GenerateConfig,
    LoraConfig,
    TrainConfig,
)
from textgen_core.errors import TextgenError
from textgen_core.export.run import export  # textgen export
from textgen_core.generate.decode_weights import load_for_decoding  # from bf16/int8 weights
from textgen_core.generate.sampling import generate, stream  # textgen generate
from textgen_core.model.loading import load_for_inference  # a Hub id, folder or scratch:*
from textgen_core.serve.api import mount_openai_api  # the /v1 routes on your FastAPI app
from textgen_core.serve.server import serve  # textgen serve
from textgen_core.serve.settings import ServeConfig
from textgen_core.train.eval_files import evaluate  # textgen eval
from textgen_core.train.run import train  # textgen train
from textgen_core.tune.search import tune  # textgen tune

__all__ = [
    "DataConfig",
    "DecodeConfig",
    "EvalConfig",
    "GenerateConfig",
    "LoraConfig",
    "ServeConfig",
    "TextgenError",
    "TrainConfig",
    "evaluate",
    "export",
    "generate",
    "load_for_decoding",
    "load_for_inference",
    "mount_openai_api",
    "serve",
    "stream",
    "train",
    "tune",
]
