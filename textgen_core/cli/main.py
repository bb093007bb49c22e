"""`textgen` command line: argument parsing only; the work is in the library.

torch and transformers are imported inside the commands so `--help` is instant.
Exit status: 0 success, 2 bad input or usage, 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from textgen_core import log
from textgen_core.app.launch import add_app_flags
from textgen_core.cli.data_flags import add_doc_separator_flag, data_sources
from textgen_core.cli.train_flags import add_train_flags, train_config
from textgen_core.config import DataConfig, GenerateConfig
from textgen_core.errors import TextgenError

logger = logging.getLogger(__name__)


def _warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _quiet_libraries(quiet: bool) -> None:
    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # weight loading/saving bars
    datasets.logging.set_verbosity_error()
    if quiet:
        datasets.disable_progress_bars()


def cmd_train(args: argparse.Namespace) -> int:
    cfg = train_config(args, args.config)
    cfg.validate()  # before any heavy import, so a bad flag fails fast
    sources = data_sources(args.paths, cfg.data)
    _quiet_libraries(args.quiet)
    from textgen_core.train.report import format_results
    from textgen_core.train.run import train

    if (args.hub_checkpoints or args.resume_from_hub) and not args.push_to_hub:
        raise TextgenError("--hub-checkpoints/--resume-from-hub: need --push-to-hub REPO_ID")
    results = train(
        sources,
        args.output,
        cfg,
        resume=args.resume,
        force=args.force,
        hub=_hub_sync(args),
    )
    from textgen_core.train import distributed

    if not distributed.is_main():  # under torchrun / accelerate launch, one report, one push
        return 0
    print(format_results(results))
    _print_samples(Path(args.output))
    print(f"model saved to {args.output}/model; report in {args.output}/results.json")
    if args.push_to_hub:
        from textgen_core.hub.repo import push_model

        print(f"pushed to {push_model(Path(args.output), args.push_to_hub, token=args.token)}")
    return 0


def _print_samples(run: Path) -> None:
    from textgen_core.quality.samples import FILE, format_samples, read_samples

    shown = format_samples(read_samples(run / FILE))
    if shown:
        print(shown)


def cmd_tune(args: argparse.Namespace) -> int:
    from textgen_core.train import distributed

    if distributed.world_size() > 1:
        raise TextgenError(
            "tune: runs its trials in one process; start it with plain `textgen tune`, "
            "not under torchrun or accelerate launch"
        )
    cfg = train_config(args)
    cfg.validate()
    sources = data_sources(args.paths, cfg.data)
    _quiet_libraries(args.quiet)
    from textgen_core.tune.search import tune

    summary = tune(
        sources,
        args.output,
        cfg,
        trials=args.trials,
        timeout=args.timeout,
        storage=args.storage,
        study_name=args.study_name,
    )
    best, default = summary["best"], summary["default"]
    print(
        f"best trial {summary['best_trial']}: {json.dumps(summary['best_params'])}\n"
        f"test loss / perplexity: best {best['test_loss']:.4f} / {best['test_perplexity']:.2f}, "
        f"default settings {default['test_loss']:.4f} / {default['test_perplexity']:.2f}\n"
        f"best model in {best['model']}; settings in {args.output}/best_config.json "
        f"(textgen train --config); report in {args.output}/tune_results.json"
    )
    return 0


def _hub_sync(args: argparse.Namespace):
    if not (args.hub_checkpoints or args.resume_from_hub):
        return None
    from textgen_core.hub.checkpoint_sync import HubSync

    return HubSync(
        args.push_to_hub, token=args.token, push=args.hub_checkpoints, pull=args.resume_from_hub
    )


def cmd_push(args: argparse.Namespace) -> int:
    import tempfile

    from textgen_core.hub.repo import push_model

    with tempfile.TemporaryDirectory(prefix="textgen-gguf-") as workdir:
        extra, section = {}, ""
        if args.gguf is not None:
            _quiet_libraries(quiet=True)
            from textgen_core.hub.gguf_files import gguf_upload

            gguf = Path(args.gguf) if args.gguf else None
            extra, section = gguf_upload(Path(args.model_dir), args.repo_id, Path(workdir), gguf)
        url = push_model(
            Path(args.model_dir),
            args.repo_id,
            private=args.private,
            token=args.token,
            adapter_only=args.adapter_only,
            extra_files=extra,
            card_section=section,
        )
    print(url)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    _quiet_libraries(quiet=True)
    from textgen_core.export.run import export

    export(
        args.model,
        args.to,
        args.output,
        quantize=args.quantize,
        force=args.force,
        measure=not args.no_parity,
    )
    return 0


def cmd_deploy_space(args: argparse.Namespace) -> int:
    from textgen_core.hub.space import (
        DEMO_HARDWARE,
        STUDIO_HARDWARE,
        deploy_demo_space,
        deploy_space,
    )

    root = Path(__file__).resolve().parent.parent.parent  # the project: app.py, spaces/
    if args.public and args.private:
        raise TextgenError("--public/--private: give one of them")
    if args.model:
        url = deploy_demo_space(
            args.space_id,
            args.model,
            project_root=root,
            revision=args.revision,
            hardware=DEMO_HARDWARE if args.hardware is None else args.hardware or None,
            private=args.private,
            auth=args.auth,
            token=args.token,
        )
    else:
        if args.revision:
            raise TextgenError("--revision: only with --model (the model revision a demo serves)")
        url = deploy_space(
            args.space_id,
            project_root=root,
            hardware=STUDIO_HARDWARE if args.hardware is None else args.hardware or None,
            public=args.public,
            auth=args.auth,
            token=args.token,
        )
    print(url)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    DataConfig(chunk_size=args.chunk_size, doc_separator=args.doc_separator).validate()
    _quiet_libraries(True)
    from textgen_core.data.file_table import file_rows, format_file_table
    from textgen_core.data.ingest import load_corpus
    from textgen_core.data.prepare import chunk_all, tokenize
    from textgen_core.model.loading import load_for_inference
    from textgen_core.train.evaluate import evaluate_loss

    corpus = load_corpus(args.paths, doc_separator=args.doc_separator)
    for skipped in corpus.skipped:
        logger.warning(f"warning: skipped {skipped.path}: {skipped.reason}")
    model, tokenizer = load_for_inference(args.model, revision=args.revision)
    from textgen_core.train.checkpoints import trained_step

    tok = tokenize(corpus, tokenizer)
    table = file_rows(corpus, tok.tokens_per_file())
    logger.info(format_file_table(table))
    result = evaluate_loss(
        model,
        chunk_all(tok, args.chunk_size, tokenizer.pad_token_id),
        batch_size=args.batch_size,
        files=tok.files,
        every_file=True,
    )
    report = {
        **result.to_dict(),
        "step": trained_step(args.model),
        "per_file": result.per_file,
        "file_table": table,
    }
    if args.memorization:
        from textgen_core.quality.memorization import memorization_on_files

        report["memorization"] = memorization_on_files(
            model, tokenizer, corpus, args.model, chunk_size=args.chunk_size
        )
    print(json.dumps(report))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    cfg = GenerateConfig(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        repetition_penalty=args.repetition_penalty,
        seed=args.seed,
        num_return_sequences=args.num_return_sequences,
        stop=args.stop or [],
    )
    cfg.validate()
    _quiet_libraries(True)
    from textgen_core.generate.decode_precision import load_for_decoding
    from textgen_core.generate.sampling import generate, stream

    model, tokenizer = load_for_decoding(args.model, args.precision, revision=args.revision)
    if cfg.num_return_sequences == 1:
        print(args.prompt, end="", flush=True)
        for piece in stream(model, tokenizer, args.prompt, cfg):
            print(piece, end="", flush=True)
        print()
        return 0
    for i, text in enumerate(generate(model, tokenizer, args.prompt, cfg), start=1):
        print(f"=== {i} ===\n{args.prompt}{text}")
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    from textgen_core.app.launch import launch

    launch(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from textgen_core.generate.openai_api import served_names

    models = served_names(args.models)
    _quiet_libraries(True)
    from textgen_core.generate.openai_server import serve

    serve(
        models,
        host=args.host,
        port=args.port,
        api_key=args.api_key or os.environ.get("TEXTGEN_API_KEY") or None,
        max_batch=args.max_batch,
        queue_size=args.queue_size,
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from textgen_core.quality.compare import format_table, load_runs, plot_curves

    runs = load_runs(args.runs)
    print(format_table(runs))
    print(f"loss curves in {plot_curves(runs, args.output)}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    _quiet_libraries(args.quiet)
    from textgen_core.cli.demo import run_demo

    run_demo(args.output, model=args.model)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textgen",
        description="Fine-tune a small language model on your own text, see how well it "
        "learned, and generate text from it.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="fine-tune a model on text files")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (read recursively)")
    p.add_argument("--output", required=True, metavar="DIR", help="output folder")
    add_train_flags(p)
    p.add_argument(
        "--resume", action="store_true", help="continue from the newest complete checkpoint in DIR"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="resume even if the settings changed, or from an older intact checkpoint "
        "when the newest is damaged",
    )
    _add_verbosity(p)
    p.add_argument(
        "--push-to-hub", metavar="REPO_ID", help="push the trained model to this Hub repo"
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
        "--output", required=True, metavar="DIR", help="search folder; the same DIR resumes"
    )
    p.add_argument("--trials", type=int, required=True, help="trials to run in this call")
    p.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    p.add_argument(
        "--storage", metavar="URL", help="Optuna storage (default: sqlite:///DIR/study.db)"
    )
    p.add_argument("--study-name", help="default textgen-tune")
    _add_verbosity(p)
    add_train_flags(p)
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser(
        "eval",
        help="loss and perplexity of a model (or any checkpoint of a run) on text files (JSON)",
    )
    p.add_argument("model", metavar="MODEL", help="Hub id, local folder or scratch:*")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--revision", help="branch, tag or commit of a Hub model")
    p.add_argument("--chunk-size", type=int, default=DataConfig().chunk_size)
    p.add_argument("--batch-size", type=int, default=16)
    add_doc_separator_flag(p)
    p.add_argument(
        "--memorization",
        action="store_true",
        help="also report whether MODEL copies PATH, its training text: PATH is split as "
        "the model's training run split it (its recorded settings, when MODEL is a run's "
        "model or checkpoint folder), 32 held-out prompts are continued by 128 tokens and "
        "compared with the training split. Costs 32x128 generated tokens (about a minute "
        "for distilgpt2 on a laptop CPU) plus an index of the training tokens (seconds, "
        "~20 bytes a token)",
    )
    p.set_defaults(func=cmd_eval)

    g = GenerateConfig()
    p = sub.add_parser("generate", help="generate text from a prompt")
    p.add_argument("model", metavar="MODEL", help="Hub id, local folder or scratch:*")
    p.add_argument("--revision", help="branch, tag or commit of a Hub model")
    p.add_argument("--prompt", default="", help="text to continue (default: start fresh)")
    p.add_argument("--max-new-tokens", type=int, default=g.max_new_tokens)
    p.add_argument("--temperature", type=float, default=g.temperature, help="0 = greedy decoding")
    p.add_argument("--top-k", type=int, default=g.top_k)
    p.add_argument("--top-p", type=float, default=g.top_p)
    p.add_argument("--repetition-penalty", type=float, default=g.repetition_penalty)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--num-return-sequences", type=int, default=g.num_return_sequences)
    p.add_argument("--stop", action="append", metavar="TEXT", help="stop at this text (repeatable)")
    p.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16", "int8"),
        default="auto",
        help="weights to decode from on CPU: bf16 (CPUs with AVX512_BF16 or AMX) or int8 "
        "(dynamic quantization) decode faster from smaller weights; greedy output may "
        "differ slightly from fp32 (default auto = fp32)",
    )
    p.set_defaults(func=cmd_generate)

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
        "export",
        help="export a model to GGUF (llama.cpp, Ollama) or ONNX, with measured parity",
        description="Write MODEL as a GGUF file (plus an Ollama Modelfile) or an ONNX "
        "folder, then measure it in llama.cpp / transformers / onnxruntime against "
        "textgen: perplexity, greedy text, logits. The figures go to export.json.",
    )
    p.add_argument(
        "model", metavar="MODEL", help="a run folder, its model/, a LoRA run, a Hub id or scratch:*"
    )
    p.add_argument("--to", required=True, choices=["gguf", "onnx"])
    p.add_argument(
        "--output", required=True, metavar="PATH", help="the .gguf file, or the ONNX folder"
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
    add_app_flags(p)
    p.set_defaults(func=cmd_app)
    p = sub.add_parser("serve", help="serve models over an OpenAI-compatible HTTP API")
    p.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="folder, Hub id or scratch:*; clients name runs/x/model as x, or give NAME=MODEL",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="default %(default)s")
    p.add_argument(
        "--api-key",
        metavar="KEY",
        help="require `Authorization: Bearer KEY` (default: TEXTGEN_API_KEY); "
        "required when --host is not a loopback address",
    )
    p.add_argument("--max-batch", type=int, default=8, help="requests decoded together, per model")
    p.add_argument(
        "--queue-size", type=int, default=256, help="requests waiting at most (more: 429)"
    )
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

    p = sub.add_parser("demo", help="train and generate on the bundled Shakespeare corpus")
    p.add_argument("--output", default="runs/demo", metavar="DIR")
    p.add_argument(
        "--model",
        default="distilgpt2",
        help="falls back to scratch:tiny when it can't be loaded offline",
    )
    _add_verbosity(p)
    p.set_defaults(func=cmd_demo)
    return parser


def _add_verbosity(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="warnings only, no progress bars")
    p.add_argument("--verbose", action="store_true", help="also debugging messages")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.quiet = getattr(args, "quiet", False)
    verbose = getattr(args, "verbose", False)
    log.configure(logging.DEBUG if verbose else logging.WARNING if args.quiet else logging.INFO)
    try:
        return args.func(args)
    except TextgenError as exc:
        _warn(f"error: {exc}")
        return 2
    except KeyboardInterrupt as exc:
        _warn(
            f"interrupted{f' ({exc})' if str(exc) else ''}; "
            "a training run continues from its last checkpoint with --resume"
        )
        return 130
    except Exception as exc:  # anything else is a bug or an environment failure
        _warn(f"error: {type(exc).__name__}: {exc}")
        if os.environ.get("TEXTGEN_DEBUG"):
            raise
        return 1
