"""Tasks: the encoding against a hand-written raster, store-recall targets against an independent
reconstruction from the spikes, split hygiene (train, validation and test apart), time steps, and the
IDX reader and MNIST layouts on files written byte by byte."""

import gzip
import struct

import numpy as np
import pytest

from lsnn_bio.tasks import (
    SPLITS,
    TASKS,
    IdxFormatError,
    MissingDataError,
    SequentialDigits,
    SequentialMNIST,
    StoreRecall,
    TaskError,
    check_time_step,
    encode_pixel_sequences,
    load_mnist_pair,
    make_task,
    read_idx,
    threshold_crossings,
)

# --------------------------------------------------------------------------- encoding

# thresholds linspace(0, 1, 5) = 0, .25, .5, .75, 1 -> channels
# on0 off0 on.25 off.25 on.5 off.5 on.75 off.75 eq1
SEQUENCE = [0.0, 0.5, 1.0, 0.25]
EXPECTED = np.array(
    [
        # 0.0 -> 0.5 rises across .25 and .5 (0.5 >= .5 counts as across); spike at the earlier index
        [0, 0, 1, 0, 1, 0, 0, 0, 0],
        # 0.5 -> 1.0 rises across .75 (theta = 1 has no onset channel)
        [0, 0, 0, 0, 0, 0, 1, 0, 0],
        # 1.0 -> 0.25 falls across .75 and .5, not .25 (0.25 >= .25); the pixel equals 1
        [0, 0, 0, 0, 0, 1, 0, 1, 1],
        # last pixel: nothing follows it
        [0, 0, 0, 0, 0, 0, 0, 0, 0],
    ],
    dtype=bool,
)


def test_threshold_crossing_raster_by_hand():
    spikes = threshold_crossings(np.array([SEQUENCE]), thresholds=5)
    assert spikes.shape == (4, 1, 9)
    np.testing.assert_array_equal(spikes[:, 0], EXPECTED)


def test_repeated_pixels_spike_once_per_crossing_at_the_last_repeat():
    spikes = threshold_crossings(np.array([SEQUENCE]), thresholds=5, ms_per_pixel=2)[:, 0]
    expected = np.zeros((8, 9), dtype=bool)
    expected[1, [2, 4]] = True  # 0 0 | .5: crossing between steps 1 and 2
    expected[3, 6] = True
    expected[5, [5, 7]] = True
    expected[[4, 5], 8] = True  # 'equals 1' fires on both repeats of the white pixel
    np.testing.assert_array_equal(spikes, expected)


def test_cue_channel_follows_the_image():
    inputs = encode_pixel_sequences(np.array([SEQUENCE]), width=2, thresholds=5, cue_rows=3)
    assert inputs.shape == (4 + 6, 1, 10) and inputs.dtype == np.float32
    np.testing.assert_array_equal(inputs[:4, 0, :9], EXPECTED)
    np.testing.assert_array_equal(inputs[:, 0, 9], [0] * 4 + [1] * 6)
    assert not inputs[4:, :, :9].any()


def test_sequential_digits_layout_window_and_cue(digits):
    assert (digits.n_inputs, digits.steps, digits.n_classes) == (80, 64 + 16, 10)
    batch = digits.batch("train", 5, np.random.default_rng(0))
    assert batch.inputs.shape == (80, 5, 80) and batch.inputs.dtype == np.float32
    np.testing.assert_array_equal(batch.inputs[:, :, 79], np.repeat([[0.0]] * 64 + [[1.0]] * 16, 5, axis=1))
    np.testing.assert_array_equal(batch.windows, np.tile([[[64, 80]]], (5, 1, 1)))
    assert batch.mask.all() and batch.labels.shape == (5, 1)
    assert batch.events[0] == [(0, 64, "stimulus", str(batch.labels[0, 0])), (64, 16, "cue", "")]
    assert not batch.inputs[:, :, :2].any()  # the theta = 0 pair is dead, as in the paper

    slow = SequentialDigits(ms_per_pixel=2, readout_ms=8)
    batch = slow.batch("test", 3, np.random.default_rng(0))
    assert batch.inputs.shape == (160, 3, 80)
    np.testing.assert_array_equal(batch.inputs[:, 0, 79], [0] * 128 + [1] * 32)
    np.testing.assert_array_equal(batch.windows[0, 0], [152, 160])


