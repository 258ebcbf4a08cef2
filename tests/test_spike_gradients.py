"""Weight gradients of delayed synapses: the C kernel that sums over the spikes that exist, and its fallback."""

import warnings

import pytest
import torch

from lsnn_bio.twin import Twin, native


def _direct(history, gradients, past, pre, post, delay):
    """sum_{s, b} z[s, pre_k, b] G[s + d_k, post_k, b], written out for each synapse (float64)."""
    rows = history.shape[0]
    h, g = history.double(), gradients.double()
    return torch.stack([(h[:, i, :] * g[d : d + rows, j, :]).sum() for i, j, d in zip(pre, post, delay)])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch, threads", [(1, 1), (17, 2), (40, 3)])
def test_the_kernel_equals_the_direct_sum(dtype, batch, threads):
    """Random synapses (some sources without any), delays from 0 to the largest, spikes of any value (inputs need
    not be 0/1) before and during the trial, batches that are no multiple of the kernel's block, several threads."""
    generator = torch.Generator().manual_seed(batch)
    past, steps, n_sources, n_cat, lags = 4, 30, 9, 7, 5
    rows = past + steps
    history = torch.rand(rows, n_sources, batch, generator=generator)
    history = torch.where(history < 0.15, torch.rand(history.shape, generator=generator) * 3 - 1, 0.0).to(dtype)
    gradients = torch.zeros(rows + lags + 2, n_cat, batch, dtype=dtype)
    gradients[past : past + steps] = torch.randn(steps, n_cat, batch, generator=generator, dtype=dtype)
    pre = torch.randint(0, n_sources - 2, (60,), generator=generator).sort().values  # sources 7 and 8: no synapse
    post = torch.randint(0, n_cat, (60,), generator=generator)
    delay = torch.randint(0, lags, (60,), generator=generator)
    delay[:2] = torch.tensor([0, lags - 1])
    row_start = torch.zeros(n_sources + 1, dtype=torch.int64)
    row_start[1:] = torch.bincount(pre, minlength=n_sources).cumsum(0)
    if native.library() is None:
        pytest.skip("no C compiler on this machine (the twin falls back to torch's products; tested below)")
    result = native.spike_gradients(
        history, gradients, past, lags, row_start, post.to(torch.int32), delay.to(torch.int32), threads
    )
    expected = _direct(history, gradients, past, pre, post, delay)
    assert expected.abs().max() > 0
    torch.testing.assert_close(result, expected, rtol=1e-5 if dtype == torch.float32 else 1e-12, atol=1e-9)


def _weight_gradients(spec, x, use_native, dense_gradient, monkeypatch):
    with monkeypatch.context() as patch:
        if not use_native:
            patch.setattr(native, "available", lambda device: False)
        twin = Twin(spec, dtype=torch.float64)
        twin.dense_gradient = dense_gradient
        first = twin({"pixels": x[:25]})
        result = twin({"pixels": x[25:]}, state=first.final_state)
        (result.outputs["out"].pow(2).sum() + sum(s.sum() for s in result.spikes.values())).backward()
    return twin, {name: w.grad for name, w in twin.weights.items()}


@pytest.mark.parametrize("dense_gradient", [False, True])
def test_the_kernel_gives_torchs_gradients(smnist_spec, poisson_raster, monkeypatch, dense_gradient):
    """The sMNIST network's weight gradients from the C kernel equal those of torch's sparse products, for the
    synapses that exist and (DEEP R) for every potential synapse at its own delay, in a trial continued from a
    state (spikes pushed before it still arrive)."""
    if native.library() is None:
        pytest.skip("no C compiler on this machine")
    x = torch.tensor(poisson_raster(60, 80, 150.0, 1e-3, seed=4, batch=3))
    twin, kernel = _weight_gradients(smnist_spec, x, True, dense_gradient, monkeypatch)
    assert not twin.delivery.dense
    _, products = _weight_gradients(smnist_spec, x, False, dense_gradient, monkeypatch)
    for name, g in products.items():
        assert g.abs().sum() > 0, name
        torch.testing.assert_close(kernel[name], g, rtol=1e-10, atol=1e-13, msg=name)


@pytest.mark.parametrize("path", ["dense", "products", "kernel", "kernel, DEEP R"])
def test_a_continued_trial_differentiates_the_spikes_still_travelling(smnist_spec, poisson_raster, monkeypatch, path):
    """A trial continued from a state receives spikes pushed before it; its weight gradients must include them,
    as ``twin.step`` (plain autograd through the same steps, from the same state) does. Each way the engine
    computes weight gradients: dense matrices, torch's sparse products, the C kernel (with DEEP R's dense
    gradient too)."""
    from lsnn_bio.twin import delivery

    if path.startswith("kernel") and native.library() is None:
        pytest.skip("no C compiler on this machine")
    monkeypatch.setattr(delivery, "DENSE_BELOW", 10**12 if path == "dense" else delivery.DENSE_BELOW)
    if path == "products":
        monkeypatch.setattr(native, "available", lambda device: False)
    twin = Twin(smnist_spec, dtype=torch.float64)
    twin.dense_gradient = path == "kernel, DEEP R"
    x = torch.tensor(poisson_raster(40, 80, 200.0, 1e-3, seed=5, batch=2))
    with torch.no_grad():
        start = twin({"pixels": x[:20]}).final_state
    assert start.history.abs().sum() > 0

    def gradients(loss):
        twin.zero_grad()
        loss.backward()
        return {name: w.grad.clone() for name, w in twin.weights.items()}

    result = twin({"pixels": x[20:]}, state=start)
    whole = gradients(result.outputs["out"].pow(2).sum() + sum(s.sum() for s in result.spikes.values()))
    state, loss = start, 0
    for t in range(20, 40):
        state, out = twin.step(state, {"pixels": x[t]})
        loss = loss + out.outputs["out"].pow(2).sum() + sum(s.sum() for s in out.spikes.values())
    stepped = gradients(loss)
    for name, g in stepped.items():
        assert g.abs().sum() > 0, name
        torch.testing.assert_close(whole[name], g, rtol=1e-10, atol=1e-12, msg=name)


def test_without_a_compiler_the_twin_says_so_once_and_uses_torch(smnist_spec, poisson_raster, monkeypatch, tmp_path):
    """A machine without a C compiler gets one warning and torch's products: the same gradients."""
    x = torch.tensor(poisson_raster(30, 80, 150.0, 1e-3, seed=6, batch=2))

    def gradients():
        twin = Twin(smnist_spec, dtype=torch.float64)
        result = twin({"pixels": x})
        (result.outputs["out"].pow(2).sum() + sum(s.sum() for s in result.spikes.values())).backward()
        return {name: w.grad for name, w in twin.weights.items()}

    expected = gradients()
    monkeypatch.setattr(native, "_loaded", {})
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("LSNN_BIO_CACHE", str(tmp_path / "cache"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first, second = gradients(), gradients()
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "could not be compiled" in messages[0] and "same gradients" in messages[0]
    assert native.library() is None
    for name, g in expected.items():
        torch.testing.assert_close(first[name], g, rtol=1e-10, atol=1e-13, msg=name)
        assert torch.equal(first[name], second[name])
