"""Translate one Brian2 expression into torch source, folding what is constant.

Brian2's abstract code is Python-syntax expressions over named variables. Each
name is resolved through a ``Scope`` to either a number known when the twin is
built (a shared constant, ``dt``, ``N``, a loop invariant Brian2 hoisted) or a
name in the generated step function. Subtrees made only of numbers are
evaluated here with numpy, in float64, exactly as Brian2's numpy target
evaluates them, and written as exact literals; everything else becomes torch
source. Only arithmetic, comparisons, boolean logic and a table of functions
are accepted, so generated code never contains anything a document wrote
beyond those.
"""

import ast
import math
from dataclasses import dataclass, field

import numpy as np
from brian2.core.functions import timestep as brian_timestep

from ..errors import UnsupportedConstruct

_ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.Mod: "%", ast.FloorDiv: "//"}
_COMPARE = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!="}

# Brian2 function name -> (torch source for a tensor argument, numpy function for a constant).
_FUNCTIONS = {
    "exp": ("torch.exp", np.exp),
    "log": ("torch.log", np.log),
    "log10": ("torch.log10", np.log10),
    "expm1": ("torch.expm1", np.expm1),
    "log1p": ("torch.log1p", np.log1p),
    "sqrt": ("torch.sqrt", np.sqrt),
    "sin": ("torch.sin", np.sin),
    "cos": ("torch.cos", np.cos),
    "tan": ("torch.tan", np.tan),
    "sinh": ("torch.sinh", np.sinh),
    "cosh": ("torch.cosh", np.cosh),
    "tanh": ("torch.tanh", np.tanh),
    "arcsin": ("torch.asin", np.arcsin),
    "arccos": ("torch.acos", np.arccos),
    "arctan": ("torch.atan", np.arctan),
    "abs": ("torch.abs", np.abs),
    "sign": ("torch.sign", np.sign),
    "floor": ("torch.floor", np.floor),
    "ceil": ("torch.ceil", np.ceil),
    "int": ("torch.trunc", lambda x: np.int64(x)),
    "exprel": ("_exprel", lambda x: 1.0 if x == 0 else np.expm1(x) / x),
    "clip": ("torch.clamp", np.clip),
    "timestep": (None, brian_timestep),
}
SUPPORTED_FUNCTIONS = tuple(sorted(name for name in _FUNCTIONS if name != "timestep"))

CONSTANT, SCALAR, VECTOR = "constant", "scalar", "vector"  # how a (sub)expression varies


@dataclass
class Value:
    kind: str  # CONSTANT (``number`` set), SCALAR (per step, e.g. depends on t) or VECTOR (per neuron)
    source: str = ""
    number: object = None
    boolean: bool = False  # a bool tensor (comparisons, logic)

    @property
    def text(self):
        return literal(self.number) if self.kind == CONSTANT else self.source


@dataclass
class Scope:
    """What each Brian2 name means in the code being generated.

    ``constants``: name -> number; ``names``: name -> (source, kind, boolean);
    ``where``: the user's text for error messages (never Brian2's ``_lio_N``).
    """

    constants: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)
    where: str = ""
    used: set = field(default_factory=set)  # generated names the translated code reads

    def resolve(self, name):
        if name in self.constants:
            return Value(CONSTANT, number=self.constants[name])
        if name in self.names:
            source, kind, boolean = self.names[name]
            self.used.add(name)
            return Value(kind, source=source, boolean=boolean)
        if name in ("pi", "e", "inf"):
            return Value(CONSTANT, number={"pi": math.pi, "e": math.e, "inf": math.inf}[name])
        if name in ("True", "False"):
            return Value(CONSTANT, number=name == "True")
        raise UnsupportedConstruct(f"{self.where}: '{name}' is not a variable the twin knows here")


def literal(number):
    """Exact Python source for a number (floats round-trip through repr)."""
    if isinstance(number, (bool, np.bool_)):
        return "True" if number else "False"
    if isinstance(number, (int, np.integer)):
        return f"({int(number)})" if number < 0 else str(int(number))
    number = float(number)
    if math.isnan(number):
        return "_nan"
    if math.isinf(number):
        return "_inf" if number > 0 else "(-_inf)"
    return f"({number!r})" if number < 0 or repr(number).startswith("-") else repr(number)


