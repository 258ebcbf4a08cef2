"""Digit images shown pixel by pixel as threshold-crossing spikes (the paper's sequential MNIST, section 3.1).

One encoding, written once here, serves both the offline 8x8 scikit-learn digits (quick checks,
no files needed) and real MNIST read from the user's IDX files.

Encoding (official ``find_onset_offset`` with ``crs_thr=True`` and ``ext_time``): grey values in
[0, 1] are read row by row; each pixel is first repeated ``ms_per_pixel`` times (``ext_time``) and
the repeated sequence y is then encoded, so a crossing gives exactly one spike whatever the pixel
duration. With thresholds theta_k = linspace(0, 1, thresholds), every theta_k < 1 owns two channels,
2k (onset: y[i] < theta_k <= y[i+1]) and 2k+1 (offset: y[i] >= theta_k > y[i+1]); the spike sits at
the earlier index i (the last repeat of the earlier pixel). Channel 2(thresholds-1) fires at every
step where y == 1 exactly (so ``ms_per_pixel`` times per white pixel). The last channel is the cue:
silent during the image, then firing at every step of ``cue_rows * width * ms_per_pixel`` steps
appended after it. The theta = 0 pair can never fire (no grey value is below 0); it is kept so the
channel layout is the paper's 80 inputs.

Time step: these tasks are defined in 1 ms steps only (``dt_ms = 1``). The official encoding fires
the 'equals 1' and cue channels at every step, so rendering it at another dt would change those
channels' rates, not just the sampling; a network with another dt is refused.
"""

from pathlib import Path

import numpy as np

from .. import seeds
from .base import HELD_OUT, SPLITS, Batch, MissingDataError, Task, TaskError, ms_to_steps, positive_int
from .mnist_idx import MNIST_FILES, load_mnist_pair


def n_encoding_channels(thresholds):
    """Channels of the encoding: an onset/offset pair per threshold below 1, one 'equals 1', one cue."""
    return 2 * (thresholds - 1) + 1 + 1


def threshold_crossings(pixels, thresholds=40, ms_per_pixel=1):
    """Threshold-crossing spikes of pixel sequences, time-major: (len * ms_per_pixel, batch, 2*(thresholds-1)+1) bool.

    ``pixels`` is (batch, length) (or (batch, rows, cols), read row by row) with grey values in [0, 1].
    Values are compared as given against float64 thresholds; MNIST therefore passes float32
    ``uint8 * (1/255)`` exactly as the official TF loader did (grey 85 and 170 then sit just above
    the thresholds 1/3 and 2/3).
    """
    pixels = np.asarray(pixels)
    if pixels.ndim < 2:
        raise TaskError(
            f"threshold_crossings: pixels must be (batch, length) or (batch, rows, cols), got shape {pixels.shape}"
        )
    if thresholds < 2:
        raise TaskError(f"threshold_crossings: thresholds must be at least 2, got {thresholds}")
    y = np.repeat(pixels.reshape(len(pixels), -1).T, ms_per_pixel, axis=0)  # (T, batch)
    theta = np.linspace(0.0, 1.0, thresholds)[:-1]
    above = y[:, :, None] >= theta  # (T, batch, thresholds-1)
    n_pairs = thresholds - 1
    spikes = np.zeros(y.shape + (2 * n_pairs + 1,), dtype=bool)
    spikes[:-1, :, 0 : 2 * n_pairs : 2] = ~above[:-1] & above[1:]  # onset at the earlier index
    spikes[:-1, :, 1 : 2 * n_pairs : 2] = above[:-1] & ~above[1:]  # offset at the earlier index
    spikes[:, :, 2 * n_pairs] = y == 1.0
    return spikes


