"""One cache folder for compiled Brian2 binaries, so a network is compiled once per machine, not once per call.

A standalone network is generated into a private working folder (code, its static arrays, results), and
its binary is looked up by the hash of what the compiler reads: every generated source and header and
the makefile (which carries the compiler flags), plus the engine and this machine's CPU (the flags include
``-march=native``). Weights, connectivity and initial values are data the binary reads at start, not code,
so a retrained checkpoint of the same architecture reuses the binary; a different size, equation or
recording compiles anew. Compiling happens in the working folder; the binary is copied into the cache under
a temporary name and renamed, so two processes that compile the same network at once both end up with a
whole binary (a lock also makes the second wait for the first instead of compiling again).

Layout: ``ROOT/binaries/<key>/main`` (+ ``info.json``), ``ROOT/work/<host>-<pid>-<random>/`` (removed when
the network is closed or collected; those of dead processes on this host on the next start). ``ROOT`` is
``$LSNN_BIO_CACHE``, else ``$XDG_CACHE_HOME/lsnn-bio``, else ``~/.cache/lsnn-bio``. Nothing goes to the
system temporary folder.
"""

import contextlib
import hashlib
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

from ..errors import LsnnBioError
from ..files import cache_root as root
from ..files import write_atomically

SOURCE_SUFFIXES = {".c", ".cpp", ".h", ".hpp", ".cu", ".cuh"}
MAKEFILES = {"makefile", "win_makefile"}
SKIPPED = {"static_arrays", "results"}  # data, not code
BINARY = "main.exe" if os.name == "nt" else "main"
DEFAULT_SECONDS = {"cpp_standalone": 30, "cuda_standalone": 150}  # before this machine has compiled anything


class CompileError(LsnnBioError, RuntimeError):
    """The C++/CUDA compiler failed on generated code (its output is in the working folder's ``make.log``)."""


def _host():
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40] or "host"


def work_directory(engine):
    """A new private folder for one network's generated project, under the cache (never the system temp)."""
    work = root() / "work"
    work.mkdir(parents=True, exist_ok=True)
    remove_stale_work(work)
    directory = work / f"{_host()}-{os.getpid()}-{engine}-{secrets.token_hex(4)}"
    directory.mkdir()
    return directory


def remove_stale_work(work):
    """Remove working folders of processes on this host that no longer exist (killed before cleaning up)."""
    prefix = _host() + "-"
    for entry in work.iterdir():
        if not entry.name.startswith(prefix):
            continue
        pid = entry.name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _machine():
    """What a binary compiled with ``-march=native`` depends on besides its sources."""
    parts = [platform.machine(), platform.system(), os.environ.get("CXX", ""), os.environ.get("CXXFLAGS", "")]
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "model name", "Features")):
                parts.append(line)
            if line.strip() == "":
                break  # the first processor is enough
    return "\n".join(parts)


def source_key(directory, engine):
    """The hash of everything the compiler reads in a generated project (sources, headers, makefile)."""
    directory = Path(directory)
    digest = hashlib.sha256(f"{engine}\n{_machine()}\n".encode())
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if relative.parts[0] in SKIPPED or not path.is_file():
            continue
        if path.suffix.lower() in SOURCE_SUFFIXES or path.name in MAKEFILES:
            digest.update(f"{relative.as_posix()}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return f"{engine}-{digest.hexdigest()[:24]}"


def cached_binary(key):
    """The cached binary for ``key``, or None."""
    path = root() / "binaries" / key / BINARY
    return path if path.is_file() else None


@contextlib.contextmanager
def _locked(key):
    """Hold an exclusive lock on ``key`` (POSIX; elsewhere two compiles may run, which is only slower)."""
    folder = root() / "binaries"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(folder / f"{key}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def expected_seconds(engine):
    """How long a compile is likely to take here: the last one of this engine recorded in the cache."""
    latest = (0.0, DEFAULT_SECONDS.get(engine, 30))
    for info in (root() / "binaries").glob(f"{engine}-*/info.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            record = json.loads(info.read_text())
            if record["created"] > latest[0]:
                latest = (record["created"], record["compile_seconds"])
    return latest[1]


def compile_or_reuse(device, directory, engine, log=None):
    """Put a binary for the project in ``directory`` there: the cached one, or compile and cache it.

    Returns ``(key, compiled)``; ``compiled`` is False when the cache already had the binary. ``log``
    (a stream or None) gets one line before a compile, which is the slow one-off part of a standalone run.
    """
    key = source_key(directory, engine)
    target = Path(directory, BINARY)
    binary = cached_binary(key)
    if binary is None:
        with _locked(key):
            binary = cached_binary(key)  # another process may have compiled it while this one waited
            if binary is None:
                if log is not None:
                    what = "C++ standalone" if engine == "cpp_standalone" else "CUDA standalone"
                    print(
                        f"compiling the {what} binary (first time for this network, about "
                        f"{expected_seconds(engine):.0f} s; cached in {root()})",
                        file=log,
                        flush=True,
                    )
                seconds = _compile(device, directory)
                _store(target, key, engine, seconds)
                return key, True
    target.unlink(missing_ok=True)
    shutil.copy2(binary, target)
    return key, False


def _compile(device, directory):
    """Run Brian2's makefile in ``directory``, output to ``make.log`` there; the seconds it took."""
    import brian2
    from brian2.codegen.cpp_prefs import get_compiler_and_args

    Path(directory, BINARY).unlink(missing_ok=True)
    start = time.perf_counter()
    if os.name == "nt":  # Brian2's own MSVC path (its temporary log files are removed at exit)
        compiler, _ = get_compiler_and_args()
        device.compile_source(str(directory), compiler, debug=False, clean=False)
        return time.perf_counter() - start
    arguments = list(brian2.prefs.devices.cpp_standalone.extra_make_args_unix)
    if arguments == ["-j"]:  # Brian2's default starts every compiler at once (dozens on a 2-core machine)
        arguments = [f"-j{os.cpu_count() or 1}"]
    scratch = Path(directory, "tmp")  # the compiler's own temporary files: in the working folder, not /tmp
    scratch.mkdir(exist_ok=True)
    log_path = Path(directory, "make.log")
    with open(log_path, "w") as log:
        finished = subprocess.run(
            [brian2.prefs.devices.cpp_standalone.make_cmd_unix, *arguments],
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TMPDIR": str(scratch)},
        )
    if finished.returncode != 0 or not Path(directory, BINARY).is_file():
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        raise CompileError(
            f"compiling the generated code in {directory} failed (make exit status {finished.returncode}): "
            + " | ".join(tail)
        )
    return time.perf_counter() - start


def _store(binary, key, engine, seconds):
    """Copy a freshly compiled binary into the cache under a temporary name, then rename it into place."""
    import brian2

    folder = root() / "binaries" / key
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{BINARY}.{os.getpid()}.{secrets.token_hex(4)}"
    for stale in folder.glob(f".{BINARY}.*"):  # left by a process killed while copying
        pid = stale.name.split(".")[2]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)
    try:
        shutil.copy2(binary, partial)
        info = {"engine": engine, "created": time.time(), "compile_seconds": seconds, "brian2": brian2.__version__}
        write_atomically(folder / "info.json", json.dumps(info) + "\n")
        os.replace(partial, folder / BINARY)
    finally:
        partial.unlink(missing_ok=True)
