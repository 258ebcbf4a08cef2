"""Learning-to-learn regression back in Brian2: held-out target functions through the trained network, weights frozen.

``validate_regression`` runs held-out functions through one compiled Brian2 binary (``BrianNetwork``,
inputs swapped per episode with ``run_args``) and scores Brian2's own readout per example index
beside the twin's on the same input spikes: if Brian2's MSE falls from example to example as the
twin's does, Brian2 itself learns the new function without plasticity. ``regression_episodes`` are
the Brian2 runs themselves; ``simulate_regression`` writes them as Neo (``neo/episodes.py``).
"""

import time
from dataclasses import replace

import numpy as np

from .. import seeds
from ..brian import BrianNetwork
from ..check import spike_agreement
from ..errors import LsnnBioError
from ..progress import STDERR
from ..progress import bar as progress_bar
from ..tasks.regression_scores import linear_predictions, test_mse, test_mse_by_example
from ..trained import load_trained
from .common import annotations, check_split, check_task, simulator_name, trained_twin


def window_means(outputs, windows):
    """The prediction of every example, as the trainer's loss reads it: outputs (steps, batch, n) averaged over each
    ``[start, stop)`` of ``windows`` (batch, K, 2) -> (batch, K, n); numpy, so Brian2's side needs no torch."""
    outputs = np.asarray(outputs, dtype=np.float64)
    cumulative = np.concatenate([np.zeros_like(outputs[:1]), outputs.cumsum(axis=0)])
    rows = np.arange(outputs.shape[1])[:, None]
    start, stop = windows[..., 0], windows[..., 1]
    return (cumulative[stop, rows] - cumulative[start, rows]) / np.maximum(stop - start, 1)[..., None]


def regression_batches(task, split="test", functions=None, batch_size=32):
    """The first ``functions`` (default: all) held-out episodes of ``split``, as RegressionBatches."""
    check_split(split)
    total = task.split_size(split) if functions is None else min(int(functions), task.split_size(split))
    if total <= 0:
        raise LsnnBioError(f"functions must be positive, got {functions}")
    batches, taken = [], 0
    for batch in task.batches(split, batch_size):
        keep = min(batch.size, total - taken)
        if keep < batch.size:
            batch = replace(
                batch,
                inputs=batch.inputs[:, :keep],
                windows=batch.windows[:keep],
                targets=batch.targets[:keep],
                x=batch.x[:keep],
                mask=batch.mask[:keep],
                events=batch.events[:keep],
                functions=type(batch.functions)(
                    batch.functions.family, {k: v[:keep] for k, v in batch.functions.params.items()}
                ),
            )
        batches.append(batch)
        taken += keep
        if taken >= total:
            break
    return batches


def twin_predictions(trained, split="validation", functions=None, twin_dtype="float64", batch_size=64, redraw=None):
    """The twin's prediction of every example of held-out functions of ``split``, with their targets and inputs x:
    three arrays (functions, K, ...), for scores that need more than the per-example MSE. ``redraw`` (an int):
    the same functions and x, encoded as other input spikes (draw ``redraw`` of the stream ``redrawn_inputs``)."""
    import torch

    twin = trained_twin(trained, twin_dtype)
    task = trained.task
    rng = None if redraw is None else seeds.generator(task.seed, "redrawn_inputs", split, int(redraw))
    predicted, targets, x = [], [], []
    for batch in regression_batches(task, split, functions, batch_size):
        inputs = batch.inputs if rng is None else task.encode(batch.x, batch.targets, rng).astype(np.float32)
        with torch.no_grad():
            result = twin({trained.input: torch.as_tensor(inputs, dtype=twin.dtype)})
        predicted.append(window_means(result.outputs[trained.readout].double().numpy(), batch.windows))
        targets.append(batch.targets)
        x.append(batch.x)
    return tuple(np.concatenate(a) for a in (predicted, targets, x))


def regression_episodes(checkpoint, split="test", functions=3, engine="cpp_standalone", record=None, directory=None):
    """Brian2 runs of the first ``functions`` held-out episodes: (trained, batches, [BrianResult per episode])."""
    trained = load_trained(checkpoint)
    check_task(trained, "function_regression", "regression_episodes")
    batches = regression_batches(trained.task, split, functions)
    network = BrianNetwork(trained.spec, engine=engine, steps=trained.task.steps, record=record, directory=directory)
    results = [network.run({trained.input: batch.inputs[:, b]}) for batch in batches for b in range(batch.size)]
    return trained, batches, results


