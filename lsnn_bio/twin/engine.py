"""BPTT through whole trials with the generated step: a forward loop and a backward loop.

Autograd recording every operation of every step would keep every intermediate
tensor and pay per-operation overhead thousands of times per trial. Instead one
``torch.autograd.Function`` covers the whole trial: the forward loop keeps only
each step's inputs (the state and the delivered currents) and the history of
pushed spikes; the backward loop walks back through the steps calling the
step's vector-Jacobian product (``torch.func.vjp`` of the same generated
function: it recomputes the step's intermediates, so nothing else is stored)
and the synapses' transposed products, whose cost follows the synapses that
exist. Both loops call ``Kernels``, the step and its vjp, eager or compiled by
``torch.compile`` into fused kernels.
"""
import contextlib
import warnings

import torch

from ..errors import LsnnBioError


class Kernels:
    """The generated step as a forward function and a backward (vjp) function, eager or compiled.

    With ``compile``, ``torch.compile`` fuses each into a few kernels. Should
    compiling fail (no C++ compiler, an unsupported device), the kernels say so
    once and run eagerly: the results are the same, only slower.
    """

    def __init__(self, function, compile=False):
        def forward(state, drive, params, consts, t_steps):
            return function(state, drive, params, consts, t_steps)

        def backward(state, drive, params, consts, t_steps, cotangent):
            _, pullback = torch.func.vjp(lambda s, d, p: function(s, d, p, consts, t_steps), state, drive, params)
            return pullback(cotangent)

        self.eager = {"forward": forward, "backward": backward}
        self.active = dict(self.eager)
        if compile:
            self.active = {name: torch.compile(f, fullgraph=True) for name, f in self.eager.items()}

    @property
    def compiled(self):
        return self.active["forward"] is not self.eager["forward"]

    def forward(self, *args):
        return self._call("forward", args)

    def backward(self, *args):
        return self._call("backward", args)

    def steady(self):
        """Within one trial every step has the same shapes, dtypes and devices: once the first step has
        passed torch.compile's guards, the others may skip evaluating them (a measurable per-step cost)."""
        if not self.compiled:
            return contextlib.nullcontext()
        return torch.compiler.set_stance("default", skip_guard_eval_unsafe=True)

    def _call(self, name, args):
        function = self.active[name]
        if function is self.eager[name]:
            return function(*args)
        try:
            return function(*args)
        except Exception as error:  # compilation failed: the eager step computes the same, or raises the real error
            result = self.eager[name](*args)
            self.active = dict(self.eager)
            warnings.warn(f"torch.compile of the twin's step failed ({type(error).__name__}: "
                          f"{str(error).strip().splitlines()[0][:200]}); running eagerly (same results, slower)",
                          RuntimeWarning, stacklevel=4)
            return result


