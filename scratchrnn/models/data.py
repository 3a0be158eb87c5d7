"""The data a model is given, as the engine needs it: inputs and targets as lists in the model's input
and output order, targets shaped like the outputs, per-output settings, and the accuracy metric."""

from __future__ import annotations

import numpy as np

from .. import losses
from ..validation import check_array


def per_output(value, names: list, what: str, broadcast: bool = True, missing=None) -> list:
    """``value`` for each output: one value for all (``broadcast``), a list in output order, or a dict by
    output name (outputs it leaves out get ``missing``, or an error when None)."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"{what}: expected keys among the output names {names}, got {unknown}")
        if missing is None and set(value) != set(names):
            raise ValueError(f"{what}: expected a value for every output {names}, got keys {sorted(value)}")
        return [value.get(name, missing) for name in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"{what}: expected {len(names)} values, one per output {names}, "
                             f"got {len(value)}")
        return list(value)
    if not broadcast:
        if len(names) != 1:
            raise ValueError(f"{what}: expected a list or dict over the outputs {names}, got {value!r}")
        return [value]
    return [value] * len(names)


def as_arrays(value, names: list, what: str) -> list:
    """``value`` as a list in the order of ``names`` (the model's inputs or outputs): one array for a
    single one, a list or tuple in order, or a dict by name."""
    if isinstance(value, dict):
        if set(value) != set(names):
            raise ValueError(f"{what}: expected a dict with the keys {names} (the model's "
                             f"{'inputs' if what == 'x' else 'outputs'}), got keys {sorted(value)}")
        return [value[name] for name in names]
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise ValueError(f"{what}: expected {len(names)} arrays, one per model "
                             f"{'input' if what == 'x' else 'output'} {names}, got {len(value)}")
        return list(value)
    if len(names) > 1:
        raise ValueError(f"{what}: expected a list or dict of {len(names)} arrays for the model's "
                         f"{'inputs' if what == 'x' else 'outputs'} {names}, got one {type(value).__name__}")
    if isinstance(value, (list, tuple)) and len(value) == 1 and not np.isscalar(value[0]) \
            and np.ndim(value[0]) >= 1 and isinstance(value[0], np.ndarray):
        return [value[0]]  # [array] for a one-input model, as Keras takes it
    return [value]


def check_shape(array: np.ndarray, expected: tuple, where: str, owner: str) -> None:
    """ValueError unless ``array`` has the rank of ``expected`` and its known sizes after the batch axis."""
    if array.ndim != len(expected) or any(e is not None and e != s
                                          for e, s in zip(expected[1:], array.shape[1:])):
        raise ValueError(f"{where}: expected a {len(expected)}-D array of shape {tuple(expected)} like "
                         f"{owner}, got shape {array.shape}")


def check_targets(y, where: str, dtype, samples: int) -> np.ndarray:
    if isinstance(y, (str, bytes)) or y is None:
        raise TypeError(f"{where}: expected a numeric array, got {type(y).__name__}")
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        y = check_array(y, where, dtype=dtype)
    if y.ndim == 0 or len(y) != samples:
        got = len(y) if y.ndim else "a scalar"
        raise ValueError(f"{where}: expected {samples} samples like x, got {got}")
    return y


def match_targets(y, expected: tuple, loss, where: str) -> np.ndarray:
    """Targets shaped like the model's output; as in Keras, (N,) targets of a one-unit output become
    (N, 1), and a sparse loss takes class ids with the class axis left out."""
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        if y.ndim == len(expected) and y.shape[-1] == 1:
            y = y[..., 0]
        expected = expected[:-1]
    elif y.ndim == len(expected) - 1 and expected[-1] == 1:
        y = y[..., None]
    if y.ndim != len(expected) or any(e not in (None, s) for e, s in zip(expected, y.shape)):
        raise ValueError(f"{where}: expected shape {expected} to match the model's output, got {y.shape}")
    return y


def accuracy(y, probabilities, mask=None) -> float:
    """The fraction of predictions equal to the targets: the argmax over the last axis, or for a one-unit
    output (a sigmoid's probability) whether it exceeds 0.5, as Keras resolves "accuracy" to
    binary_accuracy there; with a mask (the output's, shaped like the predictions), of the real steps
    only (0 when there is none), as Keras 3 weighs its accuracy metrics by an output's mask."""
    if probabilities.shape[-1] == 1:
        predicted = probabilities[..., 0] > 0.5
        truth = y.reshape(predicted.shape) > 0.5
    else:
        predicted = probabilities.argmax(axis=-1)
        truth = y.argmax(axis=-1) if y.shape == probabilities.shape else y.reshape(predicted.shape)
    if mask is None:
        return np.count_nonzero(predicted == truth) / predicted.size
    real = np.count_nonzero(mask)
    return np.count_nonzero((predicted == truth) & mask) / real if real else 0.0


def is_empty_batch(x) -> bool:
    """Whether ``x`` (an array, or a list or dict of them) holds no samples: Keras and PyTorch answer
    an empty batch with empty outputs."""
    items = list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (list, tuple)) else [x]
    try:
        return bool(items) and all(np.shape(item)[:1] == (0,) for item in items)
    except ValueError:  # ragged nesting: the checks that follow say so
        return False
