"""Simulator results -> Neo in PyNN's layout, and back from every file format unchanged."""

import functools
import os
import pickle
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import brian2
import neo
import numpy as np
import pytest
import quantities as pq

import lsnn_bio
from lsnn_bio.files import OutputPathError
from lsnn_bio.neo import (
    EXTENSIONS,
    NeoExportError,
    NeoFileError,
    NeoFileNotFoundError,
    NeoFormatError,
    UntrustedFileError,
    read_block,
    to_block,
    write_block,
)

STEPS = 200
EVENTS = [[(0, 50, "store", "1"), (100, 50, "recall", "1")], [(20, 30, "cue", "")]]
ANNOTATIONS = {
    "checkpoint_sha256": "0123abcd",
    "device": "cpp_standalone",
    "trials": 2,
    "accuracy": 0.875,
    "rewired": True,
}
MODELS = Path(__file__).resolve().parent.parent / "models"


@functools.cache
def store_recall_spec():
    spec = lsnn_bio.load_network(MODELS / "lsnn_store_recall.yaml", seed=0)
    spec.populations["ALIF"].signs = np.array([1, -1] * 5, dtype=np.int8)  # as Dale's law would set them
    return spec


def synthetic_trial(rng, steps=STEPS):
    spikes = {"LIF": rng.random((steps, 10)) < 0.05, "ALIF": rng.random((steps, 10)) < 0.05}
    spikes["LIF"][:, 9] = False  # a silent neuron: an empty spike train
    states = {
        ("LIF", "v"): rng.normal(0.0, 0.005, (steps, 10)),
        ("ALIF", "v"): rng.normal(0.0, 0.005, (steps, 10)),
        ("ALIF", "b"): rng.random((steps, 10)),
        ("ALIF", "A"): 0.01 + 0.01 * rng.random((steps, 10)),
        ("out", "out"): rng.normal(size=(steps, 2)),
    }
    return SimpleNamespace(spikes=spikes, states=states, dt=1e-3)


@functools.cache
def two_trials():
    rng = np.random.default_rng(0)
    return (synthetic_trial(rng), synthetic_trial(rng))


def store_recall_block():
    spec = store_recall_spec()
    return to_block(spec, two_trials(), dt=spec.dt, simulator="brian2", annotations=ANNOTATIONS, events=EVENTS)


def signals_by_name(segment):
    return {(s.annotations["source_population"], s.name): s for s in segment.analogsignals}


def test_layout_follows_pynn():
    spec, trials, block = store_recall_spec(), two_trials(), store_recall_block()
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
        assert train.annotations["neuron_type"] == spec.populations[population].model.name
        assert train.annotations["sign"] == (int(spec.populations["ALIF"].signs[index]) if population == "ALIF" else 0)
    assert len(segment.spiketrains[9]) == 0
    signals = signals_by_name(segment)
    # Named as PyNN names them: the variable, with the population in an annotation.
    assert sorted(signals) == [("ALIF", "A"), ("ALIF", "b"), ("ALIF", "v"), ("LIF", "v"), ("out", "out")]
    np.testing.assert_allclose(signals["ALIF", "v"].magnitude, trials[0].states["ALIF", "v"] * 1e3)
    np.testing.assert_allclose(signals["ALIF", "A"].magnitude, trials[0].states["ALIF", "A"] * 1e3)
    assert signals["ALIF", "v"].units == pq.mV and signals["ALIF", "A"].units == pq.mV
    assert signals["ALIF", "b"].units == pq.dimensionless and signals["out", "out"].units == pq.dimensionless
    assert signals["ALIF", "v"].sampling_period == 1 * pq.ms and signals["ALIF", "v"].shape == (STEPS, 10)
    np.testing.assert_array_equal(signals["ALIF", "v"].array_annotations["channel_id"], np.arange(10, 20))
    np.testing.assert_array_equal(signals["ALIF", "v"].array_annotations["sign"], spec.populations["ALIF"].signs)
    assert "channel_id" not in signals["out", "out"].array_annotations
    (event,), (epoch,) = segment.events, segment.epochs
    np.testing.assert_array_equal(event.magnitude, [0.0, 100.0])
    np.testing.assert_array_equal(epoch.durations.magnitude, [50.0, 50.0])
    assert list(epoch.labels) == ["store:1", "recall:1"] and list(epoch.array_annotations["kind"]) == [
        "store",
        "recall",
    ]
    assert list(block.segments[1].events[0].labels) == ["cue"]
    groups = {g.name: g for g in block.groups}
    assert sorted(groups) == ["ALIF", "LIF", "out"]
    assert len(groups["ALIF"].spiketrains) == 20 and len(groups["ALIF"].analogsignals) == 6
    assert {s.name for s in groups["ALIF"].analogsignals} == {"v", "b", "A"}
    assert len(groups["out"].spiketrains) == 0 and len(groups["out"].analogsignals) == 2


