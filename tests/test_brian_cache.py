"""Compiled binaries live in one cache: a second build of a network compiles nothing, a changed one gets its own
binary, two processes compiling at once end with one whole binary, and nothing is left in the system temp folder."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from lsnn_bio import load_network
from lsnn_bio.brian import BrianNetwork, cache

STEPS = 500  # as the cpp_net fixture is built
RECORD = {"ALIF": ["v", "b"], "LIF": ["v"]}  # as the cpp_net fixture records

TINY = """network: tiny
dt: 1 ms
inputs:
  x: {{size: 3}}
populations:
  P: {{neuron: {models}/lif.yaml, size: {size}}}
projections:
  input: {{source: x, target: P, weights: {{init: normal, scale: 1 V}}}}
"""


def tiny(models, tmp_path, size=4):
    path = tmp_path / f"tiny{size}.yaml"
    path.write_text(TINY.format(models=models, size=size))
    return path


def temp_listing():
    return sorted(os.listdir(tempfile.gettempdir()))


def test_the_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("LSNN_BIO_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.root() == tmp_path / "xdg" / "lsnn-bio"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.root() == tmp_path / "home" / ".cache" / "lsnn-bio"
    monkeypatch.setenv("LSNN_BIO_CACHE", str(tmp_path / "mine"))
    assert cache.root() == tmp_path / "mine"


def test_a_second_build_takes_the_binary_from_the_cache(store_recall_spec, cpp_net, poisson_raster):
    binary = cache.cached_binary(cpp_net.binary_key)
    assert binary is not None and binary.is_relative_to(cache.root())
    compiled_at = binary.stat().st_mtime_ns
    before = temp_listing()

    # cpp_net is still alive: Brian2 would name this network's code objects ..._1 without lsnn_bio's care.
    again = BrianNetwork(store_recall_spec, engine="cpp_standalone", steps=STEPS, record=RECORD)
    assert not again.compiled and again.binary_key == cpp_net.binary_key
    assert binary.stat().st_mtime_ns == compiled_at
    assert again.directory.is_relative_to(cache.root() / "work")

    inputs = {"symbols": poisson_raster(STEPS, store_recall_spec.inputs["symbols"].size, 30.0, 1e-3, seed=5)}
    reference, cached = cpp_net.run(inputs), again.run(inputs)
    for name in reference.spikes:
        np.testing.assert_array_equal(cached.spikes[name], reference.spikes[name])
    for key in reference.states:
        np.testing.assert_array_equal(cached.states[key], reference.states[key])

    work = again.directory
    again.close()
    assert not work.exists()
    assert temp_listing() == before


def test_changed_code_gets_a_new_key_and_changed_weights_do_not(models, tmp_path):
    """Weights and connectivity are data the binary reads; sizes and recordings are compiled in."""

    def key(spec, record=None, name="p"):
        network = BrianNetwork(
            spec, engine="cpp_standalone", steps=20, record=record, directory=tmp_path / name, generate_only=True
        )
        return cache.source_key(network.directory, "cpp_standalone")

    spec = load_network(tiny(models, tmp_path), seed=0)
    first = key(spec, name="a")
    assert key(spec, name="b") == first  # the same network generates the same code
    assert key(spec.with_weights({p.name: 2 * p.w for p in spec.projections}), name="c") == first
    assert key(load_network(tiny(models, tmp_path), seed=1), name="d") == first  # other draws, same code
    assert key(load_network(tiny(models, tmp_path, size=5), seed=0), name="e") != first
    assert key(spec, record={"P": ["v"]}, name="f") != first


SCRIPT = """
import json, sys
import numpy as np
import lsnn_bio
from lsnn_bio.brian import BrianNetwork
spec = lsnn_bio.load_network(sys.argv[1], seed=0)
network = BrianNetwork(spec, engine="cpp_standalone", steps=50)
result = network.run({"x": np.ones((50, 3))})
print(json.dumps({"compiled": network.compiled, "key": network.binary_key, "spikes": int(result.spikes["P"].sum())}))
"""


def test_two_processes_building_at_once_compile_once_and_leave_no_temp_files(models, tmp_path):
    temp = tmp_path / "temp"
    temp.mkdir()
    environment = {**os.environ, "LSNN_BIO_CACHE": str(tmp_path / "cache"), "TMPDIR": str(temp)}
    path = tiny(models, tmp_path)
    command = [sys.executable, "-c", SCRIPT, str(path)]
    processes = [subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    reports = [json.loads(process.communicate()[0]) for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    assert sorted(r["compiled"] for r in reports) == [False, True]  # the second waited for the first
    assert reports[0]["key"] == reports[1]["key"] and reports[0]["spikes"] == reports[1]["spikes"] > 0
    binaries = list(Path(tmp_path / "cache" / "binaries").glob("*/main"))
    assert len(binaries) == 1 and os.access(binaries[0], os.X_OK)
    assert not list(Path(tmp_path / "cache" / "binaries").glob("*/.main.*")), "no half-copied binary"
    assert not list((tmp_path / "cache" / "work").iterdir()), "working folders are removed"
    assert not list(temp.iterdir()), "nothing in the system temp folder"

    third = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    assert json.loads(third.stdout)["compiled"] is False


def test_working_folders_of_dead_processes_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("LSNN_BIO_CACHE", str(tmp_path))
    work = tmp_path / "work"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = work / f"{cache._host()}-{int(dead.stdout)}-cpp_standalone-0000"
    other_host = work / f"elsewhere-{int(dead.stdout)}-cpp_standalone-0000"
    for folder in (stale, other_host):
        folder.mkdir(parents=True)
    fresh = cache.work_directory("cpp_standalone")
    assert fresh.is_dir() and not stale.exists()
    assert other_host.exists(), "another machine's folder is not ours to judge"


def test_a_killed_process_leaves_nothing_in_the_temp_folder(tmp_path):
    """Brian2 opens a debug log in the temp folder at import and removes it only at a clean exit."""
    temp = tmp_path / "temp"
    temp.mkdir()
    script = "import os, signal, lsnn_bio.brian; os.kill(os.getpid(), signal.SIGKILL)"
    killed = subprocess.run([sys.executable, "-c", script], env={**os.environ, "TMPDIR": str(temp)})
    assert killed.returncode == -9
    assert not list(temp.iterdir())
