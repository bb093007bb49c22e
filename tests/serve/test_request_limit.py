"""A request body over --max-request-mb (1 MB by default) is refused with 413 in
OpenAI's error shape before it is read whole: from its Content-Length, or while
a chunked upload streams in. The server's peak memory (VmHWM, reset before each
request) shows it: a 10 MB body refused adds a fraction of its size, while the
same body on a server that reads it whole adds at least its size."""

from __future__ import annotations

from pathlib import Path

import httpx
from support.servers import API_KEY, ApiServer

MB = 1024 * 1024
BODY = b'{"model": "tiny", "prompt": "' + b"x" * (10 * MB)  # 10 MB, unterminated JSON
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}


def _kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def peak_growth(server: ApiServer, send) -> tuple[httpx.Response, int]:
    """(the answer to `send(url)`, bytes by which the server's peak resident
    memory rose above its resident memory before the request)."""
    pid = server.proc.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS now
    before = _kb(pid, "VmRSS")
    answer = send(server.url + "/v1/completions")
    return answer, (_kb(pid, "VmHWM") - before) * 1024


def in_chunks(data: bytes, size: int = 64 * 1024):
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_10_mb_body_is_refused_with_413_without_being_held(served):
    declared, grew = peak_growth(
        served, lambda url: httpx.post(url, content=BODY, headers=HEADERS, timeout=60)
    )
    assert declared.status_code == 413
    error = declared.json()["error"]
    assert error["code"] == "request_too_large" and error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"body: {len(BODY)} bytes, more than this server takes")
    assert grew < len(BODY) / 4, grew

    chunked, grew = peak_growth(  # no Content-Length: counted as it streams in
        served, lambda url: httpx.post(url, content=in_chunks(BODY), headers=HEADERS, timeout=60)
    )
    assert chunked.status_code == 413 and "--max-request-mb" in chunked.json()["error"]["message"]
    assert grew < len(BODY) / 4, grew

    small = httpx.post(
        served.url + "/v1/completions",
        json={"model": "tiny", "prompt": "x" * 1000, "max_tokens": 2},
        headers=HEADERS,
    )
    assert small.status_code == 200  # the server answers on after refusing


def test_a_server_that_reads_the_body_whole_shows_its_size_in_memory(tmp_path, tiny_model):
    """The measure can see a body held whole: here the limit lets it in."""
    server = ApiServer(tmp_path, [f"tiny={tiny_model}"], "--max-request-mb", "64").start()
    try:
        read, grew = peak_growth(
            server, lambda url: httpx.post(url, content=BODY, headers=HEADERS, timeout=60)
        )
    finally:
        server.stop()
    assert read.status_code == 400 and "not valid JSON" in read.json()["error"]["message"]
    assert grew >= len(BODY), grew
