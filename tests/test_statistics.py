"""Elephant statistics of simulated and recorded spike trains, checked against direct computation."""
import json
import math
import os

import neo
import numpy as np
import pytest
import quantities as pq

from lsnn_bio.errors import LsnnBioError
from lsnn_bio.neo_export import write_block
from lsnn_bio.statistics import NoSpikeTrainsError, compare, spike_statistics

DURATION = 2000.0  # ms per trial
BIN = 20.0


def poisson_block(rate_hz, n=12, trials=4, seed=0, units="ms", name="poisson"):
    rng = np.random.default_rng(seed)
    block = neo.Block(name=name)
    for t in range(trials):
        segment = neo.Segment(name=f"trial{t:03d}")
        for i in range(n):
            times = np.sort(rng.uniform(0.0, DURATION, rng.poisson(rate_hz * DURATION / 1e3)))
            train = neo.SpikeTrain(times * pq.ms, t_stop=DURATION * pq.ms, channel_id=i, name=f"unit{i}")
            segment.spiketrains.append(train.rescale(units))
        block.segments.append(segment)
    return block


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    simulated = write_block(poisson_block(10.0, seed=1, name="simulated"), folder / "simulated.pkl")
    recording = write_block(poisson_block(25.0, seed=2, units="s", name="recording"), folder / "recording.nix")
    return simulated, recording