@pytest.mark.parametrize("dt", [1e-3, 1 * pq.ms, 0.001 * brian2.second], ids=["float seconds", "quantities", "brian2"])
def test_dt_is_a_time_and_a_bare_float_means_seconds(dt):
    spec = store_recall_spec()
    assert to_block(spec, two_trials()[:1], dt=dt, simulator="brian2").annotations["dt"] == pytest.approx(1.0)


def test_bad_input_is_named():
    spec, trials = store_recall_spec(), two_trials()
    with pytest.raises(NeoExportError, match="simulated with dt = 1 ms"):
        to_block(spec, trials[:1], dt=2 * pq.ms, simulator="brian2")
    with pytest.raises(NeoExportError, match="dt must be a positive time"):
        to_block(spec, trials[:1], dt=0.0, simulator="brian2")
    with pytest.raises(NeoExportError, match="dt must be a positive time.*has units V"):
        to_block(spec, trials[:1], dt=brian2.mV, simulator="brian2")
    with pytest.raises(NeoExportError, match="use str, int, float or bool"):
        to_block(spec, trials, dt=spec.dt, simulator="brian2", annotations={"weights": [1, 2]})
    with pytest.raises(NeoExportError, match="reserved"):
        to_block(spec, trials, dt=spec.dt, simulator="brian2", annotations={"dt": 1.0})
    with pytest.raises(NeoExportError, match="one list per trial"):
        to_block(spec, trials, dt=spec.dt, simulator="brian2", events=EVENTS[:1])
    broken = SimpleNamespace(spikes={"ALIF": np.zeros((STEPS, 3), dtype=bool)}, states={})
    with pytest.raises(NeoExportError, match=r"spikes\['ALIF'\] has shape \(200, 3\), expected \(steps, 10\)"):
        to_block(spec, [broken], dt=spec.dt, simulator="brian2")
    unknown = SimpleNamespace(spikes={}, states={("ALIF", "w"): np.zeros((STEPS, 10))})
    with pytest.raises(NeoExportError, match="no variable 'w'"):
        to_block(spec, [unknown], dt=spec.dt, simulator="brian2")


