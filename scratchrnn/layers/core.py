"""Dense and Activation: one matrix product or one function, whose few lines of math sit beside the layer."""

from __future__ import annotations

import numpy as np

from .. import activations, initializers
from ..backend import get_backend
from ..kernels import output
from ..kernels._parallel import matrix_product, matrix_products
from ..validation import check_positive_int
from .base import Layer


def _activation_backward(name, z, a, dy):
    """dLoss/dz from dLoss/da for the output activation ``name`` (softmax is not element-wise)."""
    if name == "softmax":
        return a * (dy - np.sum(dy * a, axis=-1, keepdims=True))
    return dy * activations.get(name).derivative(z, a)


def _activation_forward(name, z):
    if name == "softmax":  # the Numba version under the "numba" backend (kernels/output.py)
        return output.softmax(z) if get_backend() == "numba" else activations.softmax(z)
    return activations.get(name).forward(z)


def _check_activation(name):
    if name != "softmax":
        activations.get(name)
    return name or "linear"


class Dense(Layer):
    """y = activation(x W + b) on the last axis, so it acts on every time step of a (B, T, D) input; a mask
    on the input goes on to the output (Keras's: the steps it marks are computed all the same)."""

    weight_names = ("kernel", "bias")
    supports_masking = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units")
        self.activation = _check_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._initializer_names = (kernel_initializer, bias_initializer)
        if not self.use_bias:
            self.weight_names = ("kernel",)

    def _weight_specs(self, input_shape):
        specs = [(self.kernel_initializer, (input_shape[-1], self.units))]
        if self.use_bias:
            specs.append((self.bias_initializer, (self.units,)))
        return specs

    @property
    def output_activation(self):
        return self.activation

    def check_input(self, x):
        x = super().check_input(x)
        self._check_features(x, self.weights[0].shape[0])
        return x

    def call(self, x):
        if x.ndim == 2:
            z = matrix_product(x, self.weights[0])  # (B, units)
        else:  # every step of a sequence in one GEMM
            z = matrix_product(x.reshape(-1, x.shape[-1]), self.weights[0]).reshape(*x.shape[:-1], self.units)
        if self.use_bias:
            z += self.weights[1]
        a = _activation_forward(self.activation, z)
        self._cache = (x, z, a)
        return a

    def backward(self, dy, through_activation=True, d_inputs=True):
        x, z, a = self._cache
        self._cache = None
        dz = _activation_backward(self.activation, z, a, dy) if through_activation else dy
        flat_x, flat_dz = x.reshape(-1, x.shape[-1]), dz.reshape(-1, dz.shape[-1])
        # dW (D, units), summed over batch and time in one GEMM, and dx (N, D): two threads, one hand-over
        products = [(flat_x.T, flat_dz, None)]
        if d_inputs:
            products.append((flat_dz, self.weights[0].T, None))
        d_kernel, *d_x = matrix_products(products)
        self._store_gradients([d_kernel, flat_dz.sum(axis=0)] if self.use_bias else [d_kernel])
        return d_x[0].reshape(*dz.shape[:-1], x.shape[-1]) if d_inputs else None  # (..., D)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = dict(super().get_config(), units=self.units, activation=self.activation,
                      use_bias=self.use_bias)
        for key, value in zip(("kernel_initializer", "bias_initializer"), self._initializer_names):
            saved = initializers.serialize(value)  # a name, or an Initializer's class_name and config
            if saved is not None:
                config[key] = saved
        return config


class Activation(Layer):
    """y = activation(x), element-wise or softmax over the last axis; a mask on the input goes on."""

    min_input_rank = 1
    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = _check_activation(activation)

    @property
    def output_activation(self):
        return self.activation

    def call(self, x):
        a = _activation_forward(self.activation, x)
        self._cache = (x, a)
        return a

    def backward(self, dy, through_activation=True, d_inputs=True):
        if not d_inputs:
            return None
        x, a = self._cache
        return _activation_backward(self.activation, x, a, dy) if through_activation else dy

    def get_config(self):
        return dict(super().get_config(), activation=self.activation)


# Keras 2 tutorials import Dropout, SpatialDropout1D, Flatten, Reshape and RepeatVector from
# keras.layers.core: the same imports work from scratchrnn.layers.core.
from .regularization import Dropout, SpatialDropout1D  # noqa: E402, F401
from .reshaping import Flatten, RepeatVector, Reshape  # noqa: E402, F401
