"""Past the training horizon: a frozen learning-to-learn network on episodes longer than the ones it was trained on.

    python analysis/l2l_horizon.py runs/l2l_reg_a200 --examples 100 --out runs/l2l_reg_a200_horizon.png

The run's task, with ``--examples`` per episode instead of the trained number, on held-out functions of
``--split`` (validation by default: this is a diagnostic to decide on), through the twin at the checkpoint's
dtype. For every block of ``--block`` examples it prints the network's MSE, the linear predictor's (fitted to
the examples seen so far) and, over the block's steps, the mean of an adaptation variable (``--population``,
``--variable``; default the ALIF threshold A) and every population's firing rate. A learner that has
settled keeps its error flat past the horizon; one whose thresholds are still rising when the trained
episodes end drifts away from the operating point its readout was fitted to.
"""

import argparse
import json
import sys
from pathlib import Path


def horizon(checkpoint, examples, split="validation", functions=64, block=10, population="ALIF", variable="A"):
    """Per block of examples: the network's and the linear predictor's MSE, the mean of ``population.variable``
    over the block's steps (in the unit PyNN would report it, from the model's equations: mV for a threshold),
    and every population's rate (Hz)."""
    import numpy as np
    import torch

    from lsnn_bio.errors import LsnnBioError
    from lsnn_bio.learning_to_learn import regression_batches, trained_twin
    from lsnn_bio.learning_to_learn.common import check_task
    from lsnn_bio.learning_to_learn.regression import window_means
    from lsnn_bio.tasks import make_task
    from lsnn_bio.tasks.regression_scores import linear_predictions
    from lsnn_bio.trained import load_trained
    from lsnn_bio.units import neo_unit

    trained = load_trained(checkpoint)
    check_task(trained, "function_regression", "l2l_horizon")
    spiking = [p.name for p in trained.spec.recurrent]
    if population not in spiking:
        raise LsnnBioError(f"--population {population}: not in {trained.spec.name} (accepted: {', '.join(spiking)})")
    longest = 20 * trained.task.examples  # memory grows with the episode: 20x the trained length is plenty
    if not 2 <= examples <= longest or block < 1 or functions < 1:
        raise LsnnBioError(
            f"--examples {examples}, --block {block}, --functions {functions}: accepted 2 to {longest} examples "
            "(20 times the trained episode), blocks and functions of 1 or more"
        )
    options = {k: v for k, v in trained.experiment.config["task"].items() if k != "name"}
    task = make_task("function_regression", **{**options, "examples": examples, "dt_ms": trained.task.dt_ms})
    twin = trained_twin(trained)
    starts = list(range(0, examples, block))
    sums = {"mse": np.zeros(len(starts)), "linear_mse": np.zeros(len(starts)), variable: np.zeros(len(starts))}
    rates = {name: np.zeros(len(starts)) for name in spiking}
    count = 0
    for batch in regression_batches(task, split, functions, batch_size=32):
        with torch.no_grad():
            result = twin(
                {trained.input: torch.as_tensor(batch.inputs, dtype=twin.dtype)}, record=[(population, variable)]
            )
        predicted = window_means(result.outputs[trained.readout].double().numpy(), batch.windows)
        errors = ((predicted - batch.targets) ** 2).mean(axis=-1)  # (functions, examples)
        linear = ((linear_predictions(batch.x, batch.targets) - batch.targets) ** 2).mean(axis=-1)
        state = result.states[(population, variable)].double().numpy()
        for i, start in enumerate(starts):
            stop = min(start + block, examples)
            steps = slice(start * task.example_steps, stop * task.example_steps)
            sums["mse"][i] += errors[:, start:stop].mean(axis=1).sum()
            sums["linear_mse"][i] += linear[:, start:stop].mean(axis=1).sum()
            sums[variable][i] += state[steps].mean(axis=(0, 2)).sum()
            for name in spiking:
                rates[name][i] += (
                    result.spikes[name][steps].double().mean(axis=(0, 2)).sum().item() * 1000.0 / task.dt_ms
                )
        count += batch.size
    unit, factor = neo_unit(trained.spec.populations[population].unit(variable).dim)
    sums[variable] *= factor
    return {
        "checkpoint": str(trained.path),
        "split": split,
        "functions": count,
        "trained_examples": trained.task.examples,
        "twin_dtype": str(twin.dtype).removeprefix("torch."),
        "variable": f"{population}.{variable}",
        "unit": unit,
        "blocks": [
            {
                "examples": [start, min(start + block, examples) - 1],
                **{key: float(value[i] / count) for key, value in sums.items()},
                "rates_hz": {name: float(value[i] / count) for name, value in rates.items()},
            }
            for i, start in enumerate(starts)
        ],
    }