def assert_same_block(original, read):
    """Everything io.py's docstring promises read_block gives back, for every format."""
    assert read.name == original.name and read.description == original.description
    assert read.annotations == original.annotations
    for key, value in original.annotations.items():
        assert type(read.annotations[key]) is type(value), key
    assert read.rec_datetime == original.rec_datetime and read.rec_datetime.tzinfo == UTC
    assert [s.name for s in read.segments] == [s.name for s in original.segments]
    for a, b in zip(original.segments, read.segments):
        assert b.annotations == a.annotations
        assert len(b.spiketrains) == len(a.spiketrains)
        for x, y in zip(a.spiketrains, b.spiketrains):
            assert y.units == x.units and y.name == x.name and y.annotations == x.annotations
            np.testing.assert_allclose(y.magnitude, x.magnitude, rtol=1e-12, atol=1e-9)
            assert float(y.t_start) == float(x.t_start) and float(y.t_stop) == float(x.t_stop)
        assert [s.name for s in b.analogsignals] == [s.name for s in a.analogsignals]
        for x, y in zip(a.analogsignals, b.analogsignals):
            assert y.units == x.units and y.annotations == x.annotations
            np.testing.assert_allclose(y.magnitude, x.magnitude, rtol=1e-12)
            assert y.sampling_period == x.sampling_period and y.t_start == x.t_start
            assert y.sampling_period.units == x.sampling_period.units
            assert sorted(y.array_annotations) == sorted(x.array_annotations)
            for key in x.array_annotations:
                np.testing.assert_array_equal(y.array_annotations[key], x.array_annotations[key])
        for x, y in zip(a.irregularlysampledsignals, b.irregularlysampledsignals):
            assert y.units == x.units and y.times.units == x.times.units and y.name == x.name
            np.testing.assert_allclose(y.magnitude, x.magnitude, rtol=1e-12)
            np.testing.assert_allclose(y.times.magnitude, x.times.magnitude, rtol=1e-12, atol=1e-9)
        assert len(b.events) == len(a.events) and len(b.epochs) == len(a.epochs)
        for x, y in zip(a.events + a.epochs, b.events + b.epochs):
            assert type(y) is type(x) and y.name == x.name and y.units == x.units
            np.testing.assert_allclose(y.magnitude, x.magnitude, rtol=1e-12, atol=1e-9)
            assert list(y.labels) == list(x.labels)
            assert {k: list(v) for k, v in y.array_annotations.items()} == {
                k: list(v) for k, v in x.array_annotations.items()
            }
        for x, y in zip(a.epochs, b.epochs):
            np.testing.assert_allclose(
                y.durations.rescale(x.durations.units).magnitude, x.durations.magnitude, rtol=1e-12, atol=1e-9
            )
    assert [(g.name, g.annotations) for g in read.groups] == [(g.name, g.annotations) for g in original.groups]
    for x, y in zip(original.groups, read.groups):
        assert [t.name for t in y.spiketrains] == [t.name for t in x.spiketrains]
        assert [s.name for s in y.analogsignals] == [s.name for s in x.analogsignals]
        assert all(t.segment in read.segments for t in y.spiketrains)  # the same objects, not copies


@pytest.mark.parametrize("extension", EXTENSIONS)
def test_round_trip_through_every_format(tmp_path, extension):
    block = store_recall_block()
    path = write_block(block, tmp_path / f"activity{extension}")
    assert path.exists() and os.listdir(tmp_path) == [path.name]  # no temporary file left behind
    assert_same_block(block, read_block(path, allow_pickle=True))
    # Writing left the caller's block as it was (NIX stamps names on what it writes).
    assert "nix_name" not in block.annotations and "nix_name" not in block.segments[0].spiketrains[0].annotations
    assert block.segments[0].analogsignals[0].name == "v" and block.segments[0].epochs[0].name == "task"


