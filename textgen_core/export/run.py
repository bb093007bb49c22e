"""`textgen export`: write the file(s), then measure them in the real runtimes and
record the figures in `export.json` beside them (see `parity`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from textgen_core.config import GenerateConfig
from textgen_core.errors import TextgenError
from textgen_core.export import converter, gguf_file, onnx_file, output, parity
from textgen_core.export.source import (
    Source,
    check_family,
    declared_model_type,
    load_source,
    parity_chunks,
)

FORMATS = {"gguf": gguf_file.QUANTIZE, "onnx": onnx_file.QUANTIZE}
DEFAULT_QUANTIZE = {"gguf": "f16", "onnx": "fp32"}
REPORT = "export.json"


def _check_request(to: str, quantize: str | None) -> str:
    if to not in FORMATS:
        raise TextgenError(f"--to {to}: choose gguf or onnx")
    quantize = quantize or DEFAULT_QUANTIZE[to]
    if quantize not in FORMATS[to]:
        raise TextgenError(
            f"--quantize {quantize}: --to {to} takes one of {', '.join(FORMATS[to])}"
        )
    return quantize


def _sidecars(to: str, path: Path) -> list[Path]:
    """Files written beside the export (a GGUF file) or inside it (an ONNX folder)."""
    if to == "gguf":
        return [path.parent / "Modelfile", path.parent / REPORT]
    return []


def export(
    name: str,
    to: str,
    path,
    *,
    quantize: str | None = None,
    force: bool = False,
    measure: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Export MODEL `name` to `path` as `to` ("gguf": one file; "onnx": a folder) and,
    unless `measure` is false, measure its parity; returns the export.json record."""
    quantize = _check_request(to, quantize)
    path = Path(path)
    for target in [path, *_sidecars(to, path)]:
        output.check_target(target, force)
    source = _load_checked(name, to)
    log(f"exporting {name} to {path} ({to}, {quantize})")
    with output.atomic_path(path, force=force) as tmp:
        if to == "gguf":
            written = gguf_file.write_gguf(
                source.model, source.tokenizer, tmp, quantize=quantize, name=Path(name).name
            )
        else:
            written = {
                "files": onnx_file.write_onnx_folder(
                    source.model, source.tokenizer, tmp, quantize=quantize
                )
            }
    record = {"format": to, "quantize": quantize, "source": name, "output": str(path), **written}
    record["bytes"] = _size(path)
    if to == "gguf":
        record.update(_write_ollama_files(source, path))
    if measure:
        log("measuring parity in the runtimes ...")
        record["parity"] = measure_parity(source, to, path, quantize, record)
        for line in summary(record):
            log(line)
    report = path.parent / REPORT if to == "gguf" else path / REPORT
    output.write_text(report, json.dumps(record, indent=2) + "\n")
    return record


def _load_checked(name: str, to: str) -> Source:
    """MODEL loaded for export after every check that can refuse it: its family from
    its configuration and (GGUF) its tokenizer before any weights load, the converter
    fetched, then what needs the model itself (scratch:* declares no family before)."""
    declared = declared_model_type(name)
    check_family(declared, name)

    def before_model(tokenizer) -> None:
        if to == "gguf":
            gguf_file.check_tokenizer(tokenizer, declared, name)
            converter.converter_dir()  # fetched once, before the model is loaded

    source = load_source(name, before_model=before_model)
    model_type = source.model.config.model_type
    check_family(model_type, name)
    if to == "gguf":
        gguf_file.check_tokenizer(source.tokenizer, model_type, name)
        gguf_file.check_architecture(source.model, name)
    return source


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _write_ollama_files(source: Source, path: Path) -> dict:
    from textgen_core.chat_template import stop_ids
    from textgen_core.export.modelfile import modelfile, ollama_template, run_snippet
    from textgen_core.model.loading import context_length

    cfg, tokenizer = GenerateConfig(), source.tokenizer
    stops = tokenizer.convert_ids_to_tokens(stop_ids(tokenizer))  # end of text, end of turn
    template, note = ollama_template(tokenizer)
    text = modelfile(path.name, stops, context_length(source.model), cfg, template, note)
    output.write_text(path.parent / "Modelfile", text)
    model_name = path.stem.lower().replace("_", "-").replace(".", "-") or "textgen-model"
    return {
        "modelfile": "Modelfile",
        "chat_template": template is not None,
        "run": run_snippet(path.name, model_name, cfg).splitlines(),
    }


