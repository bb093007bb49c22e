"""The extraction worker: `python -m textgen_core.data.extract.worker MEMORY_BYTES`.

Reads requests ({"module", "function", "arg"}, length-prefixed JSON) from
stdin and answers each with [status, value] on stdout: "ok" and the result,
"refused" and the reason, or "memory". Its address space is capped at what it
uses when started plus MEMORY_BYTES. See `sandbox.py`.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

from textgen_core.data.extract.sandbox import _HEADER, send
from textgen_core.errors import TextgenError


def _cap_memory(extra: int) -> None:
    try:
        import resource

        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (used + extra, used + extra))
    except (ImportError, OSError, ValueError):  # pragma: no cover - no rlimits or /proc here
        pass


def answer(request: dict) -> list:
    try:
        function = getattr(importlib.import_module(request["module"]), request["function"])
        return ["ok", function(request["arg"])]
    except TextgenError as exc:
        return ["refused", str(exc)]
    except MemoryError:
        return ["memory", None]
    except RecursionError:
        return ["refused", "structure nested too deeply to read"]
    except Exception as exc:  # a file the library chokes on costs that file only
        return ["refused", f"could not be read ({type(exc).__name__}: {exc})"[:500]]


def main() -> None:
    import textgen_core.data.extract.registry  # noqa: F401 - imports paid once, before the cap

    for name in ("bs4", "pypdf", "docx", "defusedxml.ElementTree", "charset_normalizer"):
        try:
            importlib.import_module(name)
        except ImportError:  # the file that needs it says so when it is read
            pass
    _cap_memory(int(sys.argv[1]))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while header := stdin.read(_HEADER.size):
        (size,) = _HEADER.unpack(header)
        request = json.loads(stdin.read(size))
        try:
            send(stdout, answer(request))
        except MemoryError:
            send(stdout, ["memory", None])


if __name__ == "__main__":
    main()
