"""Select and configure the Brian2 device a network is built and run on.

Brian2 keeps one *active* device per process. Every network here gets its own
device instance, activated only while its objects are created, built or run,
and the previously active device (normally ``runtime``) is restored afterwards,
so networks on different engines can live side by side in one process and code
that runs later is unaffected.

Engines (their names: ``lsnn_bio/engines.py``):

* ``numpy``: Brian2's runtime device with the numpy code generation target
  (no compiler, no cache, slow but the reference).
* ``cpp_standalone``: one C++ binary per network, compiled once and run once
  per trial with new inputs and weights (``device.run(run_args=...)``).
* ``cuda_standalone``: the same through brian2cuda. Without a GPU only the
  CUDA code is generated (the CI-level check).
"""

import contextlib
import functools
import importlib
import shutil
import site
import subprocess
import sys
from pathlib import Path

import brian2

# The module itself: ``from brian2.devices import device`` gives Brian2's proxy of the
# active device instead, on which these names silently resolve to dummies.
_device_module = importlib.import_module("brian2.devices.device")

from ..engines import EngineError, brian_engine
from . import cache


@functools.cache
def gpu_available():
    """Whether an NVIDIA GPU can be used here (``nvidia-smi -L`` lists one)."""
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return listing.returncode == 0 and "GPU" in listing.stdout


def new_device(engine):
    """A fresh device instance, so one network's build never clears another's."""
    engine = brian_engine(engine)
    if engine == "numpy":
        return _device_module.all_devices["runtime"]
    if engine == "cpp_standalone":
        from brian2.devices.cpp_standalone.device import CPPStandaloneDevice

        return CPPStandaloneDevice()
    try:
        from brian2cuda.device import CUDAStandaloneDevice
    except ImportError as error:
        raise EngineError(
            f"engine 'cuda_standalone' needs brian2cuda ({error}); install the 'cuda' extra "
            "(pip install 'lsnn-bio[cuda]'), or use 'cpp_standalone' or 'numpy'"
        ) from None
    return CUDAStandaloneDevice()


@contextlib.contextmanager
def active(device, engine, directory=None):
    """Make ``device`` Brian2's active device for the duration of the block.

    The numpy engine also pins ``prefs.codegen.target`` to numpy (Brian2 reads it
    when code objects are created, i.e. at every run). Standalone devices always
    get an explicit ``directory`` and ``build_on_run=False``: the caller decides
    when to build and runs the binary as often as it likes.
    """
    options = {} if engine == "numpy" else {"directory": str(directory)}
    previous_target = brian2.prefs.codegen.target
    brian2.set_device(device, build_on_run=False, **options)
    if engine == "numpy":
        brian2.prefs.codegen.target = "numpy"
    try:
        yield device
    finally:
        brian2.prefs.codegen.target = previous_target
        _device_module.reset_device()  # back to whatever was active before


@contextlib.contextmanager
def own_names():
    """Within the block, Brian2 picks ``name*`` names as if no object created before it existed.

    Brian2 turns ``ALIF_stateupdater_codeobject*`` into ``..._codeobject_1`` while another network's
    objects are alive (or merely not yet collected), so the same network would generate different code,
    and miss the binary cache, depending on what else the process holds. Names only need to be unique
    within one standalone project, and each network here has its own device and project.
    """
    from brian2.core import names

    earlier = {id(reference) for reference in names.Nameable.__instances__()}
    original = names.find_name

    def find_name(name, taken=None):
        if taken is None:
            taken = set()
            for reference in list(names.Nameable.__instances__()):
                obj = reference()
                if id(reference) not in earlier and obj is not None and hasattr(obj, "name"):
                    taken.add(obj.name)
        return original(name, taken)

    # Every module that imported the function by name (the device names code objects with it).
    users = [module for module in (names, _device_module) if getattr(module, "find_name", None) is original]
    for module in users:
        module.find_name = find_name
    try:
        yield
    finally:
        for module in users:
            module.find_name = original


