"""A GGUF export pushed beside the model (`textgen push --gguf`): the file, its
Modelfile and parity record, and the model-card section that lists them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from textgen_core.errors import TextgenError
from textgen_core.export.run import REPORT, export


def _card_section(file_name: str, record: dict, repo_id: str) -> str:
    lines = [
        "## GGUF (llama.cpp, Ollama, LM Studio)",
        "",
        f"`{file_name}` ({record.get('quantize', '?')}, "
        f"{record.get('bytes', 0) / 2**20:.1f} MiB) is this model as one GGUF file, "
        "with an Ollama `Modelfile` carrying textgen's sampling defaults.",
    ]
    parity = record.get("parity")
    if parity:
        lines += ["", f"Measured against textgen ({parity['perplexity_on']}):", ""]
        lines += ["| runtime | perplexity change | greedy 50 tokens |", "| --- | --- | --- |"]
        for runtime, figures in parity["runtimes"].items():
            if "skipped" in figures:
                continue
            same = "identical" if figures["greedy"]["identical"] else "differs"
            lines.append(f"| {runtime} | {figures['perplexity_change']:+.3%} | {same} |")
    lines += [
        "",
        "```bash",
        f"ollama run hf.co/{repo_id}",
        f'llama-completion -hf {repo_id} -no-cnv -p "Once upon a time" -n 100',
        "```",
    ]
    return "\n".join(lines) + "\n"


def gguf_upload(
    model_dir: Path,
    repo_id: str,
    workdir: Path,
    gguf: Path | None = None,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, Path], str]:
    """(repo path -> file, model-card section) for pushing a GGUF beside the model:
    the file `gguf` (with the export.json and Modelfile beside it, if any), or a new
    f16 export of `model_dir` written and measured in `workdir`."""
    if gguf is None:
        gguf = workdir / "model-f16.gguf"
        export(str(model_dir), "gguf", gguf, log=log)
    elif not gguf.is_file() or gguf.read_bytes()[:4] != b"GGUF":
        raise TextgenError(f"--gguf {gguf}: not a GGUF file; make one with `textgen export`")
    files = {gguf.name: gguf}
    record: dict = {}
    if (gguf.parent / REPORT).is_file():
        record = json.loads((gguf.parent / REPORT).read_text())
        files["gguf-export.json"] = gguf.parent / REPORT
    if (gguf.parent / "Modelfile").is_file():
        files["Modelfile"] = gguf.parent / "Modelfile"
    return files, _card_section(gguf.name, record, repo_id)
