"""1-D pooling over time: MaxPooling1D over windows, GlobalMaxPooling1D and GlobalAveragePooling1D over all
steps. Inputs (B, T, C); U output steps; P pool size; s stride.

    MaxPooling1D (windows as Conv1D lays them out, padding 'same' split as TensorFlow does):
    (M0) xp = x with -inf before and after on the time axis, so that padding never wins
    (M1) y[b, u, c] = max_j xp[b, u s + j, c];  first[b, u, c] = the first j that attains it
    (dM1) dxp[b, u s + first, c] += dLoss/dy[b, u, c]     (ties: the first, as TensorFlow's MaxPoolGrad)

    GlobalMaxPooling1D:
    (G1) y[b, c] = max_t x[b, t, c]
    (dG1) dx[b, t, c] = dLoss/dy[b, c] [x[b, t, c] = y[b, c]] / (count of such t)
          (ties share the gradient equally, as TensorFlow's reduce_max gradient does)

    GlobalAveragePooling1D:
    (A1) y[b, c] = sum_t x[b, t, c] / T
    (dA1) dx[b, t, c] = dLoss/dy[b, c] / T

keepdims=True keeps the time axis as one step: (B, 1, C) instead of (B, C).
"""

from __future__ import annotations

import numpy as np

from ..validation import check_array
from .base import Layer
from .convolutional import (
    _check_data_format,
    _check_padding,
    _one_int,
    check_output_steps,
    check_sequence_shape,
    tap_slice,
    window_padding,
)


class _Pooling1D(Layer):
    """Inputs exactly (batch, steps, channels); no weights, so any channel count."""

    min_input_rank = 3

    def check_input_shape(self, shape) -> None:
        check_sequence_shape(self, shape)

    def check_input(self, x):
        x = check_array(x, "x", rank=3, dtype=self.dtype)
        if not self.built:
            self.build(x.shape)
        return x


class MaxPooling1D(_Pooling1D):
    """y[:, u] = the maximum of each channel over the window of ``pool_size`` steps at u * strides."""

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _one_int(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else _one_int(strides, "strides")
        self.padding = _check_padding(padding, ("valid", "same"))
        self.data_format = _check_data_format(data_format)

    def check_input_shape(self, shape) -> None:
        super().check_input_shape(shape)
        check_output_steps(self, shape, self.pool_size, self.strides, self.padding)

    def check_input(self, x):
        x = super().check_input(x)
        check_output_steps(self, x.shape, self.pool_size, self.strides, self.padding)
        return x

    def call(self, x):
        steps = x.shape[1]
        out_steps, before, after = window_padding(steps, self.pool_size, self.strides, self.padding)
        padded = (np.pad(x, ((0, 0), (before, after), (0, 0)), constant_values=-np.inf)
                  if before or after else x)  # (M0) (B, T_pad, C)
        y = padded[:, tap_slice(0, self.strides, out_steps)].copy()  # (M1) tap 0 (B, U, C)
        first = np.zeros(y.shape, dtype=np.intp)  # (B, U, C)
        for j in range(1, self.pool_size):  # running maximum; strictly greater keeps the first
            tap = padded[:, tap_slice(j, self.strides, out_steps)]  # (B, U, C)
            greater = tap > y
            np.copyto(y, tap, where=greater)  # (M1)
            first[greater] = j
        self._cache = (first, steps)
        return y

    def backward(self, dy, d_inputs=True):
        first, steps = self._cache
        self._cache = None
        if not d_inputs:
            return None
        batch, out_steps, channels = first.shape
        _, before, after = window_padding(steps, self.pool_size, self.strides, self.padding)
        d_padded = np.zeros((batch, before + steps + after, channels), dtype=self.dtype)  # (B, T_pad, C)
        for j in range(self.pool_size):  # (dM1) within one tap the U steps are distinct: += adds each once
            d_padded[:, tap_slice(j, self.strides, out_steps)] += np.where(first == j, dy, 0.0)
        return np.ascontiguousarray(d_padded[:, before:before + steps]) if before or after else d_padded

    def compute_output_shape(self, input_shape):
        out_steps = check_output_steps(self, input_shape, self.pool_size, self.strides, self.padding)
        return (input_shape[0], out_steps, input_shape[2])

    def get_config(self):
        return dict(super().get_config(), pool_size=self.pool_size, strides=self.strides,
                    padding=self.padding, data_format=self.data_format)


class _GlobalPooling1D(_Pooling1D):
    """(B, T, C) -> (B, C), or (B, 1, C) with keepdims=True."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _check_data_format(data_format)
        if not isinstance(keepdims, (bool, np.bool_)):
            raise TypeError(f"keepdims: expected True or False, got {type(keepdims).__name__} {keepdims!r}")
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0], 1, input_shape[2])
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return dict(super().get_config(), data_format=self.data_format, keepdims=self.keepdims)


class GlobalMaxPooling1D(_GlobalPooling1D):
    """y[b, c] = max over all steps of x[b, :, c]."""

    def call(self, x):
        y = x.max(axis=1, keepdims=True)  # (G1) (B, 1, C)
        self._cache = (x, y)
        return y if self.keepdims else y[:, 0]

    def backward(self, dy, d_inputs=True):
        x, y = self._cache
        self._cache = None
        if not d_inputs:
            return None
        winners = x == y  # (B, T, C)
        share = np.reshape(dy, y.shape) / np.count_nonzero(winners, axis=1, keepdims=True)  # (B, 1, C)
        return np.where(winners, share, 0.0).astype(self.dtype, copy=False)  # (dG1) (B, T, C)


class GlobalAveragePooling1D(_GlobalPooling1D):
    """y[b, c] = the mean over all steps of x[b, :, c]."""

    def call(self, x):
        self._cache = x.shape
        y = x.mean(axis=1, keepdims=self.keepdims)  # (A1) (B, C) or (B, 1, C)
        return y

    def backward(self, dy, d_inputs=True):
        shape = self._cache
        self._cache = None
        if not d_inputs:
            return None
        batch, steps, channels = shape
        per_step = (np.reshape(dy, (batch, 1, channels)) / steps).astype(self.dtype, copy=False)  # (B, 1, C)
        return np.repeat(per_step, steps, axis=1)  # (dA1) (B, T, C)


# Keras's other spellings: the same classes
MaxPool1D = MaxPooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalAvgPool1D = GlobalAveragePooling1D
