"""Conv1D: a filter bank slid along time, as one matrix product over gathered windows (im2col).

Shapes: B batch, T input steps, U output steps, C input channels, F filters, k kernel taps,
s stride, d dilation; xp is x with its time axis padded (T_pad steps).

    (L0) xp = x with p_left zeros before and p_right after on the time axis   (B, T_pad, C)
              valid: none; causal: (k-1)d before; same: as TensorFlow, p_left = total // 2
    (L1) columns[b, u, j, c] = xp[b, u s + j d, c]             gathered windows as (B*U, k*C)
    (L2) z = columns @ W + bias                                W: the kernel (k, C, F) as (k*C, F)
    (L3) y = activation(z)                                     (B, U, F)

    (dL3) dz = dLoss/dy * activation'(z)
    (dL2) dW = columns^T @ dz;  dbias = sum over (b, u) of dz;  dcolumns = dz @ W^T
    (dL1) dxp[:, u s + j d, :] += dcolumns[:, u, j, :] for each tap j; dx = dxp without the padding

Output steps, as Keras computes them: valid floor((T - d(k-1) - 1) / s) + 1; same and causal ceil(T / s).
The forward is one product and the backward two (dW and dcolumns, on two threads); the scatter of
dcolumns back onto the time axis is a loop over the k taps, each a strided slice that adds into dxp
with no repeated index (so plain ``+=`` is exact and no ``np.add.at`` is needed).
"""

from __future__ import annotations

import numpy as np

from .. import initializers
from ..kernels._parallel import matrix_product, matrix_products
from ..validation import check_array, check_positive_int
from .base import Layer
from .core import _activation_backward, _activation_forward, _check_activation

PADDINGS = ("valid", "same", "causal")