def translate(expression, scope):
    """The Value of a Brian2 expression string in ``scope``."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise UnsupportedConstruct(f"{scope.where}: cannot parse '{expression}'") from None
    return _translate(tree.body, scope, expression)


def _unsupported(node, scope, text):
    return UnsupportedConstruct(
        f"{scope.where}: {_quoted(ast.unparse(node), text)} is not supported by the twin "
        f"(supported: arithmetic, comparisons, and/or/not, functions {', '.join(SUPPORTED_FUNCTIONS)})"
    )


def _translate(node, scope, text):
    if isinstance(node, ast.Constant) and isinstance(node.value, (bool, int, float)):
        return Value(CONSTANT, number=node.value)
    if isinstance(node, ast.Name):
        return scope.resolve(node.id)
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left, right = _translate(node.left, scope, text), _translate(node.right, scope, text)
        op = _ARITHMETIC[type(node.op)]
        if left.kind == CONSTANT and right.kind == CONSTANT:
            return Value(CONSTANT, number=_fold(op, left.number, right.number))
        return Value(_wider(left, right), source=f"({as_number(left)} {op} {as_number(right)})")
    if isinstance(node, ast.UnaryOp):
        operand = _translate(node.operand, scope, text)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.USub):
            if operand.kind == CONSTANT:
                return Value(CONSTANT, number=-operand.number)
            return Value(operand.kind, source=f"(-{as_number(operand)})")
        if isinstance(node.op, ast.Not):
            if operand.kind == CONSTANT:
                return Value(CONSTANT, number=not operand.number)
            return Value(operand.kind, source=f"(~{_as_bool(operand)})", boolean=True)
    if isinstance(node, ast.BoolOp):
        parts = [_translate(v, scope, text) for v in node.values]
        is_and = isinstance(node.op, ast.And)
        constants = [bool(p.number) for p in parts if p.kind == CONSTANT]
        if constants and (not all(constants) if is_and else any(constants)):
            return Value(CONSTANT, number=not is_and)  # short-circuited by a constant
        variable = [p for p in parts if p.kind != CONSTANT]
        if not variable:
            return Value(CONSTANT, number=is_and)
        symbol = " & " if is_and else " | "
        kind = VECTOR if any(p.kind == VECTOR for p in variable) else SCALAR
        return Value(kind, source="(" + symbol.join(_as_bool(p) for p in variable) + ")", boolean=True)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        left, right = _translate(node.left, scope, text), _translate(node.comparators[0], scope, text)
        op = _COMPARE[type(node.ops[0])]
        if left.kind == CONSTANT and right.kind == CONSTANT:
            return Value(CONSTANT, number=bool(_fold(op, left.number, right.number)))
        return Value(_wider(left, right), source=f"({left.text} {op} {right.text})", boolean=True)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        return _call(node, scope, text)
    raise _unsupported(node, scope, text)


def _call(node, scope, text):
    name = node.func.id
    if name not in _FUNCTIONS:
        raise UnsupportedConstruct(
            f"{scope.where}: the function '{name}' has no twin implementation "
            f"(supported: {', '.join(SUPPORTED_FUNCTIONS)})"
        )
    args = [_translate(a, scope, text) for a in node.args]
    torch_source, numpy_function = _FUNCTIONS[name]
    if all(a.kind == CONSTANT for a in args):
        return Value(CONSTANT, number=numpy_function(*(a.number for a in args)))
    if name == "timestep":
        raise UnsupportedConstruct(f"{scope.where}: timestep() of a changing value is not supported")
    kind = VECTOR if any(a.kind == VECTOR for a in args) else SCALAR
    if name == "int":
        return Value(kind, source=f"torch.trunc({as_number(args[0])})")
    return Value(kind, source=f"{torch_source}({', '.join(as_number(a) for a in args)})")


def _quoted(part, text):
    """A piece of Brian2's rewritten code, quoted only if it reads like the user's (no hoisted ``_lio`` names)."""
    return f"'{part}'" if "_lio" not in part else "an expression"


def _fold(op, a, b):
    a, b = np.float64(a) if isinstance(a, float) else a, np.float64(b) if isinstance(b, float) else b
    with np.errstate(all="ignore"):
        return {
            "+": np.add,
            "-": np.subtract,
            "*": np.multiply,
            "/": np.true_divide,
            "**": np.power,
            "%": np.mod,
            "//": np.floor_divide,
            ">": np.greater,
            ">=": np.greater_equal,
            "<": np.less,
            "<=": np.less_equal,
            "==": np.equal,
            "!=": np.not_equal,
        }[op](a, b)


def _wider(a, b):
    return VECTOR if VECTOR in (a.kind, b.kind) else SCALAR


def _as_bool(value):
    return value.text if value.boolean or value.kind == CONSTANT else f"({value.text} != 0)"


def as_number(value):
    """Torch functions do not take bool tensors: arithmetic on them goes through the step's dtype."""
    return f"{value.text}.to(_dtype)" if value.boolean and value.kind != CONSTANT else value.text