def validate_regression(
    checkpoint,
    split="test",
    functions=None,
    engine="cpp_standalone",
    directory=None,
    twin_dtype="float64",
    progress=True,
    device="cpu",
    log=STDERR,
):
    """Brian2's MSE per example index beside the twin's on held-out functions of ``split``; a JSON-ready dict."""
    import torch

    check_split(split)
    trained = load_trained(checkpoint)
    check_task(trained, "function_regression", "validate_regression")
    task = trained.task
    batches = regression_batches(task, split, functions)
    count = sum(b.size for b in batches)
    print(
        f"[validate] {trained.model_name}: {count} {split} functions, {task.examples} examples each, on {engine}",
        file=log,
        flush=True,
    )
    start = time.perf_counter()
    network = BrianNetwork(trained.spec, engine=engine, steps=task.steps, directory=directory)
    build_seconds = time.perf_counter() - start
    twin = trained_twin(trained, twin_dtype, device)
    output = trained.spec.populations[trained.readout].model.output
    twin_predicted, brian_predicted, targets, x, masks = [], [], [], [], []
    twin_spikes, brian_spikes = {}, {}
    bar = progress_bar(count, "validate", enabled=progress, unit="function")
    run_seconds = 0.0
    for batch in batches:
        with torch.no_grad():
            result = twin({trained.input: torch.as_tensor(batch.inputs, dtype=twin.dtype, device=twin.device)})
        twin_predicted.append(window_means(result.outputs[trained.readout].double().cpu().numpy(), batch.windows))
        outputs = []
        for b in range(batch.size):
            tick = time.perf_counter()
            brian = network.run({trained.input: batch.inputs[:, b]})
            run_seconds += time.perf_counter() - tick
            outputs.append(brian.states[(trained.readout, output)])
            for population, raster in brian.spikes.items():
                brian_spikes.setdefault(population, []).append(raster)
                twin_spikes.setdefault(population, []).append(
                    result.spikes[population][:, b].cpu().numpy().astype(bool)
                )
            bar.update(1)
        brian_predicted.append(window_means(np.stack(outputs, axis=1), batch.windows))
        targets.append(batch.targets)
        x.append(batch.x)
        masks.append(batch.mask)
    bar.close()
    twin_predicted, brian_predicted, targets, x, masks = (
        np.concatenate(a) for a in (twin_predicted, brian_predicted, targets, x, masks)
    )
    linear = linear_predictions(x, targets)
    return {
        "checkpoint": str(trained.path),
        "checkpoint_sha256": trained.digest,
        "engine": engine,
        "split": split,
        "functions": count,
        "examples": int(task.examples),
        "twin_dtype": str(twin.dtype).replace("torch.", ""),
        "brian_mse": test_mse_by_example(brian_predicted, targets, masks).tolist(),
        "twin_mse": test_mse_by_example(twin_predicted, targets, masks).tolist(),
        "linear_baseline_mse": test_mse_by_example(linear, targets, masks).tolist(),
        "brian_mse_second_half": test_mse(brian_predicted, targets, masks),
        "twin_mse_second_half": test_mse(twin_predicted, targets, masks),
        "linear_baseline_mse_second_half": test_mse(linear, targets, masks),
        "max_prediction_difference": float(np.abs(brian_predicted - twin_predicted).max()),
        "spike_agreement": spike_agreement(
            {p: np.concatenate(v) for p, v in twin_spikes.items()},
            {p: np.concatenate(v) for p, v in brian_spikes.items()},
        ),
        "build_seconds": build_seconds,
        "brian_functions_per_second": count / run_seconds if run_seconds else None,
    }


def simulate_regression(
    checkpoint, functions, out, record=(), engine="cpp_standalone", split="test", directory=None, log=STDERR
):
    """Brian2 runs of ``functions`` held-out episodes written as Neo to ``out`` (epochs per example, target signal).

    Returns (report, trained, first episode's result, its events, its input raster) for a raster figure.
    """
    from ..neo import write_block
    from ..neo.episodes import regression_block
    from ..simulation import record_plan

    trained = load_trained(checkpoint)
    check_task(trained, "function_regression", "simulate_regression")
    print(f"[simulate] {functions} {split} functions of {trained.model_name} on {engine}", file=log, flush=True)
    trained, batches, results = regression_episodes(
        checkpoint, split, functions, engine, record_plan(trained.spec, record), directory
    )
    block = regression_block(
        trained.spec,
        results,
        batches,
        simulator=simulator_name(engine),
        annotations=annotations(trained, engine, split),
    )
    write_block(block, out)
    report = {
        "out": str(out),
        "engine": engine,
        "trials": len(results),
        "spikes": int(sum(r.spikes[p].sum() for r in results for p in r.spikes)),
    }
    return report, trained, results[0], batches[0].events[0], batches[0].inputs[:, 0]
