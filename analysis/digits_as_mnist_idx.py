"""Write MNIST-format IDX files made from scikit-learn's 8x8 digits, upscaled to 28x28.

NOT MNIST: a stand-in, available offline, to exercise the sequential-MNIST pipeline
(IDX reading, 784 + 56 steps, 80 channels, training/smnist.yaml) end to end:
    python analysis/digits_as_mnist_idx.py /tmp/mnist_like
    lsnn-bio train training/smnist.yaml --set task.folder=/tmp/mnist_like --out runs/smnist_smoke --iterations 30
"""

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

from lsnn_bio.tasks.mnist_idx import write_idx


def main(folder):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    images = digits.images / 16.0  # (n, 8, 8) in [0, 1]
    # 8x8 -> 24x24 by pixel repetition, padded to 28x28 like MNIST's centred digits.
    large = np.kron(images, np.ones((3, 3)))
    large = np.pad(large, ((0, 0), (2, 2), (2, 2)))
    pixels = np.round(large * 255).astype(np.uint8)
    labels = digits.target.astype(np.uint8)
    order = np.random.default_rng(0).permutation(len(labels))
    train, test = order[:1400], order[1400:]
    write_idx(folder / "train-images-idx3-ubyte", pixels[train])
    write_idx(folder / "train-labels-idx1-ubyte", labels[train])
    write_idx(folder / "t10k-images-idx3-ubyte", pixels[test])
    write_idx(folder / "t10k-labels-idx1-ubyte", labels[test])
    print(f"wrote {len(train)} train and {len(test)} test images (28x28, from 8x8 digits) to {folder}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "mnist_like")
