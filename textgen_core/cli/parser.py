"""The `textgen` argument parser: one sub-parser per command, grouped by what
it is for. Flags of the settings dataclasses come from `cli/flags.py`."""

from __future__ import annotations

import argparse

from textgen_core.app.settings import AppConfig
from textgen_core.cli.commands import (
    cmd_app,
    cmd_compare,
    cmd_demo,
    cmd_deploy_space,
    cmd_eval,
    cmd_export,
    cmd_generate,
    cmd_push,
    cmd_serve,
    cmd_train,
    cmd_tune,
)
from textgen_core.cli.flags import add_flags
from textgen_core.cli.train_flags import add_train_flags
from textgen_core.config import DataConfig, DecodeConfig, EvalConfig, GenerateConfig
from textgen_core.serve.settings import ServeConfig

EVAL_DATA_FLAGS = ("chunk_size", "doc_separator", "prompt_column", "response_column")
"""The DataConfig fields `textgen eval` takes: how PATH is cut into chunks and
where prompt/answer tables keep their pairs."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textgen",
        description="Fine-tune a small language model on your own text, see how well it "
        "learned, and generate text from it.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _training_commands(sub)
    _using_commands(sub)
    _sharing_commands(sub)
    return parser


def _training_commands(sub) -> None:
    """The parsers of train and tune."""
    p = sub.add_parser("train", help="fine-tune a model on text files")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (read recursively)")
    p.add_argument("--output", required=True, metavar="DIR", help="output folder")
    add_train_flags(p)
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest complete checkpoint in DIR",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="resume even if the settings changed, or from an older intact checkpoint "
        "when the newest is damaged",
    )
    _add_verbosity(p)
    p.add_argument(
        "--push-to-hub",
        metavar="REPO_ID",
        help="push the trained model to this Hub repo",
    )
    p.add_argument(
        "--hub-checkpoints",
        action="store_true",
        help="also push each checkpoint to REPO_ID as training goes",
    )
    p.add_argument(
        "--resume-from-hub",
        action="store_true",
        help="resume from the newest checkpoint pushed to REPO_ID",
    )
    p.add_argument("--token", help="Hub token (default: HF_TOKEN or the saved login)")
    p.add_argument(
        "--config",
        metavar="FILE",
        help="start from the settings in this JSON file (e.g. tune's best_config.json); "
        "flags given on the command line override them",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "tune",
        help="search learning rate, batch size, warmup, weight decay, epochs (and LoRA "
        "rank) for the lowest validation loss",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (read recursively)")
    p.add_argument(
        "--output",
        required=True,
        metavar="DIR",
        help="search folder; the same DIR resumes",
    )
    p.add_argument("--trials", type=int, required=True, help="trials to run in this call")
    p.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    p.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage (default: sqlite:///DIR/study.db)",
    )
    p.add_argument("--study-name", help="default textgen-tune")
    _add_verbosity(p)
    add_train_flags(p)
    p.set_defaults(func=cmd_tune)


def _using_commands(sub) -> None:
    """The parsers of eval, generate, export, serve and compare."""
    p = sub.add_parser(
        "eval",
        help="loss and perplexity of a model (or any checkpoint of a run) on text files (JSON)",
    )
    p.add_argument("model", metavar="MODEL", help="Hub id, local folder or scratch:*")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--revision", help="branch, tag or commit of a Hub model")
    add_flags(p, DataConfig, only=EVAL_DATA_FLAGS)
    add_flags(p, EvalConfig)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("generate", help="generate text from a prompt")
    p.add_argument("model", metavar="MODEL", help="Hub id, local folder or scratch:*")
    p.add_argument("--revision", help="branch, tag or commit of a Hub model")
    p.add_argument("--prompt", default="", help="text to continue (default: start fresh)")
    p.add_argument(
        "--chat",
        metavar="MESSAGE",
        help="for chat models (a tokenizer with a chat template, e.g. a model trained on "
        "prompt/answer data): answer MESSAGE as /v1/chat/completions does, printing the answer",
    )
    p.add_argument("--system", metavar="TEXT", help="with --chat: the system message before it")
    add_flags(p, GenerateConfig)
    add_flags(p, DecodeConfig)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser(
        "export",
        help="export a model to GGUF (llama.cpp, Ollama) or ONNX, with measured parity",
        description="Write MODEL as a GGUF file (plus an Ollama Modelfile) or an ONNX "
        "folder, then measure it in llama.cpp / transformers / onnxruntime against "
        "textgen: perplexity, greedy text, logits. The figures go to export.json.",
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="a run folder, its model/, a LoRA run, a Hub id or scratch:*",
    )
    p.add_argument("--to", required=True, choices=["gguf", "onnx"])
    p.add_argument(
        "--output",
        required=True,
        metavar="PATH",
        help="the .gguf file, or the ONNX folder",
    )
    p.add_argument(
        "--quantize",
        choices=["f16", "q8_0", "fp32", "int8"],
        help="GGUF: f16 (default; ~2 bytes per weight, perplexity within 0.1%%) or q8_0 "
        "(about half of f16's size, faster on CPU, perplexity typically within 1-2%%). "
        "ONNX: fp32 (default; logits within 1e-4) or int8 (adds a dynamic int8 model, "
        "about a quarter of the fp32 size, perplexity typically within 2%%)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p.add_argument("--no-parity", action="store_true", help="write the export without measuring it")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("serve", help="serve models over an OpenAI-compatible HTTP API")
    p.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="folder, Hub id or scratch:*; clients name runs/x/model as x, or give NAME=MODEL",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="default %(default)s")
    add_flags(p, ServeConfig)  # a key is required when --host is not a loopback address
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "compare",
        help="compare finished runs: the settings that differ, losses, perplexity, train time, "
        "and their loss curves overlaid",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="`textgen train --output` folders")
    p.add_argument(
        "--output",
        default="compare.png",
        metavar="PNG",
        help="where to write the overlaid loss curves (default %(default)s)",
    )
    p.set_defaults(func=cmd_compare)


def _sharing_commands(sub) -> None:
    """The parsers of push, deploy-space, app and demo."""
    p = sub.add_parser("push", help="push a trained model (and its card) to the Hugging Face Hub")
    p.add_argument("model_dir", metavar="MODEL_DIR", help="a train --output folder or its model/")
    p.add_argument("repo_id", metavar="REPO_ID")
    p.add_argument("--private", action="store_true")
    p.add_argument("--adapter-only", action="store_true", help="push only the LoRA adapter")
    p.add_argument("--token", help="Hub token (default: HF_TOKEN or the saved login)")
    p.add_argument(
        "--gguf",
        nargs="?",
        const="",
        metavar="FILE",
        help="also upload a GGUF export (FILE from `textgen export`, or a new f16 export "
        "when no FILE is given) and list it in the model card",
    )
    p.set_defaults(func=cmd_push)

    p = sub.add_parser(
        "deploy-space",
        help="create a Hugging Face Space: the studio (the web app, private) or, with "
        "--model, a public demo of one model",
    )
    p.add_argument("space_id", metavar="USER/SPACE")
    p.add_argument(
        "--model",
        metavar="USER/MODEL",
        help="deploy a generate-only demo of this Hub model (pushed with textgen push) "
        "instead of the studio",
    )
    p.add_argument("--revision", help="with --model: the model commit to serve (default: newest)")
    p.add_argument(
        "--hardware",
        default=None,
        help="Space hardware (default: t4-small for the studio, cpu-basic for a demo; '' = free CPU)",
    )
    p.add_argument("--private", action="store_true", help="private Space (the studio's default)")
    p.add_argument(
        "--public",
        action="store_true",
        help="public studio; needs --auth, so strangers cannot train on your hardware",
    )
    p.add_argument(
        "--auth",
        metavar="USER:PASS",
        help="require this login; stored as the Space secret TEXTGEN_AUTH, never in a file",
    )
    p.add_argument("--token", help="Hub token (default: HF_TOKEN or the saved login)")
    p.set_defaults(func=cmd_deploy_space)

    p = sub.add_parser("app", help="start the web app (the same as `python app.py`)")
    add_flags(p, AppConfig)
    p.set_defaults(func=cmd_app)

    p = sub.add_parser("demo", help="train and generate on the bundled Shakespeare corpus")
    p.add_argument("--output", default="runs/demo", metavar="DIR")
    p.add_argument(
        "--model",
        default="distilgpt2",
        help="falls back to scratch:tiny when it can't be loaded offline",
    )
    p.add_argument(
        "--time-budget",
        metavar="DURATION",
        help="how long the demo trains, e.g. 10m (default: 2m for a model from scratch, "
        "whose steps fit it; a pretrained model trains 40 steps)",
    )
    _add_verbosity(p)
    p.set_defaults(func=cmd_demo)


def _add_verbosity(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="warnings only, no progress bars")
    p.add_argument("--verbose", action="store_true", help="also debugging messages")
