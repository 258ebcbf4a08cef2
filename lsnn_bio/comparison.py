"""A simulation beside a recording: ``statistics.json``, ``report.md`` and figures in one folder.

Both files are read with Neo by extension (a ``.pkl`` only with ``allow_pickle``). The report
says, before any number, what makes the numbers suspect: plausibility warnings per file
(:func:`lsnn_bio.statistics.plausibility`) and caveats when the two sides differ in trial
structure or duration. Everything is computed and drawn before anything is written, so a
file that cannot be compared leaves the output folder untouched.
"""

import json
import math
import os
import warnings
from pathlib import Path

from . import plots
from .errors import LsnnBioError
from .files import OutputPathError, write_atomically
from .neo import read_block
from .statistics import plausibility, statistics_and_pairs

SIDES = ("simulated", "recording")
DEFAULT_TRIALS = 3  # rasters drawn per side unless asked for others


class ComparisonError(LsnnBioError, ValueError):
    """A comparison asked for something the files do not have (a trial beyond the last, say)."""


class PlausibilityWarning(UserWarning):
    """A recording whose numbers suggest a broken file (unit mix-up, empty trains)."""


def compare(
    simulated_path,
    recording_path,
    out_dir,
    *,
    bin_size=0.02,
    tau=0.01,
    fano_window=0.1,
    van_rossum_segments=10,
    trials=None,
    allow_pickle=False,
):
    """Compare two Neo files; write the report folder ``out_dir`` and return the numbers.

    ``bin_size``, ``tau``, ``fano_window``: times (quantities, or numbers in seconds).
    ``trials``: which segments to draw as rasters, for each side: None (the first three),
    ``'all'``, or a list of indices. Returns ``{'simulated': stats, 'recording': stats,
    'warnings': {side: [...]}, 'caveats': [...], 'files': {name: path}}``.
    """
    paths = {"simulated": Path(simulated_path), "recording": Path(recording_path)}
    out_dir = _check_out_dir(out_dir)
    blocks = {side: read_block(path, allow_pickle=allow_pickle) for side, path in paths.items()}
    measured = {
        side: statistics_and_pairs(
            blocks[side],
            bin_size=bin_size,
            tau=tau,
            fano_window=fano_window,
            van_rossum_segments=van_rossum_segments,
            source=str(paths[side]),
        )
        for side in SIDES
    }
    stats = {side: measured[side][0] for side in SIDES}
    found = {side: plausibility(stats[side]) for side in SIDES}
    for side in SIDES:
        for line in found[side]:
            warnings.warn(f"{side} {paths[side]}: {line}", PlausibilityWarning, stacklevel=2)
    caveats = structure_caveats(stats)

    files = {}
    for side in SIDES:
        block = blocks[side]
        for index in _trial_indices(block, trials, side):
            segment = block.segments[index]
            title = f"{side}: {paths[side].name}, segment {index} ({segment.name or 'unnamed'})"
            files[f"raster_{side}_trial{index:03d}.png"] = plots.segment_raster(segment, title)
    files["distributions.png"] = plots.distributions(stats, {side: measured[side][1] for side in SIDES}, SIDES)
    document = {
        side: {
            "path": str(paths[side]),
            "block": blocks[side].name,
            "annotations": _simple(blocks[side].annotations),
            "warnings": found[side],
            "statistics": stats[side],
        }
        for side in SIDES
    }
    document["caveats"] = caveats
    files["statistics.json"] = json.dumps(_json_ready(document), indent=1, allow_nan=False) + "\n"
    files["report.md"] = _report(document, [name for name in files if name.endswith(".png")])

    out_dir.mkdir(parents=True, exist_ok=True)
    written = {name: str(write_atomically(out_dir / name, content)) for name, content in files.items()}
    for old in out_dir.glob("raster_*_trial*.png"):  # from an earlier report in this folder: not this one's
        if old.name not in files:
            old.unlink()
    return {**stats, "warnings": found, "caveats": caveats, "files": written}


def structure_caveats(stats):
    """Why the two sides' numbers may differ for reasons other than the neurons, one line each."""
    a, b = (stats[side] for side in SIDES)
    caveats = []
    if a["n_segments"] != b["n_segments"]:
        line = f"the simulation has {a['n_segments']} segments (trials), the recording {b['n_segments']}"
        if (a["n_segments"] < 2) != (b["n_segments"] < 2):
            line += (
                "; the Fano factor is computed across trials on one side and across "
                f"{a['parameters']['fano_window_s'] * 1e3:g} ms windows of the single segment on the other"
            )
        caveats.append(line)
    da, db = a["mean_segment_duration_s"], b["mean_segment_duration_s"]
    if da > 0 and db > 0 and abs(da - db) > 0.1 * max(da, db):
        caveats.append(
            f"segments last {da:.3g} s (simulated) and {db:.3g} s (recording) on average; Fano factors "
            "across trials count spikes over whole segments and van Rossum distances grow with duration, "
            "so those two are not directly comparable"
        )
    for side, s in zip(SIDES, (a, b)):
        low, high = s["segment_durations_s"]["min"], s["segment_durations_s"]["max"]
        if high > 0 and high - low > 0.1 * high:
            caveats.append(f"the {side} segments differ in duration ({low:.3g} to {high:.3g} s)")
    return caveats


