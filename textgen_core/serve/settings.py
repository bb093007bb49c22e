"""The serving settings: the one source of `textgen serve`'s flags, of the web
app's serving flags (the same names) and of their defaults. Stdlib only, so
`textgen --help` stays instant."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from textgen_core.config import DecodeConfig
from textgen_core.errors import TextgenError

API_KEY_VARIABLE = "TEXTGEN_API_KEY"
MB = 1024 * 1024


@dataclass
class ServeConfig:
    max_batch: int = field(default=8, metadata={"aliases": ("--generate-batch",)})
    """Requests decoded together, per model."""
    queue_size: int = 256
    """Requests waiting at most, per model; more are refused (429 with Retry-After)."""
    api_key: str | None = field(default=None, metadata={"metavar": "KEY"})
    """Require `Authorization: Bearer KEY` on /v1 and /metrics (default: the
    TEXTGEN_API_KEY variable; in the app, its --auth login USER:PASS)."""
    max_request_mb: float = field(default=1.0, metadata={"metavar": "MB"})
    """Largest request body the API reads; a larger one is refused (413) before
    it is read."""
    decode: DecodeConfig = field(default_factory=DecodeConfig, metadata={"flatten": True})
    """How the served models decode."""

    def validate(self) -> None:
        smallest = (("--max-batch", self.max_batch, 1), ("--queue-size", self.queue_size, 1))
        for flag, value, least in smallest:
            if value < least:
                raise TextgenError(f"{flag}: must be at least {least}, got {value}")
        if not self.max_request_mb > 0:
            raise TextgenError(f"--max-request-mb: must be positive, got {self.max_request_mb}")

    def key(self, fallback: str | None = None) -> str | None:
        """The API key in force: --api-key, else TEXTGEN_API_KEY, else `fallback`."""
        return self.api_key or os.environ.get(API_KEY_VARIABLE) or fallback

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_request_mb * MB)
