"""Generation for the app: concurrent requests for one model decoded together.

Each loaded model gets a `Batcher`: a worker thread that takes the requests
waiting for that model, at most `max_batch` at a time, and decodes them in
one batch (`batched_decode.decode`). Requests arriving while a batch runs
wait for the next one. Requests sent together reach the worker a few
milliseconds apart, so a batch keeps filling while they keep coming (each
within `gap` seconds of the last), for at most `window` seconds: a lone
request waits `gap` for company, a crowd is not split across two batches.
A batch-1 decoding step on CPU reads every weight to compute one token, so
eight rows cost little more than one (BENCHMARKS.md, serving).

What a request gets does not depend on the batch it lands in: greedy text is
the text decoded alone, and a seeded request draws from its own generator
(see batched_decode.py). Text streams back in pieces as it is decoded.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from textgen_core.config import GenerateConfig
from textgen_core.errors import TextgenError
from textgen_core.generate.batched import Row, decode
from textgen_core.generate.decode_weights import for_decoding
from textgen_core.model.cache import ModelCache
from textgen_core.precision import resolve_decode
from textgen_core.serve.settings import ServeConfig

_DEFAULTS = ServeConfig()
_END = object()
END = _END
"""What `Batcher.submit` puts on a request's sink once its row is decoded."""


class Busy(TextgenError):
    """The model's waiting line is full; the request was not queued."""


@dataclass
class _Request:
    row: Row
    pieces: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)


class Batcher:
    """Decodes the requests for one model in batches, on its own thread."""

    def __init__(
        self,
        model,
        tokenizer,
        *,
        max_batch: int = _DEFAULTS.max_batch,
        gap: float = 0.01,
        window: float = 0.05,
        max_waiting: int = _DEFAULTS.queue_size,
        idle: float = 60.0,
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_batch, self.gap, self.window = max(1, max_batch), gap, window
        self.max_waiting, self.idle = max_waiting, idle
        self.batch_sizes: list[int] = []  # of every batch run, for tests and benchmarks
        self.on_batch: list = []
        """Functions called with the size of each batch as it starts (metrics)."""
        self._waiting: queue.Queue[_Request] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def stream(self, prompt: str, cfg: GenerateConfig) -> Iterator[str]:
        """Pieces of the continuation of `prompt` as they are decoded; what has
        piled up since the last piece comes as one (slow readers see fewer, longer pieces)."""
        from textgen_core.generate.sampling import prompt_ids

        cfg.validate()
        if cfg.num_return_sequences != 1:
            raise TextgenError("num_return_sequences: the app serves one sequence per request")
        ids = prompt_ids(self.model, self.tokenizer, prompt, cfg)[0].tolist()
        request = _Request(Row(ids, cfg, emit=lambda piece: request.pieces.put(piece)))
        self._submit(request)
        try:
            yield from _pieces(request.pieces)
        finally:
            request.row.stopped = True  # a reader that went away frees its row

    def generate(self, prompt: str, cfg: GenerateConfig) -> str:
        return "".join(self.stream(prompt, cfg))

    def submit(self, rows: list[Row], sinks: list) -> None:
        """Queue `rows` together (all or none: `Busy` when the line is full). Each
        row's `emit` should feed its sink; when the row is decoded, `END` or the
        exception that ended its batch goes to `sink.put`. `stream` is built on this."""
        self._submit(*(_Request(row, sink) for row, sink in zip(rows, sinks, strict=True)))

    @property
    def waiting(self) -> int:
        """Requests queued and not yet in a batch."""
        return self._waiting.qsize()

    def _submit(self, *requests: _Request) -> None:
        with self._lock:
            if self._waiting.qsize() + len(requests) > self.max_waiting:
                raise Busy(
                    f"busy: {self.max_waiting} requests are already waiting for this model; "
                    "try again in a moment"
                )
            for request in requests:
                self._waiting.put(request)
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, daemon=True)
                self._worker.start()

    def _work(self) -> None:
        while True:
            try:
                first = self._waiting.get(timeout=self.idle)
            except queue.Empty:
                with self._lock:
                    if self._waiting.empty():
                        self._worker = None  # let an unused model's memory go
                        return
                continue
            self._run(self._collect(first))

    def _collect(self, first: _Request) -> list[_Request]:
        batch, deadline = [first], time.monotonic() + self.window
        while len(batch) < self.max_batch:
            wait = min(self.gap, deadline - time.monotonic())
            try:
                batch.append(self._waiting.get(timeout=max(0.0, wait)))
            except queue.Empty:
                break
        return batch

    def _run(self, batch: list[_Request]) -> None:
        self.batch_sizes.append(len(batch))
        for observe in self.on_batch:
            observe(len(batch))
        try:
            decode(self.model, self.tokenizer, [r.row for r in batch])
        except BaseException as exc:  # handed to every reader of the batch; the worker goes on
            for request in batch:
                request.pieces.put(exc)
        else:
            for request in batch:
                request.pieces.put(_END)


def _pieces(pieces: queue.SimpleQueue) -> Iterator[str]:
    while True:
        items = [pieces.get()]
        while not pieces.empty():
            items.append(pieces.get())
        text = "".join(item for item in items if isinstance(item, str))
        if text:
            yield text
        for item in items:
            if isinstance(item, BaseException):
                raise item
            if item is _END:
                return


class Server:
    """Generation for the app and the API: models from `cache`, one `Batcher`
    per loaded model, batch and queue sizes and decoding precision from `config`."""

    def __init__(self, cache: ModelCache | None = None, config: ServeConfig | None = None) -> None:
        self.cache = cache or ModelCache()
        self.config = config or ServeConfig()
        # bf16 / int8 weights on CPU (generate/decode_weights.py)
        self.precision = resolve_decode(self.config.decode.precision)
        self.on_batch: list = []
        """Functions called with the size of every batch of every model (metrics)."""
        self._batchers: dict[str, Batcher] = {}
        self._lock = threading.Lock()

    def batcher(self, name: str) -> Batcher:
        model, tokenizer = self.cache.get(name)
        with self._lock:
            current = self._batchers.get(name)
            if current is None or current.source is not model:  # new, or reloaded after eviction
                current = Batcher(
                    for_decoding(model, self.precision),
                    tokenizer,
                    max_batch=self.config.max_batch,
                    max_waiting=self.config.queue_size,
                )
                current.source = model
                current.on_batch = self.on_batch  # the same list: observers added later count
                self._batchers[name] = current
                self._forget_evicted()
            return current

    def stream(self, name: str, prompt: str, cfg: GenerateConfig) -> Iterator[str]:
        return self.batcher(name).stream(prompt, cfg)

    def waiting(self) -> int:
        """Requests queued for any model and not yet in a batch."""
        with self._lock:
            return sum(b.waiting for b in self._batchers.values())

    def _forget_evicted(self) -> None:
        for name in [n for n in self._batchers if n not in self.cache]:
            del self._batchers[name]