def encode_pixel_sequences(pixels, width, thresholds=40, ms_per_pixel=1, cue_rows=2):
    """Network input for images: crossings, then the cue period; (steps, batch, n_inputs) float32."""
    crossings = threshold_crossings(pixels, thresholds, ms_per_pixel)
    image_steps, batch, channels = crossings.shape
    cue_steps = cue_rows * width * ms_per_pixel
    inputs = np.zeros((image_steps + cue_steps, batch, channels + 1), dtype=np.float32)
    inputs[:image_steps, :, :channels] = crossings
    inputs[image_steps:, :, channels] = 1.0
    return inputs


class _PixelSequenceTask(Task):
    """Shared by the digit tasks: images in, one readout window per trial, digit label out."""

    n_classes = 10
    class_names = tuple(f"digit {d}" for d in range(10))
    dt_ms = 1.0

    def __init__(self, splits, ms_per_pixel, thresholds, cue_rows, readout_ms, default_readout_steps):
        """``splits``: {split: (images (N, rows, cols), labels (N,))} for all of SPLITS."""
        self.ms_per_pixel = positive_int(self.name, "ms_per_pixel", ms_per_pixel)
        self.thresholds = positive_int(self.name, "thresholds", thresholds)
        if self.thresholds < 2:
            raise TaskError(
                f"task '{self.name}': option thresholds must be at least 2 (the paper uses 40), got {thresholds!r}"
            )
        if isinstance(cue_rows, bool) or not isinstance(cue_rows, (int, np.integer)) or cue_rows < 0:
            raise TaskError(f"task '{self.name}': option cue_rows must be a non-negative integer, got {cue_rows!r}")
        self.cue_rows = int(cue_rows)
        self._splits = {
            split: (images, np.asarray(labels, dtype=np.int64)) for split, (images, labels) in splits.items()
        }
        for split in SPLITS:
            if len(self._splits[split][1]) == 0:
                raise TaskError(f"task '{self.name}': the {split} split is empty")
        self.rows, self.width = self._splits["train"][0].shape[1:3]
        self.image_steps = self.rows * self.width * self.ms_per_pixel
        self.cue_steps = self.cue_rows * self.width * self.ms_per_pixel
        self.steps = self.image_steps + self.cue_steps
        self.n_inputs = n_encoding_channels(self.thresholds)
        if readout_ms is None:
            self.readout_steps = default_readout_steps(self)
        else:
            self.readout_steps = ms_to_steps(self.name, "readout_ms", readout_ms, self.dt_ms)
        if not 0 < self.readout_steps <= self.steps:
            raise TaskError(
                f"task '{self.name}': readout window of {self.readout_steps} steps does not fit in a trial of {self.steps} steps "
                "(give readout_ms between 1 and the trial length, or cue_rows > 0 for the default cue-period window)"
            )

    def _grey(self, images):
        """Images as grey values in [0, 1] (dataset specific)."""
        raise NotImplementedError

    def _make(self, images, labels):
        size = len(labels)
        windows = np.empty((size, 1, 2), dtype=np.int64)
        windows[:, 0] = (self.steps - self.readout_steps, self.steps)
        events = [
            [(0, self.image_steps, "stimulus", str(int(label)))]
            + ([(self.image_steps, self.cue_steps, "cue", "")] if self.cue_steps else [])
            for label in labels
        ]
        return Batch(
            inputs=encode_pixel_sequences(
                self._grey(images), self.width, self.thresholds, self.ms_per_pixel, self.cue_rows
            ),
            windows=windows,
            labels=labels.astype(np.int64).reshape(size, 1),
            mask=np.ones((size, 1), dtype=bool),
            events=events,
        )

    def batch(self, split, size, rng):
        self._check_split(split)
        size = self._check_size(size)
        self._check_rng(rng)
        images, labels = self._splits[split]
        index = rng.choice(len(labels), size=size, replace=size > len(labels))
        return self._make(images[index], labels[index])

    def batches(self, split, size):
        self._check_split(split, HELD_OUT)
        size = self._check_size(size)
        images, labels = self._splits[split]
        for start in range(0, len(labels), size):
            yield self._make(images[start : start + size], labels[start : start + size])

    def split_size(self, split):
        self._check_split(split)
        return len(self._splits[split][1])


