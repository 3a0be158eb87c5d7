"""Concatenate and Add: layers that take a list of inputs (``takes_list``) and return one array; their
backward returns the list of the inputs' gradients.

    Concatenate(axis):  y = [x_1 | x_2 | ... | x_k] along axis      dx_i = the slice of dy over x_i's part
    Add:                y = x_1 + x_2 + ... + x_k                  dx_i = dy

Masks (Keras's rule): Concatenate's output carries a mask when any input does, an unmasked input
counting as all True; each input's (B, T) mask is spread over that input's features, the spread masks
are joined along the axis, and a step of the output is real where any of its features is: along the
last axis that is the OR of the inputs' masks, along the time axis their masks end to end. Add takes no
masked inputs.

``concatenate(inputs)`` and ``add(inputs)`` are Keras's functional forms: they make the layer and call it
on the list, arrays or symbolic tensors alike. Inputs must have the same shapes (except, for Concatenate,
on the axis); unlike Keras, Add does not broadcast.
"""

from __future__ import annotations

import numpy as np

from ..validation import check_array
from .base import KerasTensor, Layer, symbolic_mask


class _Merge(Layer):
    """What Concatenate and Add share: a list of at least two inputs, checked against each other."""

    takes_list = True

    def _check_shapes(self, shapes, name: str) -> None:
        """ValueError unless ``shapes`` are at least two shapes of the same rank that the layer can
        merge (None, a size unknown until run, matches any size)."""
        if isinstance(shapes, (str, bytes)) or not hasattr(shapes, "__iter__"):
            raise TypeError(f"{name}: layer {self.name!r} expected a list of input shapes, got {shapes!r}")
        shapes = [tuple(shape) if isinstance(shape, (list, tuple)) else shape for shape in shapes]
        if not all(isinstance(shape, tuple) for shape in shapes):
            raise ValueError(f"{name}: layer {self.name!r} expected a list of input shapes (one per input), "
                             f"got {shapes}")
        if len(shapes) < 2:
            raise ValueError(f"{name}: layer {self.name!r} expected a list of at least 2 inputs, "
                             f"got {len(shapes)} (shapes {shapes})")
        if any(len(shape) < self.min_input_rank for shape in shapes):
            raise ValueError(f"{name}: layer {self.name!r} expected inputs of at least {self.min_input_rank} "
                             f"dimensions (batch first), got shapes {shapes}")
        if len({len(shape) for shape in shapes}) != 1:
            raise ValueError(f"{name}: layer {self.name!r} expected inputs of the same rank, "
                             f"got shapes {shapes}")
        free_axis = self._free_axis(len(shapes[0]), name)
        for axis, sizes in enumerate(zip(*shapes)):
            known = {size for size in sizes if size is not None}
            if axis != free_axis and len(known) > 1:
                raise ValueError(f"{name}: layer {self.name!r} {self._matching}, got shapes {shapes} "
                                 f"(axis {axis} differs)")

    def _free_axis(self, rank: int, name: str):
        """The axis on which the inputs' sizes may differ (None: none may)."""
        return None

    def check_input(self, inputs) -> list[np.ndarray]:
        """The inputs as a list of finite arrays of the layer's dtype whose shapes the layer can merge;
        TypeError (not a list, a non-numeric input) or ValueError (fewer than 2 inputs, shapes that do
        not match, an empty input, NaN or infinity) otherwise."""
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(f"inputs: layer {self.name!r} expected a list of at least 2 arrays, "
                            f"got {type(inputs).__name__}")
        arrays = [check_array(x, f"inputs[{i}]", min_rank=self.min_input_rank, dtype=self.dtype)
                  for i, x in enumerate(inputs)]
        self._check_shapes([x.shape for x in arrays], "inputs")
        if not self.built:
            self.built = True
        return arrays

    def check_input_shape(self, shape) -> None:
        self._check_shapes(shape, "input_shape")

    def build(self, input_shape):
        """No weights: building only checks that the shapes can be merged."""
        self._check_shapes(input_shape, "input_shape")
        self.weights, self.gradients = [], []
        self.built = True

    def weight_shapes(self, input_shape) -> list[tuple]:
        return []


class Concatenate(_Merge):
    """y = the inputs joined along ``axis`` (a feature axis: not the batch axis 0)."""

    _matching = "expected inputs whose shapes match except on the concatenation axis"
    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis: expected an integer, got {type(axis).__name__} {axis!r}")
        if axis == 0:
            raise ValueError("axis: expected a feature axis (1, 2, ... or -1, -2, ...), "
                             "got 0, the batch axis")
        self.axis = int(axis)

    def _free_axis(self, rank: int, name: str) -> int:
        if not -rank < self.axis < rank:  # -rank and 0 are the batch axis
            raise ValueError(f"{name}: layer {self.name!r} has axis={self.axis}, a feature axis of inputs "
                             f"of rank {rank} must be in [{1 - rank}, {rank - 1}] and not 0")
        return self.axis % rank

    def call(self, inputs):
        self._cache = [x.shape[self.axis] for x in inputs]  # each input's part of the axis
        return np.concatenate(inputs, axis=self.axis)

    def backward(self, dy, d_inputs=True):
        if not d_inputs:
            return None
        ends = np.cumsum(self._cache)[:-1]
        return [np.ascontiguousarray(part) for part in np.split(dy, ends, axis=self.axis)]

    def compute_mask(self, inputs, mask=None):
        """The output's mask by Keras's rule (module docstring); None when no input carries one."""
        if mask is None or all(m is None for m in mask):
            return None
        if isinstance(inputs[0], KerasTensor):
            return symbolic_mask(self.compute_output_shape([t.shape for t in inputs])[:-1], self)
        spread = [np.ones(x.shape, dtype=bool) if m is None
                  else np.broadcast_to(m.reshape(*m.shape, *(1,) * (x.ndim - m.ndim)), x.shape)
                  for x, m in zip(inputs, mask)]  # each (B, T, D_i)
        return np.concatenate(spread, axis=self.axis).any(axis=-1)  # (B, T)

    def compute_output_shape(self, input_shape):
        shapes = [tuple(shape) for shape in input_shape]
        axis = self._free_axis(len(shapes[0]), "input_shape")
        output_shape = [next((size for size in sizes if size is not None), None) for sizes in zip(*shapes)]
        parts = [shape[axis] for shape in shapes]
        output_shape[axis] = None if None in parts else sum(parts)
        return tuple(output_shape)

    def get_config(self):
        return dict(super().get_config(), axis=self.axis)


class Add(_Merge):
    """y = x_1 + ... + x_k, all of one shape."""

    _matching = "expected inputs of equal shapes"

    def call(self, inputs):
        self._cache = len(inputs)
        y = inputs[0] + inputs[1]
        for x in inputs[2:]:
            y += x
        return y

    def backward(self, dy, d_inputs=True):
        if not d_inputs:
            return None
        # One array per input, none shared: a model that adds into one input's gradient in place must
        # not change another's.
        return [dy] + [dy.copy() for _ in range(self._cache - 1)]

    def compute_output_shape(self, input_shape):
        return tuple(next((size for size in sizes if size is not None), None) for sizes in zip(*input_shape))


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis=axis, **kwargs)(inputs)``: Keras's functional form."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``: Keras's functional form."""
    return Add(**kwargs)(inputs)
