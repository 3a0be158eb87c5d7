"""RepeatVector, Flatten, Reshape: layers that move values without changing them, so each backward moves
dLoss/dy back the same way (a sum where forward made copies).

    RepeatVector(n):  y[b, k, :] = x[b, :]  for k < n            dx = sum_k dy[b, k, :]
    Flatten:          y = x.reshape(B, prod(rest))                dx = dy.reshape(x.shape)
    Reshape(shape):   y = x.reshape(B, *shape)                    dx = dy.reshape(x.shape)

Shapes never include the batch axis in the layers' arguments, and the batch axis is never reshaped.
"""

from __future__ import annotations

import math

import numpy as np

from ..validation import check_choice, check_positive_int
from .base import Layer


class RepeatVector(Layer):
    """(B, D) -> (B, n, D): the input vector repeated at n time steps."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = check_positive_int(n, "n")
        if self.batch_input_shape is not None:
            self._check_rank(self.batch_input_shape, "batch_input_shape")

    def _check_rank(self, shape, name: str) -> None:
        if len(shape) != 2:
            raise ValueError(f"{name}: layer {self.name!r} expected 2-D inputs (batch, features), "
                             f"got shape {tuple(shape)}")

    def check_input(self, x):
        x = super().check_input(x)
        self._check_rank(x.shape, "x")
        return x

    def check_input_shape(self, shape) -> None:
        super().check_input_shape(shape)
        self._check_rank(shape, "input_shape")

    def call(self, x):
        self._cache = None  # backward needs nothing but dy
        return np.repeat(x[:, np.newaxis, :], self.n, axis=1)  # (B, n, D)

    def backward(self, dy, d_inputs=True):
        return dy.sum(axis=1) if d_inputs else None  # (B, D): every copy's gradient adds up

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return dict(super().get_config(), n=self.n)


class Flatten(Layer):
    """(B, d1, ..., dk) -> (B, d1 * ... * dk); (B,) -> (B, 1). With ``data_format="channels_first"``
    the channel axis 1 is moved last first, as Keras does."""

    min_input_rank = 1

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_choice(data_format or "channels_last", "data_format",
                                        ("channels_last", "channels_first"))

    def call(self, x):
        moved = self.data_format == "channels_first" and x.ndim > 2
        if moved:
            x = np.moveaxis(x, 1, -1)  # (B, d2, ..., dk, d1): channels last
        self._cache = (x.shape, moved)
        return x.reshape(x.shape[0], -1)  # (B, prod)

    def backward(self, dy, d_inputs=True):
        if not d_inputs:
            return None
        shape, moved = self._cache
        dx = dy.reshape(shape)
        return np.moveaxis(dx, -1, 1) if moved else dx

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def get_config(self):
        return dict(super().get_config(), data_format=self.data_format)


class Reshape(Layer):
    """(B, ...) -> (B, *target_shape); one size of ``target_shape`` may be -1, worked out from the rest."""

    min_input_rank = 1

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        if isinstance(target_shape, (str, bytes)) or not hasattr(target_shape, "__iter__"):
            raise TypeError(f"target_shape: expected a tuple of positive integers (one may be -1), "
                            f"got {type(target_shape).__name__} {target_shape!r}")
        target_shape = tuple(target_shape)
        for size in target_shape:
            if (isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer))
                    or not (size >= 1 or size == -1)):
                raise ValueError(f"target_shape: expected a tuple of positive integers (one may be -1), "
                                 f"got {target_shape!r}")
        if target_shape.count(-1) > 1:
            raise ValueError(f"target_shape: expected at most one -1, got {target_shape!r}")
        self.target_shape = tuple(int(size) for size in target_shape)
        if self.batch_input_shape is not None:
            self._resolve(self.batch_input_shape[1:], "batch_input_shape")

    def _resolve(self, rest, name: str) -> tuple:
        """target_shape for inputs whose sizes after the batch axis are ``rest``: -1 worked out (None when
        a size is unknown); ValueError when the number of values differs."""
        rest = tuple(rest)
        if None in rest:
            return tuple(None if size == -1 else size for size in self.target_shape)
        size, known = math.prod(rest), math.prod(s for s in self.target_shape if s != -1)
        if -1 in self.target_shape and size % known == 0:
            return tuple(size // known if s == -1 else s for s in self.target_shape)
        if -1 not in self.target_shape and size == known:
            return self.target_shape
        raise ValueError(f"{name}: layer {self.name!r} cannot reshape {size} values per sample (input sizes "
                         f"{rest} after the batch axis) to target_shape {self.target_shape}")

    def check_input(self, x):
        x = super().check_input(x)
        self._resolve(x.shape[1:], "x")
        return x

    def check_input_shape(self, shape) -> None:
        super().check_input_shape(shape)
        self._resolve(shape[1:], "input_shape")

    def call(self, x):
        self._cache = x.shape
        return x.reshape(x.shape[0], *self._resolve(x.shape[1:], "x"))  # (B, *target_shape)

    def backward(self, dy, d_inputs=True):
        return dy.reshape(self._cache) if d_inputs else None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self._resolve(input_shape[1:], "input_shape"))

    def get_config(self):
        return dict(super().get_config(), target_shape=list(self.target_shape))