def random_block(seed):
    """A Block as a recording might hold it: own clocks, units, spans, signals, events, annotations."""
    rng = np.random.default_rng(seed)
    block = neo.Block(
        name=f"random {seed}",
        description="generated",
        rec_datetime=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        lab="bench",
        take=int(seed),
    )
    one_clock = bool(rng.random() < 0.5)  # segments on one session clock, or each starting at 0
    clock, n_units = 0.0, int(rng.integers(1, 6))
    for s in range(int(rng.integers(1, 4))):
        start, duration = (clock if one_clock else 0.0), float(rng.uniform(0.2, 2.0))
        clock = start + duration + float(rng.uniform(0.0, 1.0))
        segment = neo.Segment(name=f"seg{s}", description=f"segment {s}", trial=s)
        units = str(rng.choice(["s", "ms"]))
        for u in range(n_units if rng.random() < 0.8 else int(rng.integers(1, n_units + 1))):
            t0 = start + (float(rng.uniform(0, 0.1)) * duration if rng.random() < 0.3 else 0.0)
            t1 = start + duration - (float(rng.uniform(0, 0.1)) * duration if rng.random() < 0.3 else 0.0)
            times = np.sort(rng.uniform(t0, t1, rng.poisson(8)))
            train = neo.SpikeTrain(
                times * pq.s,
                t_start=t0 * pq.s,
                t_stop=t1 * pq.s,
                name=f"unit{u}",
                channel_id=u,
                quality=str(rng.choice(["good", "mua"])),
            )
            segment.spiketrains.append(train.rescale(units))
        rate = float(rng.choice([1000.0, 250.0]))
        for name in ("vm", "lfp")[: int(rng.integers(0, 3))]:
            signal = neo.AnalogSignal(
                rng.normal(size=(int(rng.integers(5, 50)), int(rng.integers(1, 4)))),
                units=str(rng.choice(["mV", "nA", "uS", "dimensionless"])),
                sampling_rate=rate * pq.Hz,
                t_start=(start + 0.01) * pq.s,
                name=name,
            )
            signal.array_annotate(electrode=np.arange(signal.shape[1]))
            segment.analogsignals.append(signal.rescale(signal.units))
        if rng.random() < 0.5:
            times = np.sort(rng.uniform(start, start + duration, 3))
            segment.irregularlysampledsignals.append(
                neo.IrregularlySampledSignal(
                    times * pq.s, rng.normal(size=(3, 2)), units="mV", name="probe", time_units="s"
                )
            )
        if rng.random() < 0.7:
            times = np.sort(rng.uniform(start, start + duration, 4))
            segment.events.append(neo.Event(times * pq.s, labels=np.array(["go", "stop", "go", "x"]), name="cues"))
            segment.epochs.append(
                neo.Epoch(
                    (times * 1e3) * pq.ms,
                    durations=np.full(4, 10.0) * pq.ms,
                    labels=np.array(["a", "b", "c", "d"]),
                    name="phases",
                )
            )
        block.segments.append(segment)
    block.create_relationship()
    return block


@pytest.mark.parametrize("extension", [".nwb", ".mat", ".nix"])
@pytest.mark.parametrize("seed", range(6))
def test_any_block_survives_the_round_trip(tmp_path, extension, seed):
    """Blocks beyond what to_block makes: own clocks, gaps, partial spans, mixed units, events."""
    block = random_block(seed)
    assert_same_block(block, read_block(write_block(block, tmp_path / f"random{extension}")))


@pytest.mark.parametrize("extension", [".nwb", ".mat", ".nix"])
def test_a_spike_at_the_end_of_a_trial_stays_in_that_trial(tmp_path, extension):
    """Trials laid end to end share a boundary on NWB's clock; each keeps its own spikes there."""
    block = neo.Block(name="edges", rec_datetime=datetime(2024, 1, 1, tzinfo=UTC))
    for times in ([10.0, 100.0], [0.0, 100.0], [0.0]):  # t_stop = the last spike, as recordings often set it
        segment = neo.Segment()
        segment.spiketrains.append(neo.SpikeTrain(times * pq.ms, t_stop=100 * pq.ms, channel_id=0))
        block.segments.append(segment)
    read = read_block(write_block(block, tmp_path / f"edges{extension}"))
    assert [list(s.spiketrains[0].magnitude) for s in read.segments] == [[10.0, 100.0], [0.0, 100.0], [0.0]]


