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

Each loss is a mean of per-step values l_n (the sum over v above, or the mean over v for the binary
cross-entropy and the squared error). With a mask m (shaped like l: the output's mask, True at a real
step) Keras 3 turns the mask into sample weights (``apply_mask``) and takes the weighted mean over all
N steps:

    w_n = m_n * N / M,  M = sum_n m_n (w = 0 when M = 0)        L = (1/N) sum_n w_n l_n   (= mean over
                                                                                         the real steps)
    dL/dp_n = (w_n / N) dl_n/dp_n                                (the same for the logits gradient)

and the public call ``loss(y_true, y_pred, sample_weight=None, mask=None)`` multiplies any sample weights
by w first, with Keras's rule for weights of one rank more or less than l (``_same_rank``).
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

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None) -> float:
        """The loss, after checking the arrays (the public entry point); ``sample_weight`` and ``mask`` as
        Keras 3 reduces them (module docstring)."""
        y_pred = check_array(y_pred, "y_pred", min_rank=1)
        if y_pred.dtype.kind != "f":
            y_pred = y_pred.astype(np.float64)
        y_true = self._check_true(y_true, y_pred)
        if mask is not None:
            mask = check_mask(mask, y_pred)
        if sample_weight is None:
            return self.value(y_true, y_pred, mask)
        sample_weight = check_array(sample_weight, "sample_weight", dtype=np.float64)
        values = self.step_values(y_true, y_pred)  # (B, T) | (B,)
        if mask is not None:
            mask_weight, sample_weight = _same_rank(_mask_weights(mask), sample_weight)
            sample_weight = sample_weight * mask_weight
        values, sample_weight = _same_rank(values, sample_weight)
        try:
            weighted = values * sample_weight
        except ValueError:
            raise ValueError(f"sample_weight: expected a shape that broadcasts over the per-step losses "
                             f"{values.shape}, got {sample_weight.shape}") from None
        return float(weighted.sum() / weighted.size) if weighted.size else 0.0

    def _check_true(self, y_true, y_pred):
        return check_targets(y_true, "y_true", like=y_pred)

    def value(self, y_true, y_pred, mask=None) -> float:
        """The loss of checked arrays (the model checks its data once per fit, not per batch); over the
        real steps of ``mask`` (a bool array shaped like ``y_pred.shape[:-1]``) when given."""
        raise NotImplementedError

    def gradient(self, y_true, y_pred, mask=None) -> np.ndarray:
        raise NotImplementedError

    def step_values(self, y_true, y_pred) -> np.ndarray:
        """The per-step losses l, shaped ``y_pred.shape[:-1]`` (Keras's unreduced loss)."""
        raise NotImplementedError

    def get_config(self) -> str:
        return self.name


def check_mask(mask, y_pred) -> np.ndarray:
    """An output's mask as a bool array of shape ``y_pred.shape[:-1]``; ValueError otherwise."""
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        if mask.dtype.kind not in "iuf" or not np.all((mask == 0) | (mask == 1)):
            raise TypeError(f"mask: expected booleans (True at a real step), got dtype {mask.dtype}")
        mask = mask.astype(np.bool_)
    if mask.shape != y_pred.shape[:-1]:
        raise ValueError(f"mask: expected shape {y_pred.shape[:-1]} (the predictions' {y_pred.shape} without "
                         f"the last axis), got {mask.shape}")
    return mask


def _mask_weights(mask) -> np.ndarray:
    """Keras's ``apply_mask`` for a mean: N / M at a real step, 0 at a masked one (0 everywhere when no
    step is real), N steps of which M real; float64, shaped like the mask."""
    real = np.count_nonzero(mask)
    return np.where(mask, mask.size / real if real else 0.0, 0.0)


def _masked_mean(step_values, mask) -> float:
    """(1/N) sum_n w_n l_n with Keras's mask weights w (module docstring)."""
    weights = _mask_weights(mask)
    return float(np.sum(step_values * weights) / weights.size)


def _step_scale(mask, dtype) -> np.ndarray:
    """dL/dl_n = w_n / N for each step, with a trailing axis to scale the per-unit gradients."""
    weights = _mask_weights(mask)
    return (weights / weights.size).astype(dtype)[..., None]  # (B, T, 1)


def _same_rank(a, b):
    """Keras's ``squeeze_or_expand_to_same_rank``: when the ranks differ by one and the larger has a last
    axis of 1, that axis goes (or, when the other is 1-D, the 1-D one gains a last axis)."""
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        if b.ndim == 1:
            b = b[:, None]
        else:
            a = a[..., 0]
    elif b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        if a.ndim == 1:
            a = a[:, None]
        else:
            b = b[..., 0]
    return a, b


def _samples(y_pred: np.ndarray) -> int:
    return math.prod(y_pred.shape[:-1])


