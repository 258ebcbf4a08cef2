"""Store-recall: the paper's memory sanity check (reference section 3.2), as the official tutorial generates it.

It is the smallest task an ALIF network solves and a LIF-only network does not, which makes it
the first thing to run on a new port.

Definition (``tutorial_storerecall_utils.py``: ``generate_input_with_prob``, ``validity_test``,
``generate_mikolov_data``, ``generate_storerecall_data``). A trial is ``n_symbols`` slots of
``symbol_ms``. Each slot starts as a random bit (0 or 1). Walking through the slots, while waiting
for a STORE a slot becomes STORE with probability p = 1/(1+seq_delay); after a STORE, while waiting
for a RECALL, a slot becomes RECALL with probability p (a slot just turned into STORE is not also
tested for RECALL). So STOREs and RECALLs alternate, starting with a STORE. A sequence is kept only
if it is valid -- at least one STORE, one RECALL and one bit; it ends waiting for a STORE (every
STORE is followed by a RECALL); the slot right after every STORE is a bit -- otherwise it is
redrawn. With ``store_shows_bit=True`` (the official code) the bit to store is presented *together
with* the STORE: during a STORE slot both the STORE group and the group of the bit b in the next
slot fire, and the next slot then shows b or, with probability 1/2, the opposite bit (a
distractor). The target of every RECALL is b of the most recent STORE, i.e. the bit shown during
that STORE slot. With ``store_shows_bit=False`` the STORE slot shows only the STORE group and the
target is the bit shown in the slot after it. Inputs: 4 groups of ``inputs_per_group`` neurons (0,
1, STORE, RECALL, in that order); a neuron of an active group spikes in each time step with
probability rate_hz * dt, other neurons are silent. Windows are the RECALL slots; K = n_symbols // 3
(the most recalls that fit, one STORE-bit-RECALL triple each), so every batch has the same shape.

Splits: training trials are drawn afresh from the trainer's generator at every batch; the
validation and test sets are ``validation_sequences`` and ``test_sequences`` fixed trials drawn
from the ``validation`` and ``test`` streams of the task's own ``seed`` (``seeds.py``), symbols
from one stream and each trial's spikes from its own, so a held-out trial is the same whatever
the batch size.

Time step: Poisson inputs are well defined at any ``dt_ms`` that divides ``symbol_ms`` (with
rate_hz * dt <= 1), so the task renders itself at the network's time step (experiments pass
the network's dt unless the document gives ``dt_ms``).
"""

import numpy as np

from .. import seeds
from .base import HELD_OUT, Batch, Task, TaskError, ms_to_steps, positive_int

BIT0, BIT1, STORE, RECALL = 0, 1, 2, 3
GROUPS = ("0", "1", "store", "recall")

_HELD_OUT_CHUNK = 256  # held-out symbols are drawn in fixed chunks, so the set does not depend on its size's history