def test_nwb_is_native_for_pynwb(tmp_path):
    """pynwb alone (what DANDI tools use) sees populations, neuron indices, trials and units."""
    import pynwb

    spec, trials, block = store_recall_spec(), two_trials(), store_recall_block()
    path = write_block(block, tmp_path / "activity.nwb")
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        units = nwbfile.units.to_dataframe()
        assert len(units) == 20
        assert list(units["population"]) == ["LIF"] * 10 + ["ALIF"] * 10
        assert list(units["neuron_index"]) == list(range(10)) * 2 and list(units["channel_id"]) == list(range(20))
        assert (
            list(units["sign"][10:]) == list(spec.populations["ALIF"].signs)
            and units["neuron_type"][10] == spec.populations["ALIF"].model.name
        )
        for row, (population, index) in enumerate([("LIF", i) for i in range(10)] + [("ALIF", i) for i in range(10)]):
            # Trials laid end to end on the session clock: trial 1 starts at 0.2 s.
            expected = np.concatenate(
                [np.nonzero(t.spikes[population][:, index])[0] * 1e-3 + k * 0.2 for k, t in enumerate(trials)]
            )
            np.testing.assert_allclose(units["spike_times"][row], expected, atol=1e-12)
            np.testing.assert_allclose(units["obs_intervals"][row], [[0.0, 0.4]])
        table = nwbfile.trials.to_dataframe()
        assert list(table["start_time"]) == [0.0, 0.2] and list(table["stop_time"]) == [0.2, 0.4]
        assert list(table["segment_name"]) == ["trial000", "trial001"]
        v = nwbfile.acquisition["ALIF.v"]
        assert (v.unit, v.conversion, v.rate, v.data.shape) == ("volts", 1e-3, 1000.0, (400, 10))
        np.testing.assert_allclose(
            v.data[:] * v.conversion, np.concatenate([t.states["ALIF", "v"] for t in trials]), rtol=1e-12
        )
        assert nwbfile.acquisition["ALIF.A"].unit == "volts" and nwbfile.acquisition["out.out"].unit == "dimensionless"
        epochs = nwbfile.epochs.to_dataframe()
        assert list(epochs["tags"].map(list)) == [["store:1"], ["recall:1"], ["cue"]]
        np.testing.assert_allclose(epochs["start_time"], [0.0, 0.1, 0.22])
        assert list(epochs["trial"]) == [0, 0, 1]
        events = nwbfile.get_events_table("task").to_dataframe()
        assert list(events["label"]) == ["store:1", "recall:1", "cue"] and list(events["trial"]) == [0, 0, 1]


def test_nwb_is_readable_by_plain_neo(tmp_path):
    """Neo's own NWBIO, without lsnn-bio, reads every neuron's spikes and the signals with units."""
    block = store_recall_block()
    path = write_block(block, tmp_path / "activity.nwb")
    io = neo.io.NWBIO(str(path), mode="r")
    try:
        plain = io.read_block()
    finally:
        io.close()
    trains = [t for s in plain.segments for t in s.spiketrains]
    assert len(trains) == 20 and all(t.units == pq.s and float(t.t_stop) == pytest.approx(0.4) for t in trains)
    original = block.segments[0].spiketrains[11], block.segments[1].spiketrains[11]
    expected = np.concatenate([original[0].magnitude, original[1].magnitude + 200.0])
    np.testing.assert_allclose(trains[11].magnitude * 1e3, expected)
    signals = {s.name: s for seg in plain.segments for s in seg.analogsignals}
    assert signals["ALIF.v"].units == pq.mV and signals["ALIF.v"].shape == (400, 10)


def crafted_pickle(folder):
    """A pickle that creates a marker file when it is unpickled, as an attacker's would run a command."""
    marker = folder / "code-ran"

    class Payload:
        def __reduce__(self):
            return Path.touch, (marker,)

    path = folder / "recording.pkl"
    path.write_bytes(pickle.dumps(Payload()))
    return path, marker


def test_a_pickle_is_not_unpickled_unless_trusted(tmp_path):
    path, marker = crafted_pickle(tmp_path)
    pickle.loads(path.read_bytes())  # the payload works: unpickling it creates the marker
    assert marker.exists()
    marker.unlink()
    with pytest.raises(UntrustedFileError, match=r"recording\.pkl: not reading a pickle: unpickling runs"):
        read_block(path)
    renamed = path.rename(tmp_path / "recording.pickle")  # PickleIO's other extension, reached through get_io
    with pytest.raises(UntrustedFileError, match="allow_pickle=True or --allow-pickle"):
        read_block(renamed)
    assert not marker.exists()


