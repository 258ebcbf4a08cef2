"""Elephant statistics of simulated and recorded spike trains, checked against direct computation,
and the comparison report: warnings for implausible recordings, caveats for different trial structures."""

import json
import math
import os
import subprocess
import sys
from types import SimpleNamespace

import brian2
import neo
import numpy as np
import pytest
import quantities as pq

import lsnn_bio
from lsnn_bio.comparison import ComparisonError, PlausibilityWarning, compare
from lsnn_bio.files import OutputPathError
from lsnn_bio.neo import to_block, write_block
from lsnn_bio.statistics import NoSpikeTrainsError, StatisticsError, plausibility, spike_statistics

DURATION = 2000.0  # ms per trial
BIN = 20.0  # ms, the default bin_size of 0.02 s


def poisson_block(rate_hz, n=12, trials=4, seed=0, units="ms", name="poisson", duration_ms=DURATION):
    rng = np.random.default_rng(seed)
    block = neo.Block(name=name)
    for t in range(trials):
        segment = neo.Segment(name=f"trial{t:03d}")
        for i in range(n):
            times = np.sort(rng.uniform(0.0, duration_ms, rng.poisson(rate_hz * duration_ms / 1e3)))
            train = neo.SpikeTrain(times * pq.ms, t_stop=duration_ms * pq.ms, channel_id=i, name=f"unit{i}")
            segment.spiketrains.append(train.rescale(units))
        block.segments.append(segment)
    return block


def test_compare_writes_numbers_report_and_figures(tmp_path):
    simulated = write_block(poisson_block(10.0, seed=1, name="simulated"), tmp_path / "simulated.pkl")
    recording = write_block(poisson_block(25.0, seed=2, units="s", name="recording"), tmp_path / "recording.nix")
    out = tmp_path / "report"
    result = compare(simulated, recording, out, allow_pickle=True)
    assert result["simulated"]["rate_hz"]["mean"] == pytest.approx(10.0, rel=0.15)
    assert result["recording"]["rate_hz"]["mean"] == pytest.approx(25.0, rel=0.1)
    for side in ("simulated", "recording"):
        stats = result[side]
        assert stats["n_trains"] == 12 and stats["n_segments"] == 4 and stats["matched_by"] == "channel_id"
        assert stats["cv_isi"]["mean"] == pytest.approx(1.0, abs=0.15)  # Poisson: exponential intervals
        assert stats["fano_factor"]["over"] == "trials" and stats["fano_factor"]["mean"] == pytest.approx(1.0, abs=0.4)
        assert abs(stats["correlation"]["mean"]) < 0.05  # independent trains
        assert stats["correlation"]["n_pairs"] == 66 and stats["correlation"]["n_bins"] == 4 * DURATION / BIN
    assert result["warnings"] == {"simulated": [], "recording": []} and result["caveats"] == []

    figures = {f"raster_{side}_trial{t:03d}.png" for side in ("simulated", "recording") for t in range(3)}
    names = {"statistics.json", "report.md", "distributions.png"} | figures
    assert set(os.listdir(out)) == names  # no temporary files either
    for name in names - {"statistics.json", "report.md"}:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    document = json.loads((out / "statistics.json").read_text())
    assert document["simulated"]["path"] == str(simulated) and document["recording"]["block"] == "recording"
    assert document["recording"]["statistics"]["rate_hz"]["mean"] == pytest.approx(
        result["recording"]["rate_hz"]["mean"]
    )
    assert document["recording"]["statistics"]["parameters"]["bin_size_s"] == 0.02
    report = (out / "report.md").read_text()
    assert (
        "| quantity | simulated | recording |" in report and "## Warnings" not in report and "## Caveats" not in report
    )
    rate_row = next(line for line in report.splitlines() if line.startswith("| firing rate, mean"))
    assert f"{result['simulated']['rate_hz']['mean']:.3g}" in rate_row
    assert "(20 ms bins)" in report and "(tau = 10 ms)" in report
    for name in names - {"statistics.json", "report.md"}:
        assert f"]({name})" in report


