"""Physical units at the edges: parse document quantities, strip them to SI floats.

This is the one place where Brian2 quantities become plain SI numbers (for the
twin and for numpy arrays in the spec) and where document strings such as
``"20 ms"`` or ``"1.8 * volt"`` become quantities. Parsing walks a whitelisted
syntax tree; nothing in a document is ever executed.
"""

import ast

import brian2
import numpy as np
from brian2.units.fundamentalunits import DIMENSIONLESS, Quantity, Unit, get_dimensions, get_unit

MS = 1e-3  # one millisecond in seconds: for the edges that speak ms (Neo's times, figure axes, task options)

_UNIT_NAMES = {
    name: value for name, value in vars(brian2.units).items() if isinstance(value, Unit) and not name.startswith("_")
}
_UNIT_NAMES.update({name: value for name, value in vars(brian2.units.allunits).items() if isinstance(value, Unit)})
# Also accept the symbols Brian2 prints ("V", "A", "S", "ohm"), so printed values parse back.
_UNIT_NAMES.update({str(u): u for u in list(_UNIT_NAMES.values()) if str(u).isidentifier()})
# Wall-clock spans (an experiment's checkpoint_wall_time) read better in minutes and hours.
_UNIT_NAMES.update({"min": 60 * brian2.second, "minute": 60 * brian2.second, "h": 3600 * brian2.second})


def parse_quantity(text):
    """``"20 ms"``, ``"20*ms"``, ``"1.8 V"``, ``"0.3"``, ``5`` -> a Brian2 Quantity.

    Raises ValueError with the reason; callers add the document location.
    """
    if isinstance(text, bool):
        raise ValueError(f"expected a number with units, got the boolean {text}")
    if isinstance(text, (int, float)):
        return Quantity(float(text))
    if not isinstance(text, str):
        raise ValueError(f"expected a number with units such as '20 ms', got {type(text).__name__}")
    source = text.strip()
    # "20 ms" -> "20 * ms"; leave expressions that already have operators alone.
    parts = source.split()
    if len(parts) == 2 and not any(op in source for op in "*/"):
        source = f"{parts[0]} * {parts[1]}"
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        raise ValueError(f"'{text}' is not a quantity such as '20 ms' or '1.8 * volt'") from None
    return Quantity(_evaluate(tree.body, text))


def _evaluate(node, text):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id in _UNIT_NAMES:
            return _UNIT_NAMES[node.id]
        raise ValueError(f"unknown unit '{node.id}' in '{text}' (use Brian2 unit names: ms, mV, nA, Hz, volt, ...)")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand, text)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div, ast.Pow)):
        left, right = _evaluate(node.left, text), _evaluate(node.right, text)
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            return left / right
        return left**right
    raise ValueError(f"'{text}' is not a quantity such as '20 ms' or '1.8 * volt'")


def to_si(value):
    """Strip units: a Quantity (scalar or array) -> float or float64 array in SI."""
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else array


def unit_of(dimensions):
    """The Brian2 unit for a Dimension (``Unit(1)`` when dimensionless, never 'rad')."""
    return Unit(1) if dimensions is DIMENSIONLESS else get_unit(dimensions)


def describe_dimensions(value):
    """'V', 's', 'A' rather than 'm^2 kg s^-3 A^-1'."""
    dim = get_dimensions(value)
    return "dimensionless" if dim is DIMENSIONLESS else str(get_unit(dim))


def seconds(value, name="time"):
    """A positive time as float SI seconds: a Brian2 quantity, a ``quantities`` quantity, or a number in seconds.

    The one float convention of the package: a bare number is always seconds, never ms.
    Raises ValueError naming ``name`` and what is accepted.
    """
    accepted = f"{name} must be a positive time (e.g. 20 * ms, 20 * pq.ms, or 0.02 meaning seconds), got {value!r}"
    try:
        if hasattr(value, "rescale"):  # a quantities Quantity (Neo's units)
            result = float(value.rescale("s").magnitude)
        elif isinstance(value, Quantity):
            if get_dimensions(value) != brian2.second.dim:
                raise ValueError(f"it has units {describe_dimensions(value)}")
            result = float(value)
        elif isinstance(value, bool):
            raise ValueError("a boolean")
        else:
            result = float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{accepted} ({error})") from None
    if not np.isfinite(result) or result <= 0:
        raise ValueError(accepted)
    return result


# Brian2 unit -> the unit PyNN reports in Neo, and the factor from SI.
_NEO_UNITS = (
    ("volt", "mV", 1e3),
    ("second", "ms", 1e3),
    ("amp", "nA", 1e9),
    ("siemens", "uS", 1e6),
    ("farad", "nF", 1e9),
    ("ohm", "MOhm", 1e-6),
    ("hertz", "Hz", 1.0),
)
_SI_BASE = (("m", "m"), ("kg", "kg"), ("s", "s"), ("A", "A"), ("K", "K"), ("mol", "mol"), ("cd", "cd"))


def neo_unit(dimensions):
    """A Brian2 Dimension -> (Neo unit string, factor that turns SI values into it), as PyNN reports them.

    volt -> mV, second -> ms, amp -> nA, siemens -> uS, farad -> nF, ohm -> MOhm, hertz -> Hz,
    dimensionless stays so; anything else is written in SI base units (factor 1).
    """
    if dimensions is DIMENSIONLESS or dimensions == DIMENSIONLESS:
        return "dimensionless", 1.0
    for name, unit, factor in _NEO_UNITS:
        if dimensions == getattr(brian2, name).dim:
            return unit, factor
    parts = []
    for symbol, text in _SI_BASE:
        exponent = dimensions.get_dimension(symbol)
        if exponent:
            parts.append(text if exponent == 1 else f"{text}**{exponent:g}")
    return "*".join(parts), 1.0
