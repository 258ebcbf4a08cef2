"""TIMIT frame-wise phone classification from the user's own corpus (reference section 3.3).

TIMIT is licensed (LDC93S1), so nothing here ships or downloads it: ``Timit(folder)`` reads a copy.

(Longer than 400 lines on purpose: half of it is the protocol's data, the speaker lists and phone
maps, which stay beside the one task that uses them; SPHERE audio is read apart, in ``sphere.py``.)

**Layout accepted.** ``folder`` (or one folder below it, e.g. ``timit/TIMIT``) holds ``TRAIN`` and
``TEST``, each ``DR1``..``DR8/SPEAKER/UTTERANCE.*``, in any letter case (the LDC discs are upper case,
many copies lower case). An utterance is a ``.PHN`` alignment plus audio, read by content
(``sphere.read_audio``): ``UTT.WAV``/``utt.wav`` as NIST SPHERE (the LDC original: 1024-byte header,
16 kHz 16-bit PCM, byte order 01 or 10) or RIFF WAV, or else ``UTT.WAV.wav`` (RIFF copies converted
next to the SPHERE files). Shorten-compressed SPHERE is refused with how to decompress it.

**Protocol.** The SA sentences (read by every speaker) are excluded, as is standard. train: every
SI/SX utterance of TRAIN (462 speakers, 3696 utterances). validation: the 50-speaker development set
from TEST used by Kaldi's TIMIT recipe (``egs/timit/s5/conf/dev_spk.list``; 400 utterances). test:
the 24-speaker core test set of the TIMIT documentation (2 male + 1 female per dialect region; 192
utterances). The other 94 TEST speakers are unused. Splits are speaker-disjoint (checked on load);
a copy missing some of the listed speakers loads with a warning naming them.

**Features.** librosa (a maintained audio library) computes per 10 ms frame 13 MFCCs (c0..c12) from
25 ms Hamming windows centred on sample 160 t, HTK-like settings (pre-emphasis 0.97, 512-point FFT,
26 mel bands on the HTK mel scale, log power without per-utterance clipping, DCT-II, lifter 22),
plus Savitzky-Golay deltas and double deltas over 5 frames (HTK's DELTAWINDOW=2 regression, edges
repeated): 39 features. They are z-scored with the mean and std of the training split only.

**Spikes.** The network takes 0/1 rasters (the twin and Brian2 must see the same input), so each
z-scored feature is population coded: ``bins`` input neurons per feature with adjacent,
non-overlapping receptive fields whose edges are the standard normal quantiles k/bins (each neuron
is the active one for about 1/bins of the frames). The neuron whose field holds the value fires at
every 1 ms step of the frame, and each frame lasts ``ms_per_frame`` ms (5, the e-prop TIMIT code's
``n_repeat``): 39 of the ``39 * bins`` inputs fire at each step, like the e-prop code's 39 analog input
currents held for 5 ms. Threshold crossings (the sMNIST encoding) were not chosen: they signal only
changes, so a held level would be invisible after its onset; a deterministic code needs no shared
random stream for the two engines. Channel ``f * bins + k`` is bin k of feature f
(f = 13 MFCCs, 13 deltas, 13 double deltas).

**Labels.** Frame t is labelled with the phone of the ``.PHN`` segment holding its centre sample
160 t (frames outside every segment are masked). Training uses the 61 TIMIT phones (``PHONES61``,
alphabetical); scoring folds them to the 39 classes of Lee & Hon (1989, IEEE Trans. ASSP 37:1641) as
in Kaldi's ``conf/phones.60-48-39.map``: closures, ``h#``, ``pau`` and ``epi`` become ``sil``, the
other 12 merges as listed in ``FOLD39``, and frames labelled ``q`` (glottal stop) are not scored.
One readout window per frame (its ``ms_per_frame`` steps); ``score(predicted, labels)`` gives the
folded accuracy. With ``delay_frames`` = d > 0 the window of frame t + d is judged on the label of frame
t, so a causal network hears d frames (10 d ms) of what follows a phone before it must name it, the
unidirectional alternative to a bidirectional network (Graves & Schmidhuber 2005, target delay);
d frames of silence are appended so the last labels can be read out.

**Batches.** Utterances differ in length (about 1-8 s). Whole utterances are padded with masked
windows (no input spikes): held-out batches and ``batches()`` always to ``steps``, the longest
utterance of the corpus (plus ``delay_frames``), so every whole-utterance trial has one length and
Brian2 runs them all through one compiled binary; random training batches to the longest utterance
drawn, or, with ``train_frames``, to random crops of that many frames (truncated BPTT, the e-prop
code's ``truncT``), which bounds memory and time per iteration on a CPU. A crop's last
``delay_frames`` labels are read out over appended silence, as at the end of an utterance.
"""

