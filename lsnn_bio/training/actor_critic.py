"""Meta-RL outer loop (reference section 3.5): trains a network's policy and value readouts by A2C (``a2c.py``).

Each iteration plays ``batch_size`` new arenas for one whole episode and differentiates the
actor-critic loss through every step of the closed loop. A small loop of its own rather than a
``Trainer`` subclass (the policy's log-std lives outside the twin, and an iteration is an episode,
not a batch): it keeps the Trainer's run folder (``checkpoint.safetensors`` through
``checkpoint.py``, with the trained network Brian2 reads; ``metrics.jsonl``; ``summary.json``), its
resume rules (bit-identical continuation: all randomness comes from the seed's ``train_batches``
stream, saved in the checkpoint) and its data hygiene (validation episodes for every printed
figure, the test episodes read once at the end, into the summary, beside the untrained agent, a
random policy and an oracle on the same episodes).
"""

import math
import time

import numpy as np
import torch

from .. import seeds
from ..environments import goals_per_episode
from ..environments.agent import decision_steps, decisions_per_episode, held_out_noise
from ..errors import LsnnBioError
from ..files import write_atomically
from ..progress import bar as progress_bar
from ..twin import Twin
from ..twin.engine import threads_for
from . import checkpoint as checkpoints
from .a2c import a2c_loss, actor_critic_settings, advantages, held_random_policy, play
from .run_folder import CHECKPOINT, SUMMARY
from .trainer import Trainer, TrainingDiverged, _json

__all__ = ["ActorCriticTrainer", "a2c_loss", "actor_critic_settings", "advantages", "play"]


