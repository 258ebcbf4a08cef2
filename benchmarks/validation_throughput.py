"""Validation throughput: Brian2 trials per second, compile-once cpp_standalone vs per-trial runtime networks.

All three are measured in the same run on the same store-recall network and test trials:
  naive      a new runtime (numpy) Brian2 network built and run for every trial
  rerun      one runtime network, restored and rerun per trial
  standalone one C++ binary compiled once, each trial a run with new inputs (run_args)
    .venv/bin/python benchmarks/validation_throughput.py [--trials 40] [--naive-trials 5]
"""

import argparse
import time
from pathlib import Path

import lsnn_bio
from lsnn_bio.brian import BrianNetwork
from lsnn_bio.tasks import make_task
from lsnn_bio.validation import held_out_trials

ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--naive-trials", type=int, default=5)
    args = parser.parse_args()
    spec = lsnn_bio.load_network(ROOT / "models" / "lsnn_store_recall.yaml", seed=0)
    task = make_task("store_recall")
    rasters = [batch.inputs[:, b] for batch in held_out_trials(task, "test", args.trials) for b in range(batch.size)]
    print(f"store-recall LSNN, {task.steps} steps per trial, {len(rasters)} trials")

    start = time.perf_counter()
    for raster in rasters[: args.naive_trials]:
        BrianNetwork(spec, engine="numpy", steps=task.steps).run({"symbols": raster})
    naive = args.naive_trials / (time.perf_counter() - start)

    network = BrianNetwork(spec, engine="numpy", steps=task.steps)
    start = time.perf_counter()
    for raster in rasters[: args.naive_trials]:
        network.run({"symbols": raster})
    rerun = args.naive_trials / (time.perf_counter() - start)

    start = time.perf_counter()
    standalone = BrianNetwork(spec, engine="cpp_standalone", steps=task.steps)
    build = time.perf_counter() - start
    start = time.perf_counter()
    for raster in rasters:
        standalone.run({"symbols": raster})
    compiled = len(rasters) / (time.perf_counter() - start)

    print(f"naive (rebuild runtime network per trial): {naive:8.2f} trials/s")
    print(f"rerun (one runtime network, restored):     {rerun:8.2f} trials/s   {rerun / naive:6.1f}x naive")
    print(
        f"cpp_standalone (compiled once, run_args):  {compiled:8.2f} trials/s   {compiled / naive:6.1f}x naive "
        f"(+ {build:.1f} s one-off build; break-even after {build * naive / max(1 - naive / compiled, 1e-9):.0f} trials)"
    )


if __name__ == "__main__":
    main()