def _one_int(value, name: str) -> int:
    """A 1-D window argument: a positive int, or a 1-tuple or 1-list of one (Keras takes both)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{name}: expected a positive integer or a 1-tuple of one for a 1-D layer, "
                             f"got {value!r}")
        value = value[0]
    return check_positive_int(value, name)


def _check_padding(padding, choices=PADDINGS) -> str:
    """The padding name, lower-cased as Keras does ("SAME" is "same")."""
    if not isinstance(padding, str) or padding.lower() not in choices:
        raise ValueError(f"padding: expected one of {list(choices)}, got {padding!r}")
    return padding.lower()


def _check_data_format(data_format) -> str:
    if data_format not in (None, "channels_last"):
        raise ValueError(f"data_format: expected 'channels_last' (inputs (batch, steps, channels)), got "
                         f"{data_format!r}; transpose channels-first inputs to (batch, steps, channels)")
    return "channels_last"


def window_padding(steps: int, span: int, stride: int, padding: str) -> tuple[int, int, int]:
    """(output steps, padding before, padding after) of windows of ``span`` steps (d(k-1) + 1 for a
    dilated kernel) every ``stride`` steps over ``steps``, as Keras on TensorFlow computes them."""
    if padding == "valid":
        return (steps - span) // stride + 1, 0, 0
    if padding == "causal":  # all of it before: step u sees inputs up to u s only
        return (steps - 1) // stride + 1, span - 1, 0
    out_steps = -(-steps // stride)  # same: ceil(T / s), TensorFlow's split of the padding
    total = max((out_steps - 1) * stride + span - steps, 0)
    return out_steps, total // 2, total - total // 2


def check_sequence_shape(layer, shape) -> None:
    """ValueError unless ``shape`` is (batch, steps, channels)."""
    if len(shape) != 3:
        raise ValueError(f"input_shape: layer {layer.name!r} expected 3-D inputs (batch, steps, channels), "
                         f"got shape {tuple(shape)}")


def check_output_steps(layer, shape, span: int, stride: int, padding: str) -> int | None:
    """The output steps for inputs of ``shape`` (None for an unknown length); ValueError when the
    inputs are too short to give any (valid padding)."""
    steps = shape[1]
    if steps is None:
        return None
    out_steps = window_padding(steps, span, stride, padding)[0]
    if out_steps < 1:
        raise ValueError(f"input_shape: layer {layer.name!r} with padding='valid' expected at least {span} "
                         f"steps (its window), got shape {tuple(shape)}")
    return out_steps


def tap_slice(start: int, stride: int, out_steps: int) -> slice:
    """The padded steps start, start + s, ..., that one tap of the window reads for the U outputs."""
    return slice(start, start + stride * (out_steps - 1) + 1, stride)


class Conv1D(Layer):
    """y = activation(conv1d(x, kernel) + bias) on (B, T, C) inputs: (B, U, filters); kernel (k, C, F)."""

    weight_names = ("kernel", "bias")
    min_input_rank = 3

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int(filters, "filters")
        self.kernel_size = _one_int(kernel_size, "kernel_size")
        self.strides = _one_int(strides, "strides")
        self.padding = _check_padding(padding)
        self.data_format = _check_data_format(data_format)
        self.dilation_rate = _one_int(dilation_rate, "dilation_rate")
        if self.strides > 1 and self.dilation_rate > 1:  # Keras 3 refuses the pair too
            raise ValueError(f"strides, dilation_rate: layer {self.name!r} expected strides=1 or "
                             f"dilation_rate=1 (as Keras), got strides={self.strides} and "
                             f"dilation_rate={self.dilation_rate}")
        self.activation = _check_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._initializer_names = (kernel_initializer, bias_initializer)
        if not self.use_bias:
            self.weight_names = ("kernel",)

    @property
    def span(self) -> int:
        """Steps one window covers: d(k-1) + 1."""
        return self.dilation_rate * (self.kernel_size - 1) + 1

    @property
    def output_activation(self):
        return self.activation

    def _weight_specs(self, input_shape):
        specs = [(self.kernel_initializer, (self.kernel_size, input_shape[-1], self.filters))]
        if self.use_bias:
            specs.append((self.bias_initializer, (self.filters,)))
        return specs

    def check_input_shape(self, shape) -> None:
        check_sequence_shape(self, shape)
        super().check_input_shape(shape)  # the channels, once built
        check_output_steps(self, shape, self.span, self.strides, self.padding)

    def check_input(self, x):
        x = check_array(x, "x", rank=3, dtype=self.dtype)
        if not self.built:
            self.build(x.shape)
        self._check_features(x, self.weights[0].shape[1])
        check_output_steps(self, x.shape, self.span, self.strides, self.padding)
        return x

    def call(self, x):
        batch, steps, channels = x.shape
        k, stride, dilation = self.kernel_size, self.strides, self.dilation_rate
        out_steps, before, after = window_padding(steps, self.span, stride, self.padding)
        padded = np.pad(x, ((0, 0), (before, after), (0, 0))) if before or after else x  # (L0) (B, T_pad, C)
        taps = np.arange(out_steps)[:, None] * stride + np.arange(k) * dilation  # (U, k) padded steps
        columns = padded[:, taps, :].reshape(batch * out_steps, k * channels)  # (L1) (B*U, k*C)
        z = matrix_product(columns, self.weights[0].reshape(k * channels, self.filters))  # (L2) (B*U, F)
        if self.use_bias:
            z += self.weights[1]  # (L2)
        z = z.reshape(batch, out_steps, self.filters)  # (B, U, F)
        a = _activation_forward(self.activation, z)  # (L3) (B, U, F)
        self._cache = (columns, z, a, steps)
        return a

    def backward(self, dy, through_activation=True, d_inputs=True):
        columns, z, a, steps = self._cache
        self._cache = None
        batch, out_steps, _ = z.shape
        k, channels = self.kernel_size, self.weights[0].shape[1]
        dz = _activation_backward(self.activation, z, a, dy) if through_activation else dy  # (dL3)
        flat_dz = np.ascontiguousarray(dz).reshape(batch * out_steps, self.filters)  # (B*U, F)
        kernel = self.weights[0].reshape(k * channels, self.filters)  # (k*C, F)
        # dW (k*C, F) over every window in one product, and dcolumns (B*U, k*C): two threads, one hand-over
        products = [(columns.T, flat_dz, None)]
        if d_inputs:
            products.append((flat_dz, kernel.T, None))
        d_kernel, *d_columns = matrix_products(products)  # (dL2)
        d_kernel = d_kernel.reshape(self.weights[0].shape)  # (k, C, F)
        self._store_gradients([d_kernel, flat_dz.sum(axis=0)] if self.use_bias else [d_kernel])  # (dL2)
        if not d_inputs:
            return None
        _, before, after = window_padding(steps, self.span, self.strides, self.padding)
        d_columns = d_columns[0].reshape(batch, out_steps, k, channels)  # (B, U, k, C)
        d_padded = np.zeros((batch, before + steps + after, channels), dtype=d_columns.dtype)  # (B, T_pad, C)
        for j in range(k):  # (dL1) within one tap the U steps are distinct, so += adds each once
            d_padded[:, tap_slice(j * self.dilation_rate, self.strides, out_steps)] += d_columns[:, :, j]
        # contiguous, as the layer before may hand it to a kernel that needs its own layout
        return np.ascontiguousarray(d_padded[:, before:before + steps]) if before or after else d_padded

    def compute_output_shape(self, input_shape):
        out_steps = check_output_steps(self, input_shape, self.span, self.strides, self.padding)
        return (input_shape[0], out_steps, self.filters)

    def get_config(self):
        config = dict(super().get_config(), filters=self.filters, kernel_size=self.kernel_size,
                      strides=self.strides, padding=self.padding, data_format=self.data_format,
                      dilation_rate=self.dilation_rate, activation=self.activation, use_bias=self.use_bias)
        for key, value in zip(("kernel_initializer", "bias_initializer"), self._initializer_names):
            saved = initializers.serialize(value)  # a name, or an Initializer's class_name and config
            if saved is not None:
                config[key] = saved
        return config