@pytest.fixture(scope="module")
def comparison(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("comparison") / "report"
    return compare(*files, out), out


def test_rates_match_the_poisson_rates(comparison):
    result, _ = comparison
    assert result["simulated"]["rate_hz"]["mean"] == pytest.approx(10.0, rel=0.15)
    assert result["recording"]["rate_hz"]["mean"] == pytest.approx(25.0, rel=0.1)
    for side in ("simulated", "recording"):
        stats = result[side]
        assert stats["n_trains"] == 12 and stats["n_segments"] == 4 and stats["matched_by"] == "channel_id"
        assert stats["cv_isi"]["mean"] == pytest.approx(1.0, abs=0.15)  # Poisson: exponential intervals
        assert stats["fano_factor"]["over"] == "trials"
        assert abs(stats["correlation"]["mean"]) < 0.05  # independent trains
        assert stats["correlation"]["n_pairs"] == 66 and stats["correlation"]["n_bins"] == 4 * DURATION / BIN


def test_numbers_equal_direct_computation(files):
    block = poisson_block(25.0, seed=2, units="s")  # what recording.nix holds, in seconds
    stats = spike_statistics(block)
    trains_of = [[seg.spiketrains[i].rescale(pq.ms).magnitude for seg in block.segments] for i in range(12)]
    for train, per_trial in zip(stats["trains"], trains_of):
        counts = np.array([len(t) for t in per_trial])
        assert train["rate_hz"] == pytest.approx(counts.sum() / (4 * DURATION / 1e3))
        intervals = np.concatenate([np.diff(t) for t in per_trial])
        assert train["cv_isi"] == pytest.approx(intervals.std() / intervals.mean())
        assert train["fano_factor"] == pytest.approx(counts.var() / counts.mean())
    binned = np.array([np.concatenate([np.histogram(t, bins=np.arange(0, DURATION + BIN, BIN))[0] for t in per_trial])
                       for per_trial in trains_of])
    expected = np.corrcoef(binned)[np.triu_indices(12, k=1)]
    assert stats["correlation"]["mean"] == pytest.approx(expected.mean())
    assert stats["correlation"]["std"] == pytest.approx(expected.std())


def test_regular_train_has_no_irregularity_and_edge_cases_are_counted():
    segment = neo.Segment(name="only")
    segment.spiketrains.append(neo.SpikeTrain(np.arange(5.0, 1000.0, 50.0) * pq.ms, t_stop=1000 * pq.ms))  # regular
    segment.spiketrains.append(neo.SpikeTrain([] * pq.ms, t_stop=1000 * pq.ms))  # silent
    segment.spiketrains.append(neo.SpikeTrain([0.3] * pq.s, t_stop=1 * pq.s))  # one spike, in seconds
    segment.spiketrains.append(neo.SpikeTrain([120.0, 180.0, 260.0, 900.0] * pq.ms, t_start=100 * pq.ms,
                                              t_stop=950 * pq.ms))  # its own span
    block = neo.Block(name="edge cases")
    block.segments.append(segment)
    stats = spike_statistics(block)
    regular, silent, single, shifted = stats["trains"]
    assert stats["matched_by"] == "position"
    assert regular["cv_isi"] == pytest.approx(0.0, abs=1e-12) and regular["rate_hz"] == pytest.approx(20.0)
    assert regular["fano_factor"] == pytest.approx(0.0, abs=1e-12)  # 2 spikes in every 100 ms window
    assert silent["rate_hz"] == 0.0 and math.isnan(silent["cv_isi"]) and math.isnan(silent["fano_factor"])
    assert single["rate_hz"] == pytest.approx(1.0) and math.isnan(single["cv_isi"])
    assert shifted["rate_hz"] == pytest.approx(4 / 0.85)
    assert stats["rate_hz"]["n_silent"] == 1 and stats["cv_isi"]["n_excluded"] == 2 and stats["cv_isi"]["n"] == 2
    assert stats["fano_factor"]["over"] == "100 ms windows"
    assert stats["correlation"]["n_bins"] == 42  # common span 100-950 ms in whole 20 ms bins
    assert stats["correlation"]["n_pairs"] == 6 and stats["correlation"]["n_excluded"] == 3  # pairs with the silent one
    assert stats["van_rossum"]["n_pairs"] == 6 and np.isfinite(stats["van_rossum"]["mean"])


def test_van_rossum_of_two_lone_spikes_far_apart():
    segment = neo.Segment()
    segment.spiketrains.append(neo.SpikeTrain([10.0] * pq.ms, t_stop=1000 * pq.ms))
    segment.spiketrains.append(neo.SpikeTrain([500.0] * pq.ms, t_stop=1000 * pq.ms))
    block = neo.Block()
    block.segments.append(segment)
    # Elephant scales the distance so that one lone spike is 1 from silence: two are sqrt(2) apart.
    assert spike_statistics(block, tau=10 * pq.ms)["van_rossum"]["mean"] == pytest.approx(math.sqrt(2), abs=1e-6)


def test_units_do_not_change_the_numbers(tmp_path):
    """The same spikes in ms on one side and in s on the other give the same statistics."""
    in_ms = write_block(poisson_block(15.0, seed=3), tmp_path / "ms.pkl")
    in_s = write_block(poisson_block(15.0, seed=3, units="s"), tmp_path / "s.mat")
    result = compare(in_ms, in_s, tmp_path / "out")
    a, b = result["simulated"], result["recording"]
    for quantity in ("rate_hz", "cv_isi", "fano_factor", "correlation", "van_rossum"):
        assert a[quantity]["mean"] == pytest.approx(b[quantity]["mean"], rel=1e-9), quantity


def test_output_files(comparison, files):
    result, out = comparison
    names = {"statistics.json", "report.md", "raster_simulated.png", "raster_recording.png", "rates.png", "cv_isi.png"}
    assert set(os.listdir(out)) == names  # no temporary files either
    for name in names - {"statistics.json", "report.md"}:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    document = json.loads((out / "statistics.json").read_text())
    assert document["simulated"]["path"] == str(files[0]) and document["recording"]["block"] == "recording"
    assert document["recording"]["statistics"]["rate_hz"]["mean"] == pytest.approx(result["recording"]["rate_hz"]["mean"])
    report = (out / "report.md").read_text()
    assert "| quantity | simulated | recording |" in report
    rate_row = next(line for line in report.splitlines() if line.startswith("| firing rate, mean"))
    assert f"{result['simulated']['rate_hz']['mean']:.3g}" in rate_row
    for name in ("raster_simulated.png", "rates.png", "cv_isi.png"):
        assert f"]({name})" in report


def test_a_file_without_spike_trains_is_refused_and_nothing_is_written(files, tmp_path):
    block = neo.Block(name="signals only")
    segment = neo.Segment()
    segment.analogsignals.append(neo.AnalogSignal(np.zeros((10, 2)), units="mV", sampling_period=1 * pq.ms))
    block.segments.append(segment)
    empty = write_block(block, tmp_path / "signals.nix")
    out = tmp_path / "out"
    with pytest.raises(NoSpikeTrainsError, match=r"signals\.nix: has no spike trains \(1 segments, 1 signals\)"):
        compare(files[0], empty, out)
    assert not out.exists()
    assert isinstance(NoSpikeTrainsError("x"), (ValueError, LsnnBioError))


def test_simulated_block_from_to_block(tmp_path, request):
    """A file written by neo_export (NWB, PyNN layout) compares like any recording."""
    from types import SimpleNamespace

    import lsnn_bio
    from lsnn_bio.neo_export import to_block

    spec = lsnn_bio.load_network(request.config.rootpath / "models" / "lsnn_store_recall.yaml", seed=0)
    rng = np.random.default_rng(4)
    trials = [SimpleNamespace(spikes={p: rng.random((500, 10)) < 0.02 for p in ("LIF", "ALIF")}, states={})
              for _ in range(3)]
    path = write_block(to_block(spec, trials, dt=spec.dt, simulator="brian2"), tmp_path / "sim.nwb")
    stats = compare(path, path, tmp_path / "out")["simulated"]
    assert stats["n_trains"] == 20 and stats["matched_by"] == "channel_id"
    expected = sum(t.spikes[p].sum() for t in trials for p in t.spikes) / (20 * 3 * 0.5)
    assert stats["rate_hz"]["mean"] == pytest.approx(expected)
