"""Brian2 playing a trained agent in closed loop: its readouts choose the actions, the arena chooses its next inputs.

A standalone binary cannot call back into Python, so the closed loop runs on Brian2's runtime
device: a ``NetworkOperation`` at the end of every time step reads the policy readout that the
step has just computed (the value a ``StateMonitor(when='end')`` records, which is what the twin's
``step`` returns), applies the agent's action rule (``environments/agent.py``) to the Gymnasium
arena, and writes the next observation into the row of the input raster that the input group reads
at the next step. Everything else is the ``BrianNetwork`` that open-loop validation uses, so the
network Brian2 simulates here is the one it simulates everywhere.
"""

from dataclasses import dataclass

import brian2
import numpy as np

from ..environments import NavigationEnv
from ..environments.agent import act
from .network import BrianNetwork, BrianResult, TrialInputError


@dataclass
class ClosedLoopEpisode:
    """One episode played by Brian2: the trial's spikes and states plus what happened in the arena."""

    result: BrianResult
    goals: int
    goal_steps: list  # steps whose move reached the goal
    actions: np.ndarray  # (decisions, 2)
    positions: np.ndarray  # (steps + 1, 2): at reset, then after every step (where it landed after a teleport)
    goal: np.ndarray  # (2,)
    inputs: np.ndarray  # (steps, n_inputs): the observations the network received, 0/1


class ClosedLoopNetwork(BrianNetwork):
    """A network on the runtime (numpy) device whose input ``input`` is the arena's observation, step by step.

    ``policy``: the readout whose output is the action mean. ``steps``: the episode length in steps.
    """

    def __init__(self, spec, steps, input, policy, record=None):
        if input not in spec.inputs:
            raise TrialInputError(f"unknown input '{input}' (accepted: {', '.join(spec.inputs)})")
        if policy not in spec.populations or not spec.populations[policy].readout:
            readouts = [p.name for p in spec.readouts]
            raise TrialInputError(f"'{policy}' is not a readout of {spec.name} (accepted: {', '.join(readouts)})")
        self.input, self.policy = input, policy
        self._episode = None
        super().__init__(spec, engine="numpy", steps=steps, record=record)

    def _create_objects(self):
        super()._create_objects()
        # After the readouts' StateMonitor (also at 'end'), so the value read is the one recorded.
        self._objects.append(
            brian2.NetworkOperation(self._act, dt=self.spec.dt, when="end", order=10, name="closed_loop_agent")
        )

    def play(self, env_options, episode_seed, noise, std, steps_per_decision):
        """One episode of the Gymnasium arena reset with ``episode_seed``; ``noise`` (decisions, 2) as in the twin."""
        env = NavigationEnv(**env_options)
        observation, _ = env.reset(seed=int(episode_seed))
        raster = np.zeros((self.steps, self.spec.inputs[self.input].size))
        raster[0] = observation
        self._episode = {
            "env": env,
            "noise": np.asarray(noise, dtype=np.float64),
            "std": np.asarray(std, dtype=np.float64),
            "every": int(steps_per_decision),
            "step": 0,
            "action": None,
            "actions": [],
            "goal_steps": [],
            "positions": [env.position.copy()],
        }
        inputs = {
            name: (raster if name == self.input else np.zeros((self.steps, group.size)))
            for name, group in self.spec.inputs.items()
        }
        result = self.run(inputs)
        episode, self._episode = self._episode, None
        return ClosedLoopEpisode(
            result=result,
            goals=int(env.goals),
            goal_steps=episode["goal_steps"],
            actions=np.array(episode["actions"]),
            positions=np.array(episode["positions"]),
            goal=env.goal.copy(),
            inputs=np.array(self.rasters[self.input].values),
        )

    def _act(self):
        episode = self._episode
        if episode is None or episode["step"] >= self.steps:
            return
        step = episode["step"]
        episode["step"] += 1
        if step % episode["every"] == 0:
            recorded = self.state_monitors[self.policy].variables[self.spec.populations[self.policy].model.output]
            mean = np.asarray(recorded.get_value(), dtype=np.float64).reshape(-1, self.groups[self.policy].N)[step]
            episode["action"] = act(mean, episode["std"], episode["noise"][step // episode["every"]])
            episode["actions"].append(episode["action"])
        observation, reward, _, _, info = episode["env"].step(episode["action"])
        if info["reached"]:
            episode["goal_steps"].append(step)
        episode["positions"].append(info["position"])
        if step + 1 < self.steps:
            self.rasters[self.input].values[step + 1] = observation
