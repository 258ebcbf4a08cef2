"""BPTT through the twin: the optimisation loop, its run folder and its checkpoints.

A run folder holds ``checkpoint.safetensors`` (self-describing, rewritten
atomically), ``metrics.jsonl`` (one JSON line per iteration and per validation)
and, at the end, ``summary.json`` with the final model's validation and test
metrics. A run interrupted at any point and resumed with ``resume=True`` ends
bit-identical to an uninterrupted one: every random draw comes from generators
whose state is in the checkpoint.

Data hygiene: training draws the task's train split; every figure printed or
used during training (early stopping included) is the whole validation split;
the test split is read once, after the last update, and only into
``summary.json``. A finished (tested) run cannot be resumed for more training.

Past 400 lines because the loop's schedule (validation, early stopping, checkpoints by
count and by wall time) and what an interrupt must save are one piece of state: split
apart, a resumed run could no longer be checked against an uninterrupted one in one read.
"""

import json
import math
import sys
import time

import torch

from .. import seeds
from ..errors import LsnnBioError
from ..files import write_atomically
from ..progress import bar as progress_bar
from ..twin import Twin
from ..units import parse_quantity, seconds
from . import checkpoint as checkpoints
from .interrupts import Interrupted, Signals
from .losses import classification, rate_regulariser
from .run_folder import CHECKPOINT, METRICS, SUMMARY, RunFolder


class TrainingDiverged(LsnnBioError, RuntimeError):
    """The loss or a gradient became NaN/Inf; the last checkpoint is left untouched."""


