"""BPTT through whole trials with the generated step: a forward loop and a backward loop.

Autograd recording every operation of every step would keep every intermediate
tensor and pay per-operation overhead thousands of times per trial. Instead one
``torch.autograd.Function`` covers the whole trial: the forward loop keeps only
each step's inputs (the state and the delivered currents) and the history of
pushed spikes; the backward loop walks back through the steps calling the
step's vector-Jacobian product (``torch.func.vjp`` of the same generated
function, which recomputes the step's intermediates, so nothing else is stored)
and the synapses' transposed products, whose cost follows the synapses that
exist. Sparse synapses' weight gradients are summed once, after the loop, over
the spikes that exist (``native``), or per step by torch where that kernel
cannot be compiled or the device is a GPU. Both loops call ``Kernels``: the
step and its vjp, eager or fused by Inductor (``Fused``), each writing its
results straight into the trial's buffers.
"""

import contextlib
import warnings
from typing import NamedTuple

import torch

from ..errors import LsnnBioError
from . import native

SMALL_WORK = 16_384  # batch x neurons below which one thread beats several (thread wake-ups cost more than the work)


class TwinState(NamedTuple):
    """Where a simulation stands: the step's state, the last spikes still travelling, the step count."""

    neurons: tuple  # the generated State NamedTuple: one (batch, N) tensor per field
    history: torch.Tensor  # (max_delay, batch, n_sources) spikes pushed in the last steps, oldest first (Twin.sources)
    step: int  # time steps simulated so far (Brian2's t / dt)


class Packing:
    """Where each field of the step's state and outputs lives in the few tensors the kernels exchange.

    A compiled call costs tens of microseconds per argument it checks and
    unpacks, so the kernels read and write packed tensors, neuron-major (each
    neuron's batch contiguous): the state as one (n_state, batch) tensor
    (continuous fields first, then the discrete lastspike/not_refractory ones no
    gradient flows through), the synapses' currents as the (n_cat, batch) product
    the delivery writes, and the pushed spikes as rows ``pushed_rows`` of the
    history, each population in its block ``pushed_blocks`` of them.
    """

    def __init__(self, generated, twin):
        layout = generated.layout
        size = lambda field: twin.spec.size_of(field.split("__")[0])  # noqa: E731
        fields = [f for f in layout.state if f not in layout.discrete] + list(layout.discrete)
        self.state, start = {}, 0
        for field in fields:
            self.state[field] = (start, start + size(field))
            start += size(field)
        self.width = start
        self.continuous = sum(size(f) for f in layout.state if f not in layout.discrete)
        outputs = generated.types["Outputs"]._fields
        self.outputs = [n for n in outputs if not n.startswith("pushed__")]
        self.pushed = [n for n in outputs if n.startswith("pushed__")]
        pushed = [twin.delivery.sources[n[len("pushed__") :]] for n in self.pushed]
        first = pushed[0].offset if pushed else 0
        self.pushed_rows = (first, twin.delivery.n_sources)
        self.pushed_blocks = [(s.offset - first, s.offset + s.size - first) for s in pushed]
        self.routes = {name: (r.offset, r.offset + r.size) for name, r in twin.delivery.routes.items()}
        self.sizes = {f"{p}__i": twin.spec.size_of(p) for p in twin.spec.populations}

    def pack_into(self, state, out):
        """``state`` into the (n_state, batch) tensor ``out``, field by field: fused, each value is written once."""
        for field, (a, b) in self.state.items():
            out[a:b].copy_(getattr(state, field).T)

    def unpack(self, packed, State):
        return State(**{field: packed[a:b].T for field, (a, b) in self.state.items()})


