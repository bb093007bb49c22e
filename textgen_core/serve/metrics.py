"""`/metrics` of the OpenAI-compatible API, in Prometheus' text format.

Each mounted API keeps its own registry (not prometheus_client's global one),
so two apps in one process, or one per test, count apart.
"""

from __future__ import annotations

from textgen_core.serve.batching import Server

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """Requests by route and status, prompt and completion tokens, requests
    waiting for a batch, batch sizes, and request latency."""

    def __init__(self, server: Server) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "textgen_requests",
            "API requests answered, by route and HTTP status",
            ["route", "status"],
            registry=self.registry,
        )
        self.prompt_tokens = Counter(
            "textgen_prompt_tokens", "Prompt tokens of answered requests", registry=self.registry
        )
        self.completion_tokens = Counter(
            "textgen_completion_tokens", "Tokens generated", registry=self.registry
        )
        queue = Gauge(
            "textgen_queue_depth",
            "Requests (choices) waiting for a batch, all models",
            registry=self.registry,
        )
        queue.set_function(server.waiting)
        self.batch_size = Histogram(
            "textgen_batch_size",
            "Rows decoded together in each batch (the app's and the API's requests alike)",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.latency = Histogram(
            "textgen_request_seconds",
            "Seconds from request to the last byte of the answer, by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        server.on_batch.append(self.batch_size.observe)

    def answered(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def counted(self, usage: dict) -> None:
        self.prompt_tokens.inc(usage["prompt_tokens"])
        self.completion_tokens.inc(usage["completion_tokens"])

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
