"""Many prompts decoded together: one left-padded forward pass per new token
for the whole batch, while each row keeps its own settings, seed and stop strings.

Written by hand rather than one batched `model.generate` call, because
`generate` takes one set of sampling settings, one stopping rule and the
global random generator for the whole batch: a request's sampled text would
then depend on who else was in the batch. Here every row has

- its own `torch.Generator` seeded with its seed, so a seeded request samples
  the same tokens whoever shares the batch (up to float rounding, which can
  differ between batch shapes and flip a near-tie; greedy rows are tested to
  match a request decoded alone);
- the processors `model.generate` would build for it, in its order
  (repetition penalty over the row's own tokens, suppressed tokens,
  temperature, top-k, top-p), applied to rows grouped by equal settings;
- its own `max_new_tokens`, end-of-text and stop strings.

Only those processors: other settings a model's saved generation config may
hold (`no_repeat_ngram_size`, `bad_words_ids`, `min_length`, ...) are not
applied here, while `model.generate` would apply them; textgen's own models
save none of them.

On CPUs other than Intel's the products run on oneDNN (cpu_matmul.py), which
ran these few-row products faster than MKL on AMD CPUs with and without
AVX-512 (1.3-2.3x with 2 threads on an AVX2-only EPYC).
Rows that finish keep riding along (their tokens are ignored) until the last
row finishes: cheaper than reshaping the key/value cache on every exit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from textgen_core.config import GenerateConfig
from textgen_core.generate.sampling import cut_at_stop


@dataclass
class Row:
    """One request in a batch. `emit` receives text pieces as they become final."""

    ids: list[int]
    cfg: GenerateConfig
    emit: Callable[[str], None]
    new: list[int] = field(default_factory=list)
    text: str = ""
    sent: int = 0
    done: bool = False
    stopped: bool = False
    """Set from outside when nobody reads the row any more; it ends at the next token."""
    logprobs: int | None = None
    """Also record, for each new token, its log-probability under the model (before
    temperature and the other processors) and the `logprobs` most likely tokens'."""
    prompt_logprobs: bool = False
    """With `logprobs`, also record them for the prompt's tokens (all but the first)."""
    token_logprobs: list = field(default_factory=list)
    """(logprob, {token id: logprob}) of each token in `new` (then of the prompt's
    tokens in `prompt_token_logprobs`), filled when `logprobs` is set."""
    prompt_token_logprobs: list = field(default_factory=list)
    finish_reason: str = ""
    """Once done: "stop" (end-of-text or a stop string) or "length" (max_new_tokens)."""

    def settings(self) -> tuple:
        c = self.cfg
        sample = c.temperature > 0
        return (c.repetition_penalty, sample) + (
            (c.temperature, c.top_k, c.top_p) if sample else ()
        )