def _check_out_dir(out_dir):
    """Fail before reading or computing anything if the report folder cannot be made."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputPathError(f"{out_dir}: is a file, not a folder for the report")
    existing = next(p for p in [out_dir, *out_dir.parents] if p.exists())
    if not existing.is_dir():
        raise OutputPathError(f"{out_dir}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputPathError(f"{out_dir}: the folder {existing} is not writable")
    return out_dir


def _trial_indices(block, trials, side):
    n = len(block.segments)
    if trials is None:
        return list(range(min(DEFAULT_TRIALS, n)))
    if trials == "all":
        return list(range(n))
    indices = []
    for value in trials:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n:
            raise ComparisonError(
                f"trials: {value!r} is not a segment of the {side} file "
                f"(it has {n} segments, 0 to {n - 1}; accepted: indices, or 'all')"
            )
        indices.append(value)
    return list(dict.fromkeys(indices))


def _simple(annotations):
    return {str(k): v for k, v in annotations.items() if isinstance(v, (str, int, float, bool))}


def _json_ready(value):
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(value, digits=3):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}g}"


def _mean_sd(summary):
    return "n/a" if summary["n"] == 0 else f"{_fmt(summary['mean'])} ± {_fmt(summary['std'])}"


def _report(document, figures):
    s, r = document["simulated"], document["recording"]
    a, b = s["statistics"], r["statistics"]
    rows = [
        ("spike trains", a["n_trains"], b["n_trains"]),
        ("segments (trials)", a["n_segments"], b["n_segments"]),
        ("mean segment duration (s)", _fmt(a["mean_segment_duration_s"]), _fmt(b["mean_segment_duration_s"])),
        ("firing rate, mean ± sd (Hz)", _mean_sd(a["rate_hz"]), _mean_sd(b["rate_hz"])),
        ("firing rate, median (Hz)", _fmt(a["rate_hz"]["median"]), _fmt(b["rate_hz"]["median"])),
        ("silent trains", a["rate_hz"]["n_silent"], b["rate_hz"]["n_silent"]),
        ("CV of ISIs, mean ± sd", _mean_sd(a["cv_isi"]), _mean_sd(b["cv_isi"])),
        ("trains without a CV (< 2 intervals)", a["cv_isi"]["n_excluded"], b["cv_isi"]["n_excluded"]),
        ("Fano factor, mean ± sd", _mean_sd(a["fano_factor"]), _mean_sd(b["fano_factor"])),
        ("Fano factor over", a["fano_factor"]["over"], b["fano_factor"]["over"]),
        (
            f"spike-count correlation ({_fmt(a['correlation']['bin_size_s'] * 1e3)} ms bins), mean ± sd",
            _mean_sd(a["correlation"]),
            _mean_sd(b["correlation"]),
        ),
        (
            "pairs without a correlation (a silent train)",
            a["correlation"]["n_excluded"],
            b["correlation"]["n_excluded"],
        ),
        (
            f"van Rossum distance (tau = {_fmt(a['van_rossum']['tau_s'] * 1e3)} ms), mean ± sd",
            _mean_sd(a["van_rossum"]),
            _mean_sd(b["van_rossum"]),
        ),
    ]
    simulator = f", simulator {s['annotations']['simulator']}" if "simulator" in s["annotations"] else ""
    lines = [
        "# Simulated activity vs recording",
        "",
        f"- simulated: `{s['path']}` (block `{s['block']}`{simulator})",
        f"- recording: `{r['path']}` (block `{r['block']}`)",
        "",
    ]
    warned = [(side, line) for side in SIDES for line in document[side]["warnings"]]
    if warned:
        lines += ["## Warnings: check these files first", "", *[f"- **{side}**: {line}" for side, line in warned], ""]
    if document["caveats"]:
        lines += ["## Caveats: the two sides differ in structure", "", *[f"- {c}" for c in document["caveats"]], ""]
    lines += [
        "## Statistics",
        "",
        "| quantity | simulated | recording |",
        "|---|---|---|",
        *[f"| {q} | {x} | {y} |" for q, x, y in rows],
        "",
        f"Trains are followed across segments by {a['matched_by']} (simulated) and {b['matched_by']} "
        "(recording). Rates count every train; CV, Fano factor and correlations leave out trains or pairs "
        "where they are undefined (counted above). All numbers are in `statistics.json`.",
        "",
        "## Figures",
        "",
        *[f"![{name[:-4]}]({name})" for name in figures],
        "",
    ]
    return "\n".join(lines)