def test_compare_refuses_a_pickle_without_running_it(tmp_path):
    path, marker = crafted_pickle(tmp_path)
    simulated = write_block(store_recall_block(), tmp_path / "sim.nwb")
    command = [
        sys.executable,
        "-m",
        "lsnn_bio.cli",
        "compare",
        str(simulated),
        str(path),
        "--out",
        str(tmp_path / "out"),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2 and "not reading a pickle" in result.stderr and "--allow-pickle" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_overwrite_replaces_the_file(tmp_path):
    spec, trials = store_recall_spec(), two_trials()
    path = tmp_path / "activity.nwb"
    write_block(to_block(spec, trials[:1], dt=spec.dt, simulator="brian2"), path)
    write_block(store_recall_block(), path)
    assert len(read_block(path).segments) == 2


def test_unknown_extension(tmp_path):
    with pytest.raises(NeoFormatError, match=r"unknown Neo format '\.csv' \(accepted: \.nix, \.nwb, \.pkl, \.mat\)"):
        write_block(store_recall_block(), tmp_path / "activity.csv")
    assert os.listdir(tmp_path) == []
    (tmp_path / "notes.xyz").write_text("not neo")
    with pytest.raises(NeoFormatError, match="no Neo IO reads"):
        read_block(tmp_path / "notes.xyz")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(NeoFileNotFoundError, match="no such file"):
        read_block(tmp_path / "absent.nix")
    with pytest.raises(FileNotFoundError, match="the folder .*absent does not exist"):
        write_block(store_recall_block(), tmp_path / "absent" / "activity.nix")
    (tmp_path / "a_file").write_text("")
    with pytest.raises(OutputPathError, match="a_file is a file, not a folder"):
        write_block(store_recall_block(), tmp_path / "a_file" / "sub" / "activity.nix")
    with pytest.raises(NeoFileError, match="is a folder, not a Neo file"):
        read_block(tmp_path)
    assert os.listdir(tmp_path) == ["a_file"]


def test_unwritable_folder(tmp_path, monkeypatch):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # root may write anywhere: let access() say what a user would see
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == folder else real_access(p, mode))
    try:
        with pytest.raises(OutputPathError, match="not writable"):
            write_block(store_recall_block(), folder / "activity.nix")
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("extension", [".pkl", ".nwb"])
def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch, extension):
    """A write that dies half way removes its temporary file and keeps the old file intact."""
    import pynwb

    path = tmp_path / f"activity{extension}"
    path.write_bytes(b"previous contents")

    def half_written(self, *args, **kwargs):
        with open(getattr(self, "filename", None) or self.source, "wb") as handle:
            handle.write(b"half a file")
        raise OSError("disk full")

    owner = neo.io.PickleIO if extension == ".pkl" else pynwb.NWBHDF5IO
    monkeypatch.setattr(owner, "write_block" if extension == ".pkl" else "write", half_written)
    with pytest.raises(NeoFileError, match="disk full"):
        write_block(store_recall_block(), path)
    assert os.listdir(tmp_path) == [path.name] and path.read_bytes() == b"previous contents"


def test_units_come_from_the_equations(models):
    """AdEx: an adaptation current in amp becomes nA; dt 0.1 ms puts step k at k * 0.1 ms."""
    spec = lsnn_bio.load_network(models / "adex_network.yaml", seed=0)
    raster = np.zeros((50, 40), dtype=bool)
    raster[[3, 17], 5] = True
    w = np.full((50, 40), 2e-10)  # 0.2 nA
    trial = SimpleNamespace(spikes={"exc": raster}, states={("exc", "w"): w, ("exc", "v"): np.full((50, 40), -0.07)})
    block = to_block(spec, [trial], dt=spec.dt, simulator="brian2")
    segment = block.segments[0]
    np.testing.assert_allclose(segment.spiketrains[5].magnitude, [0.3, 1.7])
    assert float(segment.spiketrains[5].t_stop) == pytest.approx(5.0) and block.annotations["dt"] == pytest.approx(0.1)
    signals = signals_by_name(segment)
    assert signals["exc", "w"].units == pq.nA and np.allclose(signals["exc", "w"].magnitude, 0.2)
    assert signals["exc", "v"].units == pq.mV and np.allclose(signals["exc", "v"].magnitude, -70.0)