class CategoricalCrossentropy(Loss):
    name = "categorical_crossentropy"
    fuses_activation = "softmax"

    def value(self, y_true, y_pred, mask=None):
        if mask is not None:  # this class's per-step values: y_true is one-hot by now
            return _masked_mean(CategoricalCrossentropy.step_values(self, y_true, y_pred), mask)
        # minimum/maximum rather than np.clip, and one dot product rather than sum(y * log p): the same
        # value up to the summation order, 7.2 -> ~3 us for the batch-1 alphabet model's 7,500 steps.
        log_clipped = np.log(np.minimum(np.maximum(y_pred, EPSILON), 1.0 - EPSILON))
        return float(-np.dot(y_true.ravel(), log_clipped.ravel()) / _samples(y_pred))

    def step_values(self, y_true, y_pred):
        return -np.sum(y_true * np.log(np.minimum(np.maximum(y_pred, EPSILON), 1.0 - EPSILON)), axis=-1)

    def gradient(self, y_true, y_pred, mask=None):
        clipped = np.clip(y_pred, EPSILON, 1.0 - EPSILON)
        inside = (y_pred > EPSILON) & (y_pred < 1.0 - EPSILON)
        if mask is not None:
            return (-y_true / clipped * inside * _step_scale(mask, y_pred.dtype)).astype(y_pred.dtype)
        return (-y_true / clipped * inside / _samples(y_pred)).astype(y_pred.dtype)

    def logits_gradient(self, y_true, probabilities, mask=None):
        if mask is not None:
            return ((probabilities - y_true) * _step_scale(mask, probabilities.dtype)).astype(
                probabilities.dtype)
        return ((probabilities - y_true) / _samples(probabilities)).astype(probabilities.dtype)

    def value_and_logits_gradient(self, y_true, probabilities, mask=None):
        """(value, logits_gradient) of checked arrays, in one pass under the "numba" backend
        (kernels/output.py; these two methods are its NumPy twin)."""
        if mask is not None:
            return (CategoricalCrossentropy.value(self, y_true, probabilities, mask),
                    CategoricalCrossentropy.logits_gradient(self, y_true, probabilities, mask))
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

    def value(self, y_true, y_pred, mask=None):
        return super().value(self._one_hot(y_true, y_pred), y_pred, mask)

    def step_values(self, y_true, y_pred):
        return super().step_values(self._one_hot(y_true, y_pred), y_pred)

    def gradient(self, y_true, y_pred, mask=None):
        return super().gradient(self._one_hot(y_true, y_pred), y_pred, mask)

    def logits_gradient(self, y_true, probabilities, mask=None):
        return super().logits_gradient(self._one_hot(y_true, probabilities), probabilities, mask)

    def value_and_logits_gradient(self, y_true, probabilities, mask=None):
        return super().value_and_logits_gradient(self._one_hot(y_true, probabilities), probabilities, mask)


class BinaryCrossentropy(Loss):
    """Independent yes/no targets per unit (module docstring); y may be soft labels in [0, 1]."""

    name = "binary_crossentropy"
    fuses_activation = "sigmoid"

    def _check_true(self, y_true, y_pred):
        y_true = np.asarray(y_true)
        if y_pred.shape[-1] == 1 and y_true.shape == y_pred.shape[:-1]:
            y_true = y_true[..., None]  # as Keras: (B,) targets of a (B, 1) output
        return check_targets(y_true, "y_true", like=y_pred)

    def value(self, y_true, y_pred, mask=None):
        if mask is not None:
            return _masked_mean(self.step_values(y_true, y_pred), mask)
        clipped = np.minimum(np.maximum(y_pred, EPSILON), 1.0 - EPSILON)
        return float(-np.mean(y_true * np.log(clipped) + (1.0 - y_true) * np.log(1.0 - clipped)))

    def step_values(self, y_true, y_pred):
        clipped = np.minimum(np.maximum(y_pred, EPSILON), 1.0 - EPSILON)
        return -np.mean(y_true * np.log(clipped) + (1.0 - y_true) * np.log(1.0 - clipped), axis=-1)

    def gradient(self, y_true, y_pred, mask=None):
        clipped = np.minimum(np.maximum(y_pred, EPSILON), 1.0 - EPSILON)
        inside = (y_pred > EPSILON) & (y_pred < 1.0 - EPSILON)  # the clip passes no gradient outside
        # d/dc of -(y log c + (1 - y) log(1 - c)) = (c - y) / (c (1 - c))
        scale = 1.0 / y_pred.size if mask is None else _step_scale(mask, y_pred.dtype) / y_pred.shape[-1]
        return ((clipped - y_true) / (clipped * (1.0 - clipped)) * inside * scale).astype(y_pred.dtype)

    def logits_gradient(self, y_true, probabilities, mask=None):
        """dL/dz for p = sigmoid(z): the (c - y) / (c (1 - c)) above times sigmoid' = p (1 - p)."""
        if mask is not None:
            return ((probabilities - y_true) * _step_scale(mask, probabilities.dtype)
                    / probabilities.shape[-1]).astype(probabilities.dtype)
        return ((probabilities - y_true) / probabilities.size).astype(probabilities.dtype)

    def value_and_logits_gradient(self, y_true, probabilities, mask=None):
        return self.value(y_true, probabilities, mask), self.logits_gradient(y_true, probabilities, mask)


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def value(self, y_true, y_pred, mask=None):
        if mask is not None:
            return _masked_mean(self.step_values(y_true, y_pred), mask)
        return float(np.mean((y_pred - y_true) ** 2))

    def step_values(self, y_true, y_pred):
        return np.mean((y_pred - y_true) ** 2, axis=-1)

    def gradient(self, y_true, y_pred, mask=None):
        if mask is not None:
            return (2.0 * (y_pred - y_true) * _step_scale(mask, y_pred.dtype) / y_pred.shape[-1]).astype(
                y_pred.dtype)
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
