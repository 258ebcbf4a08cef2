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
"""
import numpy as np

from .base import Batch, Task, TaskError, ms_to_steps, positive_int
from .mnist_idx import load_mnist


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
        raise TaskError(f"threshold_crossings: pixels must be (batch, length) or (batch, rows, cols), got shape {pixels.shape}")
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

    def __init__(self, train_images, train_labels, test_images, test_labels, ms_per_pixel, thresholds, cue_rows, readout_ms,
                 default_readout_steps):
        self.ms_per_pixel = positive_int(self.name, "ms_per_pixel", ms_per_pixel)
        self.thresholds = positive_int(self.name, "thresholds", thresholds)
        if self.thresholds < 2:
            raise TaskError(f"task '{self.name}': option thresholds must be at least 2 (the paper uses 40), got {thresholds!r}")
        if isinstance(cue_rows, bool) or not isinstance(cue_rows, (int, np.integer)) or cue_rows < 0:
            raise TaskError(f"task '{self.name}': option cue_rows must be a non-negative integer, got {cue_rows!r}")
        self.cue_rows = int(cue_rows)
        self._train = (train_images, np.asarray(train_labels, dtype=np.int64))
        self._test = (test_images, np.asarray(test_labels, dtype=np.int64))
        self.rows, self.width = train_images.shape[1:3]
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
            inputs=encode_pixel_sequences(self._grey(images), self.width, self.thresholds, self.ms_per_pixel, self.cue_rows),
            windows=windows,
            labels=labels.astype(np.int64).reshape(size, 1),
            mask=np.ones((size, 1), dtype=bool),
            events=events,
        )

    def batch(self, split, size, rng):
        self._check_split(split)
        size = self._check_size(size)
        self._check_rng(rng)
        images, labels = self._train if split == "train" else self._test
        index = rng.choice(len(labels), size=size, replace=size > len(labels))
        return self._make(images[index], labels[index])

    def test_batches(self, size):
        size = self._check_size(size)
        images, labels = self._test
        for start in range(0, len(labels), size):
            yield self._make(images[start : start + size], labels[start : start + size])

    def test_size(self):
        return len(self._test[1])

    def train_size(self):
        return len(self._train[1])


class SequentialDigits(_PixelSequenceTask):
    """scikit-learn's bundled 8x8 digits, sequentially: a sequential-MNIST stand-in that needs no files.

    Grey values are the dataset's 0..16 divided by 16. The split is stratified and fixed by ``seed``
    (``test_fraction`` of the 1797 images held out, listed in dataset order). The default readout
    window is the whole cue period (16 steps at 1 ms per pixel).
    """

    name = "sequential_digits"

    def __init__(self, ms_per_pixel=1, thresholds=40, cue_rows=2, readout_ms=None, test_fraction=0.2, seed=0):
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        self._options = dict(ms_per_pixel=ms_per_pixel, thresholds=thresholds, cue_rows=cue_rows, readout_ms=readout_ms,
                             test_fraction=test_fraction, seed=seed)
        if isinstance(test_fraction, bool) or not isinstance(test_fraction, (float, int)) or not 0 < test_fraction < 1:
            raise TaskError(f"task '{self.name}': option test_fraction must be a fraction in (0, 1), got {test_fraction!r}")
        digits = load_digits()
        images = (digits.images / 16.0).astype(np.float32)
        labels = digits.target.astype(np.int64)
        train, test = train_test_split(np.arange(len(labels)), test_size=test_fraction, stratify=labels, random_state=int(seed))
        self.train_indices, self.test_indices = train, np.sort(test)  # positions in load_digits(), for provenance
        test = self.test_indices
        super().__init__(images[train], labels[train], images[test], labels[test], ms_per_pixel, thresholds, cue_rows,
                         readout_ms, default_readout_steps=lambda task: task.cue_steps)

    def _grey(self, images):
        return images


class SequentialMNIST(_PixelSequenceTask):
    """MNIST as in the paper (section 3.1), read from standard IDX files in ``folder``.

    28x28 images at 1 ms per pixel give 784 + 56 = 840 steps and 80 channels. Grey values are
    float32 ``uint8 * (1/255)`` like the official TF loader. All 60,000 training images are drawn
    from (the official script set 5,000 aside for validation); the test split is the 10,000 t10k
    images in file order. The default readout window is the paper's last of (rows + cue_rows) *
    ms_per_pixel equal bins, i.e. the last ``width`` = 28 steps, whatever ``ms_per_pixel``.
    """

    name = "sequential_mnist"

    def __init__(self, folder, ms_per_pixel=1, thresholds=40, cue_rows=2, readout_ms=None):
        self._options = dict(folder=str(folder), ms_per_pixel=ms_per_pixel, thresholds=thresholds, cue_rows=cue_rows,
                             readout_ms=readout_ms)
        data = load_mnist(folder)
        super().__init__(data["train_images"], data["train_labels"], data["test_images"], data["test_labels"], ms_per_pixel,
                         thresholds, cue_rows, readout_ms, default_readout_steps=lambda task: task.width)

    def _grey(self, images):
        return images.astype(np.float32) * np.float32(1.0 / 255.0)