class ActorCriticTrainer:
    """Trains the policy and value readouts of a network on a closed-loop task (``meta_rl_navigation``)."""

    def __init__(self, experiment, out, device="cpu", resume=False, iterations=None, progress=True, overwrite=False):
        self._open(experiment, out, device, resume, iterations, progress, overwrite)
        existing = self.out / CHECKPOINT
        if not hasattr(self.task, "environment"):
            raise LsnnBioError(
                f"{experiment.source}: task '{self.task.name}' is not a closed-loop task (accepted: meta_rl_navigation)"
            )
        self.settings = actor_critic_settings(self.config)
        self.config["actor_critic"] = dict(self.settings)
        self.input = self._input_name()
        self.policy, self.value = self._readout(self.settings["policy"], 2), self._readout(self.settings["value"], 1)
        self.steps_per_decision = decision_steps(self.settings["decision_ms"], self.task.dt_ms)
        self.decisions = decisions_per_episode(self.task.steps, self.steps_per_decision)
        self.dtype = getattr(torch, self.config["dtype"])
        self.twin = self._twin(self.spec)
        self.log_std = torch.nn.Parameter(
            torch.full((2,), math.log(self.settings["initial_std"]), dtype=self.dtype, device=self.device)
        )
        opt = self.config["optimizer"]
        self.optimizer = torch.optim.Adam(
            list(self.twin.parameters()) + [self.log_std],
            lr=opt["learning_rate"],
            betas=tuple(opt.get("betas", (0.9, 0.999))),
            eps=opt.get("eps", 1e-8),
        )
        self.train_rng = seeds.generator(self.config["seed"], "train_batches")
        self.iteration = 0
        self.stopped_early = False
        self.last_validation = None
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

    def _twin(self, spec):
        pseudo = self.config["pseudo_derivative"]
        return Twin(
            spec,
            dtype=self.dtype,
            device=self.device,
            pseudo_derivative=pseudo["function"],
            gamma=pseudo["gamma"],
            width=pseudo["width"],
        )

    _open = Trainer._open  # the same run folder, device, seed, network and task
    _input_name = Trainer._input_name  # the same rule: the experiment's input, or the network's only one

    def _readout(self, name, size):
        names = [p.name for p in self.spec.readouts]
        if name not in names:
            raise LsnnBioError(
                f"{self.experiment.source}: actor_critic names readout '{name}', the network has {', '.join(names)}"
            )
        if self.spec.populations[name].size != size:
            raise LsnnBioError(
                f"{self.experiment.source}: readout '{name}' has {self.spec.populations[name].size} "
                f"neurons, the actor-critic needs {size} there"
            )
        return name

    def learning_rate(self, iteration):
        opt = self.config["optimizer"]
        return opt["learning_rate"] * opt["decay_factor"] ** (iteration // opt["decay_every"])

    # ------------------------------------------------------------------ playing

    def play(self, twin, log_std, episode_seeds, noise, record_positions=False, actions=None):
        env = self.task.environment(len(episode_seeds), device=self.device, dtype=self.dtype)
        return play(
            twin,
            env,
            episode_seeds,
            noise,
            log_std,
            input=self.input,
            policy=self.policy,
            value=self.value,
            steps_per_decision=self.steps_per_decision,
            target_hz=self.config["rate_regulariser"]["target_hz"],
            record_positions=record_positions,
            actions=actions,
        )

    def advantages(self, episode):
        """GAE advantages and returns of an episode with this experiment's discount (per decision) and lambda."""
        gamma = self.settings["discount"] ** self.steps_per_decision
        return advantages(episode.rewards, episode.values, gamma, self.settings["gae_lambda"])

    def train_step(self):
        start = time.perf_counter()
        learning_rate = self.learning_rate(self.iteration)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        size = self.config["batch_size"]
        episode_seeds = self.train_rng.integers(0, 2**63 - 1, size).tolist()
        noise = self.train_rng.standard_normal((self.decisions, size, 2))
        episode = self.play(self.twin, self.log_std, episode_seeds, noise)
        advantage, returns = self.advantages(episode)
        loss, parts = a2c_loss(
            episode, advantage, returns, self.log_std, self.settings, self.config["rate_regulariser"]["coefficient"]
        )
        self.optimizer.zero_grad(set_to_none=False)
        with threads_for(size, self.twin):
            loss.backward()
        self._guard(loss)
        if self.config["gradient_clip"]:
            torch.nn.utils.clip_grad_norm_(
                list(self.twin.parameters()) + [self.log_std], float(self.config["gradient_clip"])
            )
        self.optimizer.step()
        self.iteration += 1
        record = {
            "iteration": self.iteration,
            "split": "train",
            "learning_rate": learning_rate,
            "seconds": time.perf_counter() - start,
            "loss": float(loss.detach()),
            **parts,
            "goals_per_episode": float(episode.goals.mean()),
            "policy_std": torch.exp(self.log_std).tolist(),
            "rate_hz": episode.rate_hz,
        }
        self._log(record)
        return record

    def _guard(self, loss):
        parameters = list(self.twin.named_parameters()) + [("log_std", self.log_std)]
        bad = [] if torch.isfinite(loss) else ["the loss"]
        bad += [name for name, p in parameters if p.grad is not None and not torch.isfinite(p.grad).all()]
        if bad:
            raise TrainingDiverged(
                f"iteration {self.iteration + 1}: non-finite values in {', '.join(bad)}; stopped before the update. "
                f"The last good checkpoint in {self.out} is untouched; lower the learning rate or set gradient_clip."
            )

    def goals(self, split, twin=None, log_std=None, count=None):
        """Goals reached in each held-out episode of ``split`` (fixed seeds and noise), the mean rate and critic error."""
        twin = self.twin if twin is None else twin
        log_std = self.log_std if log_std is None else log_std
        episode_seeds = self.task.episode_seeds(split, count)
        batch_size = self.config["test_batch_size"] if split == "test" else self.config["validation"]["batch_size"]
        goals, rates, value_losses = [], 0.0, 0.0
        with torch.no_grad():
            for start in range(0, len(episode_seeds), batch_size):
                chunk = episode_seeds[start : start + batch_size]
                noise = held_out_noise(self.task.seed, split, range(start, start + len(chunk)), self.decisions)
                episode = self.play(twin, log_std, chunk, noise)
                _, returns = self.advantages(episode)
                goals.append(episode.goals)
                rates += episode.rate_hz * len(chunk)
                value_losses += float(((returns - episode.values) ** 2).mean()) * len(chunk)
        goals = np.concatenate(goals)
        return goals, rates / len(goals), value_losses / len(goals)

    def score(self, split):
        start = time.perf_counter()
        goals, rate, value_loss = self.goals(split)
        return {
            "iteration": self.iteration,
            "split": split,
            "goals_per_episode": float(goals.mean()),
            "goals_sem": float(goals.std(ddof=1) / np.sqrt(len(goals))) if len(goals) > 1 else 0.0,
            "episodes": int(len(goals)),
            "value_loss": value_loss,
            "rate_hz": rate,
            "seconds": time.perf_counter() - start,
        }

    def validate(self):
        record = self.score("validation")
        self._log(record)
        self.last_validation = record
        return record

    # ------------------------------------------------------------------ the loop

    def run(self):
        """Train, checkpointing as configured, then validation and, once, test into ``summary.json``.

        The run folder is left as found if the run fails before its first checkpoint (``RunFolder``);
        unlike ``Trainer.run``, an interrupt is not turned into a checkpoint: resume from the last one.
        """
        with self.folder.session():
            return self._run()

    def _run(self):
        total = self.config["iterations"]
        bar = progress_bar(total, self.experiment.name, enabled=self.progress, unit="iteration", initial=self.iteration)
        started = time.perf_counter()
        if self.iteration == 0 and self.last_validation is None:
            validation = self.validate()  # the untrained agent: where the learning curve starts
            bar.write(f"iteration 0: validation goals per episode {validation['goals_per_episode']:.2f}")
        while self.iteration < total:
            record = self.train_step()
            bar.set_postfix(
                {"goals": f"{record['goals_per_episode']:.2f}", "rate": f"{record['rate_hz']:.1f}Hz"}, refresh=False
            )
            bar.update(1)
            if self.iteration % self.config["validation"]["every"] == 0 or self.iteration == total:
                validation = self.validate()
                bar.write(
                    f"iteration {self.iteration}: validation goals per episode {validation['goals_per_episode']:.2f} "
                    f"(rate {validation['rate_hz']:.1f} Hz, policy std {record['policy_std'][0]:.2f})"
                )
            if self.iteration % self.config["checkpoint_every"] == 0 or self.iteration == total:
                self.save()
        bar.close()
        summary = self.finish(train_seconds=time.perf_counter() - started)
        write_atomically(self.out / SUMMARY, _json(summary))
        return summary

    def finish(self, train_seconds=0.0):
        """After the last update: the final agent on validation, then, once, on test, beside the baselines."""
        validation = self.last_validation
        if validation is None or validation["iteration"] != self.iteration:
            validation = self.validate()
        test = self.score("test")
        self._log(test)
        untrained = self._twin(self.experiment.network())
        initial_log_std = torch.full((2,), math.log(self.settings["initial_std"]), dtype=self.dtype, device=self.device)
        untrained_goals, _, _ = self.goals("test", untrained, initial_log_std)
        env = self.task.environment_options
        episodes = len(self.task.episode_seeds("test"))
        random_held = goals_per_episode(
            held_random_policy(self.task.seed, self.steps_per_decision), episodes, "test", self.task.seed, **env
        )
        from ..environments import oracle_goals_per_episode, random_policy_goals_per_episode

        return {
            "experiment": self.experiment.name,
            "iterations": self.iteration,
            "stopped_early": False,
            "validation_goals_per_episode": validation["goals_per_episode"],
            "test_goals_per_episode": test["goals_per_episode"],
            "test_goals_sem": test["goals_sem"],
            "test_episodes": test["episodes"],
            "untrained_test_goals_per_episode": float(untrained_goals.mean()),
            "random_policy_goals_per_episode": random_policy_goals_per_episode(episodes, "test", self.task.seed, **env),
            "random_held_policy_goals_per_episode": float(random_held.mean()),
            "oracle_goals_per_episode": oracle_goals_per_episode(episodes, "test", self.task.seed, **env),
            "policy_std": torch.exp(self.log_std).tolist(),
            "validation_rate_hz": validation["rate_hz"],
            "test_rate_hz": test["rate_hz"],
            "train_seconds_this_session": train_seconds,
            "device": str(self.device),
        }

    # ------------------------------------------------------------------ persistence

    def save(self):
        meta = {
            "experiment": self.config,
            "documents": self.experiment.documents,
            "iteration": self.iteration,
            "stopped_early": False,
            "rng": {"train": self.train_rng.bit_generator.state},
            "spec": {"seed": self.spec.seed, "input": self.input, "readout": self.policy, "value": self.value},
        }
        trained = checkpoints.network_arrays(
            self.twin.trained_spec(), {name: list(self.twin.parameter_values(name)) for name in self.twin.neurons}
        )
        state = {
            "network": trained,
            "twin": self.twin.state_dict(),
            "policy_log_std": self.log_std.detach(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }
        checkpoints.save(self.out / CHECKPOINT, meta, state)
        self.folder.commit()

    _check_same_experiment = Trainer._check_same_experiment

    def _restore(self, saved):
        self.twin.load_state_dict(saved.state["twin"])
        with torch.no_grad():
            self.log_std.copy_(saved.state["policy_log_std"])
        self.optimizer.load_state_dict(saved.state["optimizer"])
        torch.set_rng_state(saved.state["torch_rng"])
        self.train_rng.bit_generator.state = saved.meta["rng"]["train"]
        self.iteration = saved.meta["iteration"]
        self.folder.truncate_metrics(self.iteration)  # what the lost process logged after its checkpoint
        kept = self.folder.metrics_until(self.iteration)
        validations = [r for r in kept if r["split"] == "validation" and r["iteration"] == self.iteration]
        self.last_validation = validations[-1] if validations else None

    _log = Trainer._log
