"""TIMIT from a tiny corpus written here in the real format: SPHERE headers and 16-bit samples, RIFF
copies, .PHN alignments with real phones, the TRAIN|TEST/DR*/SPEAKER layout; features, labels,
the 39-class folding and scoring checked against independent computations in this file."""

import shutil
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest
import soundfile

from lsnn_bio.errors import LsnnBioError
from lsnn_bio.tasks import TASKS, make_task
from lsnn_bio.tasks.sphere import AudioFormatError, read_audio, read_sphere
from lsnn_bio.tasks.timit import (
    CORE_TEST_SPEAKERS,
    DEV_SPEAKERS,
    PHONES39,
    PHONES61,
    Timit,
    TimitFormatError,
    fold39,
    mfcc_features,
    score,
)

# The tiny corpus lacks most of the standard speakers; ``load`` asserts the warning, other tests need not.
pytestmark = pytest.mark.filterwarnings("ignore:.*speakers; missing:UserWarning")
ROOT = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- a corpus in the real format

TRAIN = {"DR1": ["FCJF0", "MDPK0"], "DR2": ["FAEM0", "MARC0"]}
TEST = {"DR1": ["MDAB0", "FAKS0", "MZZZ9"], "DR2": ["FPAS0", "FDAC1"]}  # core, dev, neither, core, dev
UTTERANCES = ["SA1", "SI1027", "SX37"]  # SA is excluded by the protocol
WORDS = ["sh", "iy", "hv", "ae", "dcl", "d", "q", "ux", "ao", "zh", "ix", "pau", "en", "axr", "epi", "el"]


def sphere_bytes(samples, byte_format="01", fields=None, coding=None, size=1024):
    """A SPHERE file as the LDC discs hold it."""
    header = {
        "database_id -s5": "TIMIT",
        "channel_count -i": 1,
        "sample_count -i": len(samples),
        "sample_rate -i": 16000,
        "sample_n_bytes -i": 2,
        "sample_byte_format -s2": byte_format,
        "sample_sig_bits -i": 16,
    }
    if coding:
        header[f"sample_coding -s{len(coding)}"] = coding
    header.update(fields or {})
    text = f"NIST_1A\n{size:7d}\n" + "".join(f"{k} {v}\n" for k, v in header.items() if v is not None) + "end_head\n"
    order = "<" if byte_format == "01" else ">"
    return text.encode().ljust(size, b" ") + np.asarray(samples).astype(order + "i2").tobytes()


def utterance_audio(rng):
    """Real phones with random durations, each a tone of its own pitch plus noise."""
    phones = ["h#"] + list(rng.choice(WORDS, size=rng.integers(4, 8))) + ["h#"]
    bounds = np.concatenate([[0], np.cumsum(rng.integers(500, 1800, size=len(phones)))])
    t = np.arange(bounds[-1]) / 16000
    samples = rng.normal(0, 200, size=len(t))
    for (start, end), phone in zip(zip(bounds[:-1], bounds[1:]), phones):
        pitch = 200 + 60 * PHONES61.index(phone)
        samples[start:end] += 0 if phone == "h#" else 6000 * np.sin(2 * np.pi * pitch * t[start:end])
    segments = [(int(s), int(e), p) for s, e, p in zip(bounds[:-1], bounds[1:], phones)]
    return np.clip(samples, -32768, 32767).astype(np.int16), segments


def write_corpus(root, case="upper", audio="sphere", byte_format="01", seed=0):
    """{utterance name: (samples, segments)}; ``audio`` is sphere, riff (.WAV holds RIFF), both or wavwav."""
    rng = np.random.default_rng(seed)
    written = {}
    name = str.upper if case == "upper" else str.lower
    for half, dialects in (("TRAIN", TRAIN), ("TEST", TEST)):
        for dialect, speakers in dialects.items():
            for speaker in speakers:
                folder = root / name(half) / name(dialect) / name(speaker)
                folder.mkdir(parents=True)
                for utterance in UTTERANCES:
                    samples, segments = utterance_audio(rng)
                    stem = folder / name(utterance)
                    if audio in ("sphere", "both"):
                        stem.with_suffix(name(".WAV")).write_bytes(sphere_bytes(samples, byte_format))
                    if audio == "riff":
                        soundfile.write(
                            str(stem.with_suffix(name(".WAV"))), samples, 16000, subtype="PCM_16", format="WAV"
                        )
                    if audio in ("both", "wavwav"):
                        soundfile.write(
                            str(folder / (name(utterance) + name(".WAV") + ".wav")),
                            samples,
                            16000,
                            subtype="PCM_16",
                            format="WAV",
                        )
                    stem.with_suffix(name(".PHN")).write_text("".join(f"{s} {e} {p}\n" for s, e, p in segments))
                    stem.with_suffix(name(".TXT")).write_text(f"0 {len(samples)} Some words.\n")
                    written[f"{dialect}/{speaker}/{utterance}".lower()] = (samples, segments)
    return written


