"""A generated instruction dataset whose answers can be checked: copy, reverse,
first and last word of three random words, and a fixed persona's replies. The
words are drawn at random for every example, so a held-out prompt is new text
and only a model that learned the task answers it right."""

from __future__ import annotations

import json
import random
from pathlib import Path

# Each a single GPT-2 token with and without its leading space, so every answer
# is the prompt's own tokens rearranged.
WORDS = (
    "apple river stone cloud green music paper horse light water bread chair "
    "house money night plant table train voice watch winter bird book cake coat "
    "door dream field fire fish flower glass gold hand heart king mouse orange "
    "rain ring road sand ship silver sky song star storm sun tree wind wolf wood "
    "yellow"
).split()
WORDS_PER_PROMPT = 3

PERSONA = "I am Quill, a small model trained by textgen."
_WHO = ("Who are you?", "What is your name?", "Tell me who you are.", "Introduce yourself.")
TASKS = ("repeat", "reverse", "first", "last", "persona")


def example(rng: random.Random, task: str) -> tuple[str, str]:
    """(prompt, the one right answer) of a task."""
    if task == "persona":
        return rng.choice(_WHO), PERSONA
    words = rng.sample(WORDS, WORDS_PER_PROMPT)
    shown = " ".join(words)
    if task == "repeat":
        return f"Repeat the words: {shown}", shown
    if task == "reverse":
        return f"Reverse the words: {shown}", " ".join(reversed(words))
    if task == "first":
        return f"What is the first word? {shown}", words[0]
    return f"What is the last word? {shown}", words[-1]


def conversations(n: int, seed: int = 0, tasks: tuple[str, ...] = TASKS) -> list[list[dict]]:
    """`n` single-turn conversations, the tasks in turn, seeded."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        prompt, answer = example(rng, tasks[i % len(tasks)])
        out.append([{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}])
    return out


def write_jsonl(path: Path, items: list[list[dict]]) -> Path:
    path.write_text("".join(json.dumps({"messages": c}) + "\n" for c in items))
    return path


def held_out(
    n: int, seen: set[str], seed: int = 1, tasks: tuple[str, ...] = TASKS
) -> list[tuple[str, str, str]]:
    """`n` (task, prompt, answer) triples whose prompts are not in `seen`;
    the persona task keeps its fixed questions (its check is the reply)."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        task = tasks[len(out) % len(tasks)]
        prompt, answer = example(rng, task)
        if task == "persona" or prompt not in seen:
            out.append((task, prompt, answer))
    return out
