"""Validate a trained network in Brian2: Brian2's own accuracy beside the twin's, trial by trial.

Brian2 builds the network from the checkpoint alone, compiles it once (C++ or
CUDA standalone) and runs every trial of one held-out split through that one
binary, swapping only the input raster. Predictions come from Brian2's own
readout states, the same window averages the loss used during training.

The split defaults to test: validation reports the frozen, finished model beside
the twin's test figure in summary.json, on the same trials. Use the validation
split whenever the Brian2 figure feeds a decision (a device, a dtype, a model).
"""

import time

import numpy as np
import torch

from .brian import BrianNetwork
from .check import spike_agreement
from .progress import STDERR, say
from .progress import bar as progress_bar
from .tasks import held_out_trials
from .trained import load_trained
from .training.losses import window_logits
from .twin import Twin


def predictions(outputs, batch):
    """(predicted class, label) for every counted window; outputs (steps, batch, classes)."""
    logits = window_logits(torch.as_tensor(outputs, dtype=torch.float64), torch.as_tensor(batch.windows))
    mask = torch.as_tensor(batch.mask)
    return logits.argmax(-1)[mask].numpy(), torch.as_tensor(batch.labels)[mask].numpy()


def validate(
    path,
    engine="cpp_standalone",
    split="test",
    trials=None,
    directory=None,
    progress=True,
    device="cpu",
    log=STDERR,
):
    """Brian2's accuracy on held-out trials beside the twin's, from the checkpoint alone.

    This is the evidence that the trained network works where it will be used (Brian2,
    on ``engine``) and not only in the twin it was trained in: the same trials go
    through both (the twin on the torch ``device``, at the dtype it was trained in),
    and the report says how often their decisions and spikes agree.
    """
    trained = load_trained(path)
    task = trained.task
    batches = held_out_trials(task, split, trials)
    count = sum(b.size for b in batches)
    say(log, f"[validate] {trained.model_name}: {count} {split} trials of {task.steps} steps on {engine}")
    config = trained.experiment.config
    twin = Twin(
        trained.spec,
        dtype=getattr(torch, config["dtype"]),
        device=device,
        pseudo_derivative=config["pseudo_derivative"]["function"],
    )
    output = (trained.readout, trained.spec.populations[trained.readout].model.output)

    # Two loops, each with its own bar, so neither's remaining time counts the other's work (or the compile).
    say(log, f"running the twin on {count} trials ({config['dtype']}, {twin.device})")
    twin_predicted, labels, twin_spikes = [], [], {}
    bar = progress_bar(count, "twin", enabled=progress)
    for batch in batches:
        with torch.no_grad():
            result = twin({trained.input: torch.as_tensor(batch.inputs, dtype=twin.dtype, device=twin.device)})
        predicted, label = predictions(result.outputs[trained.readout].double().cpu(), batch)
        twin_predicted.append(predicted)
        labels.append(label)
        for population, raster in result.spikes.items():  # (steps, batch, N) -> one (steps, N) per trial
            twin_spikes.setdefault(population, []).extend(np.moveaxis(raster.cpu().numpy().astype(bool), 1, 0))
        bar.update(batch.size)
    bar.close()

    start = time.perf_counter()
    network = BrianNetwork(trained.spec, engine=engine, steps=task.steps, directory=directory, log=log)
    build_seconds = time.perf_counter() - start

    brian_predicted, brian_spikes = [], {}
    bar = progress_bar(count, f"Brian2 {network.engine}", enabled=progress)
    run_seconds = 0.0
    with network:
        for batch in batches:
            outputs = []
            for b in range(batch.size):
                tick = time.perf_counter()
                brian = network.run({trained.input: batch.inputs[:, b]})
                run_seconds += time.perf_counter() - tick
                outputs.append(brian.states[output])
                for population, raster in brian.spikes.items():
                    brian_spikes.setdefault(population, []).append(raster)
                bar.update(1)
            predicted, _ = predictions(np.stack(outputs, axis=1), batch)
            brian_predicted.append(predicted)
    bar.close()

    twin_predicted, brian_predicted, labels = (np.concatenate(x) for x in (twin_predicted, brian_predicted, labels))
    spikes = spike_agreement(  # the populations Brian2 monitors (the twin also reports non-spiking ones)
        {p: np.concatenate(twin_spikes[p]) for p in brian_spikes},
        {p: np.concatenate(v) for p, v in brian_spikes.items()},
    )
    return {
        "checkpoint": str(trained.path),
        "checkpoint_sha256": trained.digest,
        "engine": engine,
        "split": split,
        "trials": count,
        "windows": int(labels.size),
        "twin_accuracy": task.score(twin_predicted, labels)["accuracy"],
        "brian_accuracy": task.score(brian_predicted, labels)["accuracy"],
        "prediction_agreement": float((twin_predicted == brian_predicted).mean()),
        "spike_agreement": spikes,
        "twin_dtype": config["dtype"],
        "build_seconds": build_seconds,
        "brian_trials_per_second": count / run_seconds if run_seconds else None,
    }


def report_lines(report):
    """What ``validate`` prints without --json: Brian2 beside the twin, in the terms of the run's task."""
    twin = f"({report['twin_dtype']} twin)"
    if "brian_mse" in report:  # learning-to-learn regression
        head = (
            f"{report['functions']} {report['split']} functions of {report['examples']} examples on {report['engine']}"
            " (MSE over each episode's second half; per example index: --json):"
        )
        rows = [
            ("twin MSE", f"{report['twin_mse_second_half']:.4f} {twin}"),
            ("Brian2 MSE", f"{report['brian_mse_second_half']:.4f}"),
            ("linear predictor MSE", f"{report['linear_baseline_mse_second_half']:.4f}"),
            ("largest prediction difference", f"{report['max_prediction_difference']:.2g}"),
            ("spike agreement", f"{report['spike_agreement']:.4f}"),
        ]
    elif "brian_goals" in report:  # meta-RL navigation in closed loop
        head = f"{report['episodes']} {report['split']} episodes on {report['engine']}:"
        rows = [
            ("twin goals per episode", f"{report['twin_goals_per_episode']:.2f} {twin}"),
            ("Brian2 goals per episode", f"{report['brian_goals_per_episode']:.2f}"),
            ("action agreement", f"{report['action_agreement']:.4f}"),
            ("largest action difference", f"{report['max_action_difference']:.2g}"),
        ]
    else:
        head = f"{report['trials']} {report['split']} trials ({report['windows']} decisions) on {report['engine']}:"
        rows = [
            ("twin accuracy", f"{report['twin_accuracy']:.4f} {twin}"),
            ("Brian2 accuracy", f"{report['brian_accuracy']:.4f}"),
            ("prediction agreement", f"{report['prediction_agreement']:.4f}"),
            ("spike agreement", f"{report['spike_agreement']:.4f}"),
        ]
    return [head] + [f"  {label:<30} {value}" for label, value in rows]
