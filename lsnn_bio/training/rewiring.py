"""DEEP R (Bellec et al., ICLR 2018) on a Twin, as the official LSNN code runs it.

Reference section 2.1 (``rewiring_optimizer_wrapper``): every potential synapse
has a fixed sign s and a parameter theta = s * w; it exists iff theta > 0.
Gradients reach dormant entries too (``twin.dense_gradient``) so that momentum
optimisers see a regular gradient, but dormant entries are reset after the
optimiser step; connected ones get an L1 pull towards zero and Langevin noise;
whatever crossed zero goes dormant; then random dormant synapses are woken up
(theta = epsilon) until one global budget is met exactly. The budget is shared
by all rewired matrices, so connections can migrate between them.

Shapes never change: the twin keeps dense (n_pre, n_post) weights and masks,
so the Brian2 network is rebuilt from ``mask`` and ``weights`` after training.
"""

import math

import torch


class DeepR:
    """Rewires ``projections`` of ``twin`` under one fixed connection budget.

    ``connectivity`` (float or {name: float}) sets p_m in the budget
    floor(sum_m size_m * p_m) and the reconnection split (proportional to
    size_m * p_m); the default, each projection's connected fraction now,
    keeps the initial number of synapses. ``l1`` and ``temperature`` are the
    paper's alpha and T; ``epsilon`` is the theta a reconnected synapse gets.
    Use ``step(optimizer)`` in place of ``optimizer.step()``.
    """

    def __init__(self, twin, projections=None, connectivity=None, l1=1e-2, temperature=0.0, epsilon=1e-12, seed=0):
        names = list(twin.weights) if projections is None else list(projections)
        unknown = [n for n in names if n not in twin.weights]
        if unknown:
            raise ValueError(f"unknown projections {unknown} (the twin has: {', '.join(twin.weights)})")
        if not names or len(set(names)) != len(names):
            raise ValueError(f"projections must be distinct names, at least one; got {names}")
        if l1 < 0 or temperature < 0 or not epsilon > 0:
            raise ValueError(f"need l1 >= 0, temperature >= 0 and epsilon > 0; got {l1}, {temperature}, {epsilon}")
        self.twin = twin
        self.projections = tuple(names)
        self.l1, self.temperature, self.epsilon = float(l1), float(temperature), float(epsilon)
        device = twin.weights[names[0]].device
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)

        with torch.no_grad():
            # Autapses the network document forbade are never (re)connected.
            self._allowed = {}
            specified = {p.name: p for p in twin.spec.projections}
            for name in names:
                mask = self._mask(name)
                allowed = torch.ones_like(mask)
                projection = specified[name]
                if projection.source == projection.target and not projection.autapses:
                    allowed.fill_diagonal_(False)
                self._allowed[name] = allowed
            self._make_consistent()
            counts = self.connection_counts()
            if connectivity is None:
                shares = [float(counts[n]) for n in names]
                budget = sum(counts.values())
            else:
                fractions = {n: connectivity for n in names} if not isinstance(connectivity, dict) else connectivity
                missing = [n for n in names if n not in fractions]
                if missing:
                    raise ValueError(f"connectivity gives no fraction for {missing}")
                for n in names:
                    if not 0 <= float(fractions[n]) <= 1:
                        raise ValueError(f"connectivity of '{n}' is {fractions[n]}, not a fraction in [0, 1]")
                shares = [self._weight(n).numel() * float(fractions[n]) for n in names]
                budget = math.floor(sum(shares))
            room = sum(int(self._allowed[n].sum()) for n in names)
            if budget > room:
                raise ValueError(f"budget {budget} exceeds the {room} synapses that may exist in {names}")
            if sum(counts.values()) > budget:
                raise ValueError(
                    f"{sum(counts.values())} synapses are connected, more than the budget {budget}: "
                    "initialise the network at (or below) the requested connectivity"
                )
            self.budget = int(budget)
            self._shares = torch.tensor(shares, dtype=torch.float64)
            twin.dense_gradient = True
            self._reconnect(self.budget - sum(counts.values()))  # the reference's top-up at the first update
            self._check()

    # ------------------------------------------------------------------ access

    def _weight(self, name):
        return self.twin.weight(name)

    def _mask(self, name):
        return self.twin.mask(name)

    def _sign(self, name):
        return self.twin.sign(name).to(self._weight(name).dtype)

    def connection_counts(self):
        """Connected synapses (theta > 0) per rewired projection."""
        return {n: int(((self._weight(n) * self._sign(n)) > 0).sum()) for n in self.projections}

    def connection_count(self):
        """Connected synapses over all rewired projections (equals ``budget`` after every step)."""
        return sum(self.connection_counts().values())

    # ------------------------------------------------------------------ update

    def step(self, optimizer, learning_rate=None):
        """``optimizer.step()`` plus DEEP R; call it after ``loss.backward()``.

        ``learning_rate`` is the current eta (it scales the L1 pull and the
        noise); by default the lr of the optimiser group holding the weights.
        Adam is sign-symmetric, so stepping w with dL/dw moves theta = s w
        exactly as stepping theta with s dL/dw would (the reference's form).
        """
        eta = float(self._learning_rate(optimizer) if learning_rate is None else learning_rate)
        with torch.no_grad():
            dormant = {n: (self._weight(n) * self._sign(n)) <= 0 for n in self.projections}
            optimizer.step()
            for name in self.projections:
                if not torch.isfinite(self._weight(name)).all():  # the reference checks gradients likewise
                    raise FloatingPointError(f"DEEP R: non-finite weights in '{name}' after the optimiser step")
            noise_scale = math.sqrt(2.0 * eta * self.temperature)
            for name in self.projections:
                w, sign = self._weight(name), self._sign(name)
                theta = torch.where(dormant[name], torch.zeros_like(w), w * sign)
                if self.l1 or noise_scale:
                    update = -eta * self.l1
                    if noise_scale:
                        update = update + noise_scale * torch.randn(
                            w.shape, generator=self.generator, device=w.device, dtype=w.dtype
                        )
                    theta = torch.where(theta > 0, theta + update, theta)
                connected = theta > 0
                w.copy_(torch.where(connected, theta * sign, torch.zeros_like(w)))
                self._mask(name).copy_(connected)
            self._zero_absent_fixed()
            missing = self.budget - self.connection_count()
            if missing < 0:
                raise RuntimeError(f"DEEP R: {-missing} synapses over the budget {self.budget} after the step")
            self._reconnect(missing)
            self._check()

    def _learning_rate(self, optimizer):
        first = self._weight(self.projections[0])
        for group in optimizer.param_groups:
            if any(p is first for p in group["params"]):
                return group["lr"]
        raise ValueError("the optimiser does not hold the rewired weights; pass learning_rate")

    def _make_consistent(self):
        """Dormant weights exactly 0 and masks equal to theta > 0 (dense gradients rely on it)."""
        for name in self.projections:
            w, sign = self._weight(name), self._sign(name)
            connected = self._mask(name) & self._allowed[name] & ((w * sign) > 0)
            w.copy_(torch.where(connected, w, torch.zeros_like(w)))
            self._mask(name).copy_(connected)
        self._zero_absent_fixed()

    def _zero_absent_fixed(self):
        """Projections not rewired keep their topology although their absent entries get gradients."""
        for name in self.twin.weights:
            if name not in self.projections:
                w = self._weight(name)
                w.copy_(torch.where(self._mask(name), w, torch.zeros_like(w)))

    def _reconnect(self, count):
        """Wake ``count`` dormant synapses: matrices by a categorical draw, positions uniformly."""
        if count <= 0:
            return
        candidates = [(self._weight(n) == 0) & self._allowed[n] for n in self.projections]
        room = torch.tensor([int(c.sum()) for c in candidates], dtype=torch.int64)
        if int(room.sum()) < count:
            raise RuntimeError(f"DEEP R: {count} synapses to reconnect but only {int(room.sum())} dormant ones")
        device = self.generator.device
        per_matrix = torch.zeros_like(room)
        while int(per_matrix.sum()) < count:
            # Draws landing on a full matrix are redrawn among the others, so the total stays exact.
            left = room - per_matrix
            probabilities = torch.where(left > 0, self._shares, torch.zeros_like(self._shares))
            if not probabilities.sum() > 0:  # only matrices with a zero share have room left
                probabilities = left.to(torch.float64)
            draw = torch.multinomial(
                probabilities.to(device), count - int(per_matrix.sum()), replacement=True, generator=self.generator
            )
            per_matrix += torch.minimum(torch.bincount(draw, minlength=len(room)).cpu(), left)
        for name, candidate, k in zip(self.projections, candidates, per_matrix.tolist()):
            if k == 0:
                continue
            w, mask = self._weight(name), self._mask(name)
            order = torch.randperm(w.numel(), generator=self.generator, device=w.device)
            chosen = order[candidate.reshape(-1)[order]][:k]
            rows, cols = chosen // w.shape[1], chosen % w.shape[1]
            w[rows, cols] = self._sign(name)[rows, cols] * self.epsilon
            mask[rows, cols] = True

    def _check(self):
        count = self.connection_count()
        if count != self.budget:
            raise RuntimeError(f"DEEP R: {count} synapses connected, the budget is {self.budget}")

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self):
        """Everything a resumed run needs to continue bit-identically (with the twin's and optimiser's)."""
        return {
            "projections": list(self.projections),
            "budget": self.budget,
            "shares": self._shares.tolist(),
            "l1": self.l1,
            "temperature": self.temperature,
            "epsilon": self.epsilon,
            "allowed": {n: a.cpu().clone() for n, a in self._allowed.items()},
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state):
        if list(state["projections"]) != list(self.projections):
            raise ValueError(
                f"state is for projections {state['projections']}, this DeepR rewires {list(self.projections)}"
            )
        self.budget = int(state["budget"])
        self._shares = torch.tensor(state["shares"], dtype=torch.float64)
        self.l1, self.temperature, self.epsilon = (
            float(state["l1"]),
            float(state["temperature"]),
            float(state["epsilon"]),
        )
        self._allowed = {n: a.to(self._mask(n).device) for n, a in state["allowed"].items()}
        self.generator.set_state(state["generator"].cpu())

    def __repr__(self):
        return (
            f"DeepR({len(self.projections)} projections, budget={self.budget}, l1={self.l1:g}, "
            f"temperature={self.temperature:g}, epsilon={self.epsilon:g})"
        )