class Trial:
    """One pass over ``steps`` time steps: everything the backward loop needs from the forward loop."""

    def __init__(self, twin, generated, kernels, inputs, state, record_grad, shape, input_grad=False):
        self.twin, self.generated, self.kernels = twin, generated, kernels
        self.layout = generated.layout
        self.types = generated.types
        self.inputs = inputs
        self.start = state
        self.record_grad = record_grad
        self.shape = shape  # (steps, batch)
        self.input_grad = input_grad  # inputs are among the differentiable tensors (last)

    # ------------------------------------------------------------------ forward

    def forward(self, tensors):
        twin, layout, types = self.twin, self.layout, self.types
        self.tensors = tensors
        delayed, params = self._split(tensors)
        if self.input_grad:
            self.inputs = dict(zip(self.inputs, tensors[len(tensors) - len(self.inputs):]))
        steps, batch = self.steps, self.batch = self.inputs_shape()
        device, dtype = twin.device, twin.dtype
        self.prepared = {s: line.prepare(delayed_for(line, delayed), twin.delays_of(line), twin.masks_of(line))
                         for s, line in twin.lines.items()}
        self.history = {}
        for source, line in twin.lines.items():
            padded = torch.zeros(steps + line.max_delay, line.size, batch, dtype=dtype, device=device)
            start = self.start.history.get(source)
            if start is not None:  # the last max_delay steps' pushed spikes, oldest first
                padded[:line.max_delay] = start.permute(0, 2, 1)
            if line.is_input:
                padded[line.max_delay:] = self.inputs[source].permute(0, 2, 1)
            self.history[source] = padded
        self.params = types["Params"](*params)
        self.consts = twin.consts(types["Consts"])
        self.times = torch.arange(self.start.step, self.start.step + steps, dtype=dtype, device=device)
        self.outputs = {name: torch.empty(steps, batch, size, dtype=dtype, device=device)
                        for name, size in twin.output_sizes(layout).items()}
        self.states, self.drives = [], []
        state = self.start.neurons
        for t in range(min(steps, 1)):
            state = self._forward_step(t, state)
        with self.kernels.steady():
            for t in range(1, steps):
                state = self._forward_step(t, state)
        self.final = state
        return tuple(self.outputs[name] for name in layout.outputs if not name.startswith("pushed__"))

    def _forward_step(self, t, state):
        drive = self._drive(t)
        if self.record_grad:
            self.states.append(state)
            self.drives.append(drive)
        state, out = self.kernels.forward(state, drive, self.params, self.consts, self.times[t])
        for name, value in zip(out._fields, out):
            if name.startswith("pushed__"):
                source = name[len("pushed__"):]
                self.history[source][t + self.twin.lines[source].max_delay].copy_(value.T)
            else:
                self.outputs[name][t] = value
        return state

    def inputs_shape(self):
        return self.shape

    def _drive(self, t):
        currents = {}
        for source, line in self.twin.lines.items():
            window = self.history[source][t:t + line.lags].reshape(line.lags * line.size, -1)
            for route, value in line.split(line.current(self.prepared[source], window)).items():
                currents[route] = value if route not in currents else currents[route] + value
        return self.types["Drive"](*(currents[name] for name in self.layout.drive))

    def _split(self, tensors):
        count = len(self.twin.delayed_projections)
        delayed = dict(zip(self.twin.delayed_projections, tensors[:count]))
        end = len(tensors) - (len(self.inputs) if self.input_grad else 0)
        return delayed, tensors[count:end]

    def final_state(self):
        from .module import TwinState

        history = {source: self.history[source][self.steps:].permute(0, 2, 1).contiguous() for source in self.history}
        return TwinState(self.final, history, self.start.step + self.steps)

    # ------------------------------------------------------------------ backward

    def backward(self, gradients):
        twin, layout, types = self.twin, self.layout, self.types
        steps, batch = self.steps, self.batch
        delayed, _ = self._split(self.tensors)
        named = dict(zip([n for n in layout.outputs if not n.startswith("pushed__")], gradients))
        zero = {name: torch.zeros(batch, size, dtype=twin.dtype, device=twin.device)
                for name, size in twin.output_sizes(layout).items()}
        history_grad = {s: torch.zeros_like(self.history[s]) for s, line in twin.lines.items()
                        if self.input_grad or not line.is_input}
        dense_gradient = twin.dense_gradient
        all_synapses = {s: line for s, line in twin.lines.items() if dense_gradient and self.prepared[s].dense is None}
        drive_grads = {s: torch.empty(steps, batch, line.n_cat, dtype=twin.dtype, device=twin.device)
                       for s, line in all_synapses.items()}
        self.gradients = dict(named=named, zero=zero, history=history_grad, all_synapses=all_synapses,
                              drive=drive_grads, params=[torch.zeros_like(p) for p in self.params])
        cot_state = types["State"](*(torch.zeros_like(x) for x in self.final))
        for t in range(steps - 1, max(steps - 2, -1), -1):
            cot_state = self._backward_step(t, cot_state)
        with self.kernels.steady():
            for t in range(steps - 2, -1, -1):
                cot_state = self._backward_step(t, cot_state)
        param_grads = self.gradients["params"]
        weight_grads = {}
        for source, line in twin.lines.items():
            extra = (self.history[source], drive_grads[source]) if source in all_synapses else (None, None)
            weight_grads.update(line.weight_gradients(self.prepared[source], delayed_for(line, delayed),
                                                      twin.delays_of(line), *extra))
        input_grads = ()
        if self.input_grad:
            input_grads = tuple(history_grad[s][twin.lines[s].max_delay:].permute(0, 2, 1) if s in twin.lines
                                else torch.zeros_like(x) for s, x in self.inputs.items())
        return tuple(weight_grads[name] for name in twin.delayed_projections) + tuple(param_grads) + input_grads

    def _backward_step(self, t, cot_state):
        twin, layout, g = self.twin, self.layout, self.gradients
        cot_out = []
        for name in layout.outputs:
            if name.startswith("pushed__"):
                source = name[len("pushed__"):]
                cot_out.append(g["history"][source][t + twin.lines[source].max_delay].T)
            else:
                given = g["named"][name]
                cot_out.append(g["zero"][name] if given is None else given[t])
        g_state, g_drive, g_params = self.kernels.backward(
            self.states[t], self.drives[t], self.params, self.consts, self.times[t],
            (cot_state, self.types["Outputs"](*cot_out)))
        for total, grad in zip(g["params"], g_params):
            total += grad
        g_drive = dict(zip(layout.drive, g_drive))
        for source, line in twin.lines.items():
            gradient = torch.cat([g_drive[r.name].T for r in line.routes])  # (n_cat, batch)
            window = self.history[source][t:t + line.lags].reshape(line.lags * line.size, -1)
            d_window = line.backward(self.prepared[source], window, gradient, need_window=source in g["history"],
                                     dense_gradient=source in g["all_synapses"])
            if d_window is not None:
                g["history"][source][t:t + line.lags] += d_window.reshape(line.lags, line.size, -1)
            if source in g["all_synapses"]:
                g["drive"][source][t] = gradient.T
        return g_state