def test_sequential_digits_splits_are_stratified_fixed_and_disjoint(digits):
    sizes = {split: digits.split_size(split) for split in SPLITS}
    assert sum(sizes.values()) == 1797
    assert abs(sizes["test"] - 0.2 * 1797) <= 10 and abs(sizes["validation"] - 0.1 * 1797) <= 10
    indices = digits.indices
    for a in SPLITS:
        for b in SPLITS:
            assert a == b or not set(indices[a]) & set(indices[b]), (a, b)
    labels = {split: digits._splits[split][1] for split in SPLITS}
    overall = np.bincount(np.concatenate(list(labels.values())), minlength=10) / 1797
    for split in ("validation", "test"):  # stratified: each class in the same proportion as overall
        counts = np.bincount(labels[split], minlength=10)
        assert counts.min() >= 10 and np.abs(counts / counts.sum() - overall).max() < 0.01, split
    again = SequentialDigits()
    for split in SPLITS:
        np.testing.assert_array_equal(again.indices[split], indices[split])
    assert not np.array_equal(SequentialDigits(seed=1).indices["test"], indices["test"])
    for split in ("validation", "test"):
        chunks = list(digits.batches(split, 100))
        assert [b.size for b in chunks[:-1]] == [100] * (len(chunks) - 1) and sum(b.size for b in chunks) == sizes[
            split
        ]
        np.testing.assert_array_equal(np.concatenate([b.labels[:, 0] for b in chunks]), labels[split])
    drawn = digits.batch("validation", 500, np.random.default_rng(0))  # random draws stay inside their split
    assert set(drawn.labels[:, 0]) <= set(labels["validation"]) and drawn.size == 500


def test_sequential_digits_refuses_fractions_that_leave_nothing_to_train():
    with pytest.raises(TaskError, match="validation_fraction \\+ test_fraction"):
        SequentialDigits(validation_fraction=0.5, test_fraction=0.5)
    with pytest.raises(TaskError, match="validation_fraction must be a fraction"):
        SequentialDigits(validation_fraction=0)


# --------------------------------------------------------------------------- store-recall

STORE_GROUP, RECALL_GROUP = 2, 3


def reconstruct(task, inputs, trial):
    """Active groups per slot, from the spikes alone."""
    counts = inputs[:, trial].reshape(task.n_symbols, task.symbol_steps, 4, task.inputs_per_group).sum(axis=(1, 3))
    return counts > 0


@pytest.mark.parametrize("store_shows_bit", [True, False])
def test_store_recall_labels_are_the_stored_bit(store_shows_bit):
    task = StoreRecall(store_shows_bit=store_shows_bit)
    batch = task.batch("train", 64, np.random.default_rng(1))
    assert batch.inputs.shape == (2400, 64, 100) and task.n_inputs == 100 and task.n_classes == 2
    assert batch.windows.shape == (64, 4, 2) and batch.mask.any(axis=1).all()  # at least one recall each
    for trial in range(64):
        active = reconstruct(task, batch.inputs, trial)
        stored, expect_windows, expect_labels, waiting_for_recall = None, [], [], False
        for slot, groups in enumerate(active):
            if groups[STORE_GROUP]:
                assert not waiting_for_recall, "two STOREs without a RECALL between"
                following = active[slot + 1]
                assert following[:2].sum() == 1 and not following[2:].any(), "a bit must follow a STORE"
                if store_shows_bit:
                    assert groups[:2].sum() == 1 and groups.sum() == 2
                    stored = int(np.argmax(groups[:2]))
                else:
                    assert groups.sum() == 1
                    stored = int(np.argmax(following[:2]))
                waiting_for_recall = True
            elif groups[RECALL_GROUP]:
                assert waiting_for_recall and groups.sum() == 1
                expect_windows.append([slot * 200, slot * 200 + 200])
                expect_labels.append(stored)
                waiting_for_recall = False
            else:
                assert groups[:2].sum() == 1 and not groups[2:].any()
        assert not waiting_for_recall, "every STORE is recalled"
        k = len(expect_labels)
        assert batch.mask[trial].sum() == k and batch.mask[trial, :k].all()
        np.testing.assert_array_equal(batch.windows[trial, :k], expect_windows)
        np.testing.assert_array_equal(batch.labels[trial, :k], expect_labels)
        assert (batch.windows[trial, :, 1] > batch.windows[trial, :, 0]).all()  # padding too is non-empty
        recalls = [(e[0], e[3]) for e in batch.events[trial] if e[2] == "recall"]
        assert recalls == [(w[0], str(lab)) for w, lab in zip(expect_windows, expect_labels)]


