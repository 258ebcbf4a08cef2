"""Simulator results -> Neo in PyNN's layout, and back from every file format unchanged."""
import os
from datetime import timezone
from pathlib import Path
from types import SimpleNamespace

import brian2
import neo
import numpy as np
import pytest
import quantities as pq

import lsnn_bio
from lsnn_bio.errors import LsnnBioError
from lsnn_bio.neo_export import (
    EXTENSIONS,
    NeoExportError,
    NeoFileError,
    NeoFileNotFoundError,
    NeoFormatError,
    read_block,
    to_block,
    write_block,
)

STEPS = 200
EVENTS = [[(0, 50, "store", "1"), (100, 50, "recall", "1")], [(20, 30, "cue", "")]]
ANNOTATIONS = {"checkpoint_sha256": "0123abcd", "device": "cpp_standalone", "trials": 2, "accuracy": 0.875,
               "rewired": True}


@pytest.fixture(scope="module")
def spec(request):
    spec = lsnn_bio.load_network(request.config.rootpath / "models" / "lsnn_store_recall.yaml", seed=0)
    spec.populations["ALIF"].signs = np.array([1, -1] * 5, dtype=np.int8)  # as Dale's law would set them
    return spec


def synthetic_trial(rng, steps=STEPS):
    spikes = {"LIF": rng.random((steps, 10)) < 0.05, "ALIF": rng.random((steps, 10)) < 0.05}
    spikes["LIF"][:, 9] = False  # a silent neuron: an empty spike train
    states = {
        "LIF": {"v": rng.normal(0.0, 0.005, (steps, 10))},
        "ALIF": {"v": rng.normal(0.0, 0.005, (steps, 10)), "b": rng.random((steps, 10)),
                 "A": 0.01 + 0.01 * rng.random((steps, 10))},
        "out": {"out": rng.normal(size=(steps, 2))},
    }
    return SimpleNamespace(spikes=spikes, states=states, dt=1e-3)


@pytest.fixture(scope="module")
def trials():
    rng = np.random.default_rng(0)
    return [synthetic_trial(rng), synthetic_trial(rng)]


@pytest.fixture(scope="module")
def block(spec, trials):
    return to_block(spec, trials, dt=spec.dt, simulator="brian2", annotations=ANNOTATIONS, events=EVENTS)


def test_layout_follows_pynn(spec, trials, block):
    assert block.name == "lsnn_store_recall"
    assert block.annotations["simulator"] == "brian2" and block.annotations["dt"] == 1.0
    assert block.annotations["model"] == "lsnn_store_recall" and block.annotations["device"] == "cpp_standalone"
    assert block.rec_datetime.tzinfo is not None
    assert [s.name for s in block.segments] == ["trial000", "trial001"]
    segment = block.segments[0]
    assert len(segment.spiketrains) == 20  # LIF then ALIF; the readout has no spikes
    for train in segment.spiketrains:
        population, index = train.annotations["source_population"], train.annotations["source_index"]
        expected = np.nonzero(trials[0].spikes[population][:, index])[0] * 1.0  # step k -> k * dt (1 ms)
        np.testing.assert_array_equal(train.magnitude, expected)
        assert train.units == pq.ms and float(train.t_start) == 0.0 and float(train.t_stop) == STEPS
        assert train.annotations["channel_id"] == index + (10 if population == "ALIF" else 0)
        assert train.annotations["neuron_type"] == population
        assert train.annotations["sign"] == (int(spec.populations["ALIF"].signs[index]) if population == "ALIF" else 0)
    assert len(segment.spiketrains[9]) == 0
    signals = {s.name: s for s in segment.analogsignals}
    assert sorted(signals) == ["ALIF.A", "ALIF.b", "ALIF.v", "LIF.v", "out.out"]
    np.testing.assert_allclose(signals["ALIF.v"].magnitude, trials[0].states["ALIF"]["v"] * 1e3)
    np.testing.assert_allclose(signals["ALIF.A"].magnitude, trials[0].states["ALIF"]["A"] * 1e3)
    assert signals["ALIF.v"].units == pq.mV and signals["ALIF.A"].units == pq.mV
    assert signals["ALIF.b"].units == pq.dimensionless and signals["out.out"].units == pq.dimensionless
    assert signals["ALIF.v"].sampling_period == 1 * pq.ms and signals["ALIF.v"].shape == (STEPS, 10)
    np.testing.assert_array_equal(signals["ALIF.v"].array_annotations["channel_id"], np.arange(10, 20))
    np.testing.assert_array_equal(signals["ALIF.v"].array_annotations["sign"], spec.populations["ALIF"].signs)
    assert "channel_id" not in signals["out.out"].array_annotations
    (event,), (epoch,) = segment.events, segment.epochs
    np.testing.assert_array_equal(event.magnitude, [0.0, 100.0])
    np.testing.assert_array_equal(epoch.durations.magnitude, [50.0, 50.0])
    assert list(epoch.labels) == ["store:1", "recall:1"] and list(epoch.array_annotations["kind"]) == ["store", "recall"]
    assert list(block.segments[1].events[0].labels) == ["cue"]
    groups = {g.name: g for g in block.groups}
    assert sorted(groups) == ["ALIF", "LIF", "out"]
    assert len(groups["ALIF"].spiketrains) == 20 and len(groups["ALIF"].analogsignals) == 6
    assert len(groups["out"].spiketrains) == 0 and len(groups["out"].analogsignals) == 2