def load(folder, **options):
    """The task, with the warning a corpus lacking most standard speakers must give."""
    with pytest.warns(UserWarning, match="missing"):
        return Timit(folder, **options)


def phone_at(segments, sample):
    for start, end, phone in segments:
        if start <= sample < end:
            return phone
    return None


# --------------------------------------------------------------------------- audio files


@pytest.mark.parametrize("byte_format", ["01", "10"])
def test_sphere_samples_round_trip_in_both_byte_orders(tmp_path, byte_format):
    rng = np.random.default_rng(1)
    for n in rng.integers(1, 5000, size=5):
        samples = rng.integers(-32768, 32768, size=n).astype(np.int16)
        path = tmp_path / f"x{n}.wav"
        path.write_bytes(sphere_bytes(samples, byte_format))
        read, rate = read_sphere(path)
        assert rate == 16000 and read.dtype == np.int16
        np.testing.assert_array_equal(read, samples)
        np.testing.assert_array_equal(read_audio(path)[0], samples)


def test_riff_and_sphere_copies_read_the_same_samples(tmp_path):
    samples = np.random.default_rng(2).integers(-30000, 30000, size=3210).astype(np.int16)
    (tmp_path / "a.WAV").write_bytes(sphere_bytes(samples, "10"))
    soundfile.write(str(tmp_path / "a.WAV.wav"), samples, 16000, subtype="PCM_16", format="WAV")
    np.testing.assert_array_equal(read_audio(tmp_path / "a.WAV")[0], read_audio(tmp_path / "a.WAV.wav")[0])


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"NIST_1B\n   1024\n" + b" " * 1100, "neither NIST SPHERE"),
        (b"NIST_1A\n   10x4\n" + b" " * 1100, "header size"),
        (sphere_bytes(np.zeros(10), fields={"sample_rate -i": None}), "'sample_rate -i' missing"),
        (sphere_bytes(np.zeros(10), fields={"sample_rate -i": "fast"}), "malformed SPHERE header line"),
        (sphere_bytes(np.zeros(10)).replace(b"end_head\n", b" " * 9), "no 'end_head'"),
        (sphere_bytes(np.zeros(10)).replace(b"end_head", b"end_hexx"), "malformed SPHERE header line 10: 'end_hexx'"),
        (sphere_bytes(np.zeros(10), fields={"sample_byte_format -s2": "11"}), "sample_byte_format '11'"),
        (sphere_bytes(np.zeros(10), fields={"sample_n_bytes -i": 1}), "sample_n_bytes is 1"),
        (sphere_bytes(np.zeros(10), fields={"channel_count -i": 2}), "channel_count is 2"),
        (sphere_bytes(np.zeros(10), coding="ulaw"), "sample_coding 'ulaw'"),
        (sphere_bytes(np.zeros(10))[:-4], "truncated"),
        (sphere_bytes(np.zeros(10)) + b"\0\0", "trailing bytes"),
        (b"hello, this is no audio", "neither NIST SPHERE"),
    ],
)
def test_malformed_audio_is_refused_naming_the_file(tmp_path, raw, message):
    path = tmp_path / "SX99.WAV"
    path.write_bytes(raw)
    with pytest.raises(AudioFormatError, match=message) as error:
        read_audio(path)
    assert str(path) in str(error.value)


def test_shorten_compressed_sphere_is_refused_with_the_way_out(tmp_path):
    path = tmp_path / "SI5.WAV"
    path.write_bytes(sphere_bytes(np.zeros(10), coding="pcm,embedded-shorten-v2.00")[:1100])
    with pytest.raises(AudioFormatError, match="shorten-compressed.*sph2pipe") as error:
        read_audio(path)
    assert str(path) in str(error.value)


