"""What each `textgen` command does: read its arguments, call the library,
print. torch and transformers are imported inside the commands so `--help` is
instant."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from textgen_core.app.settings import AppConfig
from textgen_core.cli.data_flags import data_sources
from textgen_core.cli.flags import settings
from textgen_core.cli.train_flags import train_config
from textgen_core.config import DataConfig, DecodeConfig, EvalConfig, GenerateConfig
from textgen_core.errors import TextgenError
from textgen_core.serve.settings import ServeConfig


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
        args.push_to_hub,
        token=args.token,
        push=args.hub_checkpoints,
        pull=args.resume_from_hub,
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
    data, cfg = settings(args, DataConfig), settings(args, EvalConfig)
    data.validate()
    _quiet_libraries(True)
    from textgen_core.train.eval_files import evaluate

    print(json.dumps(evaluate(args.model, args.paths, data, cfg, revision=args.revision)))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    cfg, decode = settings(args, GenerateConfig), settings(args, DecodeConfig)
    cfg.validate()
    if args.chat is not None and args.prompt:
        raise TextgenError("--chat/--prompt: give one of them (--chat answers a message)")
    if args.system is not None and args.chat is None:
        raise TextgenError("--system: only with --chat MESSAGE")
    _quiet_libraries(True)
    from textgen_core.generate.decode_weights import load_for_decoding
    from textgen_core.generate.sampling import generate, stream

    model, tokenizer = load_for_decoding(args.model, decode.precision, revision=args.revision)
    prompt, shown = args.prompt, args.prompt
    if args.chat is not None:
        prompt, shown = _chat_prompt(args, tokenizer), ""
    if cfg.num_return_sequences == 1:
        print(shown, end="", flush=True)
        for piece in stream(model, tokenizer, prompt, cfg):
            print(piece, end="", flush=True)
        print()
        return 0
    for i, text in enumerate(generate(model, tokenizer, prompt, cfg), start=1):
        print(f"=== {i} ===\n{shown}{text}")
    return 0


def _chat_prompt(args: argparse.Namespace, tokenizer) -> str:
    """--chat MESSAGE (after --system) rendered with the model's chat template."""
    from textgen_core.chat_template import chat_prompt, has_chat_template

    if not has_chat_template(tokenizer):
        raise TextgenError(
            f"--chat: {args.model} is a plain text model (its tokenizer has no chat "
            "template), so it does not take chat messages; continue text with --prompt, "
            "or train it on prompt/answer data to make it a chat model"
        )
    return chat_prompt(tokenizer, args.chat, args.system)


def cmd_app(args: argparse.Namespace) -> int:
    from textgen_core.app.launch import launch

    cfg = settings(args, AppConfig)
    cfg.validate()
    launch(cfg)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from textgen_core.serve.api import served_names

    cfg = settings(args, ServeConfig)
    cfg.validate()
    models = served_names(args.models)
    _quiet_libraries(True)
    from textgen_core.serve.server import serve

    serve(models, cfg, host=args.host, port=args.port)
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

    run_demo(args.output, model=args.model, time_budget=args.time_budget)
    return 0