def _processors(key: tuple, suppress: list[int] | None):
    """What `model.generate` applies for these settings, in its order."""
    from transformers import (
        RepetitionPenaltyLogitsProcessor,
        SuppressTokensLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    penalty, sample, *warp = key
    steps = []
    if penalty != 1.0:
        steps.append(RepetitionPenaltyLogitsProcessor(penalty))
    if suppress:
        steps.append(SuppressTokensLogitsProcessor(suppress))
    if sample:
        temperature, top_k, top_p = warp
        if temperature != 1.0:
            steps.append(TemperatureLogitsWarper(temperature))
        if top_k:
            steps.append(TopKLogitsWarper(top_k))
        if top_p < 1.0:
            steps.append(TopPLogitsWarper(top_p))
    return steps


def _history(rows: list[Row]):
    """Each row's prompt and new tokens, left-padded with its own first token
    (a repeat changes nothing for the repetition penalty, a pad token would)."""
    import torch

    seqs = [r.ids + r.new for r in rows]
    width = max(map(len, seqs))
    return torch.tensor([[s[0]] * (width - len(s)) + s for s in seqs])


def _next_tokens(logits, rows: list[Row], generators: list, processors) -> list[int]:
    """The next token of each row: its group's processors, then argmax or a draw
    from the row's own generator."""
    import torch

    chosen = [0] * len(rows)
    groups: dict[tuple, list[int]] = {}
    for i, row in enumerate(rows):
        if not row.done:
            groups.setdefault(row.settings(), []).append(i)
    for key, members in groups.items():
        scores = logits[members]
        history = _history([rows[i] for i in members]).to(scores.device)
        for step in processors(key):
            scores = step(history, scores)
        if key[1]:
            probs = torch.softmax(scores, dim=-1)
            for j, i in enumerate(members):
                # one draw per row from its own generator: what `generate` does
                # for a lone request (a draw over the kept tokens only would be
                # faster, but torch samples one value per vocabulary entry, so
                # the draws, and the seeded text, would change)
                draw = torch.multinomial(probs[j : j + 1], 1, generator=generators[i])
                chosen[i] = int(draw)
        else:
            for j, i in enumerate(members):
                chosen[i] = int(scores[j].argmax())
    return chosen


def _advance(row: Row, token: int, eos: set[int], tokenizer) -> None:
    """Add `token` to the row and emit what is now safe to show: text that
    could still become a stop string, or half a character, is held back."""
    ended = token in eos
    if not ended:
        row.new.append(token)
    text = tokenizer.decode(row.new, skip_special_tokens=True)
    stop = row.cfg.stop
    cut = cut_at_stop(text, stop)
    row.done = ended or len(cut) < len(text) or len(row.new) >= row.cfg.max_new_tokens
    if row.done:
        row.finish_reason = "stop" if ended or len(cut) < len(text) else "length"
        safe = len(cut)
    else:
        hold = max((len(s) for s in stop), default=1) - 1
        safe = len(text.rstrip("\ufffd")) - hold
    if safe > row.sent:
        row.emit(cut[row.sent : safe])
        row.sent = safe
    row.text = cut


def _top(logprobs, token: int, k: int) -> tuple[float, dict[int, float]]:
    values, ids = logprobs.topk(k) if k else (logprobs[:0], logprobs[:0].long())
    return float(logprobs[token]), dict(zip(ids.tolist(), values.tolist(), strict=True))


def _record_logprobs(logits, rows: list[Row], tokens: list[int], eos: set[int]) -> None:
    """Each asking row's chosen token's log-probability and its top `logprobs`
    alternatives, for the tokens `_advance` will keep (not end-of-text)."""
    import torch

    for i, (row, token) in enumerate(zip(rows, tokens, strict=True)):
        if row.logprobs is not None and not row.done and token not in eos:
            row.token_logprobs.append(_top(torch.log_softmax(logits[i], -1), token, row.logprobs))


def _record_prompt_logprobs(logits, rows: list[Row]) -> None:
    """From the first forward pass over the (left-padded) prompts: the
    log-probability of each prompt token after the first, given those before it."""
    import torch

    width = logits.shape[1]
    for i, row in enumerate(rows):
        if row.logprobs is None or not row.prompt_logprobs:
            continue
        start = width - len(row.ids)
        scores = torch.log_softmax(logits[i, start:-1].float(), -1)
        row.prompt_token_logprobs = [
            _top(scores[j], token, row.logprobs) for j, token in enumerate(row.ids[1:])
        ]


def _generator(row: Row, device):
    import torch

    gen = torch.Generator(device=device)
    if row.cfg.seed is not None:
        gen.manual_seed(row.cfg.seed)
    else:
        gen.seed()
    return gen


def decode(model, tokenizer, rows: list[Row]) -> None:
    """Decode all `rows` together; each row's pieces go to its `emit`, and its
    full text (cut at its first stop string) ends up in `row.text`."""
    import torch

    from textgen_core.generate.decode_threads import decoding_threads
    from textgen_core.kernels.cpu_matmul import fast_cpu_matmuls

    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    gen_cfg = model.generation_config
    eos = gen_cfg.eos_token_id
    eos = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
    suppress = gen_cfg.suppress_tokens
    built: dict[tuple, list] = {}

    def processors(key: tuple) -> list:
        if key not in built:
            built[key] = _processors(key, suppress)
        return built[key]

    generators = [_generator(row, device) for row in rows]
    width = max(len(r.ids) for r in rows)
    ids = torch.tensor([[pad] * (width - len(r.ids)) + r.ids for r in rows], device=device)
    mask = torch.tensor(
        [[0] * (width - len(r.ids)) + [1] * len(r.ids) for r in rows], device=device
    )
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    past = None
    with torch.inference_mode(), decoding_threads(model), fast_cpu_matmuls(model, decoding=True):
        while not all(r.done for r in rows):
            out = model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                cache=past,
                use_cache=True,
            )
            if past is None:
                _record_prompt_logprobs(out.logits, rows)
            past = out.cache
            logits = out.logits[:, -1].float()
            tokens = _next_tokens(logits, rows, generators, processors)
            _record_logprobs(logits, rows, tokens, eos)
            for row, token in zip(rows, tokens, strict=True):
                if not row.done:
                    _advance(row, token, eos, tokenizer)
                row.done = row.done or row.stopped
            ids = torch.tensor([[t] for t in tokens], device=device)
            mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=-1)
            positions = positions[:, -1:] + 1
