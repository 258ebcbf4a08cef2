"""The learning-to-learn outer loop for regression tasks: the Trainer with an MSE loss and per-example scores.

Every training batch is a batch of new functions; BPTT runs through whole episodes (all examples
of a function), and the loss is the mean squared error of the window-averaged readout over every
example of every episode (reference section 3.4), plus the paper's rate regulariser. Weights only
change between batches, so what improves from example to example within an episode is learned by
the network's dynamics.

Scores on a held-out split (``score``) follow ``tasks/regression_scores.py``: ``mse`` is the mean
over the second half of each episode, ``mse_by_example`` the curve over example indices, beside the
linear baseline fitted to the examples seen so far on the same functions. Run folder, checkpoints,
resume and data hygiene are the Trainer's (``trainer.py``).
"""

import time

import numpy as np
import torch

from ..errors import LsnnBioError
from ..tasks.regression_scores import linear_predictions, test_mse, test_mse_by_example
from ..units import seconds
from .losses import rate_regulariser, window_logits
from .trainer import Trainer


def window_predictions(outputs, windows):
    """The prediction of every example: the readout (steps, batch, outputs) averaged over its window -> (batch, K, outputs)."""
    return window_logits(outputs, windows)


class RegressionTrainer(Trainer):
    """Trainer for ``function_regression``: MSE over every example of an episode, scores per example index."""

    def _readout_name(self):
        names = [p.name for p in self.spec.readouts]
        name = self.config["readout"] or (names[0] if len(names) == 1 else None)
        if name not in names:
            raise LsnnBioError(f"experiment 'readout' must name one of the network's readouts: {', '.join(names)}")
        if self.spec.populations[name].size != self.task.n_outputs:
            raise LsnnBioError(
                f"task {self.task.name} predicts {self.task.n_outputs} value(s) per example, readout "
                f"'{name}' has {self.spec.populations[name].size} neurons"
            )
        return name

    def forward(self, batch, train):
        """(loss, metrics, predictions (batch, K, outputs) detached float64 numpy) of one batch of episodes."""
        dt = seconds(self.spec.dt, "dt")
        with torch.set_grad_enabled(train):
            inputs = torch.as_tensor(batch.inputs, dtype=self.twin.dtype, device=self.device)
            result = self.twin({self.input: inputs})
            predictions = window_predictions(
                result.outputs[self.readout], torch.as_tensor(batch.windows, device=self.device)
            )
            targets = torch.as_tensor(batch.targets, dtype=self.twin.dtype, device=self.device)
            mask = torch.as_tensor(batch.mask, device=self.device)
            mse = ((predictions - targets) ** 2).mean(dim=-1)[mask].mean()
            spikes = {n: s for n, s in result.spikes.items() if not self.spec.populations[n].readout}
            regulariser, rate = rate_regulariser(spikes, dt, self.config["rate_regulariser"]["target_hz"])
            loss = mse + self.config["rate_regulariser"]["coefficient"] * regulariser
        metrics = {"loss": float(loss.detach()), "mse": float(mse.detach()), "rate_hz": rate}
        return loss, metrics, predictions.detach().double().cpu().numpy()

    def evaluate(self, batch, train):
        loss, metrics, _ = self.forward(batch, train)
        return loss, metrics

    def score(self, split, batch_size):
        """The current model on the whole held-out ``split``: MSE (second half), per example, and the linear baseline."""
        start = time.perf_counter()
        predictions, targets, x, masks = [], [], [], []
        loss = rate = 0.0
        for batch in self.task.batches(split, batch_size):
            _, metrics, predicted = self.forward(batch, train=False)
            predictions.append(predicted)
            targets.append(batch.targets)
            x.append(batch.x)
            masks.append(batch.mask)
            loss += metrics["loss"] * batch.size
            rate += metrics["rate_hz"] * batch.size
        predictions, targets, x, masks = (np.concatenate(a) for a in (predictions, targets, x, masks))
        functions = len(targets)
        linear = self._linear_baseline(split, x, targets, masks)
        mse = test_mse(predictions, targets, masks)
        return {
            "iteration": self.iteration,
            "split": split,
            "mse": mse,
            "error": mse,  # what stop.validation_error_below compares with
            "mse_all_examples": float(((predictions - targets) ** 2).mean(axis=-1)[masks].mean()),
            "mse_by_example": test_mse_by_example(predictions, targets, masks).tolist(),
            "functions": functions,
            "loss": loss / functions,
            "rate_hz": rate / functions,
            "seconds": time.perf_counter() - start,
            **linear,
        }

    def _linear_baseline(self, split, x, targets, masks):
        """The linear baseline on the same functions (computed once per split: it does not depend on the model)."""
        cache = self.__dict__.setdefault("_linear_cache", {})
        if split not in cache:
            predicted = linear_predictions(x, targets)
            cache[split] = {
                "linear_baseline_mse": test_mse(predicted, targets, masks),
                "linear_baseline_mse_by_example": test_mse_by_example(predicted, targets, masks).tolist(),
            }
        return cache[split]

    def progress_figures(self, record):
        return {"mse": f"{record['mse']:.3f}", "rate": f"{record['rate_hz']:.1f}Hz"}

    def validation_line(self, validation):
        return (
            f"validation MSE {validation['mse']:.4f} (second half; linear baseline "
            f"{validation['linear_baseline_mse']:.4f}), rate {validation['rate_hz']:.1f} Hz"
        )

    def finish(self, train_seconds=0.0):
        """After the last update: the final model on validation, then, once, on test (with the linear baseline)."""
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
        for prefix, record in (("validation_", validation), ("test_", test)):
            for key in ("mse", "mse_all_examples", "mse_by_example", "rate_hz", "loss", "functions"):
                summary[prefix + key] = record[key]
        summary["linear_baseline_mse"] = test["linear_baseline_mse"]
        summary["linear_baseline_mse_by_example"] = test["linear_baseline_mse_by_example"]
        summary["validation_linear_baseline_mse"] = validation["linear_baseline_mse"]
        summary["validation_linear_baseline_mse_by_example"] = validation["linear_baseline_mse_by_example"]
        summary.update({"train_seconds_this_session": train_seconds, "device": str(self.device)})
        return summary
