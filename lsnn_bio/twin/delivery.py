"""Synapses with delays: the spikes of the last steps -> the currents they deliver now.

A spike pushed at step s through a synapse with delay d acts at step s + d
(Brian2's spike queue). Rather than carrying a queue of future currents (which
would multiply memory and work by the number of delay slots), the twin keeps
the *history* of pushed spikes of every source (inputs and spiking populations
side by side), oldest first: at step t a contiguous window of the steps
t - max_delay ... t, shaped (lags * n_sources, batch). One weight matrix, rows
(lag, presynaptic neuron), columns the postsynaptic neurons of every route
(target variable) that receives delayed spikes, turns the window into this
step's currents in one product. Its cost follows the synapses that exist
(sparse CSR), or it is a plain GEMM where the network is small or dense.

Inputs are known in advance, so their spikes of step t are already in the
window (delay 0 acts through here); a population's delay-0 synapses act inside
the generated step, so its row of step t is still empty when the window is read.
"""

import warnings
from dataclasses import dataclass, field

import torch

from . import native

DENSE_BELOW = 50_000  # weight-matrix entries (lags * n_sources * n_cat) up to which a dense GEMM beats sparse kernels
DENSE_ABOVE_DENSITY = 0.25  # fraction of present synapses above which a dense GEMM wins anyway


@dataclass
class Source:
    name: str
    size: int
    offset: int  # first row in the history
    is_input: bool

    @property
    def min_delay(self):
        return 0 if self.is_input else 1


@dataclass
class Route:
    name: str  # "target__variable"
    size: int
    offset: int  # first column of the concatenated postsynaptic axis


@dataclass
class Prepared:
    """The weights of one pass, detached (the engine computes their gradients itself).

    Forward, a step reads a window of the history (rows: lag, source neuron).
    Backward, the same synapses are seen from the spike that leaves: rows are
    source neurons, columns (delay, postsynaptic neuron), so that ``emission @
    G[s:s + lags]`` is the gradient of the spikes pushed at step s, given the
    currents' gradients G of the steps they reach.
    """

    window: torch.Tensor | None = None  # (lags * n_sources, n_cat) dense, or its (n_cat, lags * n_sources) CSR
    emission: torch.Tensor | None = None  # (n_sources, lags * n_cat), dense or CSR
    populations: torch.Tensor | None = None  # the spiking populations' rows, delays >= 1: (n_pushed, max_delay * n_cat)
    entries: dict = field(default_factory=dict)  # projection -> (i, j, position among the synapses)
    gradient: torch.Tensor | None = None  # accumulated weight gradient, laid out like ``emission`` (dense or CSR)


