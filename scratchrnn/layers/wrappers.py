"""Wrappers: TimeDistributed runs a layer on every time step."""

from __future__ import annotations

import numpy as np

from .base import Layer


def _steps_flattened(a, time_major=None):
    """(B, T, ...) as (B*T, ...) rows, and the function that shapes the inner layer's (B*T, ...) result
    back to (B, T, ...). Rows go in (T, B) order when ``time_major`` (None: when that needs no copy, as
    for a recurrent layer's outputs, a batch-major view of time-major memory), else in (B, T) order.
    The wrapped layer treats every row on its own; backward must use forward's order (its cache)."""
    batch, steps = a.shape[:2]
    if time_major is None:
        time_major = not a.flags.c_contiguous and np.swapaxes(a, 0, 1).flags.c_contiguous
    if time_major:
        flat = np.swapaxes(a, 0, 1).reshape(steps * batch, *a.shape[2:])  # (T*B, ...)
        return flat, time_major, lambda y: np.swapaxes(y.reshape(steps, batch, *y.shape[1:]), 0, 1)
    return (a.reshape(batch * steps, *a.shape[2:]), time_major,
            lambda y: y.reshape(batch, steps, *y.shape[1:]))  # (B*T, ...)


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step: (B, T, ...) is run as (B*T, ...)."""

    min_input_rank = 3

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise TypeError(f"layer: expected a scratchrnn Layer, got {type(layer).__name__}")
        kwargs.setdefault("dtype", str(layer.dtype))
        super().__init__(**kwargs)
        self.layer = layer

    weights = property(lambda self: self.layer.weights, lambda self, value: None)
    gradients = property(lambda self: self.layer.gradients, lambda self, value: None)
    weight_names = property(lambda self: self.layer.weight_names)
    output_activation = property(lambda self: getattr(self.layer, "output_activation", None))

    def build(self, input_shape):
        self.layer.build((None, *input_shape[2:]))
        self.built = True

    def check_input_shape(self, shape) -> None:
        super().check_input_shape(shape)
        self.layer.check_input_shape((None, *shape[2:]))

    def weight_shapes(self, input_shape) -> list[tuple]:
        return self.layer.weight_shapes((None, *input_shape[2:]))

    def check_input(self, x):
        x = super().check_input(x)
        self.layer.check_input(x.reshape(-1, *x.shape[2:]))
        return x

    def call(self, x):
        flat, time_major, unflatten = _steps_flattened(x)
        y = unflatten(self.layer.call(flat))
        self._cache = (time_major, self.layer._cache)  # the row order, which backward follows
        return y

    def backward(self, dy, through_activation=True, d_inputs=True):
        kwargs = {} if through_activation else {"through_activation": False}
        time_major, self.layer._cache = self._cache
        flat, _, unflatten = _steps_flattened(dy, time_major)
        dx = self.layer.backward(flat, d_inputs=d_inputs, **kwargs)
        return None if dx is None else unflatten(dx)

    @classmethod
    def from_config(cls, config):
        from . import deserialize  # the package's registry of layer classes

        return cls(deserialize(config.pop("layer")), **config)

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None, *input_shape[2:]))
        return (*input_shape[:2], *inner[1:])

    def get_config(self):
        return dict(super().get_config(), layer={"class_name": type(self.layer).__name__,
                                                 "config": self.layer.get_config()})

