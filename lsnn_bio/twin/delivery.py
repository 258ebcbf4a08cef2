"""Synapses with delays: a source's spikes of the last steps -> the currents they deliver now.

A spike pushed at step s through a synapse with delay d acts at step s + d
(Brian2's spike queue). Rather than carrying a queue of future currents (which
would multiply memory and work by the number of delay slots), the twin keeps
the *history* of each source's pushed spikes, oldest first: a contiguous window
of ``lags`` steps, shaped (lags * n_source, batch), and one weight matrix whose
rows are (lag, presynaptic neuron) and whose columns are the postsynaptic
neurons of every route the source drives. The current now is one product of
that matrix with the window; its cost follows the synapses that exist (sparse
CSR) or is a plain GEMM where the network is small or dense.

Inputs are known for the whole trial, so an input's window includes the
present step (delay 0 acts through here); a population's delay-0 synapses act
inside the generated step instead, so its window ends one step back.

``DelayLine`` holds the fixed structure of one source; ``prepare`` turns the
current effective weights into what one pass needs; the engine calls
``current`` every step forward and ``backward`` every step backward, then
``weight_gradients`` once.
"""
import warnings
from dataclasses import dataclass, field

import torch

DENSE_BELOW = 50_000  # weight-matrix entries (lags * n * n_cat) up to which a dense GEMM beats sparse kernels
DENSE_ABOVE_DENSITY = 0.25  # fraction of non-zero weights above which a dense GEMM wins anyway


@dataclass
class Route:
    name: str  # "target__variable"
    size: int
    offset: int  # first column in the source's concatenated postsynaptic axis


@dataclass
class Prepared:
    """The weights of one pass, detached (the engine computes their gradients itself)."""

    dense: torch.Tensor | None = None  # (lags * n, n_cat) where dense
    forward_csr: torch.Tensor | None = None  # (n_cat, lags * n) CSR
    backward_csr: torch.Tensor | None = None  # (lags * n, n_cat) CSR, also the sampling pattern of weight gradients
    entries: dict = field(default_factory=dict)  # projection -> (rows i, cols j, position in CSR values)
    dense_gradient: torch.Tensor | None = None  # accumulated (lags*n, n_cat) or CSR values gradient