def stratified_split(labels, validation_fraction, test_fraction, rng):
    """{split: sorted indices}: within each class, a seeded shuffle, then test, validation, the rest train."""
    parts = {split: [] for split in SPLITS}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(test_fraction * len(members)))
        n_validation = int(round(validation_fraction * len(members)))
        parts["test"].append(members[:n_test])
        parts["validation"].append(members[n_test : n_test + n_validation])
        parts["train"].append(members[n_test + n_validation :])
    return {split: np.sort(np.concatenate(chunks)) for split, chunks in parts.items()}


class SequentialDigits(_PixelSequenceTask):
    """scikit-learn's bundled 8x8 digits, sequentially: a sequential-MNIST stand-in that needs no files.

    Grey values are the dataset's 0..16 divided by 16. The 1797 images are split by class
    (stratified) with a shuffle drawn from the ``data_split`` stream of ``seed``: ``test_fraction``
    of each digit is test, ``validation_fraction`` validation, the rest train; each held-out split is
    listed in dataset order. The default readout window is the whole cue period (16 steps at 1 ms
    per pixel).
    """

    name = "sequential_digits"

    def __init__(
        self,
        ms_per_pixel=1,
        thresholds=40,
        cue_rows=2,
        readout_ms=None,
        validation_fraction=0.1,
        test_fraction=0.2,
        seed=0,
    ):
        from sklearn.datasets import load_digits

        self._options = dict(
            ms_per_pixel=ms_per_pixel,
            thresholds=thresholds,
            cue_rows=cue_rows,
            readout_ms=readout_ms,
            validation_fraction=validation_fraction,
            test_fraction=test_fraction,
            seed=seed,
        )
        for option, value in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
            if isinstance(value, bool) or not isinstance(value, (float, int)) or not 0 < value < 1:
                raise TaskError(f"task '{self.name}': option {option} must be a fraction in (0, 1), got {value!r}")
        if validation_fraction + test_fraction >= 1:
            raise TaskError(
                f"task '{self.name}': validation_fraction + test_fraction must leave images to train on, "
                f"got {validation_fraction} + {test_fraction}"
            )
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise TaskError(f"task '{self.name}': option seed must be a whole number >= 0, got {seed!r}")
        digits = load_digits()
        images = (digits.images / 16.0).astype(np.float32)
        labels = digits.target.astype(np.int64)
        self.indices = stratified_split(labels, validation_fraction, test_fraction, seeds.generator(seed, "data_split"))
        super().__init__(
            {split: (images[i], labels[i]) for split, i in self.indices.items()},
            ms_per_pixel,
            thresholds,
            cue_rows,
            readout_ms,
            default_readout_steps=lambda task: task.cue_steps,
        )

    def _grey(self, images):
        return images


#: Index split of the one t10k file pair (train 0-7999, validation 8000-8999, test 9000-9999 of the
#: official 10,000 images, as ../shared/data/mnist/README.md fixes it), as fractions of the file.
T10K_SPLIT = {"train": (0.0, 0.8), "validation": (0.8, 0.9), "test": (0.9, 1.0)}
#: With the standard four files, the first 5,000 training images are validation, as the official
#: TF loader (read_data_sets, validation_size=5000) held them out.
VALIDATION_IMAGES = 5000
FILES = ("train+t10k", "t10k")


def t10k_index_split(count):
    """{split: slice} of a t10k file of ``count`` images (exactly the README's for 10,000)."""
    bounds = {split: (int(round(a * count)), int(round(b * count))) for split, (a, b) in T10K_SPLIT.items()}
    return {split: slice(a, b) for split, (a, b) in bounds.items()}


