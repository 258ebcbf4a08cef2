"""DEEP R keeps the reference's invariants (section 2.1) on real twin gradients."""

import io
import math

import numpy as np
import pytest
import torch

from lsnn_bio.training.rewiring import DeepR
from lsnn_bio.twin import Twin

STEPS, BATCH = 20, 4


def batches(poisson_raster, count, seed=0):
    """Fixed inputs and targets, so that two runs see the same gradients."""
    rng = np.random.default_rng(seed)
    for k in range(count):
        x = torch.tensor(
            poisson_raster(STEPS, 10, 100.0, 1e-3, seed=seed * 10_000 + k, batch=BATCH), dtype=torch.float32
        )
        yield {"x": x}, torch.tensor(rng.standard_normal((BATCH, 2)), dtype=torch.float32)


def train_step(twin, deepr, optimizer, inputs, target):
    optimizer.zero_grad()
    out = twin(inputs).outputs["out"]
    loss = ((out.mean(0) - target) ** 2).mean()
    loss.backward()
    deepr.step(optimizer)


def snapshot(twin, names):
    return {n: (twin.weights[n].detach().clone(), twin.mask(n).clone()) for n in names}


def trajectory(spec, poisson_raster):
    """200 DEEP R steps with strong L1 and noise; per-step records of every invariant."""
    twin = Twin(spec)
    deepr = DeepR(twin, l1=1.0, temperature=0.05, seed=1)
    optimizer = torch.optim.Adam(twin.parameters(), lr=1e-2)
    names = deepr.projections
    signs = {n: twin.sign(n) for n in names}
    records, previous = [], snapshot(twin, names)
    initial_counts = deepr.connection_counts()
    for inputs, target in batches(poisson_raster, 200):
        train_step(twin, deepr, optimizer, inputs, target)
        now = snapshot(twin, names)
        record = {
            "count": deepr.connection_count(),
            "counts": deepr.connection_counts(),
            "woken": 0,
            "slept": 0,
            "wrong_sign": 0,
            "dormant_nonzero": 0,
            "mask_mismatch": 0,
            "autapses": 0,
        }
        for n in names:
            w, mask = now[n]
            theta = w * signs[n]
            record["woken"] += int((mask & ~previous[n][1]).sum())
            record["slept"] += int((~mask & previous[n][1]).sum())
            record["wrong_sign"] += int((theta < 0).sum())
            record["dormant_nonzero"] += int((w[~mask] != 0).sum())
            record["mask_mismatch"] += int((mask != (theta > 0)).sum())
            if _projection(twin, n).source == _projection(twin, n).target:
                record["autapses"] += int(mask.diagonal().sum()) + int((w.diagonal() != 0).sum())
        records.append(record)
        previous = now
    return deepr, initial_counts, records


def test_deepr_invariants_hold_over_200_steps(deepr_spec, poisson_raster):
    deepr, initial_counts, records = trajectory(deepr_spec, poisson_raster)
    # The count stays at the budget while synapses are rewired.
    assert deepr.budget == sum(initial_counts.values())
    assert all(r["count"] == deepr.budget for r in records)
    woken = sum(r["woken"] for r in records)
    assert woken > deepr.budget  # many synapses died and were replaced, several times over the budget
    assert woken == sum(r["slept"] for r in records)
    # The budget is global: synapses migrate between matrices.
    assert any(records[-1]["counts"][n] != initial_counts[n] for n in initial_counts)
    # Signs stay fixed and dormant weights zero.
    for r in records:
        assert r["wrong_sign"] == 0 and r["dormant_nonzero"] == 0 and r["mask_mismatch"] == 0
    # Autapses are never connected; not vacuous: the self-projections took part in the rewiring.
    assert all(r["autapses"] == 0 for r in records)
    twin = deepr.twin
    for name in ("recurrent_L_to_L", "recurrent_A_to_A"):
        assert _projection(twin, name).source == _projection(twin, name).target
        assert any(r["counts"][name] != records[0]["counts"][name] for r in records)


