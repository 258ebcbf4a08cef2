"""Twin gradients equal those of an independent, hand-written ALIF reference (float64)."""

import numpy as np
import torch

from lsnn_bio import load_network
from lsnn_bio.twin import Twin

NETWORK = """
network: alif_gradients
dt: 1 ms
inputs:
  x: {size: 6}
populations:
  A:
    neuron: %(models)s/alif.yaml
    size: 8
    refractory: 2 ms
    parameters: {tau_a: 300 ms, beta: 1.8 V}
readouts:
  out: {neuron: %(models)s/readout.yaml, size: 3}
projections:
  input: {source: x, target: A, weights: {init: normal, scale: 1 V}, delay: 0 ms}
  recurrent: {source: A, target: A, autapses: true, weights: {init: normal, scale: 0.5 V}, delay: 1 ms}
  readout: {source: A, target: out, weights: {init: glorot_uniform}, delay: 0 ms}
"""


class _Triangle(torch.autograd.Function):
    """The paper's pseudo-derivative, written independently of lsnn_bio."""

    @staticmethod
    def forward(ctx, x, crossed):
        ctx.save_for_backward(x)
        return crossed.double()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 0.3 * torch.clamp(1 - x.abs(), min=0), None


def reference(x, w_in, w_rec, w_out, bias, steps):
    """Brian2's schedule for ALIF + readout, by hand: decay, threshold, synapses, reset."""
    dt, tau_m, tau_a, tau_out, v_th, beta, ref = 1e-3, 20e-3, 300e-3, 20e-3, 10e-3, 1.8, 2
    alpha, rho, kappa = np.exp(-dt / tau_m), np.exp(-dt / tau_a), np.exp(-dt / tau_out)
    batch, n = x.shape[1], w_in.shape[1]
    v = torch.zeros(batch, n, dtype=torch.float64)
    b = torch.zeros_like(v)
    y = torch.zeros(batch, w_out.shape[1], dtype=torch.float64)
    last = torch.full((batch, n), -(10**9))
    z_previous = torch.zeros_like(v)
    outputs, spikes = [], []
    for t in range(steps):
        v, b, y = v * alpha, b * rho, y * kappa
        threshold = v_th + beta * b
        allowed = (t - last) >= ref
        crossed = v > threshold
        z = _Triangle.apply((v - threshold) / threshold, crossed) * allowed.double()
        last = torch.where(crossed & allowed, torch.full_like(last, t), last)
        v = v + (1 - alpha) * (x[t] @ w_in) + (1 - alpha) * (z_previous @ w_rec)
        y = y + (1 - kappa) * (z @ w_out)
        b = b + z * (1 - rho)
        v = v - z * (v_th + beta * b)
        z_previous = z
        outputs.append(y + bias)
        spikes.append(z)
    return torch.stack(outputs), torch.stack(spikes)


def test_twin_gradients_match_hand_written_alif(tmp_path, models, poisson_raster):
    path = tmp_path / "net.yaml"
    path.write_text(NETWORK % {"models": models})
    spec = load_network(path, seed=2)
    twin = Twin(spec, dtype=torch.float64)
    steps, batch = 300, 4
    x = torch.tensor(poisson_raster(steps, 6, 60.0, 1e-3, seed=1, batch=batch), requires_grad=True)
    target = torch.randn(steps, batch, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    result = twin({"x": x})
    twin_loss = ((result.outputs["out"] - target) ** 2).mean() + result.spikes["A"].mean()
    twin_loss.backward()

    x_ref = x.detach().clone().requires_grad_(True)
    leaves = {
        name: twin.effective_weight(name).detach().clone().requires_grad_(True)
        for name in ("input", "recurrent", "readout")
    }
    bias = twin.parameter("out", "bias").detach().clone().requires_grad_(True)
    outputs, spikes = reference(x_ref, leaves["input"], leaves["recurrent"], leaves["readout"], bias, steps)
    ref_loss = ((outputs - target) ** 2).mean() + spikes.mean()
    ref_loss.backward()

    rate = spikes.mean().item() / 1e-3
    assert 5 < rate < 100, f"reference network fires at {rate:.1f} Hz; the test needs activity"
    assert torch.equal(result.spikes["A"].detach(), spikes.detach())
    assert torch.allclose(twin_loss, ref_loss, rtol=0, atol=1e-12)
    for name, leaf in leaves.items():
        grad = twin.weights[name].grad
        assert leaf.grad.abs().max() > 0, f"no gradient reached {name}"
        torch.testing.assert_close(grad, leaf.grad, rtol=0, atol=1e-10, msg=f"gradient of {name} weights")
    torch.testing.assert_close(twin.parameter("out", "bias").grad, bias.grad, rtol=0, atol=1e-10)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=0, atol=1e-10)