class StoreRecall(Task):
    """Remember the bit given with the last STORE and report it at every RECALL (see the module docstring)."""

    name = "store_recall"
    n_classes = 2
    class_names = ("stored bit 0", "stored bit 1")

    def __init__(
        self,
        symbol_ms=200,
        n_symbols=12,
        inputs_per_group=25,
        rate_hz=50,
        seq_delay=6,
        validation_sequences=256,
        test_sequences=512,
        seed=0,
        store_shows_bit=True,
        dt_ms=1.0,
    ):
        self._options = dict(
            symbol_ms=symbol_ms,
            n_symbols=n_symbols,
            inputs_per_group=inputs_per_group,
            rate_hz=rate_hz,
            seq_delay=seq_delay,
            validation_sequences=validation_sequences,
            test_sequences=test_sequences,
            seed=seed,
            store_shows_bit=store_shows_bit,
            dt_ms=dt_ms,
        )
        if (
            isinstance(dt_ms, bool)
            or not isinstance(dt_ms, (int, float, np.integer, np.floating))
            or not 0 < dt_ms < float("inf")
        ):
            raise TaskError(f"task '{self.name}': option dt_ms must be a positive time step in ms, got {dt_ms!r}")
        self.dt_ms = float(dt_ms)
        self.symbol_steps = ms_to_steps(self.name, "symbol_ms", symbol_ms, self.dt_ms)
        self.n_symbols = positive_int(self.name, "n_symbols", n_symbols)
        if self.n_symbols < 3:
            raise TaskError(
                f"task '{self.name}': option n_symbols must be at least 3 (STORE, bit, RECALL), got {n_symbols!r}"
            )
        self.inputs_per_group = positive_int(self.name, "inputs_per_group", inputs_per_group)
        self.spike_probability = float(rate_hz) * self.dt_ms / 1000.0
        if not 0 < self.spike_probability <= 1:
            raise TaskError(
                f"task '{self.name}': option rate_hz must be in (0, {1000 / self.dt_ms:g}] Hz, got {rate_hz!r}"
            )
        if (
            isinstance(seq_delay, bool)
            or not isinstance(seq_delay, (int, float, np.integer, np.floating))
            or seq_delay < 0
        ):
            raise TaskError(
                f"task '{self.name}': option seq_delay must be a number >= 0 (expected delay in symbols), got {seq_delay!r}"
            )
        self.signal_probability = 1.0 / (1.0 + seq_delay)
        if self.signal_probability >= 1:
            raise TaskError(f"task '{self.name}': option seq_delay must be > 0, got {seq_delay!r}")
        self.held_out_sizes = {
            "validation": positive_int(self.name, "validation_sequences", validation_sequences),
            "test": positive_int(self.name, "test_sequences", test_sequences),
        }
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise TaskError(f"task '{self.name}': option seed must be a whole number >= 0, got {seed!r}")
        self.seed = int(seed)
        self.store_shows_bit = bool(store_shows_bit)

        self.n_inputs = 4 * self.inputs_per_group
        self.steps = self.n_symbols * self.symbol_steps
        self.max_recalls = self.n_symbols // 3
        self._held_out = {}

    # -- symbol sequences ------------------------------------------------------------------

    def _valid(self, seq):
        is_store, is_recall = seq == STORE, seq == RECALL
        after_store_ok = ~(is_store[:, :-1] & (seq[:, 1:] >= STORE)).any(axis=1) & ~is_store[:, -1]
        return (
            is_store.any(axis=1)
            & is_recall.any(axis=1)
            & (seq < STORE).any(axis=1)
            & (is_store.sum(axis=1) == is_recall.sum(axis=1))  # alternation starts with STORE: ends on a RECALL
            & after_store_ok
        )

    def _candidates(self, count, rng):
        seq = rng.integers(0, 2, size=(count, self.n_symbols), dtype=np.int64)
        draws = rng.random((count, self.n_symbols))
        waiting_for_store = np.ones(count, dtype=bool)
        for slot in range(self.n_symbols):  # a short loop over symbols, vectorised over sequences
            hit = draws[:, slot] < self.signal_probability
            to_store, to_recall = hit & waiting_for_store, hit & ~waiting_for_store
            seq[to_store, slot] = STORE
            seq[to_recall, slot] = RECALL
            waiting_for_store = (waiting_for_store & ~to_store) | to_recall
        flips = rng.random((count, self.n_symbols)) < 0.5
        return seq, flips

    def _draw(self, count, rng, chunk=None):
        """``count`` valid sequences: symbols (as generated, targets after STOREs) and distractor flips."""
        seqs, flips, have = [], [], 0
        for _ in range(10_000):
            seq, flip = self._candidates(chunk or max(64, 4 * (count - have)), rng)
            keep = self._valid(seq)
            seqs.append(seq[keep])
            flips.append(flip[keep])
            have += int(keep.sum())
            if have >= count:
                return np.concatenate(seqs)[:count], np.concatenate(flips)[:count]
        raise TaskError(
            f"task '{self.name}': almost no valid sequences with n_symbols={self.n_symbols} and "
            f"seq_delay giving p={self.signal_probability:.3g}; use more symbols or a shorter seq_delay"
        )

    def _shown(self, seq, flips):
        """Which input groups are active in each slot: (size, n_symbols, 4) bool."""
        size = len(seq)
        shown = np.zeros((size, self.n_symbols, 4), dtype=bool)
        rows, slots = np.indices(seq.shape)
        shown[rows, slots, seq] = True
        if self.store_shows_bit:
            b, s = np.nonzero(seq[:, :-1] == STORE)
            stored = seq[b, s + 1]
            shown[b, s, stored] = True  # the bit to store fires together with STORE
            flip = flips[b, s + 1]
            shown[b[flip], s[flip] + 1, stored[flip]] = False  # the next slot shows the opposite bit (distractor)
            shown[b[flip], s[flip] + 1, 1 - stored[flip]] = True
        return shown

    def _targets(self, seq):
        """Target bit per slot: the symbol after the most recent STORE (meaningful at RECALL slots)."""
        slots = np.arange(self.n_symbols)
        last_store = np.maximum.accumulate(np.where(seq == STORE, slots, -1), axis=1)
        after = np.clip(last_store + 1, 0, self.n_symbols - 1)
        return np.take_along_axis(seq, after, axis=1)

    # -- batches -----------------------------------------------------------------------------

    def _make(self, seq, flips, spike_rngs):
        size = len(seq)
        shown = self._shown(seq, flips)
        targets = self._targets(seq)

        # Spikes are drawn only in the active (trial, slot, group) blocks: a 1/4 of the cells.
        b, s, g = np.nonzero(shown)
        block = (self.symbol_steps, self.inputs_per_group)
        if isinstance(spike_rngs, np.random.Generator):
            uniform = spike_rngs.random((len(b),) + block, dtype=np.float32)
        else:  # one generator per trial, so a test trial is the same whatever the batch size
            counts = np.bincount(b, minlength=size)
            uniform = np.concatenate([r.random((n,) + block, dtype=np.float32) for r, n in zip(spike_rngs, counts)])
        inputs = np.zeros((self.n_symbols, self.symbol_steps, size, 4, self.inputs_per_group), dtype=np.float32)
        inputs[s, :, b, g, :] = uniform < np.float32(self.spike_probability)
        inputs = inputs.reshape(self.steps, size, self.n_inputs)

        windows = np.zeros((size, self.max_recalls, 2), dtype=np.int64)
        windows[:, :] = (0, self.symbol_steps)  # padding: a non-empty range, masked out
        labels = np.zeros((size, self.max_recalls), dtype=np.int64)
        mask = np.zeros((size, self.max_recalls), dtype=bool)
        b, s = np.nonzero(seq == RECALL)
        k = np.cumsum(seq == RECALL, axis=1)[b, s] - 1
        windows[b, k, 0], windows[b, k, 1] = s * self.symbol_steps, (s + 1) * self.symbol_steps
        labels[b, k] = targets[b, s]
        mask[b, k] = True

        events = []
        for i in range(size):
            trial = []
            for slot in range(self.n_symbols):
                start = slot * self.symbol_steps
                if seq[i, slot] == STORE:
                    trial.append((start, self.symbol_steps, "store", str(int(seq[i, slot + 1]))))
                elif seq[i, slot] == RECALL:
                    trial.append((start, self.symbol_steps, "recall", str(int(targets[i, slot]))))
                else:
                    trial.append((start, self.symbol_steps, "bit", "1" if shown[i, slot, BIT1] else "0"))
            events.append(trial)
        return Batch(inputs=inputs, windows=windows, labels=labels, mask=mask, events=events)

    def batch(self, split, size, rng):
        self._check_split(split)
        size = self._check_size(size)
        self._check_rng(rng)
        if split == "train":
            seq, flips = self._draw(size, rng)
            return self._make(seq, flips, rng)
        index = rng.choice(self.held_out_sizes[split], size=size, replace=size > self.held_out_sizes[split])
        seq, flips = self._held_out_set(split)
        return self._make(seq[index], flips[index], [self._trial_rng(split, i) for i in index])

    def batches(self, split, size):
        self._check_split(split, HELD_OUT)
        size = self._check_size(size)
        seq, flips = self._held_out_set(split)
        total = self.held_out_sizes[split]
        for start in range(0, total, size):
            stop = min(start + size, total)
            yield self._make(
                seq[start:stop], flips[start:stop], [self._trial_rng(split, i) for i in range(start, stop)]
            )

    def split_size(self, split):
        self._check_split(split)
        return None if split == "train" else self.held_out_sizes[split]

    def _held_out_set(self, split):
        """The split's fixed symbols: (count, n_symbols) and distractor flips, from stream (split, 0) of the seed."""
        if split not in self._held_out:
            rng = seeds.generator(self.seed, split, 0)
            self._held_out[split] = self._draw(self.held_out_sizes[split], rng, chunk=_HELD_OUT_CHUNK)
        return self._held_out[split]

    def _trial_rng(self, split, i):
        """Trial i's own spike stream (split, 1, i), so a held-out trial does not depend on its batch."""
        return seeds.generator(self.seed, split, 1, int(i))
