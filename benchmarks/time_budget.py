"""Does `textgen train --time-budget` use the budget, and how good is the
estimate printed before training?

    python benchmarks/time_budget.py [--shapes tiny,distilgpt2] [--precisions fp32,bf16]
                                     [--budgets 2m,10m] [--plays 8] [--epochs 50]

Each run is the real command, `textgen train <the demo's plays> --model
scratch:SHAPE --precision P --time-budget B --epochs 50 --quiet` (the demo's settings
otherwise: chunks of 200, batch 8, samples and the memorization report on),
in a fresh process with an empty TEXTGEN_CACHE, so every run tokenizes the
plays and calibrates from scratch as a first run does. Prints one JSON line
per run:

- budget_s, and the command's wall time measured here (`command_s`, Python's
  start-up included) and by the run (`wall_seconds`: the training call, what
  the budget bounds), with `budget_error` = wall_seconds / budget - 1;
- train_seconds (the Trainer's loop) and run_seconds (base scoring to the
  end of the memorization report);
- the estimate printed before training (`estimate_s` = the time already spent
  preparing and calibrating + the estimated rest) and its error against
  wall_seconds;
- planned_steps (from the calibration), steps (after the re-fit) and the
  re-fit's calibrated and measured step times.

The load average before and after each run and the machine close every line:
a shared machine's load moves both the calibration and the run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import emit  # noqa: E402
from textgen_core.config import parse_duration  # noqa: E402


def one_run(
    shape: str, precision: str, budget: str, plays: list[Path], folder: Path, epochs: int
) -> dict:
    out = folder / f"{shape}-{precision}-{budget}"
    env = {**os.environ, "TEXTGEN_CACHE": str(folder / f"cache-{out.name}")}
    command = [sys.executable, "-m", "textgen_core", "train", *map(str, plays),
               "--output", str(out), "--model", f"scratch:{shape}", "--precision", precision,
               "--time-budget", budget, "--epochs", str(epochs), "--quiet"]  # fmt: skip
    start = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    command_s = time.time() - start
    if done.returncode != 0:
        return {"shape": shape, "precision": precision, "budget": budget,
                "error": done.stderr.strip().splitlines()[-1:]}  # fmt: skip
    r = json.loads((out / "results.json").read_text())
    budget_s = parse_duration(budget)
    estimate_s = r["setup_seconds"] + r["estimated_seconds"]
    refit = r.get("budget_refit") or {}
    return {
        "shape": shape,
        "precision": precision,
        "budget_s": budget_s,
        "command_s": round(command_s, 1),
        "wall_seconds": round(r["wall_seconds"], 1),
        "budget_error": round(r["wall_seconds"] / budget_s - 1, 3),
        "train_seconds": round(r["train_seconds"], 1),
        "run_seconds": round(r["run_seconds"], 1),
        "setup_seconds": round(r["setup_seconds"], 1),
        "estimate_s": round(estimate_s, 1),
        "estimate_error": round(estimate_s / r["wall_seconds"] - 1, 3),
        "planned_steps": r["planned_steps"],
        "steps": r["steps"],
        "calibrated_step_s": refit.get("calibrated_step_seconds"),
        "measured_step_s": refit.get("measured_step_seconds"),
        "refit_after_step": refit.get("after_step"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default="tiny,distilgpt2")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--budgets", default="2m,10m")
    parser.add_argument("--plays", type=int, default=8, help="how many of the demo's plays")
    parser.add_argument(
        "--epochs",
        type=int,
        default=50,
        help="the most epochs: many, so that the budget ends the run, not the data",
    )
    args = parser.parse_args()
    from textgen_core.cli.demo import corpus_files

    plays = corpus_files()[: args.plays]
    with tempfile.TemporaryDirectory(prefix="time-budget-") as tmp:
        for shape in args.shapes.split(","):
            for precision in args.precisions.split(","):
                for budget in args.budgets.split(","):
                    load = os.getloadavg()[0]
                    report = one_run(shape, precision, budget, plays, Path(tmp), args.epochs)
                    emit({"benchmark": "time_budget", **report}, load)


if __name__ == "__main__":
    main()