class Kernels:
    """The generated step as a forward and a backward (vjp) function on packed tensors, eager or compiled.

    ``forward(S, current, params, t, S', outputs, pushed)`` runs the values-only
    step from the packed state S and writes the next state into S', this step's
    outputs into ``outputs`` and its pushed spikes into ``pushed`` (a row of the
    history). ``backward(S, current, params, t, dS', doutputs, dpushed, dS, dcurrent,
    dparams)`` is the vjp of the full step with respect to the continuous state,
    the currents and the parameters: it writes dS and dcurrent and adds to the
    dparams totals. With ``compile``, each is fused into a few kernels by
    ``Fused``; should compiling fail (no C++ compiler, an unsupported device), the
    kernels say so once and run eagerly: the same results, slower.
    """

    def __init__(self, generated, packing, compile=False):
        step, values, types = generated.function, generated.values, generated.types
        State, Drive, Params, Consts = types["State"], types["Drive"], types["Params"], types["Consts"]
        drive_fields = [packing.routes[name] for name in generated.layout.drive]
        outputs, pushed = packing.outputs, packing.pushed
        continuous = [f for f in packing.state if f not in generated.layout.discrete]
        discrete = [f for f in packing.state if f in generated.layout.discrete]
        continuous_rows = [packing.state[f] for f in continuous]
        pushed_blocks = packing.pushed_blocks

        def consts_like(packed):
            return Consts(
                *(
                    torch.arange(packing.sizes[name], dtype=packed.dtype, device=packed.device)
                    for name in Consts._fields
                )
            )

        def forward(packed, current, params, t_steps, out_state, out_values, out_pushed):
            state = packing.unpack(packed, State)
            drive = Drive(*(current[a:b].T for a, b in drive_fields))
            new, out = values(state, drive, Params(*params), consts_like(packed), t_steps)
            named = out._asdict()
            packing.pack_into(new, out_state)
            for trace, name in zip(out_values, outputs):
                trace.copy_(named[name])
            for (a, b), name in zip(pushed_blocks, pushed):  # transposed, as the history stores them
                out_pushed[a:b].copy_(named[name].T)

        def backward(
            packed, current, params, t_steps, cot_state, cot_outputs, cot_pushed, out_cot_state, out_cot_current, totals
        ):
            # Differentiated with respect to each field (views), never the packed tensors: the gradient of a
            # slice of a packed tensor would be a full-width tensor per field.
            fields = {f: packed[a:b].T for f, (a, b) in packing.state.items()}
            fixed = {f: fields[f] for f in discrete}
            consts = consts_like(packed)

            def continuous_step(moving, drive, params_):
                state = State(**dict(zip(continuous, moving)), **fixed)
                new, out = step(state, Drive(*drive), Params(*params_), consts, t_steps)
                named = out._asdict()
                return (
                    tuple(getattr(new, f) for f in continuous),
                    tuple(named[n] for n in outputs),
                    tuple(named[n] for n in pushed),
                )

            cotangent = (
                tuple(cot_state[a:b].T for a, b in continuous_rows),
                cot_outputs,
                tuple(cot_pushed[:, a:b] for a, b in pushed_blocks),
            )
            _, pullback = torch.func.vjp(
                continuous_step,
                tuple(fields[f] for f in continuous),
                tuple(current[a:b].T for a, b in drive_fields),
                params,
            )
            g_state, g_drive, g_params = pullback(cotangent)
            for (a, b), g in zip(continuous_rows, g_state):
                out_cot_state[a:b].copy_(g.T)
            if not g_drive:
                out_cot_current.zero_()
            for (a, b), g in zip(drive_fields, g_drive):  # the routes cover every row of the currents
                out_cot_current[a:b].copy_(g.T)
            for total, g in zip(totals, g_params):
                total.add_(g)

        self.eager = {"forward": forward, "backward": backward}
        self.active = dict(self.eager)
        if compile:  # with the positions of the arguments each kernel writes into
            self.active = {"forward": Fused(forward, writes=(4, 5, 6)), "backward": Fused(backward, writes=(7, 8, 9))}

    @property
    def compiled(self):
        return self.active["forward"] is not self.eager["forward"]

    def bind(self, name, args):
        """The ``name`` kernel for arguments laid out like ``args``, to be called with the same layout at every step.

        Compiling happens here, on the trial's first step; should it fail (no C++
        compiler, an unsupported device), the kernels say so once and run eagerly.
        """
        function = self.active[name]
        if function is self.eager[name]:
            return function
        try:
            return function.bind(args)
        except Exception as error:  # the eager step computes the same, or raises the real error on its first call
            self.active = dict(self.eager)
            warnings.warn(
                f"compiling the twin's step failed ({type(error).__name__}: "
                f"{str(error).strip().splitlines()[0][:200]}); running eagerly (same results, slower)",
                RuntimeWarning,
                stacklevel=3,
            )
            return self.eager[name]