class Delivery:
    """Every synapse that delivers through the spike history: from inputs (any delay) and populations (delay >= 1)."""

    def __init__(self, sources, projections, routes, delays, connected):
        """``sources``: [(name, size, is_input)]; ``projections``: [(name, source, route)];
        ``routes``: {route: size} in the step's order; ``delays``: {projection: (n_pre, n_post) potential delays};
        ``connected``: {projection: (n_pre, n_post) bool}, the synapses present now (DEEP R keeps their number)."""
        self.sources, offset = {}, 0
        for name, size, is_input in sources:
            self.sources[name] = Source(name, size, offset, is_input)
            offset += size
        self.n_sources = offset
        self.routes, offset = {}, 0
        for name, size in routes.items():
            self.routes[name] = Route(name, size, offset)
            offset += size
        self.n_cat = offset
        self.projections = [(name, self.sources[source], self.routes[route]) for name, source, route in projections]
        self.max_delay = max(
            [source.min_delay for _, source, _ in self.projections]
            + [int(delays[name].max()) for name, _, _ in self.projections if delays[name].numel()]
            + [0]
        )
        self.lags = self.max_delay + 1
        present = sum(int(((delays[n] >= s.min_delay) & connected[n]).sum()) for n, s, _ in self.projections)
        entries = self.lags * self.n_sources * self.n_cat
        self.dense = entries <= DENSE_BELOW or present / max(entries, 1) > DENSE_ABOVE_DENSITY

    def rows(self, source, i, delay):
        """Window rows of presynaptic neurons ``i`` of ``source`` pushed ``delay`` steps ago (oldest lag first)."""
        return (self.max_delay - delay) * self.n_sources + source.offset + i

    def differentiable_matrix(self, weights, delays):
        """The (lags * n_sources, n_cat) weight matrix, built with differentiable torch operations."""
        first = next(iter(weights.values()))
        lags = []
        for delay in range(self.max_delay, -1, -1):  # oldest lag first
            rows = []
            for source in self.sources.values():
                columns = []
                for route in self.routes.values():
                    parts = [
                        torch.where(delays[name] == delay, weights[name], torch.zeros_like(weights[name]))
                        for name, s, r in self.projections
                        if s is source and r is route and delay >= s.min_delay
                    ]
                    columns.append(sum(parts[1:], parts[0]) if parts else first.new_zeros(source.size, route.size))
                rows.append(torch.cat(columns, dim=1))
            lags.append(torch.cat(rows, dim=0))
        return torch.cat(lags, dim=0)

    # ------------------------------------------------------------------ one pass

    def prepare(self, weights, delays, connected):
        """``weights``: {projection: (n_pre, n_post) delivered weight}; ``connected``: {projection: bool mask}."""
        prepared = Prepared()
        with torch.no_grad():
            rows, cols, values, owners = [], [], [], []
            for name, source, route in self.projections:
                w, d = weights[name], delays[name]
                i, j = torch.nonzero(connected[name] & (d >= source.min_delay), as_tuple=True)
                rows.append(source.offset + i)
                cols.append(d[i, j] * self.n_cat + route.offset + j)  # (delay, postsynaptic neuron)
                values.append(w[i, j])
                owners.append((name, i, j))
            rows, cols, values = torch.cat(rows), torch.cat(cols), torch.cat(values)
            width, height = self.lags * self.n_cat, self.lags * self.n_sources
            unique, inverse = torch.unique(rows * width + cols, sorted=True, return_inverse=True)
            merged = values.new_zeros(len(unique)).index_add_(0, inverse, values)  # two projections, one synapse
            u_rows, u_cols = unique // width, unique % width
            delay, post = u_cols // self.n_cat, u_cols % self.n_cat
            window_rows = (self.max_delay - delay) * self.n_sources + u_rows
            pushed = [s for s in self.sources.values() if not s.is_input]
            first = pushed[0].offset if pushed else self.n_sources
            pick = u_rows >= first
            if self.dense:
                prepared.window = merged.new_zeros(height, self.n_cat)
                prepared.window[window_rows, post] = merged
                prepared.emission = merged.new_zeros(self.n_sources, width)
                prepared.emission[u_rows, u_cols] = merged
                prepared.populations = prepared.emission[first:, self.n_cat :]
            else:
                order = torch.argsort(post * height + window_rows)
                prepared.window = _csr(
                    torch._convert_indices_from_coo_to_csr(post[order], self.n_cat),
                    window_rows[order],
                    merged[order],
                    (self.n_cat, height),
                )
                prepared.emission = _csr(
                    torch._convert_indices_from_coo_to_csr(u_rows, self.n_sources),
                    u_cols,
                    merged,
                    (self.n_sources, width),
                )
                prepared.populations = _csr(
                    torch._convert_indices_from_coo_to_csr(u_rows[pick] - first, self.n_sources - first),
                    u_cols[pick] - self.n_cat,
                    merged[pick],
                    (self.n_sources - first, width - self.n_cat),
                )
            start = 0
            for name, i, j in owners:
                prepared.entries[name] = (i, j, inverse[start : start + len(i)])
                start += len(i)
        return prepared

    def current(self, prepared, window, out):
        """Write into ``out`` (n_cat, batch) the currents of a (lags * n_sources, batch) window of pushed spikes.

        Results go into preallocated buffers: a fresh multi-megabyte tensor per step
        costs more in page faults than the sparse product itself.
        """
        if self.dense:
            return torch.mm(prepared.window.T, window, out=out)
        return torch.addmm(out, prepared.window, window, beta=0.0, out=out)

    def spike_gradient(self, matrix, future, out):
        """d loss / d pushed spikes, (rows of ``matrix``, batch), from the currents' gradients of the steps
        they reach (``future``: the matching slice of G, viewed as (delays * n_cat, batch))."""
        return torch.addmm(out, matrix, future, beta=0.0, out=out)

    def accumulate(self, prepared, spikes, future):
        """Weight gradients of the spikes pushed at one step, (n_sources, batch), given G[s:s + lags]:
        every potential synapse where dense, the present ones (sampled) where sparse and the C kernel of
        ``spike_gradients`` is not available."""
        if prepared.gradient is None:  # accumulated in place: a fresh product per step costs a third more
            e = prepared.emission
            prepared.gradient = (
                torch.zeros_like(e)
                if self.dense
                else _csr(e.crow_indices(), e.col_indices(), torch.zeros_like(e.values()), e.shape)
            )
        if self.dense:
            prepared.gradient.addmm_(spikes, future.T)
        else:
            torch.sparse.sampled_addmm(prepared.gradient, spikes, future.T, out=prepared.gradient)

    def weight_gradients(self, prepared, weights, delays, history=None, gradients=None):
        """{projection: (n_pre, n_post)} gradients of the delivered weights.

        Dense matrices hold every potential synapse's gradient; sparse ones only the
        present synapses', unless ``history``/``gradients`` are given (DEEP R wants
        gradients for absent synapses too): then every potential synapse gets its
        gradient at its own delay, from all steps at once.
        """
        if history is not None and not self.dense:
            return self._all_synapse_gradients(weights, delays, history, gradients)
        result = {}
        for name, source, route in self.projections:
            i, j, position = prepared.entries[name]
            grad = torch.zeros_like(weights[name])
            if self.dense:  # every potential synapse, at its own delay
                total = prepared.gradient.view(self.n_sources, self.lags, self.n_cat)
                block = total[source.offset : source.offset + source.size, :, route.offset : route.offset + route.size]
                d = delays[name]
                grad = torch.gather(block, 1, d.clamp(0, self.lags - 1)[:, None, :]).squeeze(1)
                grad = torch.where(d >= source.min_delay, grad, torch.zeros_like(grad))
            else:
                grad[i, j] = prepared.gradient.values()[position]
            result[name] = grad
        return result

    def spike_gradients(self, delays, history, gradients, present=None):
        """{projection: (n_pre, n_post)} weight gradients, from the spikes that exist (``native``, CPU).

        ``history`` as the trial keeps it (max_delay + steps rows, the first ones
        pushed before the trial); ``gradients`` (max_delay + steps + lags, n_cat,
        batch): row max_delay + t holds d loss / d current at step t, and the rows
        outside the trial are zero. Every potential synapse gets its gradient at its own
        delay (DEEP R), or only those ``present`` ({projection: bool mask}).
        """
        table = []
        for name, source, route in self.projections:
            d = delays[name]
            keep = d >= source.min_delay if present is None else present[name] & (d >= source.min_delay)
            i, j = torch.nonzero(keep, as_tuple=True)
            table.append((name, i, j, source.offset + i, route.offset + j, d[i, j]))
        rows = torch.cat([entry[3] for entry in table])
        order = torch.argsort(rows, stable=True)
        row_start = torch.zeros(self.n_sources + 1, dtype=torch.int64)
        row_start[1:] = torch.bincount(rows, minlength=self.n_sources).cumsum(0)
        per_synapse = torch.empty(len(rows), dtype=torch.float64)
        per_synapse[order] = native.spike_gradients(
            history,
            gradients,
            self.max_delay,
            self.lags,
            row_start,
            torch.cat([entry[4] for entry in table])[order].to(torch.int32),
            torch.cat([entry[5] for entry in table])[order].to(torch.int32),
            torch.get_num_threads(),
        )
        result, start = {}, 0
        for name, i, j, *_ in table:
            grad = history.new_zeros(delays[name].shape)
            grad[i, j] = per_synapse[start : start + len(i)].to(history.dtype)
            result[name] = grad
            start += len(i)
        return result

    def _all_synapse_gradients(self, weights, delays, history, gradients):
        """sum_t z[t - d_ij] g[t] for every (i, j) at its delay d_ij: one sparse product per delay.

        ``history``: (steps + max_delay, n_sources, batch), index s + max_delay is
        step s; ``gradients``: (steps, batch, n_cat) d loss / d current.
        """
        padded, n, batch = history.shape
        steps = gradients.shape[0]
        tau, i, b = torch.nonzero(history, as_tuple=True)
        order = torch.argsort(i * (padded * batch) + tau * batch + b)
        spikes = _csr(
            torch._convert_indices_from_coo_to_csr(i[order], n),
            (tau * batch + b)[order],
            history[tau, i, b][order],
            (n, padded * batch),
        )
        big = gradients.new_zeros((steps + 2 * self.max_delay) * batch, self.n_cat)
        big[self.max_delay * batch : (self.max_delay + steps) * batch] = gradients.reshape(steps * batch, self.n_cat)
        result = {name: torch.zeros_like(weights[name]) for name, _, _ in self.projections}
        delays_used = range(min(s.min_delay for _, s, _ in self.projections), self.max_delay + 1)
        for (
            delay
        ) in delays_used:  # history index tau holds step tau - max_delay; it acts at step tau - max_delay + delay
            per_delay = torch.sparse.mm(spikes, big[delay * batch : (delay + padded) * batch])  # (n_sources, n_cat)
            for name, source, route in self.projections:
                if delay >= source.min_delay:
                    block = per_delay[
                        source.offset : source.offset + source.size, route.offset : route.offset + route.size
                    ]
                    result[name] += torch.where(delays[name] == delay, block, torch.zeros_like(block))
        return result


def _csr(crow, col, values, size):
    """A CSR tensor from checked indices (torch calls its sparse CSR support 'beta': exact here, and tested).

    Indices are 32-bit where they fit, as MKL's sparse products want them: 64-bit ones are converted on every call.
    """
    if values.device.type == "cpu" and max(size) < 2**31 and values.numel() < 2**31:
        crow, col = crow.to(torch.int32), col.to(torch.int32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, size=size, check_invariants=False)