import warnings
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np

from ..errors import LsnnBioError
from ..progress import bar as progress_bar
from .base import Batch, Task, TaskError, ms_to_steps, positive_int
from .sphere import AudioFormatError, read_audio

SPLITS = ("train", "validation", "test")

PHONES61 = (
    "aa",
    "ae",
    "ah",
    "ao",
    "aw",
    "ax",
    "ax-h",
    "axr",
    "ay",
    "b",
    "bcl",
    "ch",
    "d",
    "dcl",
    "dh",
    "dx",
    "eh",
    "el",
    "em",
    "en",
    "eng",
    "epi",
    "er",
    "ey",
    "f",
    "g",
    "gcl",
    "h#",
    "hh",
    "hv",
    "ih",
    "ix",
    "iy",
    "jh",
    "k",
    "kcl",
    "l",
    "m",
    "n",
    "ng",
    "nx",
    "ow",
    "oy",
    "p",
    "pau",
    "pcl",
    "q",
    "r",
    "s",
    "sh",
    "t",
    "tcl",
    "th",
    "uh",
    "uw",
    "ux",
    "v",
    "w",
    "y",
    "z",
    "zh",
)
#: Lee & Hon's folding of the 61 phones to 39 classes; a phone not listed keeps its name, ``q`` is not scored.
FOLD39 = {
    "ao": "aa",
    "ax": "ah",
    "ax-h": "ah",
    "axr": "er",
    "hv": "hh",
    "ix": "ih",
    "el": "l",
    "em": "m",
    "en": "n",
    "nx": "n",
    "eng": "ng",
    "zh": "sh",
    "ux": "uw",
    "bcl": "sil",
    "dcl": "sil",
    "gcl": "sil",
    "pcl": "sil",
    "tcl": "sil",
    "kcl": "sil",
    "h#": "sil",
    "pau": "sil",
    "epi": "sil",
    "q": None,
}
PHONES39 = tuple(sorted({FOLD39.get(p, p) for p in PHONES61} - {None}))

#: The core test set (TIMIT documentation): 2 male and 1 female speaker per dialect region.
CORE_TEST_SPEAKERS = (
    "mdab0",
    "mwbt0",
    "felc0",
    "mtas1",
    "mwew0",
    "fpas0",
    "mjmp0",
    "mlnt0",
    "fpkt0",
    "mlll0",
    "mtls0",
    "fjlm0",
    "mbpm0",
    "mklt0",
    "fnlp0",
    "mcmj0",
    "mjdh0",
    "fmgd0",
    "mgrt0",
    "mnjm0",
    "fdhc0",
    "mjln0",
    "mpam0",
    "fmld0",
)
#: The 50-speaker development set (Kaldi egs/timit/s5/conf/dev_spk.list), all from TEST, none in the core set.
DEV_SPEAKERS = (
    "faks0",
    "fdac1",
    "fjem0",
    "mgwt0",
    "mjar0",
    "mmdb1",
    "mmdm2",
    "mpdf0",
    "fcmh0",
    "fkms0",
    "mbdg0",
    "mbwm0",
    "mcsh0",
    "fadg0",
    "fdms0",
    "fedw0",
    "mgjf0",
    "mglb0",
    "mrtk0",
    "mtaa0",
    "mtdt0",
    "mthc0",
    "mwjg0",
    "fnmr0",
    "frew0",
    "fsem0",
    "mbns0",
    "mmjr0",
    "mdls0",
    "mdlf0",
    "mdvc0",
    "mers0",
    "fmah0",
    "fdrw0",
    "mrcs0",
    "mrjm4",
    "fcal1",
    "mmwh0",
    "fjsj0",
    "majc0",
    "mjsw0",
    "mreb0",
    "fgjd0",
    "fjmg0",
    "mroa0",
    "mteb0",
    "mjfc0",
    "mrjr0",
    "fmml0",
    "mrws1",
)