def test_detached_reset_changes_gradients_not_values(tmp_path, models, poisson_raster):
    path = tmp_path / "net.yaml"
    path.write_text(NETWORK % {"models": models})
    spec = load_network(path, seed=2)
    x = torch.tensor(poisson_raster(200, 6, 60.0, 1e-3, seed=1, batch=2))
    grads, spikes = [], []
    for detach in (False, True):
        twin = Twin(spec, dtype=torch.float64, detach_reset=detach)
        result = twin({"x": x})
        result.outputs["out"].pow(2).mean().backward()
        grads.append(twin.weights["recurrent"].grad.clone())
        spikes.append(result.spikes["A"].detach())
    assert torch.equal(spikes[0], spikes[1])
    assert not torch.allclose(grads[0], grads[1])


def test_compiled_kernels_give_the_eager_spikes_and_gradients(tmp_path, models, poisson_raster):
    """torch.compile fuses the step and its backward; it must not change a spike, and gradients only by rounding."""
    path = tmp_path / "net.yaml"
    path.write_text(NETWORK % {"models": models})
    spec = load_network(path, seed=2)
    x = torch.tensor(poisson_raster(200, 6, 60.0, 1e-3, seed=1, batch=3))
    runs = []
    for compile in (False, True):
        twin = Twin(spec, dtype=torch.float64, compile=compile)
        result = twin({"x": x})
        (result.outputs["out"].pow(2).mean() + result.spikes["A"].mean()).backward()
        runs.append((result.spikes["A"].detach(), {n: p.grad.clone() for n, p in twin.named_parameters()}))
        assert twin._kernels(()).compiled == compile  # a failed compile would have fallen back to eager
    (eager_spikes, eager_grads), (compiled_spikes, compiled_grads) = runs
    assert eager_spikes.sum() > 0 and torch.equal(eager_spikes, compiled_spikes)
    for name, grad in eager_grads.items():
        torch.testing.assert_close(compiled_grads[name], grad, rtol=1e-9, atol=1e-12, msg=name)


def test_sparse_synapses_give_the_dense_gradients(smnist_spec, poisson_raster, monkeypatch):
    """The sMNIST network's delayed synapses run as CSR products (forward, spike gradients, weight gradients
    accumulated in place at the synapses that exist); forced dense, the same trial must give the same spikes
    and, at the synapses that exist, the same gradients."""
    from lsnn_bio.twin import delivery

    x = torch.tensor(poisson_raster(60, 80, 150.0, 1e-3, seed=4, batch=3))
    results = []
    for dense_below in (delivery.DENSE_BELOW, 10**12):
        monkeypatch.setattr(delivery, "DENSE_BELOW", dense_below)
        twin = Twin(smnist_spec, dtype=torch.float64)
        result = twin({"pixels": x})
        (result.outputs["out"].pow(2).mean() + sum(s.mean() for s in result.spikes.values())).backward()
        grads = {n: w.grad * twin.mask(n) for n, w in twin.weights.items()}
        results.append((twin.delivery.dense, torch.cat([s.flatten() for s in result.spikes.values()]), grads))
    (sparse, sparse_spikes, sparse_grads), (dense, dense_spikes, dense_grads) = results
    assert not sparse and dense
    assert sparse_spikes.sum() > 0 and torch.equal(sparse_spikes, dense_spikes)
    assert any(g.abs().sum() > 0 for g in sparse_grads.values())
    for name, g in dense_grads.items():
        torch.testing.assert_close(sparse_grads[name], g, rtol=1e-9, atol=1e-12, msg=name)
