"""What sits beside a GGUF file: an Ollama `Modelfile` carrying textgen's sampling
defaults and the end-of-text stop token, and the two commands that run the file."""

from __future__ import annotations

from textgen_core.config import GenerateConfig


def modelfile(gguf_name: str, stop: str | None, context: int, cfg: GenerateConfig) -> str:
    """An Ollama Modelfile for `gguf_name` (a file in the same folder) that samples
    the way `textgen generate` does by default."""
    lines = [
        "# Ollama Modelfile written by `textgen export`: textgen's sampling defaults.",
        f"FROM ./{gguf_name}",
        # A plain text model: the prompt goes in as it is, no chat template.
        'TEMPLATE """{{ .Prompt }}"""',
    ]
    if stop:
        lines.append(f'PARAMETER stop "{stop}"')
    lines += [
        f"PARAMETER temperature {cfg.temperature}",
        f"PARAMETER top_k {cfg.top_k}",
        f"PARAMETER top_p {cfg.top_p}",
        f"PARAMETER repeat_penalty {cfg.repetition_penalty}",
        # transformers' repetition penalty looks at the whole text, not a window.
        "PARAMETER repeat_last_n -1",
        f"PARAMETER num_predict {cfg.max_new_tokens}",
        f"PARAMETER num_ctx {context}",
    ]
    return "\n".join(lines) + "\n"


def run_snippet(gguf_name: str, model_name: str, cfg: GenerateConfig) -> str:
    """Two lines: run the file with Ollama, and with llama.cpp."""
    sampling = (
        f"--temp {cfg.temperature} --top-k {cfg.top_k} --top-p {cfg.top_p} "
        f"--repeat-penalty {cfg.repetition_penalty} --repeat-last-n -1"
    )
    return (
        f'ollama create {model_name} -f Modelfile && ollama run {model_name} "Once upon a time"\n'
        f'llama-completion -m {gguf_name} -no-cnv -p "Once upon a time" '
        f"-n {cfg.max_new_tokens} {sampling}\n"
    )
