"""Losses: value and gradient w.r.t. the predictions, as means over every sample and time step.

With predictions p of shape (B, T, V) (or (B, V)) and N = B*T (or B):

    categorical cross-entropy          L = -(1/N) sum_n sum_v y_nv log(clip(p_nv, 1e-7, 1 - 1e-7))
    sparse categorical cross-entropy   the same with y given as class ids (B, T) or (B,)
    binary cross-entropy               L = -(1/(N V)) sum_n sum_v [y_nv log(c_nv) + (1 - y_nv) log(1 - c_nv)],
                                       c = clip(p, 1e-7, 1 - 1e-7): Keras's mean over the last axis, then
                                       over the batch (and time)
    mean squared error                 L = mean over all elements of (p - y)^2

A loss whose ``fuses_activation`` names the output layer's activation (softmax for the categorical
cross-entropies, sigmoid for the binary one) hands the model the gradient w.r.t. that activation's
input z instead of w.r.t. p: dL/dz = (p - y) / N (softmax) or (p - y) / (N V) (sigmoid, element-wise),
exact where no clipping happened, and it never divides by a tiny p or 1 - p.
"""

from __future__ import annotations

import math

import numpy as np

from . import backend
from .kernels import output
from .validation import check_array, check_targets

EPSILON = 1e-7


class Loss:
    name = ""
    fuses_activation = None  # "softmax" or "sigmoid": has logits_gradient for an output ending in it

    def __call__(self, y_true, y_pred) -> float:
        """The loss, after checking both arrays (the public entry point)."""
        y_pred = check_array(y_pred, "y_pred", min_rank=1)
        if y_pred.dtype.kind != "f":
            y_pred = y_pred.astype(np.float64)
        return self.value(self._check_true(y_true, y_pred), y_pred)

    def _check_true(self, y_true, y_pred):
        return check_targets(y_true, "y_true", like=y_pred)

    def value(self, y_true, y_pred) -> float:
        """The loss of checked arrays (the model checks its data once per fit, not per batch)."""
        raise NotImplementedError

    def gradient(self, y_true, y_pred) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> str:
        return self.name


def _samples(y_pred: np.ndarray) -> int:
    return math.prod(y_pred.shape[:-1])


class CategoricalCrossentropy(Loss):
    name = "categorical_crossentropy"
    fuses_activation = "softmax"

    def value(self, y_true, y_pred):
        # minimum/maximum rather than np.clip, and one dot product rather than sum(y * log p): the same
        # value up to the summation order, 7.2 -> ~3 us for the batch-1 alphabet model's 7,500 steps.
        log_clipped = np.log(np.minimum(np.maximum(y_pred, EPSILON), 1.0 - EPSILON))
        return float(-np.dot(y_true.ravel(), log_clipped.ravel()) / _samples(y_pred))

    def gradient(self, y_true, y_pred):
        clipped = np.clip(y_pred, EPSILON, 1.0 - EPSILON)
        inside = (y_pred > EPSILON) & (y_pred < 1.0 - EPSILON)
        return (-y_true / clipped * inside / _samples(y_pred)).astype(y_pred.dtype)

    def logits_gradient(self, y_true, probabilities):
        return ((probabilities - y_true) / _samples(probabilities)).astype(probabilities.dtype)

    def value_and_logits_gradient(self, y_true, probabilities):
        """(value, logits_gradient) of checked arrays, in one pass under the "numba" backend
        (kernels/output.py; these two methods are its NumPy twin)."""
        if backend.get_backend() == "numba":
            fused = output.cross_entropy_and_logits_gradient(y_true, probabilities, EPSILON)
            if fused is not None:
                return fused
        # One-hot (or soft) targets by now: this class's formulas, not a subclass's handling of ids.
        return (CategoricalCrossentropy.value(self, y_true, probabilities),
                CategoricalCrossentropy.logits_gradient(self, y_true, probabilities))


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    name = "sparse_categorical_crossentropy"

    @staticmethod
    def _one_hot(y_true, y_pred):
        ids = np.asarray(y_true)
        if ids.shape == y_pred.shape[:-1] + (1,):
            ids = ids[..., 0]
        if ids.shape != y_pred.shape[:-1]:
            raise ValueError(f"y_true: expected class ids of shape {y_pred.shape[:-1]}, got {ids.shape}")
        if not np.issubdtype(ids.dtype, np.integer) and not np.all(ids == np.round(ids)):
            raise TypeError(f"y_true: expected integer class ids, got dtype {ids.dtype}")
        ids = ids.astype(np.int64)
        classes = y_pred.shape[-1]
        if ids.size and (ids.min() < 0 or ids.max() >= classes):
            raise ValueError(f"y_true: expected class ids in [0, {classes}), got {ids.min()}..{ids.max()}")
        return np.eye(classes, dtype=y_pred.dtype)[ids]

    def _check_true(self, y_true, y_pred):
        return y_true  # checked by _one_hot

    def value(self, y_true, y_pred):
        return super().value(self._one_hot(y_true, y_pred), y_pred)

    def gradient(self, y_true, y_pred):
        return super().gradient(self._one_hot(y_true, y_pred), y_pred)

    def logits_gradient(self, y_true, probabilities):
        return super().logits_gradient(self._one_hot(y_true, probabilities), probabilities)

    def value_and_logits_gradient(self, y_true, probabilities):
        return super().value_and_logits_gradient(self._one_hot(y_true, probabilities), probabilities)


