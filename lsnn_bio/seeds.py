"""Every random stream of the package, named in one place as ``numpy.random.SeedSequence`` spawn keys.

A seed alone (``seed: 0`` in a document) never feeds two purposes: each purpose draws from
``SeedSequence(seed, spawn_key=(STREAMS[purpose], *index))``, so two streams can only coincide if
their keys do, and the keys are distinct by construction (tested). Adding a stream means adding a
new number here, never reusing one: a changed key silently changes every network or data set drawn
from it.

Streams and who draws from them:

- ``structure``: a network's connectivity, weights and delays, one stream per projection, keyed by
  the projection's name (``initialisation.py``), so adding a projection leaves the others unchanged;
- ``dale_signs``: which input channels are inhibitory (``documents.py``);
- ``train_batches``: the training batches of a run (the trainer's generator, saved in checkpoints);
- ``rewiring``: DEEP R's noise (a torch generator);
- ``torch``: torch's global generator in a run;
- ``poisson_inputs``: ``lsnn-bio check``'s Poisson input rasters;
- ``data_split``: a task's seeded partition of a fixed data set into train/validation/test;
- ``validation`` and ``test``: a generated task's fixed held-out trials, from the *task's* seed;
- ``redrawn_inputs``: the same held-out trials encoded as other input spikes, keyed by split and draw
  (``learning_to_learn.twin_predictions``).
"""

import hashlib

import numpy as np

STREAMS = {
    "structure": 1,
    "dale_signs": 2,
    "train_batches": 3,
    "validation": 4,
    "test": 5,
    "rewiring": 6,
    "poisson_inputs": 7,
    "torch": 8,
    "data_split": 9,
    "redrawn_inputs": 10,
}


def spawn_key(stream, *index):
    """The spawn key of ``stream`` (a name in STREAMS), refined by ints or names (a projection's, say)."""
    if stream not in STREAMS:
        raise KeyError(f"unknown random stream {stream!r} (named streams: {', '.join(STREAMS)})")
    return (STREAMS[stream],) + tuple(_word(part) for part in index)


def sequence(seed, stream, *index) -> np.random.SeedSequence:
    """The SeedSequence of one named stream, for code that spawns its own generators (torch seeds, workers)."""
    return np.random.SeedSequence(int(seed), spawn_key=spawn_key(stream, *index))


def generator(seed, stream, *index) -> np.random.Generator:
    """A numpy Generator on one named stream of ``seed``."""
    return np.random.default_rng(sequence(seed, stream, *index))


def torch_seed(seed, stream, *index) -> int:
    """A 63-bit integer for ``torch.Generator.manual_seed`` drawn from one named stream of ``seed``."""
    high, low = (int(w) for w in sequence(seed, stream, *index).generate_state(2, np.uint32))
    return ((high << 32) | low) & (2**63 - 1)


def _word(part):
    """Ints stay ints; names become a fixed 128-bit word (four uint32) so different names give different keys."""
    if isinstance(part, (int, np.integer)) and not isinstance(part, bool):
        if part < 0:
            raise ValueError(f"a spawn-key index must be >= 0, got {part}")
        return int(part)
    if isinstance(part, str):
        return int.from_bytes(hashlib.sha256(part.encode()).digest()[:16], "big")
    raise TypeError(f"a spawn-key index is an int >= 0 or a name, got {part!r}")
