"""The twin's one hand-written C kernel: weight gradients of delayed synapses from the spikes that exist.

Torch has no product that skips the zeros of a dense spike raster and picks each
synapse's own delay: the sparse products it offers either visit every (step,
trial) of every synapse or repeat the whole product once per delay slot (ten
times the work with the paper's 1-10 ms delays). ``spike_gradients.c`` does the
sum directly. It is compiled once per machine with the system's C compiler
(``$CC``, else ``cc``; the one Inductor needs too) into the cache folder and
loaded with ctypes, which releases the GIL, so Python threads share the work.
Without a compiler the twin says so once and uses torch's products: the same
gradients, slower.
"""

import ctypes
import hashlib
import os
import platform
import shlex
import subprocess
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from ..files import cache_root

SOURCE = Path(__file__).with_name("spike_gradients.c")
FLAGS = ("-O3", "-shared", "-fPIC", "-std=c99")
BLOCK = 16  # trials the kernel checks for spikes at once (spike_gradients.c)
_FUNCTIONS = {torch.float32: "spike_gradients_float", torch.float64: "spike_gradients_double"}
_loaded = {}  # "library": the CDLL, or None once compiling failed
_lock = threading.Lock()  # one compile per process, even when threads ask at once


def library():
    """The compiled kernels (compiled into the cache on first use), or None if they cannot be built here."""
    with _lock:
        if "library" not in _loaded:
            try:
                _loaded["library"] = _load()
            except Exception as error:  # no compiler, a read-only cache: torch's products compute the same
                _loaded["library"] = None
                first_line = (str(error).strip().splitlines() or [""])[0][:200]
                warnings.warn(
                    f"the twin's spike-gradient kernel could not be compiled ({type(error).__name__}: {first_line}); "
                    "using torch's sparse products (same gradients, slower)",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return _loaded["library"]


def available(device):
    return device.type == "cpu" and library() is not None


def _load():
    compiler = shlex.split(os.environ.get("CC") or "cc")
    source = SOURCE.read_bytes()
    build = repr((compiler, FLAGS, platform.machine(), platform.system())).encode()
    key = hashlib.sha256(source + build).hexdigest()[:16]
    folder = cache_root() / "kernels"
    path = folder / f"spike_gradients-{key}.so"
    if path.exists():
        try:
            return _bind(ctypes.CDLL(str(path)))
        except OSError:  # a damaged file (a full disk, a copied cache): build it again
            pass
    folder.mkdir(parents=True, exist_ok=True)
    # Built under a name of its own, then renamed: another process (or container sharing the cache) never loads
    # half a file, and two that compile at once each rename a whole one.
    handle, partial = tempfile.mkstemp(dir=folder, prefix=".spike_gradients-", suffix=".so.tmp")
    os.close(handle)
    try:
        subprocess.run(
            [*compiler, *FLAGS, "-o", partial, str(SOURCE)], check=True, capture_output=True, text=True, timeout=120
        )
        os.replace(partial, path)
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"{error.cmd[0]} failed: {error.stderr.strip()}") from None
    finally:
        Path(partial).unlink(missing_ok=True)
    for old in folder.glob("spike_gradients-*.so"):  # earlier versions of the source (a process using one keeps it)
        if old != path:
            old.unlink(missing_ok=True)
    return _bind(ctypes.CDLL(str(path)))


def _bind(loaded):
    pointer, count = ctypes.c_void_p, ctypes.c_int64
    for name in _FUNCTIONS.values():
        getattr(loaded, name).argtypes = [pointer, pointer] + [count] * 8 + [pointer] * 5
        getattr(loaded, name).restype = None
    return loaded


def spike_gradients(history, gradients, past, lags, row_start, post, delay, threads):
    """sum over steps s and trials b of z[s, pre_k, b] * G[s + delay_k, post_k, b] for every synapse k (float64).

    ``history`` (past + steps, n_sources, batch): row r holds the spikes pushed at
    step r - past; ``gradients`` (past + steps + lags - 1 or more, n_cat, batch):
    row past + t holds G[t] = d loss / d current at step t, zero outside the
    trial's steps. The synapses are sorted by presynaptic row, those of row i at
    ``row_start[i]:row_start[i + 1]`` of ``post`` and ``delay`` (0 <= delay < lags).
    ``threads`` calls each sum a share of the batch into their own total.
    """
    if history.dtype not in _FUNCTIONS:
        raise ValueError(f"spike_gradients computes in float32 or float64, not {history.dtype}")
    rows, n_sources, batch = history.shape
    n_cat = gradients.shape[1]
    tensors = (history, gradients, row_start, post, delay)
    if not all(t.is_contiguous() and t.device.type == "cpu" for t in tensors) or gradients.dtype != history.dtype:
        raise ValueError("spike_gradients needs contiguous CPU tensors, history and gradients of one dtype")
    if row_start.dtype != torch.int64 or post.dtype != torch.int32 or delay.dtype != torch.int32:
        raise ValueError("spike_gradients needs int64 row_start and int32 post and delay")
    if gradients.shape[0] < rows + lags - 1 or gradients.shape[2] != batch:
        raise ValueError(f"spike_gradients needs gradients of shape ({rows + lags - 1} or more, n_cat, {batch})")
    if (
        row_start.shape != (n_sources + 1,)
        or row_start[0] != 0
        or row_start[-1] != len(post)
        or len(delay) != len(post)
    ):
        raise ValueError(f"row_start must be {n_sources + 1} offsets from 0 to the {len(post)} synapses")
    if len(post) and (
        bool((row_start.diff() < 0).any())
        or not 0 <= int(post.min()) <= int(post.max()) < n_cat
        or not 0 <= int(delay.min()) <= int(delay.max()) < lags
    ):
        raise ValueError(f"synapses need sorted rows, post in [0, {n_cat}) and delays in [0, {lags})")
    if not 0 <= past <= rows:
        raise ValueError(f"past must be between 0 and the history's {rows} rows, got {past}")
    if library() is None:
        raise RuntimeError("the spike-gradient kernel is not available on this machine (see the warning)")
    kernel = getattr(library(), _FUNCTIONS[history.dtype])
    blocks = -(-batch // BLOCK)
    chunks = max(1, min(threads, blocks))
    bounds = [min(batch, BLOCK * (blocks * k // chunks)) for k in range(chunks + 1)]
    totals = [torch.zeros(len(post), dtype=torch.float64) for _ in range(chunks)]
    rings = [history.new_empty(lags, bounds[k + 1] - bounds[k], n_cat) for k in range(chunks)]
    step_zero = gradients.data_ptr() + past * n_cat * batch * gradients.element_size()
    shared = (n_sources, n_cat, batch, past, lags)
    tables = (rows, row_start.data_ptr(), post.data_ptr(), delay.data_ptr())

    def call(k):
        kernel(
            history.data_ptr(),
            step_zero,
            *shared,
            bounds[k],
            bounds[k + 1],
            *tables,
            rings[k].data_ptr(),
            totals[k].data_ptr(),
        )

    if chunks == 1:
        call(0)
    else:
        with ThreadPoolExecutor(chunks) as pool:
            list(pool.map(call, range(chunks)))
    return sum(totals[1:], totals[0])