SAMPLE_RATE = 16000
HOP = 160  # samples per 10 ms frame
N_FEATURES = 39
_INDEX61 = {p: i for i, p in enumerate(PHONES61)}
# 61-class index -> 39-class index (-1 for q)
_TO39 = np.array([PHONES39.index(FOLD39.get(p, p)) if FOLD39.get(p, p) else -1 for p in PHONES61], dtype=np.int64)


class TimitFormatError(LsnnBioError, ValueError):
    """The TIMIT folder or one of its files is missing or malformed (the message names the file)."""


@dataclass(frozen=True)
class Utterance:
    name: str  # 'dr1/fcjf0/si1027', lower case whatever the corpus's letter case
    speaker: str
    audio: Path
    phn: Path


# --------------------------------------------------------------------------- the corpus on disk


def _subfolders(folder):
    return sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.name.lower())


def _corpus_halves(folder):
    """The TRAIN and TEST folders in ``folder`` or one level below it (any letter case)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TimitFormatError(
            f"{folder}: TIMIT folder not found (give the corpus root that holds TRAIN/ and TEST/, "
            "e.g. --set task.folder=/path/to/TIMIT)"
        )
    for candidate in [folder, *_subfolders(folder)]:
        names = {p.name.lower(): p for p in _subfolders(candidate)}
        if "train" in names and "test" in names:
            return names["train"], names["test"]
    raise TimitFormatError(
        f"{folder}: no TRAIN and TEST folders here or one level below (expected the LDC layout "
        "TRAIN|TEST/DR1..DR8/SPEAKER/*.WAV + *.PHN, any letter case)"
    )


def _speaker_utterances(speaker_folder, dialect):
    """The SI/SX utterances of one speaker folder: (name, audio, phn) with the audio file chosen by name."""
    files = {}
    for path in sorted(speaker_folder.iterdir()):
        if path.is_file():
            stem, _, suffix = path.name.partition(".")
            files.setdefault(stem.lower(), {})[suffix.lower()] = path
    found = []
    for stem, by_suffix in sorted(files.items()):
        if stem.startswith("sa") or not ({"phn", "wav", "wav.wav"} & set(by_suffix)):
            continue
        audio = by_suffix.get("wav") or by_suffix.get("wav.wav")
        if "phn" not in by_suffix:
            raise TimitFormatError(f"{audio}: no phone alignment '{audio.name.split('.')[0]}.PHN' beside it")
        if audio is None:
            raise TimitFormatError(f"{by_suffix['phn']}: no audio '{stem.upper()}.WAV' (or .wav, .WAV.wav) beside it")
        name = f"{dialect.lower()}/{speaker_folder.name.lower()}/{stem}"
        found.append(Utterance(name, speaker_folder.name.lower(), audio, by_suffix["phn"]))
    return found


def _half_utterances(half):
    dialects = [d for d in _subfolders(half) if d.name.lower().startswith("dr")]
    if not dialects:
        raise TimitFormatError(f"{half}: no dialect-region folders DR1..DR8 (expected {half.name}/DR*/SPEAKER/*.PHN)")
    utterances = []
    for dialect in dialects:
        for speaker in _subfolders(dialect):
            utterances += _speaker_utterances(speaker, dialect.name)
    return utterances


def find_utterances(folder) -> dict:
    """{split: [Utterance]} under the standard protocol (see the module docstring), checked speaker-disjoint."""
    train_half, test_half = _corpus_halves(folder)
    train, test = _half_utterances(train_half), _half_utterances(test_half)
    splits = {
        "train": train,
        "validation": [u for u in test if u.speaker in DEV_SPEAKERS],
        "test": [u for u in test if u.speaker in CORE_TEST_SPEAKERS],
    }
    for split, listed, half in (("validation", DEV_SPEAKERS, test_half), ("test", CORE_TEST_SPEAKERS, test_half)):
        have = {u.speaker for u in splits[split]}
        missing = [s.upper() for s in listed if s not in have]
        if len(missing) == len(listed):
            raise TimitFormatError(
                f"{half}: none of the {len(listed)} {split} speakers of the standard protocol "
                f"(e.g. {', '.join(missing[:3])}) holds SI/SX utterances here"
            )
        if missing:
            warnings.warn(
                f"{half}: the {split} split has {len(have)} of its {len(listed)} speakers; missing: "
                f"{', '.join(missing)}",
                stacklevel=3,
            )
    if not train:
        raise TimitFormatError(f"{train_half}: no SI/SX utterances (.PHN with .WAV) in any speaker folder")
    speakers = {split: {u.speaker for u in us} for split, us in splits.items()}
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        shared = speakers[a] & speakers[b]
        if shared:
            raise TimitFormatError(
                f"{folder}: speaker(s) {', '.join(sorted(s.upper() for s in shared))} appear in both "
                f"the {a} and the {b} split (TIMIT's TRAIN and TEST speakers are disjoint)"
            )
    return splits


def read_phn(path, n_samples) -> list:
    """The ``(start, end, phone)`` segments of a ``.PHN`` file, in samples; checked against the audio length."""
    path = Path(path)
    segments, previous_end = [], 0
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        problem = None
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            problem = "expected 'START END PHONE' with whole-number sample offsets"
        else:
            start, end, phone = int(parts[0]), int(parts[1]), parts[2].lower()
            if phone not in _INDEX61:
                problem = f"unknown phone '{parts[2]}' (accepted: the 61 TIMIT phones, e.g. h#, sh, iy)"
            elif end <= start:
                problem = f"segment ends at {end}, not after its start {start}"
            elif start < previous_end:
                problem = f"segment starts at {start}, before the previous one ends ({previous_end})"
            elif end > n_samples:
                problem = f"segment ends at sample {end}, past the end of the audio ({n_samples} samples)"
        if problem:
            raise TimitFormatError(f"{path}:{number}: {problem}: {line.strip()[:60]!r}")
        segments.append((start, end, phone))
        previous_end = end
    if not segments:
        raise TimitFormatError(f"{path}: no phone segments")
    return segments


# --------------------------------------------------------------------------- features and labels


def mfcc_features(samples, sample_rate=SAMPLE_RATE) -> np.ndarray:
    """(frames, 39) float32: 13 MFCCs, deltas, double deltas per 10 ms frame (settings in the module docstring)."""
    import librosa

    y = np.asarray(samples, dtype=np.float32) / np.float32(32768.0)
    y = librosa.effects.preemphasis(y, coef=0.97)
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=sample_rate,
        n_fft=512,
        win_length=400,
        hop_length=HOP,
        window="hamming",
        center=True,
        n_mels=26,
        htk=True,
        power=2.0,
    )
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=None), n_mfcc=13, lifter=22)
    delta = librosa.feature.delta(mfcc, width=5, order=1, mode="nearest")
    delta2 = librosa.feature.delta(mfcc, width=5, order=2, mode="nearest")
    return np.concatenate([mfcc, delta, delta2]).T.astype(np.float32)


def frame_labels(segments, n_frames) -> np.ndarray:
    """61-class index of the segment holding each frame's centre sample (HOP * t); -1 where none does."""
    starts = np.array([s for s, _, _ in segments])
    ends = np.array([e for _, e, _ in segments])
    phones = np.array([_INDEX61[p] for _, _, p in segments])
    centres = np.arange(n_frames) * HOP
    k = np.searchsorted(starts, centres, side="right") - 1
    inside = (k >= 0) & (centres < ends[np.clip(k, 0, None)])
    return np.where(inside, phones[np.clip(k, 0, None)], -1).astype(np.int64)