def draw(result, out, variable="A"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centres = [(b["examples"][0] + b["examples"][1]) / 2 for b in result["blocks"]]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(6.5, 5.2), sharex=True)
    top.plot(centres, [b["mse"] for b in result["blocks"]], "o-", label="frozen network (twin)")
    top.plot(
        centres, [b["linear_mse"] for b in result["blocks"]], "s--", color="grey", label="linear fit to examples seen"
    )
    top.set_yscale("log")
    top.set_ylabel("MSE")
    top.legend(frameon=False)
    bottom.plot(centres, [b[variable] for b in result["blocks"]], "o-", color="tab:red")
    bottom.set_ylabel(f"mean {result['variable']} ({result['unit']})")
    bottom.set_xlabel("example index within the episode")
    for ax in (top, bottom):
        ax.axvline(result["trained_examples"] - 0.5, color="k", lw=0.8, ls=":")
    top.set_title(
        f"{result['functions']} {result['split']} functions; dotted: the {result['trained_examples']} examples trained on",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(out, dpi=150)
    plt.close(figure)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", metavar="RUN", help="a function_regression run folder or its checkpoint.safetensors")
    parser.add_argument("--examples", type=int, required=True, help="examples per episode (e.g. twice the trained)")
    parser.add_argument("--split", default="validation", choices=["validation", "test"])
    parser.add_argument("--functions", type=int, default=64, help="held-out functions (default 64)")
    parser.add_argument("--block", type=int, default=10, help="examples per printed block (default 10)")
    parser.add_argument("--population", default="ALIF", help="adaptive population (default ALIF)")
    parser.add_argument("--variable", default="A", help="its adaptation variable (default A, the threshold)")
    parser.add_argument("--out", help="also draw MSE and the variable per block into this PNG")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args(argv)
    if args.out and (not args.out.endswith(".png") or not Path(args.out).parent.is_dir()):
        parser.error(f"--out {args.out}: not a .png file in an existing folder")
    from lsnn_bio.errors import one_line_errors

    with one_line_errors("l2l_horizon"):
        result = horizon(
            args.run, args.examples, args.split, args.functions, args.block, args.population, args.variable
        )
        if args.out:
            print(f"figure: {draw(result, args.out, args.variable)}", file=sys.stderr)
        if args.json:
            print(json.dumps(result))
            return
        print(
            f"{result['checkpoint']}: {result['functions']} {result['split']} functions, {args.examples} examples "
            f"(trained on {result['trained_examples']}), {result['twin_dtype']} twin"
        )
        for b in result["blocks"]:
            rates = ", ".join(f"{name} {rate:.1f} Hz" for name, rate in b["rates_hz"].items())
            value = f"{b[args.variable]:.4g} {result['unit']}"
            print(
                f"  examples {b['examples'][0]:3d}-{b['examples'][1]:3d}: MSE {b['mse']:.3f}, linear {b['linear_mse']:.3f},"
                f" mean {args.population}.{args.variable} {value}, {rates}"
            )


if __name__ == "__main__":
    main()
