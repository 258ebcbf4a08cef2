"""Simulate a trained network in Brian2 and export the activity as Neo.

The trials are the first trials of one held-out split of the task (test by
default; their stimulus, cue and label times become Neo Events and Epochs),
simulated by one compiled Brian2 binary.
"""

from pathlib import Path

from .brian import BrianNetwork
from .errors import LsnnBioError
from .neo import EXTENSIONS, to_block, write_block
from .progress import STDERR, say
from .progress import bar as progress_bar
from .tasks import held_out_trials
from .trained import load_trained


def record_plan(spec, variables):
    """``['v', 'A']`` -> {population: [variables it has]}; a variable no population has is an error."""
    plan = {}
    for var in variables:
        owners = [p.name for p in spec.populations.values() if var in p.recordable]
        if not owners:
            available = sorted(set().union(*(p.recordable for p in spec.populations.values())))
            raise LsnnBioError(f"no population has a variable '{var}' to record (accepted: {', '.join(available)})")
        for name in owners:
            plan.setdefault(name, []).append(var)
    return plan


def simulate(
    path,
    trials,
    out,
    record=(),
    engine="cpp_standalone",
    raster=None,
    directory=None,
    split="test",
    log=STDERR,
    progress=True,
):
    """Held-out trials of a trained checkpoint, simulated by Brian2 and written as Neo; no torch involved.

    This is how a trained network meets data: its activity on the task's own trials, in
    the layout electrophysiology tools read (``compare`` puts it beside a recording).
    ``record`` names variables (``v``, ``A``) to record in every population that has them;
    ``progress``: a bar over the trials (after the compile, which says so on ``log``).
    """
    out = Path(out)
    if out.suffix not in EXTENSIONS:
        raise LsnnBioError(f"--out {out}: unknown Neo format '{out.suffix}' (accepted: {', '.join(EXTENSIONS)})")
    if not out.parent.exists():
        raise LsnnBioError(f"--out {out}: the folder {out.parent} does not exist")
    trained = load_trained(path)
    plan = record_plan(trained.spec, record)
    batches = held_out_trials(trained.task, split, trials)
    say(log, f"[simulate] {sum(b.size for b in batches)} {split} trials of {trained.model_name} on {engine}")
    network = BrianNetwork(
        trained.spec, engine=engine, steps=trained.task.steps, record=plan, directory=directory, log=log
    )
    results, events = [], []
    bar = progress_bar(sum(b.size for b in batches), f"Brian2 {network.engine}", enabled=progress)
    with network:
        for batch in batches:
            for b in range(batch.size):
                results.append(network.run({trained.input: batch.inputs[:, b]}))
                events.append(batch.events[b])
                bar.update(1)
    bar.close()
    simulator = "brian2cuda" if network.engine == "cuda_standalone" else "brian2"
    annotations = {
        "checkpoint": str(trained.path),
        "checkpoint_sha256": trained.digest,
        "engine": network.engine,
        "experiment": trained.experiment.name,
        "task": trained.task.name,
        "split": split,
    }
    block = to_block(
        trained.spec, results, dt=trained.spec.dt, simulator=simulator, annotations=annotations, events=events
    )
    write_block(block, out)
    if raster:
        from .plots import raster as draw

        draw(
            trained.spec,
            results[0],
            raster,
            events=events[0],
            title=f"{trained.model_name}, {split} trial 0 ({simulator})",
            inputs=batches[0].inputs[:, 0],
            class_names=trained.task.class_names or None,
        )
    return {
        "out": str(out),
        "trials": len(results),
        "raster": str(raster) if raster else None,
        "spikes": int(sum(r.spikes[p].sum() for r in results for p in r.spikes)),
    }
