"""Forward+backward cost of one sMNIST training iteration: the twin against baselines, in one run.

Each variant runs in its own process (so its peak memory is its own) on the
paper's sMNIST network (120 LIF + 100 ALIF, 80 inputs, 10 readouts, 12 %
connectivity): batch 256, 840 steps, float32, the same threshold-crossing-like
input density. Printed per variant: microseconds per time step (forward +
backward, median of --repeats) and the peak memory one iteration adds; then the
twin's ratios against every baseline measured in the same run.

    .venv/bin/python benchmarks/twin_speed.py [--batch 256] [--steps 840] [--repeats 5] [--warmup 3] [--threads 2]
        [--device cpu|cuda] [--huge-pages on|off] [--before COMMIT] [--only NAMES]

Variants: the twin with the paper's 1-10 ms delays (eager and compiled by Inductor; and
compiled with the gradients DEEP R asks for: every potential synapse, 8x those present), the
twin with delays removed (recurrent 1 ms, inputs 0 ms), a hand-written ALIF loop
without delays, an official-style dense delay ring buffer (input and recurrent as
one (n_pre, 10 * n_post) GEMM per step), Norse ``LSNNRecurrent`` (no delays; only
if installed: ``pip install --no-deps norse==1.1.0 nir nirtorch``), the per-step
GEMMs alone (the floor of any dense implementation), and with ``--before COMMIT``
the twin of an older commit of this repository.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N_IN, N_LIF, N_ALIF, N_OUT = 80, 120, 100, 10
N_REC = N_LIF + N_ALIF


# ----------------------------------------------------------------------------- variants (run in a child)


def _inputs(torch, steps, batch, device):
    generator = torch.Generator().manual_seed(0)
    return (torch.rand(steps, batch, N_IN, generator=generator) < 0.02).float().to(device)


def _loss(outputs, spikes):
    return outputs[-28:].mean(0).logsumexp(-1).mean() + sum(s.mean() for s in spikes)


def _twin(torch, args, delays=True, compile=False, root=ROOT, deep_r=False):
    sys.path.insert(0, str(root))
    import lsnn_bio
    from lsnn_bio.twin import Twin

    spec = lsnn_bio.load_network(root / "models" / "lsnn_smnist.yaml", seed=0)
    if not delays:
        import dataclasses

        import numpy as np

        spec = dataclasses.replace(
            spec,
            projections=[
                dataclasses.replace(
                    p,
                    delay=np.full_like(p.delay, 0 if p.source in spec.inputs or p.target == "out" else 1),
                    potential_delay=None
                    if p.potential_delay is None
                    else np.full_like(p.potential_delay, 0 if p.source in spec.inputs or p.target == "out" else 1),
                )
                for p in spec.projections
            ],
        )
    if compile:
        twin = Twin(spec, dtype=torch.float32, device=args.device, compile=True)
    else:
        twin = Twin(spec, dtype=torch.float32, device=args.device)
    twin.dense_gradient = deep_r  # what DEEP R asks for: the gradient of every potential synapse, absent ones too
    x = _inputs(torch, args.steps, args.batch, args.device)

    def iteration():
        twin.zero_grad()
        result = twin({"pixels": x})
        _loss(result.outputs["out"], result.spikes.values()).backward()

    return iteration


def _alif_loop(torch, args):
    """The LSNN step written by hand in torch (Brian2's order, no delays): what a careful user writes."""
    device, batch = args.device, args.batch
    w_in = (torch.randn(N_IN, N_REC, device=device) / N_IN**0.5).requires_grad_()
    w_rec = (torch.randn(N_REC, N_REC, device=device) / N_REC**0.5 * 0.3).requires_grad_()
    w_out = (torch.randn(N_REC, N_OUT, device=device) / N_REC**0.5).requires_grad_()
    alpha, rho, kappa = 0.951229, 0.998572, 0.951229
    beta = torch.cat([torch.zeros(N_LIF), torch.full((N_ALIF,), 1.8)]).to(device)
    x = _inputs(torch, args.steps, batch, device)

    class Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, v):
            ctx.save_for_backward(v)
            return (v > 0).float()

        @staticmethod
        def backward(ctx, g):
            (v,) = ctx.saved_tensors
            return g * 0.3 * torch.clamp(1 - v.abs(), min=0)

    def iteration():
        for w in (w_in, w_rec, w_out):
            w.grad = None
        v = torch.zeros(batch, N_REC, device=device)
        b, z, y = torch.zeros_like(v), torch.zeros_like(v), torch.zeros(batch, N_OUT, device=device)
        outputs, spikes = [], []
        for t in range(args.steps):
            b = rho * b + (1 - rho) * z
            threshold = 0.01 + beta * b
            v = alpha * v + (1 - alpha) * (x[t] @ w_in + z @ w_rec) - threshold * z
            z = Spike.apply((v - threshold) / threshold)
            y = kappa * y + (1 - kappa) * (z @ w_out)
            outputs.append(y)
            spikes.append(z)
        _loss(torch.stack(outputs), [torch.stack(spikes)]).backward()

    return iteration


