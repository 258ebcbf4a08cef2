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
"""

import json
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from .. import seeds
from ..errors import LsnnBioError
from ..files import write_atomically
from ..twin import Twin
from ..units import seconds
from . import checkpoint as checkpoints
from .losses import classification, rate_regulariser

CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"


class TrainingDiverged(LsnnBioError, RuntimeError):
    """The loss or a gradient became NaN/Inf; the last checkpoint is left untouched."""


class Trainer:
    """One training run of an experiment in a run folder, resumable bit for bit.

    Subclasses for other kinds of task (regression, reinforcement) keep the loop and the
    run folder and replace what one batch means: ``evaluate`` (loss and metrics of a
    batch), ``score`` (a whole held-out split), and, if they hold more state, ``save``
    and ``_restore``.
    """

    def __init__(self, experiment, out, device="cpu", resume=False, iterations=None, progress=True):
        self.experiment, self.config = experiment, experiment.config
        self.out = Path(out)
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise LsnnBioError("--device cuda was asked for, but torch sees no CUDA device here (accepted: cpu)")
        self.progress = progress
        if iterations is not None:
            self.config["iterations"] = int(iterations)
        existing = self.out / CHECKPOINT
        if existing.exists() and not resume:
            raise LsnnBioError(
                f"{self.out} already holds a run ({CHECKPOINT}); use --resume to continue it or choose another --out"
            )
        if resume and not existing.exists():
            raise LsnnBioError(f"--resume: no {CHECKPOINT} in {self.out} to resume from")

        seed = self.config["seed"]
        torch.manual_seed(seeds.torch_seed(seed, "torch"))
        self.spec = experiment.network()
        self.task = experiment.task(self.spec.dt)
        # Every task option, defaults and the network's dt included, goes into the checkpoint.
        self.config["task"] = {"name": self.task.name, **self.task.options}
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
                seed=seeds.torch_seed(seed, "rewiring"),
            )
        self.train_rng = seeds.generator(seed, "train_batches")
        self.iteration = 0
        self.stopped_early = False
        self.last_validation = None
        self.out.mkdir(parents=True, exist_ok=True)  # only once the experiment has been built without error
        if resume:
            saved = checkpoints.load(existing)
            self._check_same_experiment(saved.meta["experiment"])
            if (self.out / SUMMARY).exists():
                raise LsnnBioError(
                    f"--resume: the run in {self.out} is finished and its test split was read ({SUMMARY}); training it "
                    "further after that would tune it on test data. Start a new run in another --out"
                )
            self._restore(saved)

    # ------------------------------------------------------------------ set-up

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
        final model's validation and, once, test figures go to ``summary.json``, which is returned."""
        total = self.config["iterations"]
        bar = tqdm(
            total=total,
            initial=self.iteration,
            desc=self.experiment.name,
            disable=not self.progress,
            dynamic_ncols=True,
        )
        started = time.perf_counter()
        while self.iteration < total and not self.stopped_early:
            record = self.train_step()
            bar.update(1)
            bar.set_postfix(
                loss=f"{record['loss']:.3f}", acc=f"{record['accuracy']:.2f}", rate=f"{record['rate_hz']:.1f}Hz"
            )
            every = self.config["validation"]["every"]
            if self.iteration % every == 0 or self.iteration == total:
                validation = self.validate()
                bar.write(
                    f"iteration {self.iteration}: validation error {validation['error']:.3f} "
                    f"(accuracy {validation['accuracy']:.3f}, rate {validation['rate_hz']:.1f} Hz)"
                )
                threshold = (self.config["stop"] or {}).get("validation_error_below")
                if threshold is not None and validation["error"] < threshold:
                    self.stopped_early = True
                    bar.write(f"stopping early: validation error {validation['error']:.3f} < {threshold}")
            if self.iteration % self.config["checkpoint_every"] == 0 or self.iteration == total or self.stopped_early:
                self.save()
        bar.close()
        summary = self.finish(train_seconds=time.perf_counter() - started)
        write_atomically(self.out / SUMMARY, _json(summary))
        return summary

    def train_step(self):
        """One update on a fresh training batch, logged to ``metrics.jsonl``; refuses non-finite gradients."""
        start = time.perf_counter()
        learning_rate = self.learning_rate(self.iteration)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        batch = self.task.batch("train", self.config["batch_size"], self.train_rng)
        loss, metrics = self.evaluate(batch, train=True)
        self.optimizer.zero_grad(set_to_none=False)
        loss.backward()
        self._guard(loss)
        if self.config["gradient_clip"]:
            torch.nn.utils.clip_grad_norm_(self.twin.parameters(), float(self.config["gradient_clip"]))
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
        return record

    def _guard(self, loss):
        bad = [] if torch.isfinite(loss) else ["the loss"]
        bad += [
            name for name, p in self.twin.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()
        ]
        if bad:
            raise TrainingDiverged(
                f"iteration {self.iteration + 1}: non-finite values in {', '.join(bad)}; stopped before the update. "
                f"The last good checkpoint in {self.out} is untouched; lower the learning rate or set gradient_clip."
            )

    def score(self, split, batch_size):
        """The current model on the whole fixed ``split`` ("validation" or "test"), in order."""
        start = time.perf_counter()
        correct = counted = trials = 0
        loss = cross_entropy = rate = 0.0
        for batch in self.task.batches(split, batch_size):
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
        test = self.score("test", self.config["test_batch_size"])
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
            "rng": {"train": self.train_rng.bit_generator.state},
            "spec": {"seed": self.spec.seed, "input": self.input, "readout": self.readout},
        }
        trained = checkpoints.network_arrays(
            self.twin.trained_spec(), {name: list(self.twin.parameter_values(name)) for name in self.twin.neurons}
        )
        state = {
            "network": trained,
            "twin": self.twin.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }
        if self.rewiring is not None:
            state["rewiring"] = self.rewiring.state_dict()
        checkpoints.save(self.out / CHECKPOINT, meta, state)

    def _check_same_experiment(self, saved):
        """Resuming under different settings would silently mix two experiments."""
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
        self.iteration = saved.meta["iteration"]
        self.stopped_early = saved.meta["stopped_early"]
        kept = self._truncate_metrics(self.iteration)
        validations = [r for r in kept if r["split"] == "validation" and r["iteration"] == self.iteration]
        self.last_validation = validations[-1] if validations else None

    def _log(self, record):
        with open(self.out / METRICS, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def _truncate_metrics(self, iteration):
        """Drop lines an interrupted run wrote after its last checkpoint, so the log matches the state."""
        path = self.out / METRICS
        if not path.exists():
            return []
        lines = [(line, json.loads(line)) for line in path.read_text().splitlines() if line]
        kept = [(line, r) for line, r in lines if r["iteration"] <= iteration and r["split"] != "test"]
        write_atomically(path, "".join(line + "\n" for line, _ in kept))
        return [r for _, r in kept]


def _json(data):
    return (
        json.dumps(data, indent=2, default=lambda x: None if isinstance(x, float) and math.isnan(x) else str(x)) + "\n"
    )
