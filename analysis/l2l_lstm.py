"""An LSTM on the same learning-to-learn regression task: is it the spikes, or the 1 ms time scale, that is hard?

    python analysis/l2l_lstm.py training/l2l_regression.yaml --set task.encoding=regular --set task.rate_hz=250 \
        --iterations 1000 --out runs/l2l_lstm_steps.json
    python analysis/l2l_lstm.py training/l2l_regression.yaml --set task.encoding=regular --set task.rate_hz=250 \
        --iterations 2000 --per-example --out runs/l2l_lstm_examples.json

The LSTM (``--hidden`` units, a linear readout) reads the document's task as the spiking network does: its input
spikes one step of ``dt`` at a time, its prediction for an example the mean readout over the example's readout
window. With ``--per-example`` it takes one step per example instead, its input that example's spike counts: the
same information, in 50 steps instead of 1,000. The document's batch size, Adam learning rate and step decay,
gradient clip, seed and validation interval are used; no rate regulariser. The validation MSE (over the second
half of each episode, as ``test_mse`` in a run's summary.json) is printed as it trains; the test split is read
once, at the end, beside the linear baseline on the same functions: each example predicted by a plane (ridge 1)
fitted to the examples before it in its episode, as in summary.json. Stdout gets the scores as JSON; ``--out``
also keeps the validation curve and the MSE per example index.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def lstm_scores(document, settings=(), iterations=None, per_example=False, hidden=128, threads=1, log=print):
    """Train the LSTM on the document's task; return its validation curve and its test scores."""
    import torch

    from lsnn_bio import seeds
    from lsnn_bio.tasks.regression_scores import (
        linear_baseline_by_example,
        linear_baseline_mse,
        test_mse,
        test_mse_by_example,
    )
    from lsnn_bio.training.experiment import load_experiment
    from lsnn_bio.training.regression import window_predictions

    experiment = load_experiment(document, settings)
    config, task = experiment.config, experiment.task()
    if task.name != "function_regression":
        raise SystemExit(f"{document}: not a function_regression experiment (task '{task.name}')")
    iterations = config["iterations"] if iterations is None else iterations
    torch.set_num_threads(threads)
    torch.manual_seed(seeds.torch_seed(config["seed"], "torch"))
    lstm, readout = torch.nn.LSTM(task.n_inputs, hidden), torch.nn.Linear(hidden, task.n_outputs)
    parameters = [*lstm.parameters(), *readout.parameters()]
    optimiser = config["optimizer"]
    adam = torch.optim.Adam(parameters, lr=optimiser["learning_rate"])
    schedule = torch.optim.lr_scheduler.StepLR(adam, optimiser["decay_every"], optimiser["decay_factor"])

    def predict(batch):
        """(batch, examples, outputs) predictions, float64."""
        spikes = torch.from_numpy(batch.inputs)  # (steps, batch, inputs)
        if per_example:
            counts = spikes.reshape(task.examples, task.example_steps, batch.size, -1).sum(1)
            return readout(lstm(counts)[0]).transpose(0, 1).double()
        return window_predictions(readout(lstm(spikes)[0]), torch.from_numpy(batch.windows)).double()

    def score(split):
        with torch.no_grad():
            parts = [
                (predict(b).numpy(), b.targets, b.x) for b in task.batches(split, config["validation"]["batch_size"])
            ]
        predictions, targets, x = (np.concatenate(a) for a in zip(*parts))
        return predictions, targets, x

    rng, curve, start = seeds.generator(config["seed"], "train_batches"), [], time.perf_counter()
    for iteration in range(1, iterations + 1):
        batch = task.batch("train", config["batch_size"], rng)
        loss = ((predict(batch) - torch.from_numpy(batch.targets)) ** 2).mean()
        adam.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, config["gradient_clip"])
        adam.step()
        schedule.step()
        if iteration % config["validation"]["every"] == 0 or iteration == iterations:
            mse = test_mse(*score("validation")[:2])
            curve.append({"iteration": iteration, "validation_mse": mse, "seconds": time.perf_counter() - start})
            log(f"iteration {iteration}: validation MSE {mse:.4f} (second half), {curve[-1]['seconds']:.0f} s")
    predictions, targets, x = score("test")
    return {
        "experiment": str(document),
        "settings": list(settings),
        "network": f"LSTM, {hidden} units, {'one step per example' if per_example else 'one step per dt'}",
        "hidden": hidden,
        "per_example": per_example,
        "iterations": iterations,
        "validation": curve,
        "test_mse": test_mse(predictions, targets),
        "test_mse_by_example": test_mse_by_example(predictions, targets).tolist(),
        "linear_baseline_mse": linear_baseline_mse(x, targets),
        "linear_baseline_mse_by_example": linear_baseline_by_example(x, targets).tolist(),
        "train_seconds": time.perf_counter() - start,
    }


def main(argv=None):
    from lsnn_bio.cli import _count  # a whole number >= 1, refused in the command line's words
    from lsnn_bio.errors import LsnnBioError

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("experiment", type=Path, help="a function_regression experiment document")
    parser.add_argument(
        "--set", dest="settings", action="append", default=[], metavar="KEY=VALUE", help="as for lsnn-bio train"
    )
    parser.add_argument("--iterations", type=_count, help="training iterations (default: the document's)")
    parser.add_argument("--per-example", action="store_true", help="one LSTM step per example (its spike counts)")
    parser.add_argument("--hidden", type=_count, default=128, help="LSTM units (default: 128)")
    parser.add_argument("--threads", type=_count, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--out", type=Path, help="also write the scores, curve included, as JSON here")
    args = parser.parse_args(argv)
    if args.out and (args.out.is_dir() or not args.out.parent.is_dir()):
        parser.error(f"--out {args.out}: not a file in an existing folder (accepted: e.g. runs/l2l_lstm.json)")
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    try:
        scores = lstm_scores(
            args.experiment, args.settings, args.iterations, args.per_example, args.hidden, args.threads, log
        )
    except LsnnBioError as error:
        raise SystemExit(str(error)) from None
    except KeyboardInterrupt:
        print(
            f"interrupted: nothing written (the LSTM keeps no checkpoint; run it again{' for ' + str(args.out) if args.out else ''})",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
    print(json.dumps({k: v for k, v in scores.items() if not k.endswith(("validation", "_by_example"))}, indent=2))
    if args.out:
        partial = args.out.with_name(args.out.name + ".partial")
        partial.write_text(json.dumps(scores, indent=2))
        partial.replace(args.out)


if __name__ == "__main__":
    main()
