"""``to_categorical`` where Keras 2 tutorials import it from: ``from scratchrnn.utils import np_utils``."""

from __future__ import annotations

import numpy as np


def to_categorical(y, num_classes=None, dtype="float32") -> np.ndarray:
    """One-hot rows for integer class ids: shape y.shape + (num_classes,), a trailing 1 dropped."""
    ids = np.asarray(y)
    if ids.dtype == object or not np.issubdtype(ids.dtype, np.number):
        raise TypeError(f"y: expected integer class ids, got dtype {ids.dtype}")
    if ids.size and not np.all(ids == np.round(ids)):
        raise TypeError("y: expected integer class ids, got non-integer values")
    ids = ids.astype(np.int64)
    if ids.ndim > 1 and ids.shape[-1] == 1:
        ids = ids[..., 0]
    if ids.size and ids.min() < 0:
        raise ValueError(f"y: expected non-negative class ids, got {ids.min()}")
    top = int(ids.max()) + 1 if ids.size else 0
    if num_classes is None:
        num_classes = top
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < top:
        raise ValueError(f"num_classes: expected an integer >= {top} (largest id + 1), got {num_classes!r}")
    return np.eye(num_classes, dtype=dtype)[ids]