class Trainer:
    """One training run of an experiment in a run folder, resumable bit for bit.

    Subclasses for other kinds of task (regression, reinforcement) keep the loop and the
    run folder and replace what one batch means: ``evaluate`` (loss and metrics of a
    batch), ``score`` (a whole held-out split), and, if they hold more state, ``save``
    and ``_restore``.
    """

    def __init__(self, experiment, out, device="cpu", resume=False, iterations=None, progress=True, overwrite=False):
        self._open(experiment, out, device, resume, iterations, progress, overwrite)
        existing = self.out / CHECKPOINT
        self.input = self._input_name()
        self.readout = self._readout_name()
        pseudo = self.config["pseudo_derivative"]
        self.twin = Twin(
            self.spec,
            dtype=getattr(torch, self.config["dtype"]),
            device=self.device,
            pseudo_derivative=pseudo["function"],
            gamma=pseudo["gamma"],
            width=pseudo["width"],
            compile=bool(self.config["compile"]),
        )
        opt = self.config["optimizer"]
        self.optimizer = torch.optim.Adam(
            self.twin.parameters(),
            lr=opt["learning_rate"],
            betas=tuple(opt.get("betas", (0.9, 0.999))),
            eps=opt.get("eps", 1e-8),
        )
        self.rewiring = None
        if self.config["rewiring"]:
            from .rewiring import DeepR

            rewiring = self.config["rewiring"]
            self.rewiring = DeepR(
                self.twin,
                connectivity=rewiring.get("connectivity"),
                l1=rewiring.get("l1", 0.0),
                temperature=rewiring.get("temperature", 0.0),
                seed=seeds.torch_seed(self.config["seed"], "rewiring"),
            )
        self.train_rng = seeds.generator(self.config["seed"], "train_batches")
        self.iteration = 0
        self.stopped_early = False
        self.last_validation = None
        self.saved_iteration = None  # the iteration the checkpoint in the run folder holds
        self.signals = Signals()
        if resume:
            saved = checkpoints.load(existing)
            self._check_same_experiment(saved.meta["experiment"])
            if (self.out / SUMMARY).exists():
                raise LsnnBioError(
                    f"--resume: the run in {self.out} is finished and its test split was read ({SUMMARY}); training it "
                    "further after that would tune it on test data. Start a new run in another --out"
                )
            self._restore(saved)
        self._mark_boundary()

    # ------------------------------------------------------------------ set-up

    def _open(self, experiment, out, device, resume, iterations, progress, overwrite):
        """What every trainer does first: check the run folder and the device, then seed and build network and task."""
        self.experiment, self.config = experiment, experiment.config
        self.folder = RunFolder(out, resume=resume, overwrite=overwrite)  # before any work: is --out usable?
        self.out = self.folder.path
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise LsnnBioError("--device cuda was asked for, but torch sees no CUDA device here (accepted: cpu)")
        self.progress = progress
        if iterations is not None:
            if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
                raise LsnnBioError(
                    f"--iterations {iterations!r}: not a whole number of iterations (accepted: 1 or more)"
                )
            self.config["iterations"] = iterations
        torch.manual_seed(seeds.torch_seed(self.config["seed"], "torch"))
        self.spec = experiment.network()
        self.task = experiment.task(self.spec.dt)
        # Every task option, defaults and the network's dt included, goes into the checkpoint.
        self.config["task"] = {"name": self.task.name, **self.task.options}

    def _input_name(self):
        names = list(self.spec.inputs)
        name = self.config["input"] or (names[0] if len(names) == 1 else None)
        if name not in self.spec.inputs:
            raise LsnnBioError(f"experiment 'input' must name one of the network's inputs: {', '.join(names)}")
        if self.spec.inputs[name].size != self.task.n_inputs:
            raise LsnnBioError(
                f"task {self.task.name} has {self.task.n_inputs} input channels, "
                f"network input '{name}' has {self.spec.inputs[name].size}"
            )
        return name

    def _readout_name(self):
        names = [p.name for p in self.spec.readouts]
        name = self.config["readout"] or (names[0] if len(names) == 1 else None)
        if name not in names:
            raise LsnnBioError(f"experiment 'readout' must name one of the network's readouts: {', '.join(names)}")
        if self.spec.populations[name].size != self.task.n_classes:
            raise LsnnBioError(
                f"task {self.task.name} has {self.task.n_classes} classes, readout '{name}' has "
                f"{self.spec.populations[name].size} neurons"
            )
        return name

    # ------------------------------------------------------------------ one batch

    def evaluate(self, batch, train):
        """Forward one batch; returns (loss, metrics dict)."""
        dt = seconds(self.spec.dt, "dt")
        with torch.set_grad_enabled(train):
            inputs = torch.as_tensor(batch.inputs, dtype=self.twin.dtype, device=self.device)
            result = self.twin({self.input: inputs})
            windows = torch.as_tensor(batch.windows, device=self.device)
            labels = torch.as_tensor(batch.labels, device=self.device)
            mask = torch.as_tensor(batch.mask, device=self.device)
            cross_entropy, predicted, truth = classification(result.outputs[self.readout], windows, labels, mask)
            spikes = {n: s for n, s in result.spikes.items() if not self.spec.populations[n].readout}
            regulariser, rate = rate_regulariser(spikes, dt, self.config["rate_regulariser"]["target_hz"])
            loss = cross_entropy + self.config["rate_regulariser"]["coefficient"] * regulariser
        scored = self.task.score(predicted, truth)
        correct, counted = scored["correct"], scored["counted"]
        return loss, {
            "loss": float(loss.detach()),
            "cross_entropy": float(cross_entropy.detach()),
            "correct": correct,
            "counted": counted,
            "accuracy": correct / max(counted, 1),
            "rate_hz": rate,
        }

    def learning_rate(self, iteration):
        """The paper's step decay, a function of the iteration alone so a resumed run follows the same schedule."""
        opt = self.config["optimizer"]
        return opt["learning_rate"] * opt["decay_factor"] ** (iteration // opt["decay_every"])

    # ------------------------------------------------------------------ the loop

    def run(self):
        """Train until the last iteration (or early stopping on validation), checkpointing as configured; then the
        final model's validation and, once, test figures go to ``summary.json``, which is returned.

        SIGINT or SIGTERM writes a checkpoint of the last finished iteration and raises
        :class:`~.interrupts.Interrupted`, whose message says how to resume. Any other failure
        keeps the last checkpoint and trims the metrics log to it; a run that fails before its
        first checkpoint leaves the folder as it found it.
        """
        total = self.config["iterations"]
        bar = None
        with self.folder.session(), self.signals:
            try:
                if self.folder.resume:
                    self.folder.truncate_metrics(self.iteration)
                self._last_save = time.monotonic()
                bar = progress_bar(
                    total, self.experiment.name, enabled=self.progress, unit="iteration", initial=self.iteration
                )
                started = time.perf_counter()
                self._after_iteration(bar)  # a resumed run first does what its interruption skipped
                while self.iteration < total and not self.stopped_early:
                    record = self.train_step()
                    bar.set_postfix(self.progress_figures(record), refresh=False)
                    bar.update(1)
                    self._after_iteration(bar)
                bar.close()
                summary = self.finish(train_seconds=time.perf_counter() - started)
                with self.signals.deferred():
                    write_atomically(self.out / SUMMARY, _json(summary))
            except Interrupted as interrupt:
                if bar is not None:
                    bar.close()
                raise self._interrupted(interrupt) from None
            except BaseException:
                if self.saved_iteration is not None:
                    self.folder.truncate_metrics(self.saved_iteration)
                raise
        return summary

    def progress_figures(self, record):
        """What the progress bar shows of a training iteration (subclasses show their own loss)."""
        return {
            "loss": f"{record['loss']:.3f}",
            "acc": f"{record['accuracy']:.2f}",
            "rate": f"{record['rate_hz']:.1f}Hz",
        }

    def validation_line(self, validation):
        """The line printed after each validation."""
        return (
            f"validation error {validation['error']:.3f} "
            f"(accuracy {validation['accuracy']:.3f}, rate {validation['rate_hz']:.1f} Hz)"
        )

    def _after_iteration(self, bar):
        """Validate, decide on stopping and checkpoint as the schedule says, each at most once per iteration."""
        if self.iteration == 0:
            return
        total, threshold = self.config["iterations"], (self.config["stop"] or {}).get("validation_error_below")
        validated = self.last_validation is not None and self.last_validation["iteration"] == self.iteration
        if not validated and (self.iteration % self.config["validation"]["every"] == 0 or self.iteration == total):
            validation = self.validate()
            bar.write(f"iteration {self.iteration}: {self.validation_line(validation)}")
            validated = True
        if validated and threshold is not None and not self.stopped_early:
            if self.last_validation["error"] < threshold:
                self.stopped_early = True
                bar.write(f"stopping early: validation error {self.last_validation['error']:.4g} < {threshold}")
        wall = self.config.get("checkpoint_wall_time")
        due = (
            self.iteration % self.config["checkpoint_every"] == 0
            or self.iteration == total
            or self.stopped_early
            or (wall is not None and time.monotonic() - self._last_save >= seconds(parse_quantity(wall), "wall time"))
        )
        if due and self.saved_iteration != self.iteration:
            self.save()

    def _interrupted(self, interrupt):
        """Checkpoint the last finished iteration; the exception to raise says how to resume."""
        if self.iteration > 0 and self.saved_iteration != self.iteration:
            with self.signals.deferred():
                self.save()
        if self.saved_iteration is None:
            interrupt.message = f"interrupted ({interrupt}) before the first iteration finished; nothing was kept"
            return interrupt
        self.folder.truncate_metrics(self.saved_iteration)
        interrupt.message = (
            f"interrupted ({interrupt}) at iteration {self.saved_iteration} of {self.config['iterations']}; "
            f"checkpoint written; continue with: lsnn-bio train --out {self.out} --resume"
        )
        return interrupt

    def train_step(self):
        """One update on a fresh training batch, logged to ``metrics.jsonl``; refuses non-finite gradients."""
        start = time.perf_counter()
        learning_rate = self.learning_rate(self.iteration)
        batch = self.task.batch("train", self.config["batch_size"], self.train_rng)
        loss, metrics = self.evaluate(batch, train=True)
        self.optimizer.zero_grad(set_to_none=False)
        loss.backward()
        self._guard(loss)
        if self.config["gradient_clip"]:
            torch.nn.utils.clip_grad_norm_(self.twin.parameters(), float(self.config["gradient_clip"]))
        with self.signals.deferred():  # an interrupt waits for the update, its count and its log line
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate
            if self.rewiring is not None:
                self.rewiring.step(self.optimizer, learning_rate)
            else:
                self.optimizer.step()
            self.iteration += 1
            record = {
                "iteration": self.iteration,
                "split": "train",
                "learning_rate": learning_rate,
                "seconds": time.perf_counter() - start,
                **metrics,
            }
            if self.rewiring is not None:
                record["connections"] = self.rewiring.connection_count()
            self._log(record)
            self._mark_boundary()
        return record

    def _mark_boundary(self):
        """The random generators' states after the last finished iteration: what a checkpoint of it stores, even
        when the next iteration has already drawn its batch."""
        self._boundary = {"train": self.train_rng.bit_generator.state, "torch": torch.get_rng_state()}

    def _guard(self, loss):
        bad = [] if torch.isfinite(loss) else ["the loss"]
        bad += [
            name for name, p in self.twin.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()
        ]
        if bad:
            kept = (
                f"the checkpoint of iteration {self.saved_iteration} in {self.out} is untouched"
                if self.saved_iteration is not None
                else "no checkpoint was written"
            )
            named = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            raise TrainingDiverged(
                f"iteration {self.iteration + 1}: non-finite values in {named}; stopped before the update "
                f"and {kept} (accepted: a lower optimizer.learning_rate, a gradient_clip, or a smaller "
                "pseudo_derivative.gamma)"
            )

    def score(self, split, batch_size, progress=False):
        """The current model on the whole fixed ``split`` ("validation" or "test"), in order."""
        start = time.perf_counter()
        correct = counted = trials = 0
        loss = cross_entropy = rate = 0.0
        for batch in self._batches(split, batch_size, progress):
            _, metrics = self.evaluate(batch, train=False)
            correct, counted, trials = correct + metrics["correct"], counted + metrics["counted"], trials + batch.size
            loss += metrics["loss"] * batch.size
            cross_entropy += metrics["cross_entropy"] * batch.size
            rate += metrics["rate_hz"] * batch.size
        accuracy = correct / max(counted, 1)
        return {
            "iteration": self.iteration,
            "split": split,
            "accuracy": accuracy,
            "error": 1 - accuracy,
            "correct": correct,
            "windows": counted,
            "trials": trials,
            "loss": loss / max(trials, 1),
            "cross_entropy": cross_entropy / max(trials, 1),
            "rate_hz": rate / max(trials, 1),
            "seconds": time.perf_counter() - start,
        }

    def _batches(self, split, batch_size, progress):
        """The split's batches, behind a progress bar counting trials when ``progress``."""
        if not progress:
            yield from self.task.batches(split, batch_size)
            return
        total = self.task.split_size(split)
        print(f"testing on {total or 'all'} held-out {split} trials ...", file=sys.stderr, flush=True)
        with progress_bar(total, split) as bar:
            for batch in self.task.batches(split, batch_size):
                yield batch
                bar.update(batch.size)

    def validate(self):
        """The validation split: the only data early stopping and every printed figure look at during training."""
        record = self.score("validation", self.config["validation"]["batch_size"])
        self._log(record)
        self.last_validation = record
        return record

    def finish(self, train_seconds=0.0):
        """After the last update: the final model on validation, then, once, on test."""
        validation = self.last_validation
        if validation is None or validation["iteration"] != self.iteration:
            validation = self.validate()
        test = self.score("test", self.config["test_batch_size"], progress=self.progress)
        self._log(test)
        summary = {
            "experiment": self.experiment.name,
            "iterations": self.iteration,
            "stopped_early": self.stopped_early,
        }
        for split, record in (("validation", validation), ("test", test)):
            for key in ("accuracy", "error", "windows", "loss", "rate_hz"):
                summary[f"{split}_{key}"] = record[key]
        summary.update({"train_seconds_this_session": train_seconds, "device": str(self.device)})
        if self.rewiring is not None:
            summary["connections"] = self.rewiring.connection_count()
        return summary

    # ------------------------------------------------------------------ persistence

    def save(self):
        """Write the checkpoint: the trained network (what Brian2 needs) and everything a resumed run needs."""
        meta = {
            "experiment": self.config,
            "documents": self.experiment.documents,
            "iteration": self.iteration,
            "stopped_early": self.stopped_early,
            "rng": {"train": self._boundary["train"]},
            "spec": {"seed": self.spec.seed, "input": self.input, "readout": self.readout},
        }
        trained = checkpoints.network_arrays(
            self.twin.trained_spec(), {name: list(self.twin.parameter_values(name)) for name in self.twin.neurons}
        )
        state = {
            "network": trained,
            "twin": self.twin.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": self._boundary["torch"],
        }
        if self.rewiring is not None:
            state["rewiring"] = self.rewiring.state_dict()
        with self.signals.deferred():
            checkpoints.save(self.out / CHECKPOINT, meta, state)
            self.saved_iteration = self.iteration
            self._last_save = time.monotonic()
            self.folder.commit()

    def _check_same_experiment(self, saved):
        """Resuming under different settings would silently mix two experiments."""
        from .experiment import with_defaults

        saved = with_defaults(saved)
        differences = sorted(
            k for k in set(saved) | set(self.config) if k != "iterations" and saved.get(k) != self.config.get(k)
        )
        if differences:
            raise LsnnBioError(
                f"--resume: the run in {self.out} was started with different settings for {', '.join(differences)}; "
                "resume with the same document and --set options (only --iterations may change)"
            )

    def _restore(self, saved):
        self.twin.load_state_dict(saved.state["twin"])
        self.optimizer.load_state_dict(saved.state["optimizer"])
        torch.set_rng_state(saved.state["torch_rng"])
        if self.rewiring is not None:
            self.rewiring.load_state_dict(saved.state["rewiring"])
        self.train_rng.bit_generator.state = saved.meta["rng"]["train"]
        self.iteration = self.saved_iteration = saved.meta["iteration"]
        self.stopped_early = saved.meta["stopped_early"]
        kept = self.folder.metrics_until(self.iteration)
        validations = [r for r in kept if r["split"] == "validation" and r["iteration"] == self.iteration]
        self.last_validation = validations[-1] if validations else None

    def _log(self, record):
        with open(self.out / METRICS, "a") as handle:
            handle.write(json.dumps(record) + "\n")


def _json(data):
    return (
        json.dumps(data, indent=2, default=lambda x: None if isinstance(x, float) and math.isnan(x) else str(x)) + "\n"
    )