@contextlib.contextmanager
def preferences(values):
    """Set Brian2 preferences for the duration of the block, then restore them."""
    saved = {name: brian2.prefs[name] for name in values}
    try:
        for name, value in values.items():
            brian2.prefs[name] = value
        yield
    finally:
        for name, value in saved.items():
            brian2.prefs[name] = value


def cuda_preferences(compile):
    """The brian2cuda preferences for generating (and, with a GPU, compiling) code.

    Without a GPU brian2cuda cannot query one, so the target is fixed to GPU 0 with
    compute capability 9.0 (H100/H200) and only code generation is possible.
    """
    import brian2cuda  # noqa: F401  (registers the cuda_standalone preferences)

    backend = "devices.cuda_standalone.cuda_backend"
    if not gpu_available():
        if compile:
            raise EngineError(
                "engine 'cuda_standalone' cannot compile or run here: no NVIDIA GPU found "
                "('nvidia-smi -L' failed); use generate_only=True (code generation only), "
                "or the 'cpp_standalone' or 'numpy' engine"
            )
        return {f"{backend}.detect_gpus": False, f"{backend}.gpu_id": 0, f"{backend}.compute_capability": 9.0}
    return _nvcc13_fixes() if compile else {}


def reset_cuda_selection():
    """Forget brian2cuda's cached GPU choice (it is global and survives networks)."""
    try:
        from brian2cuda.utils.gputools import reset_gpu_selection
    except ImportError:
        return
    reset_gpu_selection()


# ----------------------------------------------------------------------------------------
# nvcc 13 fixes (reference/environment.md). Only used where a GPU exists; they could not be
# tested on the development machine (no GPU). brian2cuda 1.0a7's makefile hard-codes
# -std=c++11 and CUDA 13 needs C++17; CUDA 13 wheels put curand under nvidia/cu13 and ship
# libcurand.so.10 without the unversioned libcurand.so the linker looks for.
# ----------------------------------------------------------------------------------------


def _nvcc13_fixes():
    from brian2cuda.utils.gputools import get_cuda_path, get_cuda_runtime_version

    backend = "devices.cuda_standalone.cuda_backend"
    try:
        version = float(get_cuda_runtime_version())
    except Exception:  # undetectable version: leave brian2cuda's defaults alone
        return {}
    if version < 13:
        return {}
    values = {
        f"{backend}.extra_compile_args_nvcc": list(brian2.prefs[f"{backend}.extra_compile_args_nvcc"]) + ["-std=c++17"],
        "codegen.cpp.extra_compile_args_gcc": list(brian2.prefs["codegen.cpp.extra_compile_args_gcc"]) + ["-std=c++17"],
    }
    if (Path(get_cuda_path()) / "include" / "curand.h").is_file():
        return values  # the toolkit has curand itself
    for root in site.getsitepackages() + [site.getusersitepackages()]:
        cu13 = Path(root) / "nvidia" / "cu13"
        if (cu13 / "include" / "curand.h").is_file():
            break
    else:
        print(
            "lsnn_bio: CUDA 13 without curand headers; 'pip install nvidia-curand' may be needed",
            file=sys.stderr,
        )
        return values
    # A private symlink (site-packages untouched) at a fixed place: the binary's rpath names it, and
    # cached binaries outlive the folder they were compiled in.
    link_dir = cache.root() / "cuda" / "_curand_link"
    link_dir.mkdir(parents=True, exist_ok=True)
    versioned = sorted((cu13 / "lib").glob("libcurand.so.*"))
    link = link_dir / "libcurand.so"
    if versioned and not link.exists():
        with contextlib.suppress(FileExistsError):  # another process made it first
            link.symlink_to(versioned[0])
    lib_dirs = [str(link_dir), str(cu13 / "lib")]
    values["codegen.cpp.include_dirs"] = list(brian2.prefs["codegen.cpp.include_dirs"]) + [str(cu13 / "include")]
    values["codegen.cpp.library_dirs"] = list(brian2.prefs["codegen.cpp.library_dirs"]) + lib_dirs
    values["codegen.cpp.runtime_library_dirs"] = list(brian2.prefs["codegen.cpp.runtime_library_dirs"]) + lib_dirs
    return values