# --------------------------------------------------------------------------- features


def test_mfcc_has_39_features_per_10_ms_frame():
    rng = np.random.default_rng(3)
    for n in rng.integers(400, 20000, size=6):
        features = mfcc_features(rng.integers(-3000, 3000, size=n).astype(np.int16))
        assert features.shape == (1 + n // 160, 39) and features.dtype == np.float32
        assert np.isfinite(features).all()


def test_a_tone_onset_shows_in_the_frame_of_its_sample():
    """Frame t is centred on sample 160 t: an onset at sample 8000 raises c0 at frame 50 (+-1)."""
    rng = np.random.default_rng(4)
    samples = rng.normal(0, 10, 16000)
    samples[8000:] += 8000 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000)
    c0 = mfcc_features(samples.astype(np.int16))[:, 0]
    assert abs(int(np.argmax(np.diff(c0))) + 1 - 50) <= 1
    assert c0[60:].min() > c0[:40].max()


# --------------------------------------------------------------------------- corpus and splits


@pytest.mark.parametrize(
    "case, audio, byte_format",
    [
        ("lower", "sphere", "01"),
        ("upper", "sphere", "10"),
        ("upper", "riff", "01"),
        ("lower", "both", "01"),
        ("upper", "wavwav", "01"),
    ],
)
def test_every_layout_variant_gives_the_same_task(tmp_path, case, audio, byte_format):
    write_corpus(tmp_path / "reference")
    write_corpus(tmp_path / "variant" / "TIMIT", case=case, audio=audio, byte_format=byte_format)  # one level down
    reference, variant = load(tmp_path / "reference"), load(tmp_path / "variant")
    for split in ("train", "validation", "test"):
        assert [u.name for u in variant.utterances[split]] == [u.name for u in reference.utterances[split]]
        a, b = next(reference.batches(split, 50)), next(variant.batches(split, 50))
        np.testing.assert_array_equal(a.inputs, b.inputs)
        np.testing.assert_array_equal(a.labels, b.labels)


def test_protocol_splits_are_speaker_disjoint_and_exclude_sa(tmp_path):
    write_corpus(tmp_path)
    task = load(tmp_path)
    speakers = {split: {u.speaker for u in task.utterances[split]} for split in ("train", "validation", "test")}
    assert speakers["train"] == {s.lower() for ss in TRAIN.values() for s in ss}
    assert speakers["validation"] == {"faks0", "fdac1"} and speakers["validation"] <= set(DEV_SPEAKERS)
    assert speakers["test"] == {"mdab0", "fpas0"} and speakers["test"] <= set(CORE_TEST_SPEAKERS)
    assert not set(CORE_TEST_SPEAKERS) & set(DEV_SPEAKERS)
    assert all(not u.name.split("/")[-1].startswith("sa") for us in task.utterances.values() for u in us)
    assert [task.split_size(s) for s in ("train", "validation", "test")] == [8, 4, 4]


def test_a_speaker_in_two_splits_is_refused(tmp_path):
    write_corpus(tmp_path)
    shutil.copytree(tmp_path / "TEST" / "DR1" / "MDAB0", tmp_path / "TRAIN" / "DR1" / "MDAB0")
    with pytest.raises(TimitFormatError, match="MDAB0.*train.*test"):
        load(tmp_path)


def test_missing_standard_speakers_are_named_in_a_warning(tmp_path):
    write_corpus(tmp_path)
    with pytest.warns(UserWarning, match=r"test split has 2 of its 24 speakers; missing: MWBT0, FELC0"):
        Timit(tmp_path)


# --------------------------------------------------------------------------- labels, folding, scoring

LEE_HON = {  # the 39-class folding (Lee & Hon 1989) written out again, independently of the module
    "sil": ["h#", "pau", "epi", "bcl", "dcl", "gcl", "pcl", "tcl", "kcl"],
    "aa": ["aa", "ao"],
    "ah": ["ah", "ax", "ax-h"],
    "er": ["er", "axr"],
    "hh": ["hh", "hv"],
    "ih": ["ih", "ix"],
    "l": ["l", "el"],
    "m": ["m", "em"],
    "n": ["n", "en", "nx"],
    "ng": ["ng", "eng"],
    "sh": ["sh", "zh"],
    "uw": ["uw", "ux"],
}


