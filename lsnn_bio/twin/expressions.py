"""Turn Brian2 expression strings into closures over tensors (or numpy scalars).

Brian2's statements are Python-syntax expressions; this walks their syntax tree
once and returns a closure ``f(env)``. Only arithmetic, comparisons, boolean
logic and a table of math functions are accepted, so evaluating a model never
runs arbitrary code, and anything else is reported as unsupported.
"""
import ast
import math

import numpy as np
import torch
from brian2.core.functions import timestep as brian_timestep

from ..errors import UnsupportedConstruct

_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
    ast.Mod: lambda a, b: a % b,
    ast.FloorDiv: lambda a, b: a // b,
}
_COMPARE = {
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
}


_ELEMENTWISE = (
    "exp", "log", "log10", "expm1", "log1p", "sqrt", "sin", "cos", "tan", "sinh", "cosh",
    "tanh", "arcsin", "arccos", "arctan", "abs", "sign", "floor", "ceil",
)


_NUMPY_FUNCTIONS = {name: getattr(np, name) for name in _ELEMENTWISE + ("clip",)}
_NUMPY_FUNCTIONS["exprel"] = lambda x: 1.0 if x == 0 else np.expm1(x) / x
_NUMPY_FUNCTIONS["int"] = lambda x: np.int64(x)
_NUMPY_FUNCTIONS["timestep"] = brian_timestep


def _torch_functions(dtype):
    def elementwise(name):
        # Scalars are computed with numpy, as Brian2's numpy target computes them.
        torch_f, numpy_f = getattr(torch, name), _NUMPY_FUNCTIONS[name]
        return lambda x: torch_f(x) if torch.is_tensor(x) else float(numpy_f(x))

    table = {name: elementwise(name) for name in _ELEMENTWISE}
    table["exprel"] = lambda x: (
        torch.where(x == 0, torch.ones_like(x), torch.expm1(x) / x) if torch.is_tensor(x) else _NUMPY_FUNCTIONS["exprel"](x)
    )
    table["clip"] = lambda x, lo, hi: torch.clamp(x, lo, hi) if torch.is_tensor(x) else float(np.clip(x, lo, hi))
    table["int"] = lambda x: x.to(dtype) if torch.is_tensor(x) else float(int(x))
    table["timestep"] = lambda t, dt: torch.trunc((t + 1e-3 * dt) / dt) if torch.is_tensor(t) else brian_timestep(t, dt)
    return table


def functions_for(dtype=None):
    """The function table: numpy for compile-time scalars, torch for the step."""
    return _NUMPY_FUNCTIONS if dtype is None else _torch_functions(dtype)


def compile_expression(expression, functions, where=""):
    """``"v*exp(_lio_1)"`` -> closure(env) computing it with ``functions``."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise UnsupportedConstruct(f"{where}: cannot parse expression '{expression}'") from None
    return _compile(tree.body, functions, expression, where)


def names_in(expression):
    return {node.id for node in ast.walk(ast.parse(expression.strip(), mode="eval")) if isinstance(node, ast.Name)}


def _compile(node, functions, text, where):
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            return lambda env: value
        if isinstance(value, (int, float)):
            value = float(value)
            return lambda env: value
    elif isinstance(node, ast.Name):
        name = node.id
        if name in ("True", "False"):
            value = name == "True"
            return lambda env: value
        if name in ("pi", "e", "inf"):
            value = {"pi": math.pi, "e": math.e, "inf": math.inf}[name]
            return lambda env: value
        return lambda env: env[name]
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        op = _BINARY[type(node.op)]
        left, right = _compile(node.left, functions, text, where), _compile(node.right, functions, text, where)
        return lambda env: op(left(env), right(env))
    elif isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand, functions, text, where)
        if isinstance(node.op, ast.USub):
            return lambda env: -operand(env)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not):
            return lambda env: _logical_not(operand(env))
    elif isinstance(node, ast.BoolOp):
        parts = [_compile(v, functions, text, where) for v in node.values]
        combine = _logical_and if isinstance(node.op, ast.And) else _logical_or

        def boolean(env):
            result = parts[0](env)
            for part in parts[1:]:
                result = combine(result, part(env))
            return result

        return boolean
    elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        op = _COMPARE[type(node.ops[0])]
        left, right = _compile(node.left, functions, text, where), _compile(node.comparators[0], functions, text, where)
        return lambda env: op(left(env), right(env))
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        name = node.func.id
        if name not in functions:
            raise UnsupportedConstruct(
                f"{where}: function '{name}' in '{text}' has no twin implementation "
                f"(supported: {', '.join(sorted(functions))})"
            )
        function = functions[name]
        args = [_compile(a, functions, text, where) for a in node.args]
        return lambda env: function(*(a(env) for a in args))
    raise UnsupportedConstruct(f"{where}: the construct '{ast.unparse(node)}' in '{text}' is not supported by the twin")


def _logical_not(x):
    return torch.logical_not(x) if torch.is_tensor(x) else not x


def _logical_and(a, b):
    return torch.logical_and(torch.as_tensor(a), torch.as_tensor(b)) if torch.is_tensor(a) or torch.is_tensor(b) else a and b


def _logical_or(a, b):
    return torch.logical_or(torch.as_tensor(a), torch.as_tensor(b)) if torch.is_tensor(a) or torch.is_tensor(b) else a or b