def _dense_ring(torch, args):
    """The official code's delays: one (n_pre, 10 * n_post) GEMM per step into a ring buffer of future currents."""
    device, batch, slots = args.device, args.batch, 10
    w = (torch.randn(N_IN + N_REC, slots * N_REC, device=device) * 0.02).requires_grad_()
    w_out = (torch.randn(N_REC, N_OUT, device=device) / N_REC**0.5).requires_grad_()
    alpha, rho, kappa = 0.951229, 0.998572, 0.951229
    beta = torch.cat([torch.zeros(N_LIF), torch.full((N_ALIF,), 1.8)]).to(device)
    x = _inputs(torch, args.steps, batch, device)

    def spike(v):
        smooth = 0.3 * (torch.clamp(v, -1, 1) - 0.5 * torch.clamp(v, -1, 1) * torch.clamp(v, -1, 1).abs())
        return (v > 0).float() + smooth - smooth.detach()

    def iteration():
        w.grad = w_out.grad = None
        v = torch.zeros(batch, N_REC, device=device)
        b, z, y = torch.zeros_like(v), torch.zeros_like(v), torch.zeros(batch, N_OUT, device=device)
        ring = torch.zeros(batch, slots, N_REC, device=device)
        outputs, spikes = [], []
        for t in range(args.steps):
            ring = ring + (torch.cat([x[t], z], 1) @ w).view(batch, slots, N_REC)
            current, ring = ring[:, 0], torch.cat([ring[:, 1:], torch.zeros_like(ring[:, :1])], 1)
            b = rho * b + (1 - rho) * z
            threshold = 0.01 + beta * b
            v = alpha * v + (1 - alpha) * current - threshold * z
            z = spike((v - threshold) / threshold)
            y = kappa * y + (1 - kappa) * (z @ w_out)
            outputs.append(y)
            spikes.append(z)
        _loss(torch.stack(outputs), [torch.stack(spikes)]).backward()

    return iteration


def _norse(torch, args):
    import norse.torch as norse

    device = args.device
    layer = norse.LSNNRecurrent(N_IN, N_REC).to(device)
    readout = torch.nn.Linear(N_REC, N_OUT).to(device)
    x = _inputs(torch, args.steps, args.batch, device)

    def iteration():
        layer.zero_grad()
        readout.zero_grad()
        spikes, _ = layer(x)
        _loss(readout(spikes), [spikes]).backward()

    return iteration


def _gemm_floor(torch, args):
    """Only the per-step GEMMs of a dense implementation (x @ W_in, z @ W_rec) and their backward."""
    device, batch = args.device, args.batch
    w_in = torch.randn(N_IN, N_REC, device=device, requires_grad=True)
    w_rec = torch.randn(N_REC, N_REC, device=device, requires_grad=True)
    x = _inputs(torch, args.steps, batch, device)
    z = (torch.rand(args.steps, batch, N_REC, device=device) < 0.01).float().requires_grad_()

    def iteration():
        w_in.grad = w_rec.grad = z.grad = None
        total = sum((x_t @ w_in + z_t @ w_rec).sum() for x_t, z_t in zip(x.unbind(0), z.unbind(0)))
        total.backward()

    return iteration


VARIANTS = {
    "twin (paper delays 1-10 ms), compiled": lambda torch, a: _twin(torch, a, compile=True),
    "twin (paper delays 1-10 ms), eager": lambda torch, a: _twin(torch, a),
    "twin (paper delays), compiled, DEEP R gradients": lambda torch, a: _twin(torch, a, compile=True, deep_r=True),
    "twin without delays, compiled": lambda torch, a: _twin(torch, a, delays=False, compile=True),
    "hand-written ALIF loop, no delays": _alif_loop,
    "official-style dense delay ring buffer": _dense_ring,
    "Norse 1.1 LSNNRecurrent, no delays": _norse,
    "per-step GEMMs alone (floor)": _gemm_floor,
}