def fold39(indices) -> np.ndarray:
    """39-class indices (into ``PHONES39``) of 61-class indices; -1 for q and for negative (unlabelled) inputs."""
    indices = np.asarray(indices, dtype=np.int64)
    return np.where(indices >= 0, _TO39[np.clip(indices, 0, None)], -1)


def score(predicted, labels) -> dict:
    """Frame accuracy after folding predictions and labels (61-class indices) to 39 classes; q frames not counted."""
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    if predicted.shape != labels.shape:
        raise TaskError(f"task 'timit': predictions of shape {predicted.shape} for labels of shape {labels.shape}")
    truth, guess = fold39(labels), fold39(predicted)
    counted = truth >= 0
    correct = int((guess[counted] == truth[counted]).sum())
    total = int(counted.sum())
    accuracy = correct / total if total else float("nan")
    return {"correct": correct, "counted": total, "accuracy": accuracy, "error": 1.0 - accuracy}


# --------------------------------------------------------------------------- the task


class Timit(Task):
    """Frame-wise phone classification of the user's TIMIT (see the module docstring)."""

    name = "timit"
    n_classes = len(PHONES61)
    class_names = PHONES61
    phones = PHONES61

    def __init__(self, folder, ms_per_frame=5, bins=8, train_frames=None, delay_frames=0):
        self._options = dict(
            folder=str(folder),
            ms_per_frame=ms_per_frame,
            bins=bins,
            train_frames=train_frames,
            delay_frames=delay_frames,
        )
        self.frame_steps = ms_to_steps(self.name, "ms_per_frame", ms_per_frame, self.dt_ms)
        self.bins = positive_int(self.name, "bins", bins)
        if self.bins < 2:
            raise TaskError(
                f"task '{self.name}': option bins must be at least 2 input neurons per feature, got {bins!r}"
            )
        self.train_frames = None if train_frames is None else positive_int(self.name, "train_frames", train_frames)
        if isinstance(delay_frames, bool) or not isinstance(delay_frames, (int, np.integer)) or delay_frames < 0:
            raise TaskError(
                f"task '{self.name}': option delay_frames must be a whole number >= 0, got {delay_frames!r}"
            )
        self.delay_frames = int(delay_frames)
        self.n_inputs = N_FEATURES * self.bins

        self.utterances = find_utterances(folder)
        features, self._labels = {}, {}
        bar = progress_bar(sum(map(len, self.utterances.values())), "TIMIT features", unit="utterance")
        for split, utterances in self.utterances.items():
            loaded = [self._load(u, bar) for u in utterances]
            features[split] = [f for f, _ in loaded]
            self._labels[split] = [lab for _, lab in loaded]
        bar.close()
        train = np.concatenate(features["train"])
        self.feature_mean = train.mean(axis=0)
        self.feature_std = np.maximum(train.std(axis=0), 1e-8)
        edges = np.array([NormalDist().inv_cdf(k / self.bins) for k in range(1, self.bins)], dtype=np.float32)
        self._bins = {
            split: [
                np.searchsorted(edges, (f - self.feature_mean) / self.feature_std, side="right").astype(np.uint8)
                for f in fs
            ]
            for split, fs in features.items()
        }
        self.longest_frames = max(len(lab) for labels in self._labels.values() for lab in labels)
        self.steps = (self.longest_frames + self.delay_frames) * self.frame_steps

    def _load(self, utterance, bar):
        bar.update(1)
        try:
            samples, rate = read_audio(utterance.audio)
        except AudioFormatError as error:
            raise TimitFormatError(str(error)) from None
        if rate != SAMPLE_RATE:
            raise TimitFormatError(f"{utterance.audio}: sample rate {rate} Hz (accepted: TIMIT's {SAMPLE_RATE} Hz)")
        segments = read_phn(utterance.phn, len(samples))
        features = mfcc_features(samples, rate)
        return features, frame_labels(segments, len(features))

    # -- the Task interface: SPLITS, batch, batches, split_size --------------------------------

    def _check_split(self, split):
        if split not in SPLITS:
            raise TaskError(f"task '{self.name}': unknown split {split!r} (accepted: {', '.join(map(repr, SPLITS))})")
        return split

    def split_size(self, split):
        return len(self._labels[self._check_split(split)])

    def batch(self, split, size, rng):
        """``size`` utterances drawn at random; training ones cropped to ``train_frames`` if set."""
        self._check_split(split)
        size = self._check_size(size)
        self._check_rng(rng)
        count = self.split_size(split)
        index = rng.choice(count, size=size, replace=size > count)
        if split != "train":
            return self._make(split, index, [None] * size, self.longest_frames)
        lengths = np.array([len(self._labels[split][i]) for i in index])
        if self.train_frames is None:
            return self._make(split, index, [None] * size, int(lengths.max()))
        starts = rng.integers(0, np.maximum(lengths - self.train_frames, 0) + 1)
        return self._make(split, index, [(int(s), int(s) + self.train_frames) for s in starts], self.train_frames)

    def batches(self, split, size):
        """The whole split in corpus order, whole utterances padded to ``steps``."""
        self._check_split(split)
        size = self._check_size(size)
        for start in range(0, self.split_size(split), size):
            index = np.arange(start, min(start + size, self.split_size(split)))
            yield self._make(split, index, [None] * len(index), self.longest_frames)

    def score(self, predicted, labels):
        """Frame accuracy with the 39-class folding (see ``score``)."""
        return score(predicted, labels)

    # the interface the trainer of this branch still calls
    def test_batches(self, size):
        return self.batches("test", size)

    def test_size(self):
        return self.split_size("test")

    # -- rendering ------------------------------------------------------------------------------

    def _make(self, split, index, crops, frames):
        """Utterances (cropped) in ``frames`` input frames, plus ``delay_frames`` of silence to read out the last."""
        size, m, d = len(index), self.frame_steps, self.delay_frames
        windows = frames + d
        active = np.zeros((windows, size, self.n_inputs), dtype=np.float32)
        labels = np.zeros((size, windows), dtype=np.int64)
        mask = np.zeros((size, windows), dtype=bool)
        offsets = np.arange(N_FEATURES) * self.bins
        events = []
        for b, (i, crop) in enumerate(zip(index, crops)):
            bins, lab = self._bins[split][i], self._labels[split][i]
            if crop is not None:
                bins, lab = bins[crop[0] : crop[1]], lab[crop[0] : crop[1]]
            n = len(lab)
            rows = np.repeat(np.arange(n), N_FEATURES)
            active[rows, b, (offsets + bins).ravel()] = 1.0
            labels[b, d : n + d] = np.maximum(lab, 0)
            mask[b, d : n + d] = lab >= 0
            events.append(self._events(self.utterances[split][i].name, lab, crop))
        ranges = np.stack([np.arange(windows) * m, np.arange(1, windows + 1) * m], axis=-1)
        return Batch(
            inputs=np.repeat(active, m, axis=0),
            windows=np.broadcast_to(ranges, (size, windows, 2)).copy(),
            labels=labels,
            mask=mask,
            events=events,
        )

    def _events(self, name, lab, crop):
        """The utterance and its runs of equal frame labels, as (step, duration, kind, label)."""
        m = self.frame_steps
        title = name if crop is None else f"{name} frames {crop[0]}-{crop[0] + len(lab)}"
        trial = [(0, len(lab) * m, "utterance", title)]
        change = np.flatnonzero(np.diff(lab)) + 1
        for start, stop in zip(np.r_[0, change], np.r_[change, len(lab)]):
            if lab[start] >= 0:
                trial.append((int(start) * m, int(stop - start) * m, "phone", PHONES61[lab[start]]))
        return trial