def test_store_recall_distractor_after_store_is_independent_of_the_stored_bit():
    task = StoreRecall()
    batch = task.batch("train", 256, np.random.default_rng(2))
    same = []
    for trial in range(256):
        active = reconstruct(task, batch.inputs, trial)
        for slot in np.nonzero(active[:, STORE_GROUP])[0]:
            same.append(np.argmax(active[slot, :2]) == np.argmax(active[slot + 1, :2]))
    assert 0.35 < np.mean(same) < 0.65


def test_store_recall_poisson_rates():
    task = StoreRecall()
    batch = task.batch("train", 64, np.random.default_rng(3))
    spikes = batch.inputs.reshape(12, 200, 64, 4, 25)
    active = np.stack([reconstruct(task, batch.inputs, t) for t in range(64)], axis=1)  # (12, 64, 4)
    active_cells = np.broadcast_to(active[:, None, :, :, None], spikes.shape)
    rate_hz = spikes[active_cells].mean() * 1000.0
    assert abs(rate_hz - 50.0) < 1.5, rate_hz  # ~ 2e6 Bernoulli(0.05) cells: s.e. ~ 0.15 Hz
    assert not spikes[~active_cells].any()
    assert set(np.unique(batch.inputs)) <= {0.0, 1.0}


def trials(batches):
    """The trials of a list of batches, one (inputs, windows, labels, mask) tuple each."""
    return [(b.inputs[:, t], b.windows[t], b.labels[t], b.mask[t]) for b in batches for t in range(b.size)]


def same_trial(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("split", ["validation", "test"])
def test_store_recall_held_out_trials_do_not_depend_on_the_batch_size(split):
    task = StoreRecall(symbol_ms=20, validation_sequences=37, test_sequences=50, seed=4)
    sizes = {"validation": 37, "test": 50}
    assert task.split_size(split) == sizes[split] and task.split_size("train") is None
    rng = np.random.default_rng(11)
    whole = list(StoreRecall(symbol_ms=20, validation_sequences=37, test_sequences=50, seed=4).batches(split, 64))
    assert [b.size for b in whole] == [sizes[split]]
    for size in rng.integers(1, 40, size=4):
        chunks = list(task.batches(split, int(size)))
        assert [b.size for b in chunks[:-1]] == [size] * (len(chunks) - 1)
        got = trials(chunks)
        assert len(got) == sizes[split] and all(same_trial(a, b) for a, b in zip(got, trials(whole)))
        assert sum((b.events for b in chunks), []) == whole[0].events


def test_store_recall_splits_are_separate_streams():
    task = StoreRecall(symbol_ms=20, validation_sequences=64, test_sequences=64, seed=4)
    validation, test = (next(task.batches(split, 64)) for split in ("validation", "test"))
    train = task.batch("train", 64, np.random.default_rng(4))
    pairs = [(validation, test), (validation, train), (test, train)]
    for a, b in pairs:
        assert not np.array_equal(a.inputs, b.inputs)
        assert not any(same_trial(x, y) for x in trials([a]) for y in trials([b]))
    symbols = {
        name: {tuple(e[2] + e[3] for e in trial) for trial in batch.events}
        for name, batch in (("validation", validation), ("test", test), ("train", train))
    }
    assert len(symbols["validation"] & symbols["test"]) < 10  # almost all sequences differ (a few coincide by chance)
    other_seed = next(StoreRecall(symbol_ms=20, validation_sequences=64, test_sequences=64, seed=5).batches("test", 64))
    assert not np.array_equal(other_seed.inputs, test.inputs)
    a, b = task.batch("train", 8, np.random.default_rng(6)), task.batch("train", 8, np.random.default_rng(6))
    np.testing.assert_array_equal(a.inputs, b.inputs)
    drawn = task.batch("test", 5, np.random.default_rng(0))  # a random draw from test comes from the fixed test set
    assert all(any(same_trial(x, y) for y in trials([test])) for x in trials([drawn]))


def test_store_recall_renders_itself_at_other_time_steps():
    coarse, fine = StoreRecall(symbol_ms=20, dt_ms=1.0), StoreRecall(symbol_ms=20, dt_ms=0.5)
    assert (fine.steps, fine.symbol_steps, fine.dt_ms) == (2 * coarse.steps, 40, 0.5)
    batch = fine.batch("train", 256, np.random.default_rng(0))
    active = np.stack([reconstruct(fine, batch.inputs, t) for t in range(256)], axis=1)
    spikes = batch.inputs.reshape(fine.n_symbols, fine.symbol_steps, 256, 4, fine.inputs_per_group)
    cells = np.broadcast_to(active[:, None, :, :, None], spikes.shape)
    rate_hz = spikes[cells].mean() / (0.5e-3)
    assert abs(rate_hz - 50.0) < 2.0, rate_hz  # the rate in Hz, not per step, is what the task keeps
    np.testing.assert_array_equal(batch.windows % 40, 0)
    with pytest.raises(TaskError, match="symbol_ms=20 ms is not a positive whole number of 0.3 ms steps"):
        StoreRecall(symbol_ms=20, dt_ms=0.3)
    with pytest.raises(TaskError, match="rate_hz must be in"):
        StoreRecall(rate_hz=50, dt_ms=25)


def test_a_time_step_mismatch_is_refused_with_what_to_change(digits):
    check_time_step(StoreRecall(symbol_ms=20, dt_ms=0.5), 0.5)
    with pytest.raises(TaskError, match="steps of 1 ms but network 'n' has dt = 0.5 ms .*dt_ms: 0.5"):
        check_time_step(StoreRecall(symbol_ms=20), 0.5, "network 'n'")
    with pytest.raises(TaskError, match="defined at 1 ms only; use a network with dt: 1 ms"):
        check_time_step(digits, 0.1)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda t: t.batch("dev", 4, np.random.default_rng(0)), "'train', 'validation', 'test'"),
        (lambda t: next(t.batches("train", 4)), "accepted: 'validation', 'test'.*batch\\('train'"),
        (lambda t: t.batch("train", 0, np.random.default_rng(0)), "positive integer"),
        (lambda t: t.batch("train", 2.5, np.random.default_rng(0)), "positive integer"),
        (lambda t: next(t.batches("test", -1)), "positive integer"),
        (lambda t: t.batch("train", 4, 0), "default_rng"),
        (lambda t: t.split_size("dev"), "unknown split 'dev'"),
    ],
)
def test_bad_arguments_say_what_is_accepted(call, message):
    task = StoreRecall(symbol_ms=10, test_sequences=4)
    with pytest.raises(TaskError, match=message):
        call(task)