def folded(phone):
    if phone == "q":
        return None
    return next((group for group, members in LEE_HON.items() if phone in members), phone)


def test_61_phones_fold_to_the_39_classes_of_lee_and_hon():
    assert len(PHONES61) == len(set(PHONES61)) == 61
    assert len(PHONES39) == 39 and set(PHONES39) == {folded(p) for p in PHONES61} - {None}
    got = fold39(np.arange(61))
    for index, phone in enumerate(PHONES61):
        expected = folded(phone)
        assert (got[index] == -1) if expected is None else PHONES39[got[index]] == expected, phone
    assert fold39([-1])[0] == -1


def test_score_counts_folded_matches_and_skips_q():
    idx = PHONES61.index
    predicted = [idx("ao"), idx("zh"), idx("q"), idx("h#"), idx("iy"), idx("s")]
    labels = [idx("aa"), idx("sh"), idx("pau"), idx("q"), idx("ih"), idx("s")]
    assert score(predicted, labels) == {"correct": 3, "counted": 5, "accuracy": 0.6, "error": pytest.approx(0.4)}

    rng = np.random.default_rng(5)
    predicted, labels = rng.integers(0, 61, size=(2, 7, 300))
    correct = counted = 0
    for p, t in zip(predicted.ravel(), labels.ravel()):
        if folded(PHONES61[t]) is not None:
            counted += 1
            correct += folded(PHONES61[p]) == folded(PHONES61[t])
    result = score(predicted, labels)
    assert (result["correct"], result["counted"]) == (correct, counted)


def test_frame_labels_and_inputs_follow_the_files(tmp_path):
    written = write_corpus(tmp_path)
    task = load(tmp_path)
    edges = [NormalDist().inv_cdf(k / task.bins) for k in range(1, task.bins)]
    batch = next(task.batches("train", 50))
    m = task.frame_steps
    for b, utterance in enumerate(task.utterances["train"]):
        samples, segments = written[utterance.name]
        frames = 1 + len(samples) // 160
        for t in range(batch.labels.shape[1]):
            phone = phone_at(segments, 160 * t) if t < frames else None
            assert batch.mask[b, t] == (phone is not None)
            if phone is not None:
                assert PHONES61[batch.labels[b, t]] == phone
        # every frame's 39 active inputs are the receptive fields of its z-scored features
        z = (mfcc_features(samples) - task.feature_mean) / task.feature_std
        expected = np.zeros((frames, task.n_inputs))
        for f in range(39):
            expected[np.arange(frames), f * task.bins + np.searchsorted(edges, z[:, f], side="right")] = 1
        np.testing.assert_array_equal(batch.inputs[: frames * m, b], np.repeat(expected, m, axis=0))
        assert not batch.inputs[frames * m :, b].any()