class Fused:
    """``function`` traced once per argument layout into one graph and compiled by Inductor, then called directly.

    ``torch.compile`` would do the same, but every call of a compiled function
    also evaluates its guards and autograd wrappers, about 100 us per call on
    2 CPU cores, as long as the fused sMNIST step itself; a trial makes two such
    calls per time step. The trial guarantees what the guards check (grad mode
    off, the same shapes, strides and dtypes at every step, arguments that do not
    overlap in memory), so the graph is looked up once per trial by the layout of
    its arguments and then called without checks. The kernels write their results
    into arguments (the next state, the traces, the history), which Inductor fuses
    into the kernels that compute them: no copy per step.
    Built on ``make_fx`` and Inductor's ``compile_fx``, torch's own compilation
    pipeline below Dynamo (not public API: any failure falls back to eager in
    ``Kernels``).
    """

    KEEP = 8  # argument layouts kept compiled (batch sizes, recorded variables); the oldest is dropped

    def __init__(self, function, writes):
        self.function = function
        self.writes = writes  # positions of the arguments the function writes into
        self.graphs = {}

    def bind(self, args):
        leaves, structure = _flatten(args)
        key = (structure, tuple((x.shape, x.stride(), x.dtype, x.device) for x in leaves))
        graph = self.graphs.get(key)
        if graph is None:
            with torch.no_grad():
                graph = self.graphs[key] = self._compile(leaves, structure)
            while len(self.graphs) > self.KEEP:
                del self.graphs[next(iter(self.graphs))]
        return lambda *args: graph(*_leaves(args))  # the compiled graph records no autograd history

    def _compile(self, leaves, structure):
        from torch._inductor.compile_fx import compile_fx
        from torch.fx.experimental.proxy_tensor import make_fx

        def flat(*xs):
            self.function(*_nest(xs, structure))
            return []

        # The arguments written into are traced and compiled as copies: tracing runs the function, whose writes must
        # not reach the caller's tensors, and the copies tell the compiler that they share no memory with the others.
        # The others are passed as they are: their strides (a loss's gradient may be expanded, stride 0) are what
        # the compiled graph is specialised on.
        counts = [0 if kind is None else 1 if kind == -1 else kind for kind in structure]  # leaves per argument
        owners = [k for k, count in enumerate(counts) for _ in range(count)]
        examples = [x.clone() if k in self.writes else x for x, k in zip(leaves, owners)]
        return compile_fx(make_fx(flat)(*examples), examples)


def _windows(buffer, lags, count, start=0):
    """Rows t .. t + lags - 1 of a contiguous (rows, a, b) buffer, each as a (lags * a, b) view, for t from ``start``."""
    _, a, b = buffer.shape
    return buffer.as_strided((count, lags * a, b), (a * b, b, 1), buffer.storage_offset() + start * a * b).unbind(0)


def _flatten(values):
    """The tensors of the kernels' arguments or results (tensors, tuples of tensors, None), and how to nest them again."""
    leaves, structure = [], []
    for value in values:
        if value is None:
            structure.append(None)
        elif isinstance(value, tuple):
            leaves.extend(value)
            structure.append(len(value))
        else:
            leaves.append(value)
            structure.append(-1)
    if not all(isinstance(x, torch.Tensor) for x in leaves):
        raise TypeError("the fused kernels take tensors, tuples of tensors and None")
    return leaves, tuple(structure)


