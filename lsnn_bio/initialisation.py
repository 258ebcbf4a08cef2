"""Draw the network's random structure (connectivity, weights, signs, delays) from a seed.

The paper's initialisations (reference section 1.5): weights N(0, 1)/sqrt(n_pre)
on a uniformly drawn sparse mask (pairs drawn with replacement, as the official
``weight_sampler`` does), Glorot-uniform for readouts, integer delays drawn
uniformly. All randomness comes from numpy generators on the seed's ``structure``
stream, one per projection keyed by its name (``seeds.py``), so every engine sees the
same network and adding a projection leaves the others' weights unchanged.

This module only draws: ``documents.py`` has validated every entry into a
``ProjectionEntry`` of names and numbers, so nothing here can be wrong about a document.
"""

from dataclasses import dataclass

import numpy as np

from . import seeds
from .spec import Projection

INITS = ("normal", "glorot_uniform", "balanced_signed", "zeros")
SIGN_MODES = ("free", "dale")


@dataclass(frozen=True)
class ProjectionEntry:
    """One validated ``projections`` entry of a network document: names and SI numbers only.

    ``synapses`` holds, per target, the synapse model the entry resolved (its own
    ``synapse:`` override, else the target neuron's default); ``scale`` is in SI units of
    that model's weight. ``delay`` is in time steps; ``delay_range`` (low, high) steps,
    when given, is drawn uniformly per potential synapse instead.
    """

    name: str
    sources: tuple
    targets: tuple
    synapses: dict  # target name -> SynapseModel
    connectivity: float = 1.0
    autapses: bool = False
    init: str = "normal"
    scale: float = 1.0
    delay: int = 0
    delay_range: tuple | None = None
    sign: str = "free"


def initialise_projections(entries, sizes, signs, seed):
    """Projections drawn for ``entries``; ``sizes``/``signs``: per input or population, its size and Dale signs (or None)."""
    projections = []
    for entry in entries:
        n_pre = sum(sizes[s] for s in entry.sources)
        n_post = sum(sizes[t] for t in entry.targets)
        rng = seeds.generator(seed, "structure", entry.name)
        mask = _mask(entry.connectivity, n_pre, n_post, rng)
        if not entry.autapses:
            _remove_autapses(mask, entry.sources, entry.targets, sizes)
        presynaptic_signs = None
        if all(signs[s] is not None for s in entry.sources):
            presynaptic_signs = np.concatenate([signs[s] for s in entry.sources])
        weights = _weights(entry.init, entry.scale, rng, n_pre, n_post, presynaptic_signs)
        if entry.delay_range is not None:
            low, high = entry.delay_range
            delays = rng.integers(low, high + 1, (n_pre, n_post))
        else:
            delays = np.full((n_pre, n_post), entry.delay, dtype=np.int64)
        sign = (
            np.where(weights < 0, -1, 1) if entry.sign == "free" else np.repeat(presynaptic_signs[:, None], n_post, 1)
        )
        weights = np.abs(weights) * sign

        pre_offset = 0
        for source in entry.sources:
            post_offset = 0
            for target in entry.targets:
                rows = slice(pre_offset, pre_offset + sizes[source])
                cols = slice(post_offset, post_offset + sizes[target])
                i, j = np.nonzero(mask[rows, cols])
                projections.append(
                    Projection(
                        name=entry.name
                        if len(entry.sources) * len(entry.targets) == 1
                        else f"{entry.name}_{source}_to_{target}",
                        source=source,
                        target=target,
                        i=i.astype(np.int64),
                        j=j.astype(np.int64),
                        w=weights[rows, cols][i, j].astype(np.float64),
                        delay=delays[rows, cols][i, j],
                        sign=sign[rows, cols][i, j].astype(np.int8),
                        synapse=entry.synapses[target],
                        entry=entry.name,
                        autapses=entry.autapses,
                        potential_delay=delays[rows, cols].astype(np.int64),
                        potential_sign=sign[rows, cols].astype(np.int8),
                    )
                )
                post_offset += sizes[target]
            pre_offset += sizes[source]
    return projections


def _mask(connectivity, n_pre, n_post, rng):
    """Exactly int(connectivity * n_pre * n_post) pairs, drawn without replacement, as the reference code draws them
    (autapses, where forbidden, are removed afterwards, as there). Pairs drawn with replacement would collapse into
    1 - exp(-connectivity) of the pairs: 11.3 % for 0.12."""
    if connectivity >= 1:
        return np.ones((n_pre, n_post), dtype=bool)
    count = int(n_pre * n_post * connectivity)
    mask = np.zeros(n_pre * n_post, dtype=bool)
    mask[rng.choice(n_pre * n_post, count, replace=False)] = True
    return mask.reshape(n_pre, n_post)


def _remove_autapses(mask, sources, targets, sizes):
    pre_offset = 0
    for source in sources:
        post_offset = 0
        for target in targets:
            if source == target:
                idx = np.arange(sizes[source])
                mask[pre_offset + idx, post_offset + idx] = False
            post_offset += sizes[target]
        pre_offset += sizes[source]


def _weights(init, scale, rng, n_pre, n_post, presynaptic_signs):
    if init == "normal":
        return rng.standard_normal((n_pre, n_post)) / np.sqrt(n_pre) * scale
    if init == "glorot_uniform":
        limit = np.sqrt(6.0 / (n_pre + n_post))
        return rng.uniform(-limit, limit, (n_pre, n_post)) * scale
    if init == "zeros":
        return np.zeros((n_pre, n_post))
    return balanced_signed(presynaptic_signs, n_post, rng) * scale


def balanced_signed(signs, n_post, rng):
    """Magnitudes of the paper's Dale's-law initialisation (``random_sparse_signed_matrix``).

    On a full (n, n) matrix of |N(0, 1)| with the presynaptic signs: inhibition is
    rescaled to equal excitation, every column is balanced to zero mean by
    shrinking its stronger side, the matrix is scaled to spectral radius 1, and
    n_post columns are taken (the first ones, or drawn with replacement when
    n < n_post). The sparse mask is applied afterwards by the caller.
    """
    n = len(signs)
    excitatory, inhibitory = signs > 0, signs < 0
    w = np.abs(rng.standard_normal((n, n))) * signs[:, None]
    if inhibitory.any() and excitatory.any():
        w[inhibitory] *= w[excitatory].sum() / -w[inhibitory].sum()
        total_e = np.where(w > 0, w, 0).sum(axis=0)
        total_i = -np.where(w < 0, w, 0).sum(axis=0)
        shrink_e = np.where(total_e > total_i, total_i / np.maximum(total_e, 1e-300), 1.0)
        shrink_i = np.where(total_i > total_e, total_e / np.maximum(total_i, 1e-300), 1.0)
        w = np.where(w > 0, w * shrink_e, w * shrink_i)
    radius = np.abs(np.linalg.eigvals(w)).max()
    w = w / radius if radius > 0 else w
    columns = np.arange(n_post) if n >= n_post else rng.integers(0, n, n_post)
    return np.abs(w[:, columns])
