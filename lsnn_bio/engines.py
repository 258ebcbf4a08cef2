"""Every engine that can simulate a network, named once: Brian2's targets and the twin's precisions.

The command line, ``check`` and the Brian2 builder all read these names from here. The module
imports neither Brian2 nor torch, so ``lsnn-bio --help`` can list the engines without loading them.
"""

from .errors import LsnnBioError

BRIAN = {
    "numpy": "Brian2 runtime device, numpy code generation (reference, no compiler)",
    "cpp_standalone": "C++ standalone binary, compiled once, run per trial",
    "cuda_standalone": "brian2cuda standalone (needs an NVIDIA GPU to run; code generation works anywhere)",
}
ALIASES = {"runtime": "numpy"}  # Brian2's own name for its numpy device
STANDALONE = ("cpp_standalone", "cuda_standalone")
TWIN = {"twin64": "float64", "twin32": "float32"}  # engine name -> torch dtype name
ALL = (*TWIN, *BRIAN)
TORCH_DEVICES = ("cpu", "cuda")  # where the twin runs: what --device means on the command line


class EngineError(LsnnBioError, ValueError):
    """An engine that does not exist, or cannot do what was asked on this machine."""


def brian_engine(name):
    """The Brian2 engine called ``name`` ('runtime' is Brian2's name for 'numpy'), or an error listing them."""
    name = ALIASES.get(name, name)
    if name not in BRIAN:
        accepted = "; ".join(f"'{engine}' ({what})" for engine, what in BRIAN.items())
        raise EngineError(f"unknown Brian2 engine {name!r} (accepted: {accepted})")
    return name


def engine_list(text):
    """``'twin64,numpy'`` -> ['twin64', 'numpy'], refusing names that are not engines."""
    names = (
        [ALIASES.get(e.strip(), e.strip()) for e in text.split(",") if e.strip()]
        if isinstance(text, str)
        else list(text)
    )
    unknown = [e for e in names if e not in ALL]
    if unknown or not names:
        raise EngineError(f"unknown engine(s) {', '.join(unknown) or repr(text)} (accepted: {', '.join(ALL)})")
    return names