def _leaves(values):
    """``_flatten``'s tensors, without its checks: called twice per time step."""
    leaves = []
    for value in values:
        if type(value) is tuple:
            leaves.extend(value)
        elif value is not None:
            leaves.append(value)
    return leaves


def _nest(leaves, structure):
    values, start = [], 0
    for kind in structure:
        if kind is None:
            values.append(None)
        elif kind == -1:
            values.append(leaves[start])
            start += 1
        else:
            values.append(tuple(leaves[start : start + kind]))
            start += kind
    return tuple(values)


class Workspace:
    """The trial's large buffers, kept between trials of one twin.

    A training loop would otherwise fault in hundreds of megabytes of fresh pages
    every iteration (the spike history, the delivered currents, every step's
    state), which on 2 CPU cores costs as much as the synaptic products. A trial
    borrows a buffer and gives it back when its backward pass (or, without
    gradients, its forward pass) is done. A trial that finds a buffer on loan,
    because several trials are alive at once (closed-loop BPTT through
    ``twin.step``), gets a fresh one. One buffer per name is kept.
    """

    def __init__(self):
        self.free = {}

    def take(self, name, shape, dtype, device, zero=True):
        buffer = self.free.pop(name, None)
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype or buffer.device != device:
            buffer = torch.empty(shape, dtype=dtype, device=device)
        return buffer.zero_() if zero else buffer

    def give(self, **buffers):
        self.free.update((name, b) for name, b in buffers.items() if b is not None)