def test_make_task_and_options_round_trip(tmp_path):
    task = make_task("store_recall", symbol_ms=20, n_symbols=9)
    assert isinstance(task, StoreRecall) and task.steps == 180 and task.max_recalls == 3
    assert make_task(task.name, **task.options).options == task.options
    assert set(TASKS) >= {"store_recall", "sequential_digits", "sequential_mnist", "timit"}
    with pytest.raises(TaskError, match="accepted: .*sequential_digits"):
        make_task("mnist")
    with pytest.raises(TaskError, match="unknown option symbol_len .*accepted: symbol_ms"):
        make_task("store_recall", symbol_len=20)
    with pytest.raises(TaskError, match="missing required option folder"):
        make_task("sequential_mnist")
    with pytest.raises(TaskError, match="symbol_ms"):
        StoreRecall(symbol_ms=0)


# --------------------------------------------------------------------------- IDX / MNIST


def idx_bytes(array, code=0x08, big_endian=">u1"):
    header = bytes([0, 0, code, array.ndim]) + struct.pack(">" + "i" * array.ndim, *array.shape)
    return header + np.ascontiguousarray(array).astype(big_endian).tobytes()


def write(path, payload, compress=False):
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_images_and_labels(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 4, 5), dtype=np.uint8)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    suffix = ".gz" if compress else ""
    got = read_idx(write(tmp_path / f"images{suffix}", idx_bytes(images), compress))
    assert got.dtype == np.uint8 and got.shape == (3, 4, 5)
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(read_idx(write(tmp_path / f"labels{suffix}", idx_bytes(labels), compress)), labels)


def test_read_idx_other_type_codes(tmp_path):
    values = np.array([[-2, 300], [7, -32000]], dtype=np.int16)
    got = read_idx(write(tmp_path / "i2", idx_bytes(values, 0x0B, ">i2")))
    assert got.dtype == np.int16 and got.dtype.isnative
    np.testing.assert_array_equal(got, values)
    floats = np.linspace(-1, 1, 6)
    np.testing.assert_array_equal(read_idx(write(tmp_path / "f8", idx_bytes(floats, 0x0E, ">f8"))), floats)