def _runtimes(to: str, path: Path, record: dict, context: int, never: list[int]):
    """(runtime or None, reason) for each runtime that measures this export."""
    from textgen_core.export import runtimes

    if to == "onnx":
        for kind, file in record["files"].items():
            yield kind, (lambda f=file: runtimes.OnnxRuntime(path, f, never))
        return
    yield "llama.cpp", lambda: runtimes.LlamaCpp(path, context)
    yield "transformers (GGUF)", lambda: runtimes.TransformersGGUF(path)


def measure_parity(source: Source, to: str, path: Path, quantize: str, record: dict) -> dict:
    from textgen_core.export import runtimes
    from textgen_core.model.loading import context_length

    model, tokenizer = source.model, source.tokenizer
    n_vocab = gguf_file.kept_vocab(model, tokenizer)
    never = sorted(set(model.generation_config.suppress_tokens or []))
    chunks, origin = parity_chunks(source, parity.PARITY_CHUNKS)
    reference = runtimes.Torch(model, tokenizer)
    ref_text = reference.greedy(parity.PROMPT, parity.GREEDY_TOKENS)
    ref_ppl = parity.perplexity(reference, chunks, n_vocab)
    context = min(context_length(model), max(len(c) for c in chunks) + parity.GREEDY_TOKENS + 64)
    result = {
        "prompt": parity.PROMPT,
        "greedy_tokens": parity.GREEDY_TOKENS,
        "perplexity_on": origin,
        "perplexity_tokens": sum(len(c) - 1 for c in chunks),
        "reference": {"runtime": reference.name, "perplexity": ref_ppl, "greedy_text": ref_text},
        "runtimes": {},
    }
    for label, start in _runtimes(to, path, record, context, never):
        try:
            runtime = start()
        except (ImportError, runtimes.Unsupported) as exc:
            # what is missing and how to get it, or why this runtime cannot load the file
            result["runtimes"][label] = {"skipped": str(exc)}
            continue
        figures = parity.measure(
            reference, runtime, chunks, n_vocab, ref_ppl=ref_ppl, ref_text=ref_text
        )
        if getattr(runtime, "no_repack", False):
            figures["loaded_with"] = "--no-repack (this CPU has AMX: llama.cpp issue #20824)"
        if label == "fp32":
            figures["max_logit_difference"] = parity.max_logit_gap(
                reference, runtime, chunks, n_vocab
            )
        result["runtimes"][label] = figures
        if hasattr(runtime, "close"):
            runtime.close()
    result["faithful"] = _faithful(to, quantize, result["runtimes"])
    return result


def _faithful(to: str, quantize: str, figures: dict) -> bool | None:
    """Whether the lossless export matches textgen: greedy text identical in every
    runtime, perplexity within 0.1% (GGUF f16), logits within 1e-4 (ONNX fp32).
    None for lossy exports (q8_0 alone), whose change is reported, not judged."""
    measured = {k: v for k, v in figures.items() if "skipped" not in v}
    if to == "gguf" and quantize != "f16":
        return None
    if to == "onnx":
        measured = {k: v for k, v in measured.items() if k == "fp32"}
    if not measured:
        return None
    ok = all(v["greedy"]["identical"] for v in measured.values())
    ok &= all(abs(v["perplexity_change"]) <= parity.F16_TOLERANCE for v in measured.values())
    if to == "onnx":
        ok &= all(v["max_logit_difference"] <= parity.LOGITS_TOLERANCE for v in measured.values())
    return bool(ok)


def summary(record: dict) -> list[str]:
    """The lines `textgen export` prints."""
    p = record["parity"]
    lines = [
        f"{record['output']}: {record['bytes'] / 2**20:.1f} MiB ({record['format']}, {record['quantize']})",
        f"perplexity on {p['perplexity_tokens']} tokens of the {p['perplexity_on']}: "
        f"textgen {p['reference']['perplexity']:.4f}",
    ]
    for label, figures in p["runtimes"].items():
        if "skipped" in figures:
            lines.append(f"  {label}: not measured ({figures['skipped']})")
            continue
        greedy = (
            "identical"
            if figures["greedy"]["identical"]
            else (f"differs from char {figures['greedy']['first_difference_at_char']}")
        )
        line = (
            f"  {label}: perplexity {figures['perplexity']:.4f} ({figures['perplexity_change']:+.3%}), "
            f"greedy {p['greedy_tokens']} tokens {greedy}"
        )
        if "max_logit_difference" in figures:
            line += f", max logit difference {figures['max_logit_difference']:.1e}"
        if "loaded_with" in figures:
            line += f" (loaded with {figures['loaded_with']})"
        lines.append(line)
    verdict = {
        True: "faithful: generates what textgen generates",
        False: "NOT faithful: see above",
        None: "lossy export: changes reported above",
    }
    lines.append(verdict[p["faithful"]])
    return lines