class Trial:
    """One pass over (steps, batch): what the backward loop needs from the forward loop."""

    def __init__(self, twin, generated, kernels, inputs, state, shape, record_grad, input_grad):
        self.twin, self.kernels, self.packing = twin, kernels, twin.packing(generated)
        self.workspace = twin.workspace
        self.types = generated.types
        self.delivery = twin.delivery
        self.inputs, self.start = inputs, state
        self.steps, self.batch = shape
        self.record_grad, self.input_grad = record_grad, input_grad

    # ------------------------------------------------------------------ forward

    def forward(self, tensors):
        twin, delivery, packing = self.twin, self.delivery, self.packing
        steps, batch, dtype, device = self.steps, self.batch, twin.dtype, twin.device
        self.tensors = tensors
        weights, self.params = self._split(tensors)
        if self.input_grad:
            self.inputs = dict(zip(self.inputs, tensors[len(tensors) - len(self.inputs) :]))
        self.prepared = (
            delivery.prepare(weights, twin.delays_of(delivery), twin.masks_of(delivery))
            if delivery.projections
            else None
        )
        # The history of pushed spikes: index s + max_delay holds step s; the first max_delay rows are the past.
        P = delivery.max_delay
        take = self.workspace.take
        history = take("history", (steps + P, delivery.n_sources, batch), dtype, device)
        history[:P] = self.start.history.permute(0, 2, 1)
        for name, source in delivery.sources.items():
            if source.is_input:
                history[P:, source.offset : source.offset + source.size] = self.inputs[name].permute(0, 2, 1)
        self.history = history
        self.times = torch.arange(self.start.step, self.start.step + steps, dtype=dtype, device=device)
        # Every step's delivery overwrites its currents; without synapses through the history they stay 0.
        shape = (steps if self.record_grad else 1, delivery.n_cat, batch)
        self.currents = take("currents", shape, dtype, device, zero=self.prepared is None)
        first, last = packing.pushed_rows
        # Step t reads its state from states[t] and writes the next one into states[t + 1], kept for the backward
        # pass; without gradients, two buffers take turns. The last step writes the caller's final state.
        if self.record_grad:
            self.states = take("states", (steps, packing.width, batch), dtype, device, zero=False)
            turns = self.states
        else:
            self.states = None
            turns = [take(f"turn{k}", (packing.width, batch), dtype, device, zero=False) for k in range(2)]
        final = torch.empty(packing.width, batch, dtype=dtype, device=device)
        packing.pack_into(self.start.neurons, turns[0])
        sizes = twin.output_sizes_packed(packing)
        outputs = tuple(torch.empty(steps, batch, n, dtype=dtype, device=device) for n in sizes)  # the caller's
        # Every step's views, made one tensor at a time: indexing inside the loop costs microseconds per view.
        if self.record_grad:
            reads, currents = self.states.unbind(0), self.currents.unbind(0)
            writes = reads[1:] + (final,)
        else:
            reads, currents = [turns[t % 2] for t in range(steps)], [self.currents[0]] * steps
            writes = reads[1:] + [final]
        windows = _windows(history, delivery.lags, steps)
        traces = list(zip(*(trace.unbind(0) for trace in outputs))) if outputs else [()] * steps
        pushed = history[P:, first:last].unbind(0) if packing.pushed else [None] * steps
        times, params, prepared = self.times.unbind(0), self.params, self.prepared
        forward = None
        for t in range(steps):
            if prepared is not None:
                delivery.current(prepared, windows[t], currents[t])
            args = (reads[t], currents[t], params, times[t], writes[t], traces[t], pushed[t])
            if forward is None:
                forward = self.kernels.bind("forward", args)
            forward(*args)
        self.final = packing.unpack(final, self.types["State"])  # checks.inputs: at least one step
        # A copy, always: with one trial in the batch the permuted slice is already contiguous and would be a view of
        # the workspace's history, which the next trial overwrites.
        self.past = history[steps:].permute(0, 2, 1).clone(memory_format=torch.contiguous_format)
        if not self.record_grad:
            self.workspace.give(history=history, currents=self.currents, turn0=turns[0], turn1=turns[1])
            self.history = self.currents = None
        return outputs

    def _split(self, tensors):
        count = len(self.twin.delayed_projections)
        end = len(tensors) - (len(self.inputs) if self.input_grad else 0)
        return dict(zip(self.twin.delayed_projections, tensors[:count])), tuple(tensors[count:end])

    def final_state(self):
        return TwinState(self.final, self.past, self.start.step + self.steps)

    # ------------------------------------------------------------------ backward

    def backward(self, gradients):
        twin, delivery, packing = self.twin, self.delivery, self.packing
        steps, batch, dtype, device = self.steps, self.batch, twin.dtype, twin.device
        weights, _ = self._split(self.tensors)
        sizes = twin.output_sizes_packed(packing)
        gradients = [
            torch.zeros(steps, batch, n, dtype=dtype, device=device) if g is None else g
            for g, n in zip(gradients, sizes)
        ]
        P, lags = delivery.max_delay, delivery.lags
        # current_grads[P + t] = d loss / d current[t]; zero before the trial (the spikes still travelling at its start
        # reach it) and past it (where later steps' spikes would arrive). Rows in between are written (step t) before
        # any step reads them (steps before t).
        current_grads = self.workspace.take(
            "current_grads", (P + steps + lags, delivery.n_cat, batch), dtype, device, zero=False
        )
        current_grads[:P] = 0
        current_grads[P + steps :] = 0
        prepared = self.prepared
        all_synapses = twin.dense_gradient and prepared is not None and not delivery.dense
        from_spikes = prepared is not None and not delivery.dense and native.available(device)
        per_step = prepared is not None and not all_synapses and not from_spikes
        accumulators = tuple(torch.zeros_like(p) for p in self.params)
        # d loss / d state after step t, read by step t, and before it, written by step t: two buffers take turns.
        cot_states = [torch.zeros(packing.continuous, batch, dtype=dtype, device=device) for _ in range(2)]
        cot_pushed = torch.zeros(packing.pushed_rows[1] - packing.pushed_rows[0], batch, dtype=dtype, device=device)
        input_grads = (
            torch.zeros(steps, delivery.n_sources, batch, dtype=dtype, device=device) if self.input_grad else None
        )
        states, currents, times = self.states.unbind(0), self.currents.unbind(0), self.times.unbind(0)
        # futures[P + s]: the currents that spikes pushed at step s reach (delays >= 0); reached[t]: those of delays
        # >= 1, for the spikes of step t.
        futures = _windows(current_grads, lags, P + steps)
        reached = _windows(current_grads, lags - 1, steps, start=P + 1)
        spikes = self.history.unbind(0)  # spikes[P + s]
        cotangents = list(zip(*(g.unbind(0) for g in gradients))) if gradients else [()] * steps
        written = current_grads[P:].unbind(0)
        per_input = input_grads.unbind(0) if input_grads is not None else None
        spike_cotangent = cot_pushed.T if packing.pushed else None
        backward = None
        for t in range(steps - 1, -1, -1):
            if packing.pushed:
                delivery.spike_gradient(prepared.populations, reached[t], cot_pushed)
            args = (
                states[t],
                currents[t],
                self.params,
                times[t],
                cot_states[t % 2],
                cotangents[t],
                spike_cotangent,
                cot_states[(t + 1) % 2],
                written[t],
                accumulators,
            )
            if backward is None:
                backward = self.kernels.bind("backward", args)
            backward(*args)
            if per_step:
                delivery.accumulate(prepared, spikes[P + t], futures[P + t])
            if per_input is not None and prepared is not None:
                delivery.spike_gradient(prepared.emission, futures[P + t], per_input[t])
        weight_grads = {}
        if prepared is not None:
            delays = twin.delays_of(delivery)
            if from_spikes:
                present = None if all_synapses else twin.masks_of(delivery)
                weight_grads = delivery.spike_gradients(delays, self.history, current_grads, present)
            elif all_synapses:
                weight_grads = delivery.weight_gradients(
                    prepared, weights, delays, self.history, current_grads[P : P + steps].permute(0, 2, 1)
                )
            else:
                if P and bool(self.history[:P].any()):  # spikes pushed before the trial still reach it
                    for row in range(P):
                        delivery.accumulate(prepared, spikes[row], futures[row])
                weight_grads = delivery.weight_gradients(prepared, weights, delays)
        self.workspace.give(
            history=self.history, currents=self.currents, states=self.states, current_grads=current_grads
        )
        self.states = self.currents = self.history = None  # what only the backward loop needed
        grads_x = ()
        if self.input_grad:
            grads_x = tuple(self._input_gradient(input_grads, name, x) for name, x in self.inputs.items())
        return tuple(weight_grads[name] for name in twin.delayed_projections) + tuple(accumulators) + grads_x

    def _input_gradient(self, input_grads, name, x):
        source = self.delivery.sources.get(name)
        if source is None or input_grads is None:
            return torch.zeros_like(x)
        return input_grads[:, source.offset : source.offset + source.size].permute(0, 2, 1)


