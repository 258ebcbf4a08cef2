"""The twin behaves as a torch.nn.Module should: dtype and device moves, saving, copying, clear refusals."""

import copy
import io
import warnings

import pytest
import torch

from lsnn_bio.twin import Twin, TwinError


def inputs(dtype=torch.float64, steps=300, batch=2):
    generator = torch.Generator().manual_seed(1)
    return {"symbols": (torch.rand(steps, batch, 100, generator=generator) < 0.05).to(dtype)}


def test_double_and_to_dtype_give_the_float64_twin(store_recall_spec):
    spec = store_recall_spec
    reference = Twin(spec, dtype=torch.float64)(inputs())
    for convert in (lambda t: t.double(), lambda t: t.to(torch.float64)):
        twin = convert(Twin(spec, dtype=torch.float32))
        assert twin.dtype == torch.float64
        result = twin(inputs())
        assert result.outputs["out"].dtype == torch.float64
        for population, spikes in reference.spikes.items():
            assert torch.equal(result.spikes[population], spikes)
    back = Twin(spec, dtype=torch.float64).float()
    assert back(inputs(torch.float32)).outputs["out"].dtype == torch.float32


def test_save_load_and_deepcopy_keep_the_network(store_recall_spec):
    spec = store_recall_spec
    twin = Twin(spec, dtype=torch.float64)
    with torch.no_grad():
        twin.weight("recurrent_LIF_to_ALIF").mul_(1.5)
    expected = twin(inputs()).outputs["out"]
    buffer = io.BytesIO()
    torch.save(twin, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    for other in (loaded, copy.deepcopy(twin)):
        assert torch.equal(other(inputs()).outputs["out"], expected)
    state = Twin(spec, dtype=torch.float64)
    state.load_state_dict(twin.state_dict())
    assert torch.equal(state(inputs()).outputs["out"], expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dtype": torch.float16}, "float32, torch.float64"),
        ({"dtype": torch.bfloat16}, "float32, torch.float64"),
        ({"gamma": -1}, "gamma must be a positive number"),
        ({"width": 0}, "width must be a positive number"),
        ({"pseudo_derivative": "heaviside"}, "accepted: triangle"),
        ({"device": "tpu"}, "unknown device"),
    ],
)
def test_bad_constructor_arguments_are_refused(store_recall_spec, kwargs, message):
    spec = store_recall_spec
    with pytest.raises(TwinError, match=message):
        Twin(spec, **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(store_recall_spec):
    spec = store_recall_spec
    with pytest.raises(TwinError, match="no CUDA device"):
        Twin(spec, device="cuda")


def test_half_precision_after_construction_is_refused(store_recall_spec):
    spec = store_recall_spec
    twin = Twin(spec).half()
    with pytest.raises(TwinError, match="use .float()"):
        twin(inputs(torch.float16))


def test_bad_inputs_and_records_are_named(store_recall_spec):
    spec = store_recall_spec
    twin = Twin(spec, dtype=torch.float64)
    with pytest.raises(TwinError, match=r"exactly \['symbols'\]"):
        twin({"pixels": torch.zeros(10, 1, 100)})
    with pytest.raises(TwinError, match=r"shape \(steps, batch, 100\)"):
        twin({"symbols": torch.zeros(10, 100)})
    with pytest.raises(TwinError, match="has no variable 'w'.*accepted: A"):
        twin(inputs(), record=[("ALIF", "w")])
    with pytest.raises(TwinError, match="unknown population 'B'"):
        twin(inputs(), record=[("B", "v")])


@pytest.mark.parametrize("compile", [False, True])
def test_forward_equals_stepping_and_continues_from_a_state(store_recall_spec, compile):
    """The open-loop engine, the closed-loop step, and a trial split in two chunks all compute the same network
    (compiled, the kernels write each step's state, traces and spikes into the trial's buffers)."""
    spec = store_recall_spec
    twin = Twin(spec, dtype=torch.float64, compile=compile)
    x = inputs()
    whole = twin(x)
    state = twin.initial_state(2)
    stepped = []
    for t in range(x["symbols"].shape[0]):
        state, out = twin.step(state, {"symbols": x["symbols"][t]})
        stepped.append(out.outputs["out"])
    torch.testing.assert_close(torch.stack(stepped), whole.outputs["out"], rtol=0, atol=1e-12)
    first = twin({"symbols": x["symbols"][:170]})
    second = twin({"symbols": x["symbols"][170:]}, state=first.final_state)
    assert torch.equal(torch.cat([first.spikes["ALIF"], second.spikes["ALIF"]]), whole.spikes["ALIF"])
    torch.testing.assert_close(
        torch.cat([first.outputs["out"], second.outputs["out"]]), whole.outputs["out"], rtol=0, atol=1e-12
    )


def _gradients(twin, rasters, together):
    """Gradients of the summed loss of ``rasters``: every trial run before one backward pass, or one at a time."""
    twin.zero_grad()
    losses = []
    for x in rasters:
        result = twin({"symbols": x})
        loss = result.outputs["out"].pow(2).mean() + sum(s.mean() for s in result.spikes.values())
        if together:
            losses.append(loss)
        else:
            loss.backward()
    if together:
        sum(losses).backward()
    return {name: p.grad.clone() for name, p in twin.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("compile", [False, True])
def test_trials_alive_at_once_keep_their_own_buffers(store_recall_spec, compile):
    """The workspace lends a trial's large buffers between calls; two trials alive at once (two losses summed, BPTT
    across ``twin.step``) must not share them, and reusing them must not change a bit."""
    twin = Twin(store_recall_spec, dtype=torch.float64, compile=compile)
    generator = torch.Generator().manual_seed(3)
    rasters = [(torch.rand(120, 3, 100, generator=generator) < 0.08).double() for _ in range(2)]
    alone = _gradients(twin, rasters, together=False)
    assert alone and all(g.abs().sum() > 0 for g in alone.values())
    for together in (True, False, True):
        again = _gradients(twin, rasters, together)
        assert again.keys() == alone.keys()
        for name, g in alone.items():
            torch.testing.assert_close(again[name], g, rtol=1e-12, atol=1e-15, msg=name)
    fresh = _gradients(Twin(store_recall_spec, dtype=torch.float64, compile=compile), rasters, together=False)
    for name, g in alone.items():
        assert torch.equal(fresh[name], g), name


@pytest.mark.parametrize("batch, compile", [(1, False), (3, False), (1, True)])
def test_a_final_state_survives_the_next_trial(store_recall_spec, batch, compile):
    """A trial's final state (spikes still travelling included) is the caller's: the buffers the next trial borrows
    from the workspace must not be in it, whatever the batch (with one trial a permuted slice is already contiguous)."""
    twin = Twin(store_recall_spec, dtype=torch.float64, compile=compile)
    x = inputs(steps=50, batch=batch)
    with torch.no_grad():
        state = twin(x).final_state
        kept = [t.clone() for t in state.neurons] + [state.history.clone()]
        twin({"symbols": 1 - x["symbols"]})  # another trial, other spikes
    assert state.history.abs().sum() > 0
    for before, now in zip(kept, list(state.neurons) + [state.history]):
        assert torch.equal(before, now)


@pytest.mark.parametrize(
    "loss",
    [
        lambda r: r.outputs["out"].sum() + r.spikes["ALIF"].sum(),  # gradients expanded: stride 0
        lambda r: r.outputs["out"].permute(1, 2, 0).contiguous().pow(2).mean(),  # permuted; no spike term
        lambda r: r.outputs["out"][-5:].pow(2).mean(),  # zero before the last steps
    ],
    ids=["sum", "permuted", "last-steps"],
)
def test_compiled_gradients_accept_any_loss(store_recall_spec, loss):
    """Autograd hands the trial its outputs' gradients in whatever layout the loss made (expanded, permuted, None);
    the compiled kernels must take each and give the eager gradients."""
    generator = torch.Generator().manual_seed(5)
    x = (torch.rand(60, 3, 100, generator=generator) < 0.08).double()
    grads = []
    for compile in (False, True):
        twin = Twin(store_recall_spec, dtype=torch.float64, compile=compile)
        loss(twin({"symbols": x})).backward()
        assert twin._kernels(()).compiled == compile
        grads.append({n: p.grad.clone() for n, p in twin.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and any(g.abs().sum() > 0 for g in grads[0].values())
    for name, g in grads[0].items():
        torch.testing.assert_close(grads[1][name], g, rtol=1e-9, atol=1e-12, msg=name)


def test_a_failed_compile_falls_back_to_eager_with_one_warning(store_recall_spec, monkeypatch):
    """No C++ compiler, an unsupported device: the compiled twin says so once and computes the eager results."""
    import torch._inductor.compile_fx

    def fail(*args, **kwargs):
        raise RuntimeError("no compiler here\nsecond line")

    monkeypatch.setattr(torch._inductor.compile_fx, "compile_fx", fail)
    x = inputs(steps=40, batch=2)
    runs = []
    for compile in (True, False):
        twin = Twin(store_recall_spec, dtype=torch.float64, compile=compile)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = twin(x)
            result.outputs["out"].pow(2).mean().backward()
        messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
        assert messages == (
            [
                "compiling the twin's step failed (RuntimeError: no compiler here); running eagerly "
                "(same results, slower)"
            ]
            if compile
            else []
        )
        assert not twin._kernels(()).compiled
        runs.append((result.spikes["ALIF"], [p.grad.clone() for p in twin.parameters() if p.grad is not None]))
    assert torch.equal(runs[0][0], runs[1][0])
    for a, b in zip(runs[0][1], runs[1][1]):
        assert torch.equal(a, b)


def test_a_state_of_other_trials_and_steps_that_disagree_are_refused(store_recall_spec):
    """A final state continues the same trials; ``steps=`` is for networks without inputs, never ignored."""
    twin = Twin(store_recall_spec, dtype=torch.float64)
    result = twin(inputs(steps=20, batch=2))
    with pytest.raises(TwinError, match="state: it holds 2 trials, the inputs 3"):
        twin(inputs(steps=20, batch=3), state=result.final_state)
    with pytest.raises(TwinError, match="steps=30 disagrees with the inputs' 20 steps"):
        twin(inputs(steps=20, batch=2), steps=30)
    assert twin(inputs(steps=20, batch=2), steps=20, state=result.final_state).final_state.step == 40


def test_a_state_of_another_dtype_is_refused_and_one_with_gradients_is_named(store_recall_spec):
    """A float64 state in a float32 twin was accepted silently; a state built by ``twin.step`` carries gradients
    that ``twin(...)`` does not follow, which must not pass unsaid."""
    double = Twin(store_recall_spec, dtype=torch.float64)
    single = Twin(store_recall_spec, dtype=torch.float32)
    final = double(inputs(steps=20)).final_state
    for continued in (
        lambda: single(inputs(torch.float32, steps=20), state=final),
        lambda: single.step(final, {"symbols": inputs(torch.float32, steps=1)["symbols"][0]}),
    ):
        with pytest.raises(TwinError, match="state: it is torch.float64 on cpu, the twin torch.float32 on cpu"):
            continued()
    stepped = double.initial_state(2)
    for row in inputs(steps=5)["symbols"]:
        stepped, _ = double.step(stepped, {"symbols": row})
    with pytest.warns(RuntimeWarning, match="state carries gradients") as caught:
        double(inputs(steps=20), state=stepped)
    assert caught[0].filename == __file__  # the user's line, not torch's Module wrapper
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.no_grad():
            double(inputs(steps=20), state=stepped)  # nothing to differentiate, nothing to say


@pytest.mark.parametrize(
    "value, shown",
    [(0.1, "0.1"), (2.0, "2"), (float("nan"), "nan"), (-1.0, "-1"), (float("inf"), "inf")],
    ids=["rate", "count", "nan", "negative", "inf"],
)
def test_inputs_that_are_not_spikes_are_refused(store_recall_spec, value, shown):
    """A rate map passed for sampled spikes would run as scaled spikes that Brian2 cannot replay."""
    twin = Twin(store_recall_spec, dtype=torch.float64)
    x = inputs(torch.float32, steps=20)  # float32: 0.1 must still read as 0.1
    x["symbols"][7, 1, 42] = value
    with pytest.raises(TwinError, match=rf"input 'symbols' holds {shown} at \(step, trial, neuron\) \(7, 1, 42\)"):
        twin(x)
    with pytest.raises(TwinError, match=rf"step input 'symbols' holds {shown} at \(trial, neuron\) \(1, 42\)"):
        twin.step(twin.initial_state(2), {"symbols": x["symbols"][7]})
    spikes = inputs(steps=20)["symbols"]
    from_bool = twin({"symbols": spikes.bool()})  # bool rasters are spikes: the same trial, nothing to check
    assert torch.equal(from_bool.outputs["out"], twin({"symbols": spikes}).outputs["out"])