class BinaryCrossentropy(Loss):
    """Independent yes/no targets per unit (module docstring); y may be soft labels in [0, 1]."""

    name = "binary_crossentropy"
    fuses_activation = "sigmoid"

    def _check_true(self, y_true, y_pred):
        y_true = np.asarray(y_true)
        if y_pred.shape[-1] == 1 and y_true.shape == y_pred.shape[:-1]:
            y_true = y_true[..., None]  # as Keras: (B,) targets of a (B, 1) output
        return check_targets(y_true, "y_true", like=y_pred)

    def value(self, y_true, y_pred):
        clipped = np.minimum(np.maximum(y_pred, EPSILON), 1.0 - EPSILON)
        return float(-np.mean(y_true * np.log(clipped) + (1.0 - y_true) * np.log(1.0 - clipped)))

    def gradient(self, y_true, y_pred):
        clipped = np.minimum(np.maximum(y_pred, EPSILON), 1.0 - EPSILON)
        inside = (y_pred > EPSILON) & (y_pred < 1.0 - EPSILON)  # the clip passes no gradient outside
        # d/dc of -(y log c + (1 - y) log(1 - c)) = (c - y) / (c (1 - c))
        return ((clipped - y_true) / (clipped * (1.0 - clipped)) * inside / y_pred.size).astype(y_pred.dtype)

    def logits_gradient(self, y_true, probabilities):
        """dL/dz for p = sigmoid(z): the (c - y) / (c (1 - c)) above times sigmoid' = p (1 - p)."""
        return ((probabilities - y_true) / probabilities.size).astype(probabilities.dtype)

    def value_and_logits_gradient(self, y_true, probabilities):
        return self.value(y_true, probabilities), self.logits_gradient(y_true, probabilities)


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def value(self, y_true, y_pred):
        return float(np.mean((y_pred - y_true) ** 2))

    def gradient(self, y_true, y_pred):
        return (2.0 * (y_pred - y_true) / y_pred.size).astype(y_pred.dtype)


_LOSSES = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}

categorical_crossentropy = CategoricalCrossentropy()
sparse_categorical_crossentropy = SparseCategoricalCrossentropy()
binary_crossentropy = BinaryCrossentropy()
mean_squared_error = mse = MeanSquaredError()


def get(loss) -> Loss:
    """A Loss from a Keras name or a Loss object."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in _LOSSES:
        return _LOSSES[loss]()
    raise ValueError(f"loss: expected one of {sorted(_LOSSES)} or a Loss object, got {loss!r}")
