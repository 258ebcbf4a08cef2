"""NetworkSpec: the framework-neutral network that both engines are built from.

Numpy arrays and Brian2 quantities only. Weights are float64 arrays in SI units
of the synapse model's ``w`` (``Projection.w_unit`` says which), delays are
integer time steps. Nothing here knows about torch or about running Brian2.
"""

from dataclasses import dataclass, field, replace

import numpy as np
from brian2 import Equations, Quantity, second
from brian2.units.fundamentalunits import DIMENSIONLESS

from .units import unit_of

REFRACTORY_VARIABLES = {"lastspike": second.dim, "not_refractory": DIMENSIONLESS}  # Brian2 adds them to such groups


@dataclass(frozen=True)
class SynapseModel:
    """How a presynaptic spike enters a neuron: Brian2 ``model`` and ``on_pre``.

    The model declares one parameter, the weight (usually ``w``; another name such
    as ``w_syn`` where the neuron already has a ``w``).
    """

    model: str
    on_pre: str

    @property
    def weight(self):
        """The name of the model's one parameter, which training changes and Brian2 sets per synapse."""
        parameters = Equations(self.model).parameter_names
        return sorted(parameters)[0] if len(parameters) == 1 else "w"

    @property
    def w_unit(self):
        """The unit of the weight: the spec stores SI floats, Brian2 needs the quantity."""
        return unit_of(Equations(self.model)[self.weight].dim)


@dataclass(frozen=True)
class NeuronModel:
    """A neuron type as written in a model document (Brian2 equations with units)."""

    name: str
    equations: str
    threshold: str | None
    reset: str | None
    method: str | None
    parameters: dict  # shared constants: name -> Quantity (the Brian2 namespace)
    initial: dict  # initial values of state variables / per-neuron parameters
    refractory: Quantity | None
    synapse: SynapseModel | None
    output: str | None  # the variable a readout reports (readouts only)
    source: str = ""
    schedule: dict = field(default_factory=dict)  # runner ("update", "threshold", "reset") -> (when, order)


@dataclass
class Population:
    """``size`` neurons of one model, with network-level overrides applied."""

    name: str
    size: int
    model: NeuronModel
    parameters: dict
    initial: dict
    refractory: Quantity | None
    dt: Quantity
    readout: bool = False
    signs: np.ndarray | None = None  # +1 excitatory / -1 inhibitory per neuron (Dale's law)

    def unit(self, variable):
        """The Brian2 unit of one of the model's variables (those of its equations, and Brian2's refractoriness)."""
        equations = Equations(self.model.equations)
        if variable not in equations and variable in REFRACTORY_VARIABLES:
            return unit_of(REFRACTORY_VARIABLES[variable])
        return unit_of(equations[variable].dim)

    def neurongroup_kwargs(self):
        """The NeuronGroup arguments, in one place so every Brian2 group of this population is the same group."""
        return dict(
            model=self.model.equations,
            threshold=self.model.threshold,
            reset=self.model.reset,
            refractory=False if self.refractory is None else self.refractory,
            method=self.model.method or ("exact", "euler"),
            namespace=dict(self.parameters),
            dt=self.dt,
        )

    @property
    def spiking(self):
        """Whether the population has a threshold, i.e. spikes to monitor and to deliver."""
        return self.model.threshold is not None

    @property
    def recordable(self):
        """Every variable a monitor can record here, the one list Brian2's builder, ``simulate`` and ``check`` use.

        The equations' state variables, subexpressions and per-neuron parameters, plus the
        ``lastspike``/``not_refractory`` Brian2 adds to a refractory population.
        """
        names = set(Equations(self.model.equations).names)
        return names | {"lastspike", "not_refractory"} if self.refractory is not None else names

    @property
    def state_variables(self):
        """The variables with a differential equation: what a simulation carries from step to step."""
        return set(Equations(self.model.equations).diff_eq_names)


@dataclass
class InputGroup:
    """Spike sources whose raster is given per trial (a TimedArray in Brian2)."""

    name: str
    size: int
    signs: np.ndarray | None = None


@dataclass
class Projection:
    """Synapses from ``source`` to ``target`` as sparse arrays.

    ``sign`` is each synapse's fixed sign (DEEP R keeps it while the magnitude
    is trained); ``delay`` is in time steps (0 = same step, Brian2's semantics).
    """

    name: str
    source: str
    target: str
    i: np.ndarray
    j: np.ndarray
    w: np.ndarray
    delay: np.ndarray
    sign: np.ndarray
    synapse: SynapseModel
    entry: str = ""  # the document's projection entry this came from (one entry may give several projections)
    autapses: bool = True  # whether a neuron may connect to itself (source == target only)
    # Every *potential* synapse's delay and fixed sign, (n_pre, n_post): where rewiring
    # (DEEP R) connects a dormant pair, it gets the delay and sign drawn at initialisation.
    potential_delay: np.ndarray | None = None
    potential_sign: np.ndarray | None = None

    @property
    def w_unit(self):
        return self.synapse.w_unit


@dataclass
class NetworkSpec:
    """A network as both engines must see it: the one source the twin is generated from and Brian2 is built from.

    Everything random (connectivity, weights, delays, signs) is already drawn into
    arrays here, so two engines, two processes or two years apart simulate the same
    network; a checkpoint stores a trained one as the same arrays.
    """

    name: str
    dt: Quantity
    inputs: dict  # name -> InputGroup
    populations: dict  # name -> Population, in document order (readouts last)
    projections: list
    seed: int
    documents: dict = field(default_factory=dict)  # file name -> exact text, for checkpoints

    @property
    def readouts(self):
        """Thresholdless populations whose ``output`` variable is what a task reads."""
        return [p for p in self.populations.values() if p.readout]

    @property
    def recurrent(self):
        """Every population that is not a readout (what rate regularisation and rasters are about)."""
        return [p for p in self.populations.values() if not p.readout]

    def size_of(self, name):
        """Neurons of an input or a population: projections connect either, by name."""
        group = self.inputs.get(name) or self.populations.get(name)
        return group.size

    def with_weights(self, weights):
        """A copy with new weight arrays: ``{projection name: w}`` in SI units."""
        projections = [
            replace(p, w=np.asarray(weights[p.name], dtype=np.float64)) if p.name in weights else p
            for p in self.projections
        ]
        return replace(self, projections=projections)
