"""`python peak_rss.py ARGS...` runs `textgen ARGS` (as `python -m textgen_core`) and
writes the process's peak resident memory (VmHWM, kB) as the last line of stderr,
`peak_rss_kb=N`, whether it exits normally or not.

The peak counts from this script's start: a process forked from a pre-imported
interpreter (support.zygote) begins with its parent's peak, so it is reset first
(`/proc/self/clear_refs`); what the imports hold stays counted, as in a fresh
interpreter that imports them. VmHWM, which that resets, and not getrusage's
ru_maxrss, which Linux also carries over exec."""

import runpy
import sys


def peak_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # resets the peak to the present resident size
try:
    sys.argv = ["textgen", *sys.argv[1:]]
    runpy.run_module("textgen_core", run_name="__main__")
finally:
    print(f"peak_rss_kb={peak_kb()}", file=sys.stderr)
