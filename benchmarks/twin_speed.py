"""Forward+backward time per time step of the lsnn_smnist twin (CPU), eager vs torch.compile.

Both are measured in the same run; the figure to read is the ratio.
    .venv/bin/python benchmarks/twin_speed.py [--batch 256] [--steps 100] [--repeats 3]
"""
import argparse
import time
from pathlib import Path

import numpy as np
import torch

import lsnn_bio
from lsnn_bio.twin import Twin

ROOT = Path(__file__).resolve().parent.parent


def time_forward_backward(twin, inputs, repeats):
    times = []
    for _ in range(repeats):
        twin.zero_grad()
        start = time.perf_counter()
        result = twin(inputs)
        loss = result.outputs["out"][-28:].mean(0).logsumexp(-1).mean() + sum(s.mean() for s in result.spikes.values())
        loss.backward()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    spec = lsnn_bio.load_network(ROOT / "models" / "lsnn_smnist.yaml", seed=0)
    rng = np.random.default_rng(0)
    inputs = {"pixels": torch.tensor((rng.random((args.steps, args.batch, 80)) < 0.02), dtype=torch.float32, device=args.device)}
    print(f"lsnn_smnist twin, float32, batch {args.batch}, {args.steps} steps, device {args.device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    eager = Twin(spec, dtype=torch.float32, device=args.device)
    eager_s = time_forward_backward(eager, inputs, args.repeats)
    print(f"eager:         {1e3 * eager_s / args.steps:8.2f} ms per step (forward+backward)")

    compiled = Twin(spec, dtype=torch.float32, device=args.device).compile_step(dynamic=False)
    start = time.perf_counter()
    time_forward_backward(compiled, inputs, 1)
    warmup = time.perf_counter() - start
    compiled_s = time_forward_backward(compiled, inputs, args.repeats)
    print(f"torch.compile: {1e3 * compiled_s / args.steps:8.2f} ms per step (forward+backward), first call {warmup:.1f} s")
    print(f"speed-up of torch.compile over eager: {eager_s / compiled_s:.2f}x")
    with torch.no_grad():
        same = all(torch.equal(a, b) for a, b in zip(eager(inputs).spikes.values(), compiled(inputs).spikes.values()))
    print(f"identical spikes eager vs compiled: {same}")


if __name__ == "__main__":
    main()