def _child(name, args):
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if name.startswith("twin at "):
        root = Path(args.before_root)
        iteration = _twin(torch, args, root=root)
    else:
        iteration = VARIANTS[name](torch, args)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # the model and its inputs exist
    start = time.perf_counter()
    iteration()  # the first call: compilation, caches
    warmup = time.perf_counter() - start
    for _ in range(args.warmup - 1):  # until the allocator and autograd's buffers reach their steady state
        iteration()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        iteration()
        if args.device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    memory = torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda" else None
    times.sort()
    print(
        json.dumps(
            {
                "us_per_step": 1e6 * times[len(times) // 2] / args.steps,
                "warmup_s": warmup,
                "peak_rss_mib": peak / 1024,
                "iteration_rss_mib": (peak - base) / 1024,
                "cuda_mib": memory,
            }
        )
    )


def main():
    from lsnn_bio.cli import _count  # the command's own check of a whole number >= 1

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=_count, default=256)
    parser.add_argument("--steps", type=_count, default=840)
    parser.add_argument("--repeats", type=_count, default=5)
    parser.add_argument("--warmup", type=_count, default=3, help="untimed iterations first (the first one is reported)")
    parser.add_argument("--threads", type=_count, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--huge-pages",
        choices=["on", "off"],
        default="on",
        help="torch's CPU allocator asks for 2 MB pages for large tensors in every variant (THP_MEM_ALLOC_ENABLE=1, "
        "as the lsnn-bio command sets it); off: 4 kB pages, every fresh tensor faulted in page by page",
    )
    parser.add_argument("--before", metavar="COMMIT", help="also measure the twin of this older commit")
    parser.add_argument("--only", help="comma-separated substrings: run only matching variants")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--before-root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args.child, args)

    names = list(VARIANTS)
    if args.only:
        names = [n for n in names if any(part.strip() in n for part in args.only.split(","))]
    before_root = None
    if args.before:
        before_root = tempfile.mkdtemp(prefix="lsnn_bio_before_")
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.before, "lsnn_bio", "models"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", before_root], input=archive.stdout, check=True)
        names.insert(2, f"twin at {args.before} (paper delays), eager")
    import torch

    print(
        f"sMNIST network (80 in, 120 LIF + 100 ALIF, 10 out), batch {args.batch}, {args.steps} steps, float32, "
        f"device {args.device}, {args.threads} threads, torch {torch.__version__}; median of {args.repeats} after {args.warmup} warm-up; "
        f"huge pages {args.huge_pages}"
    )
    environment = dict(os.environ, THP_MEM_ALLOC_ENABLE="1" if args.huge_pages == "on" else "0")
    results = {}
    for name in names:
        command = [
            sys.executable,
            __file__,
            "--child",
            name,
            "--batch",
            str(args.batch),
            "--steps",
            str(args.steps),
            "--repeats",
            str(args.repeats),
            "--warmup",
            str(args.warmup),
            "--threads",
            str(args.threads),
            "--device",
            args.device,
        ]
        if before_root:
            command += ["--before-root", before_root]
        run = subprocess.run(command, capture_output=True, text=True, env=environment)
        lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
        if run.returncode or not lines:
            reason = (run.stderr.strip().splitlines() or ["failed"])[-1]
            print(f"  {name:<48} skipped: {reason[:100]}")
            continue
        results[name] = json.loads(lines[-1])
        r = results[name]
        memory = f"{r['cuda_mib']:.0f} MiB GPU" if r["cuda_mib"] is not None else f"{r['iteration_rss_mib']:7.0f} MiB"
        print(f"  {name:<48} {r['us_per_step']:9.0f} us/step   peak +{memory}   (first call {r['warmup_s']:.1f} s)")
    twins = [n for n in results if n.startswith("twin (paper")]
    if twins:
        print("ratios (baseline time / twin time; above 1 means the twin is faster):")
        for twin in twins:
            for name, r in results.items():
                if name != twin:
                    print(f"  {twin} vs {name}: {r['us_per_step'] / results[twin]['us_per_step']:.2f}x")


if __name__ == "__main__":
    main()