class _Sequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, trial, *tensors):
        ctx.trial = trial
        return trial.forward(tensors)

    @staticmethod
    def backward(ctx, *gradients):
        trial = ctx.trial
        if trial.states is None:
            raise LsnnBioError("the twin's backward pass ran twice on one trial (retain_graph is not supported)")
        with threads_for(trial.batch, trial.twin):
            return (None,) + trial.backward(gradients)


@contextlib.contextmanager
def threads_for(batch, twin):
    """One CPU thread while the trial is too small to share; torch's setting is restored afterwards."""
    threads = torch.get_num_threads()
    if threads > 1 and batch * sum(p.size for p in twin.spec.populations.values()) < SMALL_WORK:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run(twin, generated, kernels, inputs, state, shape):
    """Simulate ``inputs`` ((steps, batch, n) per input) from ``state``; returns (outputs tuple, final state)."""
    tensors = twin.sequence_tensors(generated)
    input_grad = torch.is_grad_enabled() and any(x.requires_grad for x in inputs.values())
    if input_grad:
        tensors = tensors + list(inputs.values())
    record_grad = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    trial = Trial(twin, generated, kernels, inputs, state, shape, record_grad, input_grad)
    with threads_for(shape[1], twin):
        if record_grad:
            outputs = _Sequence.apply(trial, *tensors)
        else:
            with torch.no_grad():
                outputs = trial.forward(tensors)
    return outputs, trial.final_state()
