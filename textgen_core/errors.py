"""The one error type for problems a user can cause and fix, and how failures
from outside (the Hugging Face Hub, the network) become one.

Imports nothing of textgen; huggingface_hub is imported only when a failure is
explained.
"""

from __future__ import annotations

import os


class TextgenError(Exception):
    """Bad input, a bad setting, or an unreachable model: the message names the
    thing and what to do. The CLI turns it into exit status 2 and one line; the
    app shows it as a message."""


def describe_load_error(
    model_id: str, exc: Exception, *, revision: str | None = None
) -> TextgenError:
    """Turn a `from_pretrained` failure for `model_id` into a one-line TextgenError that
    says why (unknown repo, gated, offline, no network) and what to use instead."""
    problem = hub_problem(exc, model_id) or first_line(exc)
    return TextgenError(
        f"cannot load model {model_id!r}{f' at revision {revision!r}' if revision else ''}: "
        f"{problem}. Other options: a local model folder, "
        "or --model scratch:tiny (random weights, works offline)"
    )


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def hub_problem(exc: BaseException, repo_id: str) -> str | None:
    """What went wrong with `repo_id`, and what to do, if `exc` is a Hub or network failure."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub import errors as hf

    chain = _exception_chain(exc)

    def find(*types: type[BaseException]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, types)), None)

    endpoint = hub_endpoint()
    token_hint = "pass --token, set HF_TOKEN, or run `hf auth login`"
    offline = constants.is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "") in ("1", "true")
    if find(hf.GatedRepoError):
        return (
            f"{repo_id} is gated: accept its conditions at {endpoint}/{repo_id} while logged in, "
            f"then use a token of that account ({token_hint})"
        )
    if find(hf.RepositoryNotFoundError):
        return (
            f"there is no repository {repo_id} on {endpoint} (or it is private and the token "
            f"cannot see it): check the name; for a private repo, {token_hint}"
        )
    if find(hf.RevisionNotFoundError):
        return f"{repo_id} has no such revision (branch, tag or commit): check the name"
    if entry := find(hf.RemoteEntryNotFoundError):
        return f"{repo_id} has no file {_missing_file(entry)}: is it a model repository?"
    if find(hf.OfflineModeIsEnabled) or (offline and find(hf.LocalEntryNotFoundError)):
        return f"HF_HUB_OFFLINE=1 is set and {repo_id} is not in the local cache: unset it"
    if find(httpx2.TransportError, ConnectionError, TimeoutError, hf.LocalEntryNotFoundError):
        return f"cannot reach {endpoint} (and nothing is cached): check the network or HF_ENDPOINT"
    http = find(hf.HfHubHTTPError)
    status = http.response.status_code if http is not None and http.response is not None else None
    if status == 401:
        return f"the Hub rejected the token (401): it is invalid or expired; {token_hint}"
    if status == 403:
        return f"the token may not write to {repo_id} (403): use a write token of its owner"
    if http is not None:
        return f"the Hub answered {status}: {first_line(http)}"
    return None


def _missing_file(error: BaseException) -> str:
    response = getattr(error, "response", None)
    url = str(response.url) if response is not None else ""
    return url.rsplit("/", 1)[-1] or "that was needed"


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