def test_dt_as_float_seconds_or_quantities(spec, trials):
    for dt in (1e-3, 1 * pq.ms, 0.001 * brian2.second):
        assert to_block(spec, trials[:1], dt=dt, simulator="brian2").annotations["dt"] == pytest.approx(1.0)
    with pytest.raises(NeoExportError, match="simulated with dt = 1 ms"):
        to_block(spec, trials[:1], dt=2 * pq.ms, simulator="brian2")
    with pytest.raises(NeoExportError, match="positive"):
        to_block(spec, trials[:1], dt=0.0, simulator="brian2")


def test_bad_input_is_named(spec, trials):
    with pytest.raises(NeoExportError, match="use str, int, float or bool"):
        to_block(spec, trials, dt=spec.dt, simulator="brian2", annotations={"weights": [1, 2]})
    with pytest.raises(NeoExportError, match="reserved"):
        to_block(spec, trials, dt=spec.dt, simulator="brian2", annotations={"dt": 1.0})
    with pytest.raises(NeoExportError, match="one list per trial"):
        to_block(spec, trials, dt=spec.dt, simulator="brian2", events=EVENTS[:1])
    broken = SimpleNamespace(spikes={"ALIF": np.zeros((STEPS, 3), dtype=bool)}, states={})
    with pytest.raises(NeoExportError, match=r"spikes\['ALIF'\] has shape \(200, 3\), expected \(steps, 10\)"):
        to_block(spec, [broken], dt=spec.dt, simulator="brian2")
    unknown = SimpleNamespace(spikes={}, states={"ALIF": {"w": np.zeros((STEPS, 10))}})
    with pytest.raises(NeoExportError, match="no variable 'w'"):
        to_block(spec, [unknown], dt=spec.dt, simulator="brian2")


def assert_same_block(original, read):
    """Everything the module docstring promises read_block gives back, for every format."""
    assert read.name == original.name and read.description == original.description
    assert read.annotations == original.annotations
    for key, value in original.annotations.items():
        assert type(read.annotations[key]) is type(value), key
    assert read.rec_datetime == original.rec_datetime and read.rec_datetime.tzinfo == timezone.utc
    assert [s.name for s in read.segments] == [s.name for s in original.segments]
    for a, b in zip(original.segments, read.segments):
        assert b.annotations == a.annotations
        assert len(b.spiketrains) == len(a.spiketrains)
        for x, y in zip(a.spiketrains, b.spiketrains):
            assert y.units == pq.ms and y.name == x.name and y.annotations == x.annotations
            np.testing.assert_allclose(y.magnitude, x.magnitude, rtol=1e-12, atol=1e-9)
            assert float(y.t_start) == pytest.approx(float(x.t_start)) and float(y.t_stop) == pytest.approx(float(x.t_stop))
        assert [s.name for s in b.analogsignals] == [s.name for s in a.analogsignals]
        for x, y in zip(a.analogsignals, b.analogsignals):
            assert y.units == x.units and y.annotations == x.annotations
            np.testing.assert_allclose(y.magnitude, x.magnitude, rtol=1e-12)
            assert float(y.sampling_period.rescale(pq.ms)) == pytest.approx(float(x.sampling_period.rescale(pq.ms)))
            assert float(y.t_start.rescale(pq.ms)) == float(x.t_start.rescale(pq.ms))
            assert sorted(y.array_annotations) == sorted(x.array_annotations)
            for key in x.array_annotations:
                np.testing.assert_array_equal(y.array_annotations[key], x.array_annotations[key])
        for x, y in zip(a.events + a.epochs, b.events + b.epochs):
            assert type(y) is type(x) and y.name == x.name
            np.testing.assert_allclose(y.rescale(pq.ms).magnitude, x.magnitude)
            assert list(y.labels) == list(x.labels)
            assert {k: list(v) for k, v in y.array_annotations.items()} == {k: list(v) for k, v in x.array_annotations.items()}
        for x, y in zip(a.epochs, b.epochs):
            np.testing.assert_allclose(y.durations.rescale(pq.ms).magnitude, x.durations.magnitude)
    assert [(g.name, g.annotations) for g in read.groups] == [(g.name, g.annotations) for g in original.groups]
    for x, y in zip(original.groups, read.groups):
        assert [t.name for t in y.spiketrains] == [t.name for t in x.spiketrains]
        assert [s.name for s in y.analogsignals] == [s.name for s in x.analogsignals]
        assert all(t.segment in read.segments for t in y.spiketrains)  # the same objects, not copies