class DelayLine:
    """The delayed synapses leaving one source (an input or a spiking population)."""

    def __init__(self, source, size, is_input, projections, routes, delays):
        """``projections``: [(name, route name)]; ``routes``: {route name: size}; ``delays``: {projection: (n, n_post)}."""
        self.source, self.size, self.is_input = source, size, is_input
        self.projections = list(projections)
        self.min_delay = 0 if is_input else 1
        used = [d[d >= self.min_delay] for d in delays.values()]
        self.max_delay = max([int(u.max()) for u in used if u.numel()] + [self.min_delay])
        self.lags = self.max_delay - self.min_delay + 1
        self.routes, offset = [], 0
        for name, size_ in routes.items():
            self.routes.append(Route(name, size_, offset))
            offset += size_
        self.n_cat = offset
        self.route_of = {name: next(r for r in self.routes if r.name == route) for name, route in self.projections}
        self.dense = self.lags * size * self.n_cat <= DENSE_BELOW or self._density(delays) > DENSE_ABOVE_DENSITY

    def _density(self, delays):
        possible = sum(int((d >= self.min_delay).sum()) for d in delays.values())
        return possible / max(1, self.lags * self.size * self.n_cat)

    def lag_of(self, delay):
        """Row block of the window holding spikes pushed ``delay`` steps ago (oldest first)."""
        return self.max_delay - delay

    # ------------------------------------------------------------------ one pass

    def prepare(self, weights, delays, connected):
        """``weights``: {projection: (n, n_post) effective weight}; ``connected``: {projection: bool mask}."""
        prepared = Prepared()
        with torch.no_grad():
            if self.dense:
                prepared.dense = self.differentiable_matrix(weights, delays)
                return prepared
            rows, cols, values, owners = [], [], [], []
            for name, _ in self.projections:
                route, w, d = self.route_of[name], weights[name], delays[name]
                i, j = torch.nonzero(connected[name] & (d >= self.min_delay), as_tuple=True)
                rows.append(self.lag_of(d[i, j]) * self.size + i)
                cols.append(route.offset + j)
                values.append(w[i, j])
                owners.append((name, i, j))
            rows, cols, values = torch.cat(rows), torch.cat(cols), torch.cat(values)
            keys = rows * self.n_cat + cols
            unique, inverse = torch.unique(keys, sorted=True, return_inverse=True)
            merged = values.new_zeros(len(unique)).index_add_(0, inverse, values)
            u_rows, u_cols = unique // self.n_cat, unique % self.n_cat
            crow = torch._convert_indices_from_coo_to_csr(u_rows, self.lags * self.size)
            prepared.backward_csr = _csr(crow, u_cols, merged, size=(self.lags * self.size, self.n_cat))
            order = torch.argsort(u_cols * (self.lags * self.size) + u_rows)
            crow_t = torch._convert_indices_from_coo_to_csr(u_cols[order], self.n_cat)
            prepared.forward_csr = _csr(crow_t, u_rows[order], merged[order],
                                                           size=(self.n_cat, self.lags * self.size))
            start = 0
            for name, i, j in owners:
                prepared.entries[name] = (i, j, inverse[start:start + len(i)])
                start += len(i)
        return prepared

    def differentiable_matrix(self, weights, delays):
        """The (lags * n, n_cat) weight matrix as differentiable torch operations (for ``Twin.step``)."""
        blocks = []
        for delay in range(self.max_delay, self.min_delay - 1, -1):  # oldest lag first
            row = []
            for route in self.routes:
                parts = [torch.where(delays[name] == delay, weights[name], torch.zeros_like(weights[name]))
                         for name, _ in self.projections if self.route_of[name] is route]
                row.append(sum(parts[1:], parts[0]))
            blocks.append(torch.cat(row, dim=1))
        return torch.cat(blocks, dim=0)

    def current(self, prepared, window):
        """(n_cat, batch) currents from a (lags * n, batch) window of pushed spikes."""
        if prepared.dense is not None:
            return prepared.dense.T @ window
        return torch.sparse.mm(prepared.forward_csr, window)

    def split(self, current):
        """Per route, (batch, size) views of a (n_cat, batch) current."""
        return {r.name: current[r.offset:r.offset + r.size].T for r in self.routes}

    def backward(self, prepared, window, gradient, need_window, dense_gradient):
        """Given d loss / d current (n_cat, batch): accumulate weight gradients, return d loss / d window."""
        if prepared.dense is not None:
            step = window @ gradient.T
            prepared.dense_gradient = step if prepared.dense_gradient is None else prepared.dense_gradient + step
            return prepared.dense @ gradient if need_window else None
        if not dense_gradient:  # connected synapses only: sampled at the pattern
            sampled = torch.sparse.sampled_addmm(prepared.backward_csr, window, gradient.T, beta=0.0).values()
            prepared.dense_gradient = sampled if prepared.dense_gradient is None else prepared.dense_gradient + sampled
        return torch.sparse.mm(prepared.backward_csr, gradient) if need_window else None

    def weight_gradients(self, prepared, weights, delays, history=None, gradients=None):
        """{projection: (n, n_post)} gradients of the effective weights.

        With a sparse pattern and ``history``/``gradients`` given (DEEP R wants
        gradients for absent synapses too), they are computed here for every
        potential synapse at its own delay, from all steps at once.
        """
        result = {}
        if prepared.dense is not None:
            total = prepared.dense_gradient.reshape(self.lags, self.size, self.n_cat)
            for name, _ in self.projections:
                route, d = self.route_of[name], delays[name]
                grad = torch.zeros_like(weights[name])
                for delay in range(self.min_delay, self.max_delay + 1):
                    block = total[self.lag_of(delay), :, route.offset:route.offset + route.size]
                    grad += torch.where(d == delay, block, torch.zeros_like(block))
                result[name] = grad
            return result
        if history is not None:
            return self._all_synapse_gradients(weights, delays, history, gradients)
        for name, _ in self.projections:
            i, j, position = prepared.entries[name]
            grad = torch.zeros_like(weights[name])
            grad[i, j] = prepared.dense_gradient[position]
            result[name] = grad
        return result

    def _all_synapse_gradients(self, weights, delays, history, gradients):
        """sum_t z[t - d_ij] g[t] for every (i, j) at its delay d_ij: one sparse product per lag.

        ``history``: (steps + max_delay, n, batch) pushed spikes (index s + max_delay
        is step s); ``gradients``: (steps, batch, n_cat) d loss / d current.
        """
        padded, n, batch = history.shape
        steps = gradients.shape[0]
        tau, i, b = torch.nonzero(history, as_tuple=True)
        order = torch.argsort(i * (padded * batch) + tau * batch + b)
        crow = torch._convert_indices_from_coo_to_csr(i[order], n)
        spikes = _csr(crow, (tau * batch + b)[order], history[tau, i, b][order], size=(n, padded * batch))
        big = gradients.new_zeros((steps + 2 * self.max_delay) * batch, self.n_cat)
        big[self.max_delay * batch:(self.max_delay + steps) * batch] = gradients.reshape(steps * batch, self.n_cat)
        result = {name: torch.zeros_like(weights[name]) for name, _ in self.projections}
        for delay in range(self.min_delay, self.max_delay + 1):
            lag = self.lag_of(delay)  # history index tau = t + lag holds step t - delay
            start = (self.max_delay - lag) * batch
            per_lag = torch.sparse.mm(spikes, big[start:start + padded * batch])  # (n, n_cat)
            for name, _ in self.projections:
                route = self.route_of[name]
                block = per_lag[:, route.offset:route.offset + route.size]
                result[name] += torch.where(delays[name] == delay, block, torch.zeros_like(block))
        return result


def _csr(crow, col, values, size):
    """A CSR tensor from checked indices (torch calls its sparse CSR support 'beta': it is exact here, tested)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, size=size, check_invariants=False)