def test_numbers_equal_direct_computation():
    block = poisson_block(25.0, seed=2, units="s")
    stats = spike_statistics(block)
    trains_of = [[seg.spiketrains[i].rescale(pq.ms).magnitude for seg in block.segments] for i in range(12)]
    for train, per_trial in zip(stats["trains"], trains_of):
        counts = np.array([len(t) for t in per_trial])
        assert train["rate_hz"] == pytest.approx(counts.sum() / (4 * DURATION / 1e3))
        intervals = np.concatenate([np.diff(t) for t in per_trial])
        assert train["cv_isi"] == pytest.approx(intervals.std() / intervals.mean())
        assert train["fano_factor"] == pytest.approx(counts.var() / counts.mean())
    binned = np.array(
        [
            np.concatenate([np.histogram(t, bins=np.arange(0, DURATION + BIN, BIN))[0] for t in per_trial])
            for per_trial in trains_of
        ]
    )
    expected = np.corrcoef(binned)[np.triu_indices(12, k=1)]
    assert stats["correlation"]["mean"] == pytest.approx(expected.mean())
    assert stats["correlation"]["std"] == pytest.approx(expected.std())


def test_spikes_on_a_millisecond_grid_fall_in_the_bin_they_start():
    """Simulated spikes lie on bin edges (k * 1 ms); 0.02 s bins must count them as 20 ms bins would."""
    rng = np.random.default_rng(5)
    segment = neo.Segment()
    for i in range(4):
        steps = np.flatnonzero(rng.random(1000) < 0.1)
        steps = np.union1d(steps, np.arange(0, 1000, 20))  # a spike on every bin edge
        segment.spiketrains.append(neo.SpikeTrain(steps * 1.0 * pq.ms, t_stop=1000 * pq.ms, channel_id=i))
    block = neo.Block()
    block.segments.append(segment)
    counts = np.array([np.bincount((t.magnitude // 20).astype(int), minlength=50) for t in segment.spiketrains])
    expected = np.corrcoef(counts)[np.triu_indices(4, k=1)]
    assert spike_statistics(block)["correlation"]["mean"] == pytest.approx(expected.mean(), rel=1e-12)


def test_a_bare_number_is_seconds_and_bad_times_are_refused():
    block = poisson_block(10.0, trials=2, seed=3)
    as_float = spike_statistics(block, bin_size=0.05, tau=0.01)
    for bin_size in (50 * pq.ms, 50 * brian2.ms):
        other = spike_statistics(block, bin_size=bin_size, tau=10 * pq.ms)
        assert other["correlation"]["mean"] == as_float["correlation"]["mean"]
        assert other["parameters"]["bin_size_s"] == pytest.approx(0.05)
    assert as_float["correlation"]["n_bins"] == 2 * 40
    assert spike_statistics(block, bin_size=5)["correlation"]["n_bins"] == 0  # 5 s bins do not fit in 2 s trials
    for bad, message in (
        (-0.02, "bin_size must be a positive time"),
        ("20 ms", "could not convert"),
        (20 * brian2.mV, "has units V"),
        (float("nan"), "positive time"),
    ):
        with pytest.raises(StatisticsError, match=message):
            spike_statistics(block, bin_size=bad)


def test_regular_train_has_no_irregularity_and_edge_cases_are_counted():
    segment = neo.Segment(name="only")
    segment.spiketrains.append(neo.SpikeTrain(np.arange(5.0, 1000.0, 50.0) * pq.ms, t_stop=1000 * pq.ms))  # regular
    segment.spiketrains.append(neo.SpikeTrain([] * pq.ms, t_stop=1000 * pq.ms))  # silent
    segment.spiketrains.append(neo.SpikeTrain([0.3] * pq.s, t_stop=1 * pq.s))  # one spike, in seconds
    segment.spiketrains.append(
        neo.SpikeTrain([120.0, 180.0, 260.0, 900.0] * pq.ms, t_start=100 * pq.ms, t_stop=950 * pq.ms)
    )  # its own span
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
    in_ms = write_block(poisson_block(15.0, seed=3), tmp_path / "ms.nwb")
    in_s = write_block(poisson_block(15.0, seed=3, units="s"), tmp_path / "s.mat")
    result = compare(in_ms, in_s, tmp_path / "out")
    a, b = result["simulated"], result["recording"]
    for quantity in ("rate_hz", "cv_isi", "fano_factor", "correlation", "van_rossum"):
        assert a[quantity]["mean"] == pytest.approx(b[quantity]["mean"], rel=1e-9), quantity


def test_a_file_without_spike_trains_is_refused_and_nothing_is_written(tmp_path):
    block = neo.Block(name="signals only")
    segment = neo.Segment()
    segment.analogsignals.append(neo.AnalogSignal(np.zeros((10, 2)), units="mV", sampling_period=1 * pq.ms))
    block.segments.append(segment)
    empty = write_block(block, tmp_path / "signals.nix")
    simulated = write_block(poisson_block(10.0), tmp_path / "sim.nix")
    out = tmp_path / "out"
    with pytest.raises(NoSpikeTrainsError, match=r"signals\.nix: has no spike trains \(1 segments, 1 signals\)"):
        compare(simulated, empty, out)
    assert not out.exists()


def test_an_unusable_report_folder_is_refused_before_reading(tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(OutputPathError, match="a_file is a file, not a folder"):
        compare(tmp_path / "absent.nix", tmp_path / "absent.nix", tmp_path / "a_file" / "report")


def test_simulated_block_from_to_block(tmp_path, models):
    """A file written by lsnn_bio.neo (NWB, PyNN layout) compares like any recording."""
    spec = lsnn_bio.load_network(models / "lsnn_store_recall.yaml", seed=0)
    rng = np.random.default_rng(4)
    trials = [
        SimpleNamespace(spikes={p: rng.random((500, 10)) < 0.02 for p in ("LIF", "ALIF")}, states={}) for _ in range(3)
    ]
    path = write_block(to_block(spec, trials, dt=spec.dt, simulator="brian2"), tmp_path / "sim.nwb")
    stats = compare(path, path, tmp_path / "out")["simulated"]
    assert stats["n_trains"] == 20 and stats["matched_by"] == "channel_id"
    expected = sum(t.spikes[p].sum() for t in trials for p in t.spikes) / (20 * 3 * 0.5)
    assert stats["rate_hz"]["mean"] == pytest.approx(expected)


def mislabelled(block, units):
    """The same numbers with other units: what a recording saved in one unit and labelled in another holds."""
    wrong = neo.Block(name=block.name)
    for segment in block.segments:
        copy = neo.Segment(name=segment.name)
        for train in segment.spiketrains:
            copy.spiketrains.append(
                neo.SpikeTrain(
                    train.magnitude,
                    units=units,
                    t_stop=float(train.t_stop.magnitude),
                    channel_id=train.annotations["channel_id"],
                )
            )
        wrong.segments.append(copy)
    return wrong


def test_plausibility_names_unit_mix_ups_and_empty_trains():
    good = poisson_block(10.0, seed=6)
    assert plausibility(spike_statistics(good)) == []
    too_fast = plausibility(spike_statistics(mislabelled(good, "us")))  # ms numbers labelled as microseconds
    assert any("above a few hundred Hz" in line for line in too_fast)
    assert any("faster than a refractory period" in line for line in too_fast)
    assert any("shortest segment lasts 2 ms" in line for line in too_fast)
    too_slow = plausibility(spike_statistics(mislabelled(good, "s")))  # ms numbers labelled as seconds
    assert any("below one spike in 20 s" in line for line in too_slow)
    assert not any("longest segment" in line for line in too_slow)  # 2000 s is a plausible session
    hours = plausibility(spike_statistics(mislabelled(poisson_block(10.0, duration_ms=200_000.0, trials=1), "s")))
    assert any("longest segment lasts 55.6 hours" in line for line in hours)
    silent = poisson_block(0.0, seed=7)
    assert plausibility(spike_statistics(silent)) == [
        "all 12 spike trains are empty: rates are 0 and CV, Fano factor and correlations are undefined"
    ]
    mostly = poisson_block(10.0, seed=8)
    for segment in mostly.segments:
        for i in range(7):
            segment.spiketrains[i] = neo.SpikeTrain([] * pq.ms, t_stop=DURATION * pq.ms, channel_id=i)
    assert any("7 of 12 spike trains never spike" in line for line in plausibility(spike_statistics(mostly)))


def test_compare_warns_about_a_recording_saved_in_microseconds(tmp_path):
    simulated = write_block(poisson_block(10.0, seed=1), tmp_path / "sim.nwb")
    recording = write_block(mislabelled(poisson_block(8.0, seed=2), "us"), tmp_path / "recording.nix")
    with pytest.warns(PlausibilityWarning) as caught:
        result = compare(simulated, recording, tmp_path / "out")
    assert len(caught) == 3 and "recording.nix: mean firing rate" in str(caught[0].message)
    assert result["warnings"]["simulated"] == [] and len(result["warnings"]["recording"]) == 3
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Warnings: check these files first" in report and "**recording**: mean firing rate" in report
    command = [
        sys.executable,
        "-m",
        "lsnn_bio.cli",
        "compare",
        str(simulated),
        str(recording),
        "--out",
        str(tmp_path / "cli"),
    ]
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0
    warned = [line for line in run.stderr.splitlines() if line.startswith("lsnn-bio compare: warning: recording")]
    assert len(warned) == 3 and "Traceback" not in run.stderr


def test_different_trial_structures_get_a_caveat(tmp_path):
    trials = write_block(poisson_block(10.0, trials=4, seed=1), tmp_path / "trials.nix")
    session = write_block(poisson_block(10.0, trials=1, seed=2, duration_ms=8000.0), tmp_path / "session.nix")
    result = compare(trials, session, tmp_path / "out")
    assert len(result["caveats"]) == 2
    assert "4 segments (trials), the recording 1" in result["caveats"][0] and "100 ms windows" in result["caveats"][0]
    assert "segments last 2 s (simulated) and 8 s (recording)" in result["caveats"][1]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Caveats: the two sides differ in structure" in report


def test_rasters_for_the_trials_asked_for(tmp_path):
    simulated = write_block(poisson_block(10.0, n=4, trials=4, seed=1), tmp_path / "sim.nix")
    recording = write_block(poisson_block(10.0, n=4, trials=2, seed=2), tmp_path / "rec.nix")
    files = compare(simulated, recording, tmp_path / "all", trials="all")["files"]
    assert sorted(n for n in files if n.startswith("raster_")) == [
        *[f"raster_recording_trial{t:03d}.png" for t in range(2)],
        *[f"raster_simulated_trial{t:03d}.png" for t in range(4)],
    ]
    files = compare(simulated, recording, tmp_path / "all", trials=[1])["files"]  # again, into the same folder
    assert sorted(n for n in files if n.startswith("raster_")) == [
        "raster_recording_trial001.png",
        "raster_simulated_trial001.png",
    ]
    assert sorted(p.name for p in (tmp_path / "all").glob("raster_*")) == sorted(n for n in files if "raster" in n)
    with pytest.raises(ComparisonError, match="3 is not a segment of the recording file .it has 2 segments, 0 to 1"):
        compare(simulated, recording, tmp_path / "bad", trials=[3])
    assert not (tmp_path / "bad").exists()