def test_read_idx_errors_name_the_file(tmp_path):
    missing = tmp_path / "nothing-here"
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        read_idx(missing)
    good = idx_bytes(np.zeros((2, 3, 3), dtype=np.uint8))
    bad_magic = write(tmp_path / "bad-magic", b"\x12\x34" + good[2:])
    with pytest.raises(IdxFormatError, match=r"bad-magic: bad IDX magic number 0x12340803"):
        read_idx(bad_magic)
    with pytest.raises(IdxFormatError, match="magic"):
        read_idx(write(tmp_path / "bad-type", b"\x00\x00\x07\x03" + good[4:]))
    truncated = write(tmp_path / "truncated.gz", good[:-1], compress=True)
    with pytest.raises(
        IdxFormatError, match=r"truncated.gz: truncated data: shape \(2, 3, 3\) of uint8 needs 18 bytes"
    ):
        read_idx(truncated)
    with pytest.raises(IdxFormatError, match="truncated header"):
        read_idx(write(tmp_path / "short-header", good[:9]))
    with pytest.raises(IdxFormatError, match="unexpected bytes"):
        read_idx(write(tmp_path / "trailing", good + b"\x00"))


def fake_mnist(folder, n_train=20, n_test=10, gz=("train-images-idx3-ubyte",), seed=0, train=True):
    rng = np.random.default_rng(seed)
    folder.mkdir(exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(n_test, dtype=np.uint8) % 10,
    }
    arrays["t10k-images-idx3-ubyte"][0, 0, :] = 255  # white pixels fire the 'equals 1' channel
    for stem, array in arrays.items():
        if train or stem.startswith("t10k"):
            name = stem + (".gz" if stem in gz else "")
            write(folder / name, idx_bytes(array), compress=stem in gz)
    return arrays


def grey(images):
    return images.astype(np.float32) * np.float32(1 / 255)


def test_sequential_mnist_standard_layout_holds_out_the_first_5000_training_images(tmp_path):
    arrays = fake_mnist(tmp_path / "mnist", n_train=5012, n_test=10)
    task = SequentialMNIST(tmp_path / "mnist")
    assert (task.steps, task.n_inputs, task.dt_ms) == (840, 80, 1.0)
    assert {split: task.split_size(split) for split in SPLITS} == {"train": 12, "validation": 5000, "test": 10}
    train_images, train_labels = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]
    validation = list(task.batches("validation", 2048))
    assert [b.size for b in validation] == [2048, 2048, 904]
    np.testing.assert_array_equal(np.concatenate([b.labels[:, 0] for b in validation]), train_labels[:5000])
    np.testing.assert_array_equal(
        validation[0].inputs[:784, :, :79], threshold_crossings(grey(train_images[:2048]), 40)
    )
    batch = task.batch("train", 64, np.random.default_rng(0))  # drawn from the 12 images after the first 5000 only
    shown = batch.inputs[:784, :, :79].transpose(1, 0, 2)
    candidates = threshold_crossings(grey(train_images[5000:]), 40).transpose(1, 0, 2)
    for trial, label in zip(shown, batch.labels[:, 0]):
        matches = [k for k in range(12) if np.array_equal(trial, candidates[k])]
        assert matches and all(train_labels[5000 + k] == label for k in matches)

    test = list(task.batches("test", 4))
    assert [b.size for b in test] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b.labels[:, 0] for b in test]), arrays["t10k-labels-idx1-ubyte"])
    first = test[0].inputs[:, 0]
    assert (
        first[:28, 78].all()
        and first[28:784, 78].sum() == (arrays["t10k-images-idx3-ubyte"][0].ravel()[28:] == 255).sum()
    )
    np.testing.assert_array_equal(
        test[0].inputs[:784, :, :79], threshold_crossings(grey(arrays["t10k-images-idx3-ubyte"][:4]), 40)
    )
    np.testing.assert_array_equal(first[:, 79], [0] * 784 + [1] * 56)
    np.testing.assert_array_equal(test[0].windows[:, 0], np.tile([812, 840], (4, 1)))  # the last of 30 bins of 28 ms
    assert SequentialMNIST(tmp_path / "mnist", ms_per_pixel=2).steps == 1680
    fake_mnist(tmp_path / "small")
    with pytest.raises(TaskError, match="holds 20 images; files: train\\+t10k holds out the first 5000"):
        SequentialMNIST(tmp_path / "small")


