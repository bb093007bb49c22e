"""What sits beside a GGUF file: an Ollama `Modelfile` carrying textgen's sampling
defaults, the chat template as a Go `TEMPLATE` (chat models) and the stop tokens,
and the two commands that run the file.

Ollama does not run Jinja: a chat model's template is turned into a Go template
from what the Jinja one renders. Conversations alternate (an optional system
message, then user and assistant in turn, ending on the user for an answer), so
the whole rendering is a start, what comes between two messages (after system,
after user, after assistant) and the answer prompt, around the contents. Those
pieces are cut out of a rendering of marker contents and checked: composed back,
they must give exactly what the Jinja template renders for conversations of every
shape, else the Modelfile keeps the plain `{{ .Prompt }}` and says why. (Templates
that trim contents, such as Llama 3's and Gemma 3's, differ from the Go template
only for a content that starts or ends with whitespace.)
"""

from __future__ import annotations

from textgen_core.config import GenerateConfig

_MARKS = [f"\u2063MARK{i}\u2063" for i in range(5)]
_PROBES = (  # the role of each message of the conversations checked
    ("user",),
    ("system", "user"),
    ("user", "assistant", "user"),
    ("system", "user", "assistant", "user", "assistant", "user"),
)


def _render(tokenizer, roles: tuple[str, ...], contents: list[str]) -> str:
    messages = [{"role": r, "content": c} for r, c in zip(roles, contents, strict=True)]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _pieces(tokenizer) -> dict[str, str] | None:
    """The template's start (before a first system / user message), between
    (system->user, user->assistant, assistant->user) and answer-prompt strings."""
    full = _render(tokenizer, ("system", "user", "assistant", "user"), _MARKS[:4])
    cut = []
    for mark in _MARKS[:4]:
        if full.count(mark) != 1:
            return None
        before, full = full.split(mark)
        cut.append(before)
    alone = _render(tokenizer, ("user",), _MARKS[:1])
    if alone.count(_MARKS[0]) != 1:
        return None
    start_user = alone.split(_MARKS[0])[0]
    return dict(
        start_system=cut[0], system_user=cut[1], user_assistant=cut[2],
        assistant_user=cut[3], answer=full, start_user=start_user,
    )  # fmt: skip


def _compose(pieces: dict[str, str], roles: tuple[str, ...], contents: list[str]) -> str:
    """What the Go template renders (the same rule, in Python)."""
    text, prev = "", None
    for role, content in zip(roles, contents, strict=True):
        if prev is None:
            text += pieces["start_system" if role == "system" else "start_user"]
        else:
            text += pieces[f"{prev}_{role}"]
        text += content
        prev = role
    return text + pieces["answer"]


def ollama_template(tokenizer) -> tuple[str | None, str]:
    """(the Go TEMPLATE equivalent to the tokenizer's chat template, or None, and
    why not when None)."""
    if not getattr(tokenizer, "chat_template", None):
        return None, "a plain text model: the prompt goes in as it is"
    try:
        pieces = _pieces(tokenizer)
    except Exception as exc:  # a template that refuses the probe conversation
        pieces, why = None, f"the chat template refuses a plain conversation ({exc})"
    else:
        why = "the chat template does not render each message in place"
    samples = ["Hi", "Be brief.", "What is 2 + 3?", "5", "And 3 + 3?", "6"]
    for roles in _PROBES if pieces else ():
        contents = samples[: len(roles)]
        if _compose(pieces, roles, contents) != _render(tokenizer, roles, contents):
            pieces = None
    if pieces is None:
        return None, why
    if any('"""' in p or "{{" in p for p in pieces.values()):
        return None, "the chat template's text cannot be quoted in a Modelfile"
    p = pieces
    return (
        '{{ $prev := "" }}{{ range .Messages }}'
        f'{{{{ if eq $prev "" }}}}{{{{ if eq .Role "system" }}}}{p["start_system"]}'
        f"{{{{ else }}}}{p['start_user']}{{{{ end }}}}"
        f'{{{{ else if eq .Role "assistant" }}}}{p["user_assistant"]}'
        f'{{{{ else if eq $prev "system" }}}}{p["system_user"]}'
        f"{{{{ else }}}}{p['assistant_user']}{{{{ end }}}}"
        "{{ .Content }}{{ $prev = .Role }}{{ end }}" + p["answer"]
    ), ""


def modelfile(
    gguf_name: str,
    stops: list[str],
    context: int,
    cfg: GenerateConfig,
    template: str | None = None,
    note: str = "",
) -> str:
    """An Ollama Modelfile for `gguf_name` (a file in the same folder) that samples
    the way `textgen generate` does by default; `template`: a chat model's Go
    TEMPLATE (`ollama_template`), else the prompt goes in as it is (`note` says why)."""
    lines = [
        "# Ollama Modelfile written by `textgen export`: textgen's sampling defaults.",
        f"FROM ./{gguf_name}",
    ]
    if template:
        lines += ["# The model's chat template, as a Go template.", f'TEMPLATE """{template}"""']
    else:
        lines += [f"# {note or 'No chat template'}.", 'TEMPLATE """{{ .Prompt }}"""']
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
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
