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
@pytest.mark.parametrize("batch, threads", [(1, 1), (17, 2), (70, 2), (40, 3)])
def test_the_kernel_equals_the_direct_sum(dtype, batch, threads):
    """Random synapses (some sources without any), delays from 0 to the largest, spikes of any value (inputs need
    not be 0/1) before and during the trial, batches that are no multiple of the kernel's block, several threads."""
    generator = torch.Generator().manual_seed(batch)
    past, steps, n_sources, n_cat, lags = 4, 30, 9, 37, 5
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


def _gradients(spec, x, use_native, dense_gradient, monkeypatch, dtype=torch.float64):
    """Weight (and input) gradients of a trial continued from the state another trial left."""
    with monkeypatch.context() as patch:
        if not use_native:
            patch.setattr(native, "available", lambda device: False)
        twin = Twin(spec, dtype=dtype)
        twin.dense_gradient = dense_gradient
        first = twin({"pixels": x[:25].to(dtype)})
        second = x[25:].to(dtype).requires_grad_()
        result = twin({"pixels": second}, state=first.final_state)
        (result.outputs["out"].pow(2).sum() + sum(s.sum() for s in result.spikes.values())).backward()
    return twin, {"input": second.grad, **{name: w.grad for name, w in twin.weights.items()}}


@pytest.mark.parametrize(
    "dense_gradient, dtype, threads, batch",
    [
        (False, torch.float64, 1, 3),
        (True, torch.float64, 1, 3),
        (False, torch.float32, 2, 40),
        (True, torch.float32, 2, 40),
    ],
)
def test_the_kernel_gives_torchs_gradients(
    smnist_spec, poisson_raster, monkeypatch, dense_gradient, dtype, threads, batch
):
    """The sMNIST network's weight gradients from the C kernel equal those of torch's sparse products, for the
    synapses that exist and (DEEP R) for every potential synapse at its own delay, in a trial continued from a
    state (spikes pushed before it still arrive), with inputs that want gradients too; in float64 on one thread
    and as training runs, float32 on two threads sharing a batch."""
    if native.library() is None:
        pytest.skip("no C compiler on this machine")
    x = torch.tensor(poisson_raster(60, 80, 150.0, 1e-3, seed=4, batch=batch))
    threads_before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        twin, kernel = _gradients(smnist_spec, x, True, dense_gradient, monkeypatch, dtype)
        _, products = _gradients(smnist_spec, x, False, dense_gradient, monkeypatch, dtype)
    finally:
        torch.set_num_threads(threads_before)
    assert not twin.delivery.dense
    for name, g in products.items():
        assert g.abs().sum() > 0, name
        scale = float(g.abs().max())  # float32: each sums thousands of terms in its own order
        tolerance = dict(rtol=1e-10, atol=1e-13) if dtype == torch.float64 else dict(rtol=0, atol=1e-5 * scale)
        torch.testing.assert_close(kernel[name], g, **tolerance, msg=name)


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


@pytest.mark.parametrize("compiler", ["missing", "failing"])
def test_without_a_compiler_the_twin_says_so_once_and_uses_torch(
    smnist_spec, poisson_raster, monkeypatch, tmp_path, compiler
):
    """A machine without a C compiler (or one that fails) gets one warning and torch's products: the same
    gradients."""
    x = torch.tensor(poisson_raster(30, 80, 150.0, 1e-3, seed=6, batch=2))

    def gradients():
        twin = Twin(smnist_spec, dtype=torch.float64)
        result = twin({"pixels": x})
        (result.outputs["out"].pow(2).sum() + sum(s.sum() for s in result.spikes.values())).backward()
        return {name: w.grad for name, w in twin.weights.items()}

    expected = gradients()
    monkeypatch.setattr(native, "_loaded", {})
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler") if compiler == "missing" else "false")
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


def test_the_kernel_refuses_tables_that_would_read_outside_its_buffers():
    """The kernel trusts its tables; the wrapper checks them first."""
    if native.library() is None:
        pytest.skip("no C compiler on this machine")
    history, gradients = torch.zeros(5, 3, 4), torch.zeros(8, 2, 4)
    row_start = torch.tensor([0, 1, 1, 2])
    good = dict(post=torch.tensor([0, 1], dtype=torch.int32), delay=torch.tensor([1, 2], dtype=torch.int32))
    assert native.spike_gradients(history, gradients, 2, 3, row_start, **good, threads=1).shape == (2,)
    bad = [
        (dict(good, post=torch.tensor([0, 2], dtype=torch.int32)), "post in"),
        (dict(good, delay=torch.tensor([1, 3], dtype=torch.int32)), "delays in"),
        (dict(good, delay=torch.tensor([1], dtype=torch.int32)), "offsets"),
    ]
    for tables, message in bad:
        with pytest.raises(ValueError, match=message):
            native.spike_gradients(history, gradients, 2, 3, row_start, **tables, threads=1)
    with pytest.raises(ValueError, match="7 or more"):
        native.spike_gradients(history, gradients[:6], 2, 3, row_start, **good, threads=1)
    with pytest.raises(ValueError, match="sorted rows"):
        native.spike_gradients(history, gradients, 2, 3, torch.tensor([0, 2, 1, 2]), **good, threads=1)


def test_warnings_reach_the_user_after_the_package_is_imported():
    """Brian2 captures every Python warning into its logger, which the package quiets to errors: without undoing
    that, the kernel's (and the compiler's) fallback warnings, and the user's own, were never shown."""
    import subprocess
    import sys

    code = "import lsnn_bio, warnings; warnings.warn('shown to the user', RuntimeWarning)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "RuntimeWarning: shown to the user" in run.stderr
