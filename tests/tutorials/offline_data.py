"""Offline stand-ins for what the tutorials download, so that they run without a network.

``imdb.load_data`` and ``mnist.load_data`` return what ``keras.datasets`` returns, with the same structure,
dtypes and per-sample shapes (IMDB: an object array of Python lists of word indices starting with
``start_char`` 1, labels int64 0/1; MNIST: uint8 images (N, 28, 28) and uint8 labels), but few samples
and made up. The made-up samples carry a signal tied to the label (IMDB: the two labels draw their
words from the two halves of the vocabulary; MNIST: the label's row band is brighter), so that a few
epochs show the loss falling. ``data_file`` names a file of the shared data folder beside the
repository (a book there replaces the tutorials' ``get_file`` downloads). The airline tutorial's pandas
and scikit-learn helpers are stood in for at the end.
"""

from __future__ import annotations

import csv
import types
from pathlib import Path

import numpy as np

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def data_file(name: str = "alice.txt") -> Path:
    """A file of the shared data folder (alice.txt: Project Gutenberg eBook #11; airline-passengers.csv)."""
    return SHARED_DATA / name


def _imdb_load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1,
                    oov_char=2, index_from=3, n_train=96, n_test=32, min_length=10, max_length=120):
    rng = np.random.RandomState(seed)
    vocabulary = num_words or 88588

    def part(n):
        labels = rng.randint(0, 2, size=n).astype("int64")
        reviews = []
        for label in labels:
            length = rng.randint(min_length, max_length)
            low, high = (index_from, vocabulary // 2) if label == 0 else (vocabulary // 2, vocabulary)
            reviews.append([start_char] + [int(w) for w in rng.randint(low, high, size=length - 1)])
        x = np.empty(n, dtype=object)  # Keras returns an object array of lists of ragged lengths
        x[:] = reviews
        return x, labels

    return part(n_train), part(n_test)


def _mnist_load_data(path="mnist.npz", n_train=64, n_test=32, seed=0):
    rng = np.random.RandomState(seed)

    def part(n):
        labels = rng.randint(0, 10, size=n).astype("uint8")
        images = rng.randint(0, 128, size=(n, 28, 28)).astype("uint8")
        for image, label in zip(images, labels):
            image[2 * label + 4: 2 * label + 6, :] = 255  # a bright band of rows that says the digit
        return images, labels

    return part(n_train), part(n_test)


imdb = types.SimpleNamespace(load_data=_imdb_load_data)
mnist = types.SimpleNamespace(load_data=_mnist_load_data)


# Stand-ins for the airline tutorial's only non-Keras libraries (pandas and scikit-learn are not
# dependencies of this project).


def read_csv_column(path, column=1):
    """pandas' ``read_csv(path, usecols=[column], engine='python').values``: a (N, 1) float column."""
    with open(path, newline="") as handle:
        rows = [row for row in csv.reader(handle) if row][1:]  # the header row names the columns
    return np.array([[float(row[column])] for row in rows])


class MinMaxScaler:
    """scikit-learn's ``MinMaxScaler(feature_range=(0, 1))`` for columns."""

    def __init__(self, feature_range=(0, 1)):
        self.feature_range = feature_range

    def fit_transform(self, x):
        self.low, self.high = x.min(axis=0), x.max(axis=0)
        bottom, top = self.feature_range
        self.scale = (top - bottom) / (self.high - self.low)
        return (x - self.low) * self.scale + bottom

    def inverse_transform(self, x):
        return (np.asarray(x) - self.feature_range[0]) / self.scale + self.low


def mean_squared_error(y_true, y_pred) -> float:
    """scikit-learn's ``mean_squared_error`` for 1-D arrays."""
    return float(np.mean((np.asarray(y_true) - np.asarray(y_pred)) ** 2))
