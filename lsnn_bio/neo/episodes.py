"""Learning-to-learn episodes as Neo: the network's activity with what the task did around it, like a behavioural session.

Built on ``layout.to_block`` (PyNN's layout: one Segment per episode, SpikeTrains, recorded
variables, Groups), then each Segment gets what an experimenter would log beside a recording:

* regression (``regression_block``): the Epochs ``task`` of the examples (``example:k``, one per
  20 ms example, from the task), an AnalogSignal ``target`` (the target F(x_k) held over example k,
  dimensionless) and an AnalogSignal ``input_x`` (x_k, dimensionless), so a prediction can be scored
  from the file alone; the segment is annotated with the function family;
* navigation (``navigation_block``): Events and Epochs ``task`` with one ``goal:n`` at every step
  whose move reached the goal (zero duration), an AnalogSignal ``position`` (steps, 2) in arena
  widths (sample k: the position at the end of step k, where the agent landed after a teleport),
  and the annotations ``goal_x``, ``goal_y``, ``goals`` and ``episode_seed``.

Sample k of every signal is labelled k * dt, as the recorded variables are.
"""

import numpy as np
import quantities as pq

from ..units import MS, seconds
from .layout import NeoExportError, to_block


def _signal(values, dt_ms, name, **annotations):
    import neo

    return neo.AnalogSignal(
        np.asarray(values, dtype=np.float64),
        units=pq.dimensionless,
        sampling_period=dt_ms * pq.ms,
        t_start=0.0 * pq.ms,
        name=name,
        **annotations,
    )


def regression_block(spec, results, batches, *, simulator="brian2", annotations=None):
    """A Block of regression episodes: ``results`` (one per episode, in order) from the RegressionBatches ``batches``."""
    episodes = [(batch, b) for batch in batches for b in range(batch.size)]
    if len(episodes) != len(results):
        raise NeoExportError(f"regression_block: {len(results)} results for {len(episodes)} episodes in the batches")
    dt_ms = seconds(spec.dt, "dt") / MS
    events = [batch.events[b] for batch, b in episodes]
    block = to_block(spec, results, dt=spec.dt, simulator=simulator, annotations=annotations, events=events)
    for segment, (batch, b), result in zip(block.segments, episodes, results):
        steps = result.steps
        target = np.zeros((steps, batch.targets.shape[-1]))
        x = np.zeros((steps, batch.x.shape[-1]))
        for k, (start, duration, _, _) in enumerate(batch.events[b]):
            target[start : start + duration] = batch.targets[b, k]
            x[start : start + duration] = batch.x[b, k]
        segment.analogsignals.append(_signal(target, dt_ms, "target", description="F(x_k) held over example k"))
        segment.analogsignals.append(_signal(x, dt_ms, "input_x", description="x_k held over example k"))
        segment.annotate(family=batch.functions.family, examples=int(batch.targets.shape[1]))
    return block


def goal_events(episode):
    """``(step, 0, "goal", n)`` for the n-th goal reached in a closed-loop episode: the task events of its trial."""
    return [(step, 0, "goal", str(n)) for n, step in enumerate(episode.goal_steps)]


def navigation_block(spec, episodes, episode_seeds, *, simulator="brian2", annotations=None):
    """A Block of closed-loop navigation episodes (``brian.closed_loop.ClosedLoopEpisode``, one per Segment)."""
    if len(episodes) != len(episode_seeds):
        raise NeoExportError(f"navigation_block: {len(episodes)} episodes but {len(episode_seeds)} episode seeds")
    dt_ms = seconds(spec.dt, "dt") / MS
    events = [goal_events(episode) for episode in episodes]
    block = to_block(
        spec, [e.result for e in episodes], dt=spec.dt, simulator=simulator, annotations=annotations, events=events
    )
    for segment, episode, seed in zip(block.segments, episodes, episode_seeds):
        segment.analogsignals.append(
            _signal(
                episode.positions[1:],
                dt_ms,
                "position",
                description="agent position in arena widths at the end of each step",
            )
        )
        segment.annotate(
            goal_x=float(episode.goal[0]),
            goal_y=float(episode.goal[1]),
            goals=int(episode.goals),
            episode_seed=str(seed),
        )
    return block