def test_matches_plain_adam_when_nothing_crosses_zero(smnist_spec, poisson_raster):
    """Dense gradients + guard + budget reduce to masked Adam when no synapse changes state."""
    steps, n_updates = 30, 3
    twin, reference = Twin(smnist_spec), Twin(smnist_spec)
    for name in twin.weights:
        assert torch.equal(twin.weights[name], reference.weights[name])
    deepr = DeepR(twin, l1=0.0, temperature=0.0)
    assert twin.dense_gradient and not reference.dense_gradient
    smallest = min(float(w.detach()[twin.mask(n)].abs().min()) for n, w in twin.weights.items())
    lr = smallest / (10 * n_updates)  # Adam moves each entry by at most ~3 lr per step
    optimizers = torch.optim.Adam(twin.parameters(), lr=lr), torch.optim.Adam(reference.parameters(), lr=lr)
    initial_masks = {n: twin.mask(n).clone() for n in twin.weights}
    initial = {n: w.detach().clone() for n, w in twin.weights.items()}
    rng = np.random.default_rng(5)
    for _ in range(n_updates):
        x = torch.tensor(
            poisson_raster(steps, 80, 200.0, 1e-3, seed=int(rng.integers(1 << 30)), batch=2), dtype=torch.float32
        )
        target = torch.tensor(rng.standard_normal((2, 10)), dtype=torch.float32)
        for net, optimizer in zip((twin, reference), optimizers):
            optimizer.zero_grad()
            loss = ((net({"pixels": x}).outputs["out"].mean(0) - target) ** 2).mean()
            loss.backward()
        deepr.step(optimizers[0])
        optimizers[1].step()
    for name in twin.weights:
        mask = twin.mask(name)
        assert torch.equal(mask, initial_masks[name]), f"{name}: a synapse crossed zero, lower the learning rate"
        assert torch.equal(twin.weights[name], reference.weights[name] * mask), name
        assert torch.equal(reference.weights[name][~mask], torch.zeros_like(reference.weights[name][~mask]))
    assert torch.equal(twin.parameter("out", "bias"), reference.parameter("out", "bias"))
    assert any(not torch.equal(twin.weights[n], initial[n]) for n in twin.weights)  # it did train


def test_state_dict_resumes_bit_identically(deepr_spec, poisson_raster):
    def fresh(seed):
        twin = Twin(deepr_spec)
        deepr = DeepR(twin, l1=1.0, temperature=0.05, seed=seed)
        return twin, deepr, torch.optim.Adam(twin.parameters(), lr=1e-2)

    data = list(batches(poisson_raster, 30, seed=2))
    twin, deepr, optimizer = fresh(seed=4)
    for inputs, target in data[:15]:
        train_step(twin, deepr, optimizer, inputs, target)
    buffer = io.BytesIO()
    torch.save({"twin": twin.state_dict(), "optimizer": optimizer.state_dict(), "deepr": deepr.state_dict()}, buffer)
    for inputs, target in data[15:]:
        train_step(twin, deepr, optimizer, inputs, target)

    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    twin2, deepr2, optimizer2 = fresh(seed=99)  # another seed: the generator state must come from the checkpoint
    twin2.load_state_dict(checkpoint["twin"])
    optimizer2.load_state_dict(checkpoint["optimizer"])
    deepr2.load_state_dict(checkpoint["deepr"])
    assert deepr2.connection_count() == deepr2.budget == deepr.budget
    for inputs, target in data[15:]:
        train_step(twin2, deepr2, optimizer2, inputs, target)
    for name in twin.weights:
        assert torch.equal(twin.weights[name], twin2.weights[name]), name
        assert torch.equal(twin.mask(name), twin2.mask(name)), name
    assert torch.equal(deepr.generator.get_state(), deepr2.generator.get_state())


def test_construction_tops_up_to_the_requested_connectivity(smnist_spec):
    """Pairs drawn with replacement start below p; the reference tops up at the first update."""
    twin = Twin(smnist_spec)
    before = {n: int(twin.mask(n).sum()) for n in twin.weights}
    deepr = DeepR(twin, connectivity=0.12)
    assert deepr.budget == math.floor(sum(w.numel() * 0.12 for w in twin.weights.values()))
    assert deepr.connection_count() == deepr.budget > sum(before.values())
    new = sum(int((w.abs() == torch.tensor(1e-12, dtype=w.dtype)).sum()) for w in twin.weights.values())
    assert new == deepr.budget - sum(before.values())
    for name in ("recurrent_LIF_to_LIF", "recurrent_ALIF_to_ALIF"):
        assert not twin.mask(name).diagonal().any()
    assert "budget=" in repr(deepr)


def test_projections_left_out_keep_their_topology(deepr_spec, poisson_raster):
    """Dense gradients reach every matrix; the ones not rewired must not grow synapses."""
    twin = Twin(deepr_spec)
    fixed = [n for n in twin.weights if not n.startswith("recurrent")]
    masks = {n: twin.mask(n).clone() for n in fixed}
    deepr = DeepR(twin, projections=[n for n in twin.weights if n.startswith("recurrent")], l1=1.0, temperature=0.05)
    optimizer = torch.optim.Adam(twin.parameters(), lr=1e-2)
    for inputs, target in batches(poisson_raster, 5, seed=3):
        train_step(twin, deepr, optimizer, inputs, target)
    for name in fixed:
        assert torch.equal(twin.mask(name), masks[name])
        assert not twin.weights[name][~masks[name]].any(), name
    assert deepr.connection_count() == deepr.budget


def test_rejects_bad_arguments(deepr_spec):
    twin = Twin(deepr_spec)
    with pytest.raises(ValueError, match="unknown projections"):
        DeepR(twin, projections=["nope"])
    with pytest.raises(ValueError, match="more than the budget"):
        DeepR(twin, connectivity=0.05)  # the network starts at ~0.3
    with pytest.raises(ValueError, match="exceeds"):
        DeepR(twin, connectivity=1.0)  # autapse positions may not be used


def _projection(twin, name):
    return next(p for p in twin.spec.projections if p.name == name)