def test_normalisation_uses_the_training_split_only(tmp_path):
    write_corpus(tmp_path)
    before = load(tmp_path)
    for path in (tmp_path / "TEST").rglob("*.WAV"):  # other held-out audio must not move the statistics
        samples, _ = read_audio(path)
        path.write_bytes(sphere_bytes((samples // 4) * 3))
    after = load(tmp_path)
    np.testing.assert_array_equal(before.feature_mean, after.feature_mean)
    np.testing.assert_array_equal(before.feature_std, after.feature_std)
    a, b = before.batch("train", 4, np.random.default_rng(0)), after.batch("train", 4, np.random.default_rng(0))
    np.testing.assert_array_equal(a.inputs, b.inputs)
    assert not np.array_equal(next(before.batches("test", 4)).inputs, next(after.batches("test", 4)).inputs)
    train = np.concatenate([mfcc_features(read_audio(u.audio)[0]) for u in after.utterances["train"]])
    np.testing.assert_allclose(after.feature_mean, train.mean(axis=0), rtol=1e-5, atol=1e-4)


# --------------------------------------------------------------------------- batches


def test_batch_layout(tmp_path):
    write_corpus(tmp_path)
    task = load(tmp_path, ms_per_frame=3, bins=5)
    m, frames_max = 3, task.steps // 3
    assert (task.n_inputs, task.n_classes, task.dt_ms) == (39 * 5, 61, 1.0)
    for split in ("validation", "test"):
        batch = task.batch(split, 3, np.random.default_rng(0))
        assert batch.inputs.shape == (task.steps, 3, task.n_inputs) and batch.steps == task.steps
        assert batch.windows.shape == (3, frames_max, 2) and batch.labels.shape == batch.mask.shape == (3, frames_max)
    batch = task.batch("train", 5, np.random.default_rng(1))
    lengths = batch.mask.sum(axis=1)
    assert batch.steps == batch.labels.shape[1] * m == lengths.max() * m  # padded to the longest utterance drawn
    starts = np.broadcast_to(np.arange(batch.labels.shape[1]) * m, batch.labels.shape)
    np.testing.assert_array_equal(batch.windows[:, :, 0], starts)
    np.testing.assert_array_equal(batch.windows[:, :, 1], starts + m)
    assert set(np.unique(batch.inputs)) <= {0.0, 1.0}
    active = batch.inputs.sum(axis=2)  # one neuron per feature at every step of a real frame, none in padding
    for b in range(5):
        n = lengths[b]
        assert (active[: n * m, b] == 39).all() and (active[n * m :, b] == 0).all()
        per_feature = batch.inputs[: n * m, b].reshape(n * m, 39, 5).sum(axis=2)
        assert (per_feature == 1).all()
    assert batch.events[0][0][2] == "utterance" and {e[2] for e in batch.events[0][1:]} == {"phone"}

    crops = load(tmp_path, ms_per_frame=3, bins=5, train_frames=7).batch("train", 4, np.random.default_rng(2))
    assert crops.inputs.shape == (21, 4, 195) and crops.mask.shape == (4, 7) and crops.mask.all()


def test_delay_frames_judge_each_label_d_frames_later(tmp_path):
    write_corpus(tmp_path)
    plain, delayed = load(tmp_path), load(tmp_path, delay_frames=3, train_frames=12)
    m = plain.frame_steps
    assert delayed.steps == plain.steps + 3 * m
    a, b = next(plain.batches("test", 4)), next(delayed.batches("test", 4))
    np.testing.assert_array_equal(b.inputs[: plain.steps], a.inputs)
    assert not b.inputs[plain.steps :].any()
    np.testing.assert_array_equal(b.labels[:, 3:], a.labels)
    np.testing.assert_array_equal(b.mask[:, 3:], a.mask)
    assert not b.mask[:, :3].any()
    crops = delayed.batch("train", 4, np.random.default_rng(0))
    assert crops.steps == 15 * m and not crops.mask[:, :3].any() and crops.mask[:, 3:].all()


def test_held_out_batches_cover_the_split_in_order(tmp_path):
    write_corpus(tmp_path)
    task = load(tmp_path)
    batches = list(task.batches("validation", 3))
    assert [b.size for b in batches] == [3, 1] and all(b.steps == task.steps for b in batches)
    names = [e[0][3] for b in batches for e in b.events]
    assert names == [u.name for u in task.utterances["validation"]]
    assert list(task.test_batches(10))[0].size == task.test_size() == 4


def test_batches_are_determined_by_the_seed_and_the_options(tmp_path):
    write_corpus(tmp_path)
    task = load(tmp_path, train_frames=9)
    again = make_task("timit", **task.options)  # what a checkpoint does
    for split in ("train", "validation"):
        a, b = task.batch(split, 6, np.random.default_rng(7)), again.batch(split, 6, np.random.default_rng(7))
        for field in ("inputs", "windows", "labels", "mask"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert a.events == b.events
    other = task.batch("train", 6, np.random.default_rng(8))
    assert not np.array_equal(other.inputs, task.batch("train", 6, np.random.default_rng(7)).inputs)


# --------------------------------------------------------------------------- errors people will meet


def test_missing_or_empty_folder_is_named(tmp_path):
    with pytest.raises(TimitFormatError, match="TIMIT folder not found") as error:
        Timit(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(error.value)
    (tmp_path / "TRAIN").mkdir()
    with pytest.raises(TimitFormatError, match="no TRAIN and TEST folders"):
        Timit(tmp_path)


def test_bad_files_in_the_corpus_are_named(tmp_path):
    write_corpus(tmp_path)
    folder = tmp_path / "TRAIN" / "DR2" / "FAEM0"
    phn = folder / "SX37.PHN"
    good = phn.read_text()
    lines = good.splitlines()
    cases = [
        ("\n".join([lines[0], "100 50 sh"] + lines[2:]), r"SX37.PHN:2: segment ends at 50, not after its start 100"),
        (
            "\n".join(lines[:-1] + [lines[-1].split()[0] + " 999999 h#"]),
            r"SX37.PHN:\d+: segment ends at sample 999999, past",
        ),
        ("\n".join([lines[0], "0 10 sh"] + lines[2:]), r"SX37.PHN:2: segment starts at 0, before the previous"),
        ("\n".join(lines[:1] + ["2000 2500 xx"]), r"SX37.PHN:2: unknown phone 'xx'"),
        ("0 2000.5 h#", r"SX37.PHN:1: expected 'START END PHONE'"),
    ]
    for text, message in cases:
        phn.write_text(text)
        with pytest.raises(TimitFormatError, match=message):
            Timit(tmp_path)
    phn.write_text(good)

    wav = folder / "SX37.WAV"
    samples, _ = read_audio(wav)
    wav.write_bytes(sphere_bytes(samples, coding="pcm,embedded-shorten-v2.00"))
    with pytest.raises(TimitFormatError, match=f"{wav}: shorten-compressed"):
        Timit(tmp_path)
    wav.write_bytes(sphere_bytes(samples, fields={"sample_rate -i": 8000}))
    with pytest.raises(TimitFormatError, match=f"{wav}: sample rate 8000 Hz"):
        Timit(tmp_path)
    wav.write_bytes(sphere_bytes(samples, fields={"sample_count -i": None}))
    with pytest.raises(TimitFormatError, match=f"{wav}: malformed SPHERE header: field 'sample_count -i' missing"):
        Timit(tmp_path)
    wav.unlink()
    with pytest.raises(TimitFormatError, match=f"{phn}: no audio"):
        Timit(tmp_path)
    wav.write_bytes(sphere_bytes(samples))
    phn.unlink()
    with pytest.raises(TimitFormatError, match=f"{wav}: no phone alignment 'SX37.PHN'"):
        Timit(tmp_path)


def test_task_options_are_checked():
    with pytest.raises(LsnnBioError, match="bins must be at least 2"):
        Timit("/nonexistent", bins=1)
    with pytest.raises(LsnnBioError, match="ms_per_frame=2.5"):
        Timit("/nonexistent", ms_per_frame=2.5)
    assert TASKS["timit"] is Timit


# --------------------------------------------------------------------------- the experiment documents


def test_cli_names_the_missing_corpus(tmp_path, capsys):
    from lsnn_bio.cli import main

    code = main(
        [
            "train",
            str(ROOT / "training" / "timit.yaml"),
            "--out",
            str(tmp_path / "run"),
            "--set",
            f"task.folder={tmp_path}/none",
        ]
    )
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1
    # The error points at what the user typed: the --set that named the folder.
    assert f"--set task.folder={tmp_path}/none, key 'task'" in error
    assert f"{tmp_path}/none: TIMIT folder not found" in error


@pytest.mark.parametrize("document", ["training/timit.yaml", "training/timit_lif.yaml"])
def test_experiment_documents_train_on_a_corpus(tmp_path, document):
    import json

    from lsnn_bio.training import Trainer, load_experiment

    write_corpus(tmp_path / "corpus")
    settings = [
        f"task.folder={tmp_path / 'corpus'}",
        "batch_size=2",
        "validation.batch_size=2",
        "test_batch_size=4",
        "task.train_frames=20",
        "compile=false",
    ]
    experiment = load_experiment(ROOT / document, settings=settings)
    trainer = Trainer(experiment, tmp_path / "run", iterations=2, progress=False)
    assert trainer.spec.inputs["features"].size == trainer.task.n_inputs
    summary = trainer.run()
    assert summary["iterations"] == 2 and summary["test_windows"] > 0
    # Held-out frames are scored as the literature does: folded to 39 classes, glottal stops (q) not counted.
    from lsnn_bio.tasks.timit import fold39

    labels = np.concatenate([b.labels[b.mask] for b in trainer.task.batches("test", 4)])
    assert (labels == trainer.task.phones.index("q")).any()
    assert summary["test_windows"] == int((fold39(labels) >= 0).sum()) < labels.size
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["experiment"] == experiment.name
