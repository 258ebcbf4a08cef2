"""Draw the network's random structure (connectivity, weights, signs, delays) from a seed.

The paper's initialisations (reference section 1.5): weights N(0, 1)/sqrt(n_pre)
on a uniformly drawn sparse mask (pairs drawn with replacement, as the official
``weight_sampler`` does), Glorot-uniform for readouts, integer delays drawn
uniformly. All randomness comes from numpy generators on the seed's ``structure``
stream, one per projection keyed by its name (``seeds.py``), so every engine sees the
same network and adding a projection leaves the others' weights unchanged.
"""
import brian2
import numpy as np

from . import seeds
from .spec import Projection, SynapseModel

INITS = ("normal", "glorot_uniform", "balanced_signed", "zeros")


def initialise_projections(doc, entries, inputs, populations, dt, seed):
    projections = []
    for name, entry in entries.items():
        key = f"projections.{name}"
        doc.check_keys(entry, {"source", "target", "weights", "connectivity", "delay", "autapses", "synapse", "sign"}, key)
        sources = _names(doc, entry.get("source"), f"{key}.source", {**inputs, **{n: p for n, p in populations.items() if not p.readout}})
        targets = _names(doc, entry.get("target"), f"{key}.target", populations)
        groups = {**inputs, **populations}
        n_pre = sum(groups[s].size for s in sources)
        n_post = sum(groups[t].size for t in targets)
        rng = seeds.generator(seed, "structure", name)

        p = float(entry.get("connectivity", 1.0))
        if not 0 < p <= 1:
            raise doc.error(f"{key}.connectivity", f"{p} is not a fraction in (0, 1]", "e.g. 0.12")
        if p >= 1:
            mask = np.ones((n_pre, n_post), dtype=bool)
        else:
            count = int(n_pre * n_post * p)
            mask = np.zeros((n_pre, n_post), dtype=bool)
            mask[rng.integers(0, n_pre, count), rng.integers(0, n_post, count)] = True
        if not entry.get("autapses", False):
            _remove_autapses(mask, sources, targets, groups)

        presynaptic_signs = None
        if all(groups[s].signs is not None for s in sources):
            presynaptic_signs = np.concatenate([groups[s].signs for s in sources])
        weights = _weights(doc, entry.get("weights") or {}, f"{key}.weights", rng, n_pre, n_post, targets, populations,
                           presynaptic_signs)
        delays = _delays(doc, entry.get("delay", "0 ms"), f"{key}.delay", rng, dt, (n_pre, n_post))
        signs = _signs(doc, entry.get("sign", "free"), f"{key}.sign", weights, sources, groups)
        weights = np.abs(weights) * signs

        pre_offset = 0
        for source in sources:
            post_offset = 0
            for target in targets:
                rows = slice(pre_offset, pre_offset + groups[source].size)
                cols = slice(post_offset, post_offset + groups[target].size)
                i, j = np.nonzero(mask[rows, cols])
                synapse = _synapse(doc, entry.get("synapse"), f"{key}.synapse", populations[target])
                projections.append(
                    Projection(
                        name=name if len(sources) * len(targets) == 1 else f"{name}_{source}_to_{target}",
                        source=source,
                        target=target,
                        i=i.astype(np.int64),
                        j=j.astype(np.int64),
                        w=weights[rows, cols][i, j].astype(np.float64),
                        delay=delays[rows, cols][i, j],
                        sign=signs[rows, cols][i, j].astype(np.int8),
                        synapse=synapse,
                        block=name,
                        autapses=bool(entry.get("autapses", False)),
                        potential_delay=delays[rows, cols].astype(np.int64),
                        potential_sign=signs[rows, cols].astype(np.int8),
                    )
                )
                post_offset += groups[target].size
            pre_offset += groups[source].size
    return projections