class SequentialMNIST(_PixelSequenceTask):
    """MNIST as in the paper (section 3.1), read from IDX files in ``folder`` (plain or ``.gz``).

    Which files are read, and the splits (``files``):

    - ``"train+t10k"`` (default, full MNIST): ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
      ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``. Validation is the first 5,000 images
      of the training file (as the official TF loader held them out), train the other 55,000,
      test the 10,000 t10k images.
    - ``"t10k"``: only ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, split by index:
      train 0-7999, validation 8000-8999, test 9000-9999 (the first 80 %, next 10 % and last
      10 % of the file), as ``../shared/data/mnist/README.md`` fixes it.

    ``folder`` is resolved against the current directory when the task is made, and kept as an
    absolute path so a checkpoint names exactly which files it was trained on. 28x28 images at
    1 ms per pixel give 784 + 56 = 840 steps and 80 channels. Grey values are float32
    ``uint8 * (1/255)`` like the official TF loader. Held-out splits are listed in file order. The
    default readout window is the paper's last of (rows + cue_rows) * ms_per_pixel equal bins, i.e.
    the last ``width`` = 28 steps, whatever ``ms_per_pixel``.
    """

    name = "sequential_mnist"

    def __init__(self, folder, files="train+t10k", ms_per_pixel=1, thresholds=40, cue_rows=2, readout_ms=None):
        if files not in FILES:
            raise TaskError(
                f"task '{self.name}': option files={files!r} is not known (accepted: {', '.join(map(repr, FILES))})"
            )
        given, folder = folder, Path(str(folder)).expanduser().resolve()
        self._options = dict(
            folder=str(folder),
            files=files,
            ms_per_pixel=ms_per_pixel,
            thresholds=thresholds,
            cue_rows=cue_rows,
            readout_ms=readout_ms,
        )
        needed = [stem for key, stem in MNIST_FILES.items() if files == "train+t10k" or key.startswith("t10k")]
        if not folder.is_dir():
            relative = (
                "" if Path(str(given)).expanduser().is_absolute() else f" (folder: {given}, from the current directory)"
            )
            raise MissingDataError(
                f"task '{self.name}': data folder {folder} does not exist{relative}; pass the folder holding "
                f"{', '.join(needed)} (each may end in .gz) with --set task.folder=PATH"
            )
        hint = f"task '{self.name}' with files: {files} reads {', '.join(needed)} (each may end in .gz) from its folder"
        if files == "train+t10k":
            hint += "; with only the t10k pair, use files: t10k"
        test_images, test_labels = load_mnist_pair(folder, "t10k", hint)
        if files == "t10k":
            splits = {
                split: (test_images[part], test_labels[part])
                for split, part in t10k_index_split(len(test_labels)).items()
            }
        else:
            train_images, train_labels = load_mnist_pair(folder, "train", hint)
            if train_images.shape[1:] != test_images.shape[1:]:
                raise TaskError(
                    f"task '{self.name}': {folder} has training images of {train_images.shape[1:]} but t10k images "
                    f"of {test_images.shape[1:]} (expected the same image size)"
                )
            if len(train_labels) <= VALIDATION_IMAGES:
                raise TaskError(
                    f"task '{self.name}': the training file in {folder} holds {len(train_labels)} images; "
                    f"files: train+t10k holds out the first {VALIDATION_IMAGES} for validation and needs more "
                    "(accepted: the full 60,000, or files: t10k)"
                )
            splits = {
                "train": (train_images[VALIDATION_IMAGES:], train_labels[VALIDATION_IMAGES:]),
                "validation": (train_images[:VALIDATION_IMAGES], train_labels[:VALIDATION_IMAGES]),
                "test": (test_images, test_labels),
            }
        super().__init__(
            splits, ms_per_pixel, thresholds, cue_rows, readout_ms, default_readout_steps=lambda task: task.width
        )

    def _grey(self, images):
        return images.astype(np.float32) * np.float32(1.0 / 255.0)
