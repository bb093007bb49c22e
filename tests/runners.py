"""Moved to tests/support/ (models, runs, cli). This re-export lets branches started
before the move keep importing `runners` until they rebase; it goes soon after."""

from support.cli import logged, textgen  # noqa: F401
from support.models import (  # noqa: F401
    FAMILIES,
    FAMILY_TOKENIZER,
    TINY,
    TINY_FAMILIES,
    build_tiny_family_model,
    build_tiny_model,
    shakespeare,
)
from support.runs import (  # noqa: F401
    LEAN,
    LEAN_CONFIG,
    NO_MEMORIZATION,
    cli_command,
    cli_train,
    tiny_config,
    weights,
)