@pytest.mark.parametrize("extension", EXTENSIONS)
def test_round_trip_through_every_format(block, tmp_path, extension):
    path = write_block(block, tmp_path / f"activity{extension}")
    assert path.exists() and os.listdir(tmp_path) == [path.name]  # no temporary file left behind
    assert_same_block(block, read_block(path))
    # Writing left the caller's block as it was (NIX stamps names, NWB renames objects on write).
    assert "nix_name" not in block.annotations and "nix_name" not in block.segments[0].spiketrains[0].annotations
    assert [s.name for s in block.segments[0].analogsignals][0] == "LIF.v" and block.segments[0].epochs[0].name == "task"


def test_nwb_native_part_is_readable_without_lsnn_bio(block, tmp_path):
    path = write_block(block, tmp_path / "activity.nwb")
    io = neo.io.NWBIO(str(path), mode="r")
    try:
        plain = io.read_block()
    finally:
        io.close()
    train = plain.segments[0].spiketrains[11]
    assert train.name == "ALIF[1]" and train.units == pq.s
    np.testing.assert_allclose(train.magnitude * 1e3, block.segments[0].spiketrains[11].magnitude)
    assert plain.annotations["session_start_time"].tzinfo is not None
    assert '"lsnn_bio.neo_layout"' in plain.annotations["notes"]


def test_overwrite_replaces_the_file(block, spec, trials, tmp_path):
    path = tmp_path / "activity.pkl"
    write_block(to_block(spec, trials[:1], dt=spec.dt, simulator="brian2"), path)
    write_block(block, path)
    assert len(read_block(path).segments) == 2


def test_unknown_extension(block, tmp_path):
    with pytest.raises(NeoFormatError, match=r"unknown Neo format '\.csv' \(accepted: \.nix, \.nwb, \.pkl, \.mat\)"):
        write_block(block, tmp_path / "activity.csv")
    assert os.listdir(tmp_path) == []
    (tmp_path / "notes.xyz").write_text("not neo")
    with pytest.raises(NeoFormatError, match="no Neo IO reads"):
        read_block(tmp_path / "notes.xyz")
    assert isinstance(NeoFormatError("x"), (ValueError, LsnnBioError))


def test_missing_file_and_folder(block, tmp_path):
    with pytest.raises(NeoFileNotFoundError, match="no such file"):
        read_block(tmp_path / "absent.nix")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_block(block, tmp_path / "absent" / "activity.nix")
    assert os.listdir(tmp_path) == []


def test_unwritable_folder(block, tmp_path, monkeypatch):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # root may write anywhere: let access() say what a user would see
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == folder else real_access(p, mode))
    try:
        with pytest.raises(NeoFileError, match="not writable"):
            write_block(block, folder / "activity.nix")
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("extension", [".pkl", ".nwb"])
def test_failed_write_leaves_nothing_behind(block, tmp_path, monkeypatch, extension):
    """A write that dies half way removes its temporary file and keeps the old file intact."""
    path = tmp_path / f"activity{extension}"
    path.write_bytes(b"previous contents")
    io_class = {".pkl": neo.io.PickleIO, ".nwb": neo.io.NWBIO}[extension]

    def half_written(self, *args, **kwargs):
        with open(self.filename, "wb") as handle:
            handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(io_class, "write_block", half_written)
    with pytest.raises(NeoFileError, match="disk full"):
        write_block(block, path)
    assert os.listdir(tmp_path) == [path.name] and path.read_bytes() == b"previous contents"


def test_units_come_from_the_equations(request):
    """AdEx: an adaptation current in amp becomes nA; dt 0.1 ms puts step k at k * 0.1 ms."""
    spec = lsnn_bio.load_network(request.config.rootpath / "models" / "adex_network.yaml", seed=0)
    raster = np.zeros((50, 40), dtype=bool)
    raster[[3, 17], 5] = True
    w = np.full((50, 40), 2e-10)  # 0.2 nA
    trial = SimpleNamespace(spikes={"exc": raster}, states={"exc": {"w": w, "v": np.full((50, 40), -0.07)}})
    block = to_block(spec, [trial], dt=spec.dt, simulator="brian2")
    segment = block.segments[0]
    np.testing.assert_allclose(segment.spiketrains[5].magnitude, [0.3, 1.7])
    assert float(segment.spiketrains[5].t_stop) == pytest.approx(5.0) and block.annotations["dt"] == pytest.approx(0.1)
    signals = {s.name: s for s in segment.analogsignals}
    assert signals["exc.w"].units == pq.nA and np.allclose(signals["exc.w"].magnitude, 0.2)
    assert signals["exc.v"].units == pq.mV and np.allclose(signals["exc.v"].magnitude, -70.0)