def delayed_for(line, delayed):
    return {name: delayed[name] for name, _ in line.projections}


class _Sequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, trial, *tensors):
        ctx.trial = trial
        return trial.forward(tensors)

    @staticmethod
    def backward(ctx, *gradients):
        trial = ctx.trial
        if not trial.record_grad:
            raise LsnnBioError("this trial was run without gradients")
        with threads_for(trial.batch, sum(p.size for p in trial.twin.spec.populations.values())):
            return (None,) + trial.backward(gradients)


SMALL_WORK = 16_384  # batch x neurons below which one thread beats several (thread wake-ups cost more than the work)


@contextlib.contextmanager
def threads_for(batch, neurons):
    """One CPU thread while the trial is too small to share; torch's setting is restored afterwards."""
    threads = torch.get_num_threads()
    if threads > 1 and batch * neurons < SMALL_WORK:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run(twin, generated, kernels, inputs, state, shape):
    """Simulate ``inputs`` ((steps, batch, n) per input) from ``state``; returns (outputs tuple, final state)."""
    with threads_for(shape[1], sum(p.size for p in twin.spec.populations.values())):
        return _run(twin, generated, kernels, inputs, state, shape)


def _run(twin, generated, kernels, inputs, state, shape):
    tensors = twin.sequence_tensors(generated)
    input_grad = torch.is_grad_enabled() and any(x.requires_grad for x in inputs.values())
    if input_grad:
        tensors = tensors + list(inputs.values())
    record_grad = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    trial = Trial(twin, generated, kernels, inputs, state, record_grad, shape, input_grad)
    if record_grad:
        outputs = _Sequence.apply(trial, *tensors)
    else:
        with torch.no_grad():
            outputs = trial.forward(tensors)
    return outputs, trial.final_state()