def _names(doc, value, key, allowed):
    names = [value] if isinstance(value, str) else value
    if not names or not isinstance(names, list):
        raise doc.error(key, "missing", "a name or a list of names: " + ", ".join(allowed))
    for name in names:
        if name not in allowed:
            raise doc.error(key, f"'{name}' is not defined here", ", ".join(allowed))
    return names


def _remove_autapses(mask, sources, targets, groups):
    pre_offset = 0
    for source in sources:
        post_offset = 0
        for target in targets:
            if source == target:
                n = groups[source].size
                idx = np.arange(n)
                mask[pre_offset + idx, post_offset + idx] = False
            post_offset += groups[target].size
        pre_offset += groups[source].size


def _weights(doc, spec, key, rng, n_pre, n_post, targets, populations, presynaptic_signs):
    doc.check_keys(spec, {"init", "scale"}, key)
    init = spec.get("init", "normal")
    w_unit = _synapse_unit(populations[targets[0]])
    scale = 1.0
    if "scale" in spec:
        scale = float(np.asarray(doc.quantity(spec["scale"], f"{key}.scale", like=w_unit)))
    if init == "normal":
        return rng.standard_normal((n_pre, n_post)) / np.sqrt(n_pre) * scale
    if init == "glorot_uniform":
        limit = np.sqrt(6.0 / (n_pre + n_post))
        return rng.uniform(-limit, limit, (n_pre, n_post)) * scale
    if init == "zeros":
        return np.zeros((n_pre, n_post))
    if init == "balanced_signed":
        if presynaptic_signs is None:
            raise doc.error(f"{key}.init", "'balanced_signed' needs Dale's law signs (a top-level 'dale' section)")
        return balanced_signed(presynaptic_signs, n_post, rng) * scale
    raise doc.error(f"{key}.init", f"unknown initialisation '{init}'", ", ".join(INITS))


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


def _synapse_unit(population):
    model = population.model.synapse
    return model.w_unit if model is not None else brian2.units.fundamentalunits.Unit(1)


def _delays(doc, value, key, rng, dt, shape):
    if isinstance(value, dict):
        doc.check_keys(value, {"uniform"}, key)
        bounds = value.get("uniform")
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise doc.error(f"{key}.uniform", "expected [low, high]", "e.g. [1 ms, 10 ms]")
        low, high = (_steps(doc, b, f"{key}.uniform", dt) for b in bounds)
        if high < low:
            raise doc.error(f"{key}.uniform", f"high {bounds[1]} is below low {bounds[0]}")
        return rng.integers(low, high + 1, shape)
    return np.full(shape, _steps(doc, value, key, dt), dtype=np.int64)


def _steps(doc, value, key, dt):
    q = doc.quantity(value, key, like=brian2.ms)
    steps = float(q / dt)
    if steps < 0 or abs(steps - round(steps)) > 1e-9:
        raise doc.error(key, f"delay {q} is not a non-negative whole number of time steps ({dt})", "multiples of dt")
    return int(round(steps))


def _signs(doc, mode, key, weights, sources, groups):
    if mode == "free":  # the sign of the drawn weight: random, fixed per potential synapse
        return np.where(weights < 0, -1, 1)
    if mode == "dale":
        rows = []
        for source in sources:
            signs = groups[source].signs
            if signs is None:
                raise doc.error(key, f"'dale' signs need a top-level 'dale' section (source '{source}' has no signs)")
            rows.append(signs)
        return np.repeat(np.concatenate(rows)[:, None], weights.shape[1], axis=1)
    raise doc.error(key, f"unknown sign mode '{mode}'", "free, dale")


def _synapse(doc, override, key, target):
    if override is not None:
        doc.check_keys(override, {"model", "on_pre"}, key)
        return SynapseModel(model=str(override.get("model", "w : 1")), on_pre=str(override.get("on_pre", "")))
    if target.model.synapse is None:
        raise doc.error(key, f"target '{target.name}' ({target.model.name}) defines no synapse; give one here", "{model, on_pre}")
    return target.model.synapse