def test_sequential_mnist_index_split_of_the_t10k_pair(tmp_path):
    """The README's split of the official 10,000: train 0-7999, validation 8000-8999, test 9000-9999."""
    folder = tmp_path / "t10k"
    folder.mkdir()
    index = np.arange(10_000)
    images = np.zeros((10_000, 28, 28), dtype=np.uint8)
    images[:, 5, 0], images[:, 5, 1] = index % 256, index // 256  # each image carries its own index
    write(folder / "t10k-images-idx3-ubyte.gz", idx_bytes(images), compress=True)
    write(folder / "t10k-labels-idx1-ubyte", idx_bytes((index * 7 % 10).astype(np.uint8)))
    task = SequentialMNIST(folder, files="t10k")  # no training files needed
    assert task.options["files"] == "t10k" and {s: task.split_size(s) for s in SPLITS} == {
        "train": 8000,
        "validation": 1000,
        "test": 1000,
    }
    for split, (start, stop) in {"train": (0, 8000), "validation": (8000, 9000), "test": (9000, 10_000)}.items():
        held = task._splits[split][0]
        np.testing.assert_array_equal(held[:, 5, 0].astype(int) + 256 * held[:, 5, 1].astype(int), index[start:stop])
        np.testing.assert_array_equal(task._splits[split][1], index[start:stop] * 7 % 10)
    labels = np.concatenate([b.labels[:, 0] for b in task.batches("test", 300)])
    np.testing.assert_array_equal(labels, index[9000:] * 7 % 10)
    drawn = task.batch("train", 512, np.random.default_rng(0)).labels[:, 0]
    assert set(drawn) <= set(index[:8000] * 7 % 10)

    small = tmp_path / "small"
    fake_mnist(small, n_test=30, train=False)
    task = SequentialMNIST(small, files="t10k")
    assert [task.split_size(s) for s in SPLITS] == [24, 3, 3]
    np.testing.assert_array_equal(next(task.batches("test", 3)).labels[:, 0], np.arange(27, 30) % 10)


def test_sequential_mnist_missing_files_are_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        MissingDataError,
        match="data folder .*nowhere does not exist \\(folder: nowhere, from the current "
        "directory\\).*--set task.folder=PATH",
    ):
        SequentialMNIST("nowhere", files="t10k")
    fake_mnist(tmp_path / "only_t10k", train=False)
    with pytest.raises(
        MissingDataError,
        match="train-images-idx3-ubyte \\(or train-images-idx3-ubyte.gz\\) not found; .*use files: t10k",
    ):
        SequentialMNIST("only_t10k")
    assert SequentialMNIST("only_t10k", files="t10k").options["folder"] == str(tmp_path / "only_t10k")
    with pytest.raises(TaskError, match="files='mnist' is not known \\(accepted: 'train\\+t10k', 't10k'\\)"):
        SequentialMNIST("only_t10k", files="mnist")


def test_load_mnist_reports_mismatched_files(tmp_path):
    with pytest.raises(MissingDataError, match="t10k-images-idx3-ubyte"):
        load_mnist_pair(tmp_path, "t10k")
    fake_mnist(tmp_path / "a")
    write(tmp_path / "a" / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(9, dtype=np.uint8)))
    with pytest.raises(IdxFormatError, match="10 images but .*t10k-labels-idx1-ubyte holds 9 labels"):
        load_mnist_pair(tmp_path / "a", "t10k")
    fake_mnist(tmp_path / "b")
    write(tmp_path / "b" / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros((10, 1), dtype=np.uint8)))
    with pytest.raises(IdxFormatError, match="expected MNIST labels, a 1-D"):
        load_mnist_pair(tmp_path / "b", "t10k")
    fake_mnist(tmp_path / "c")
    write(tmp_path / "c" / "t10k-images-idx3-ubyte", idx_bytes(np.zeros((10, 784), dtype=np.uint8)))
    with pytest.raises(IdxFormatError, match="expected MNIST images, a 3-D uint8"):
        load_mnist_pair(tmp_path / "c", "t10k")
    fake_mnist(tmp_path / "d")
    write(tmp_path / "d" / "train-labels-idx1-ubyte", idx_bytes(np.full(20, 10, dtype=np.uint8)))
    with pytest.raises(IdxFormatError, match="labels must be digits 0-9"):
        load_mnist_pair(tmp_path / "d", "train")
