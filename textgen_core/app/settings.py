"""The web app's settings: the one source of the flags of `textgen app` and
`python app.py` and of their defaults. The serving flags are `ServeConfig`'s,
named as `textgen serve` names them. Stdlib only, so `--help` stays instant."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from textgen_core.app.uploads import MB, UploadLimits
from textgen_core.errors import TextgenError
from textgen_core.serve.settings import ServeConfig

AUTH_VARIABLE = "TEXTGEN_AUTH"
"""USER:PASS, the login when --auth is not given (a Space's secret)."""


def _env_host() -> str:
    return os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")  # a Space sets it


def _env_port() -> int:
    return int(os.environ.get("GRADIO_SERVER_PORT", "7860"))  # a Space sets it


@dataclass
class AppConfig:
    host: str = field(default_factory=_env_host)
    """Address to bind; without the flag, GRADIO_SERVER_NAME if set (a Space sets it)."""
    port: int = field(default_factory=_env_port)
    """Port; without the flag, GRADIO_SERVER_PORT if set."""
    share: bool = False
    """Also serve on a public gradio.live link."""
    auth: str | None = field(default=None, metadata={"metavar": "USER:PASS"})
    """Require this login (default: the TEXTGEN_AUTH variable, if set)."""
    max_file_mb: float = UploadLimits.max_file_bytes // MB
    """Largest uploaded file, in MB."""
    max_total_mb: float = UploadLimits.max_total_bytes // MB
    """Largest upload, all its files together, in MB."""
    max_new_tokens: int = 512
    """Most tokens one generation may ask for."""
    generate_concurrency: int = 16
    """Generation requests admitted at once; the rest wait in the queue."""
    max_jobs: int = 1
    """Training or tuning jobs at once."""
    serve: ServeConfig = field(default_factory=ServeConfig, metadata={"flatten": True})
    """Decoding and the OpenAI-compatible /v1 API on the app's port."""

    def login(self) -> tuple[str, str] | None:
        """(user, password) of --auth, else of TEXTGEN_AUTH; None without a login."""
        given = self.auth or os.environ.get(AUTH_VARIABLE)
        if not given:
            return None
        user, sep, password = given.partition(":")
        if not (sep and user and password):
            raise TextgenError("--auth: must be USER:PASS")
        return user, password

    def api_key(self) -> str | None:
        """The /v1 key: --api-key, else TEXTGEN_API_KEY, else the login USER:PASS."""
        login = self.login()
        return self.serve.key(":".join(login) if login else None)

    def upload_limits(self) -> UploadLimits:
        return UploadLimits(int(self.max_file_mb * MB), int(self.max_total_mb * MB))

    def validate(self) -> None:
        self.serve.validate()
        self.login()
        at_least_one = {
            "--max-new-tokens": self.max_new_tokens,
            "--generate-concurrency": self.generate_concurrency,
            "--max-jobs": self.max_jobs,
        }
        for flag, value in at_least_one.items():
            if value < 1:
                raise TextgenError(f"{flag}: must be at least 1, got {value}")
