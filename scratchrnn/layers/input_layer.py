"""``Input``: where a functional model's data comes in, as a symbolic tensor of known shape and dtype."""

from __future__ import annotations

import numpy as np

from .base import KerasTensor, Layer, Node, _check_shape


class InputLayer(Layer):
    """The layer behind ``Input``: no weights, no computation; its one node has no inputs and one output,
    the tensor that stands for the data. ``dtype`` is the data's (ids may be integers); the layers that
    read it compute in their own float dtype."""

    min_input_rank = 1

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None, sparse=None,
                 **kwargs):
        if "input_shape" in kwargs and shape is None:  # Keras 2 spelling
            shape = kwargs.pop("input_shape")
        if "batch_input_shape" in kwargs and batch_shape is None:
            batch_shape = kwargs.pop("batch_input_shape")
        if sparse:
            raise ValueError("sparse: Input expected False or None (scratchrnn has dense arrays only), "
                             "got True")
        super().__init__(name=name, **kwargs)
        if (shape is None) == (batch_shape is None):
            raise ValueError(f"Input: expected exactly one of shape= or batch_shape=, got shape={shape!r}, "
                             f"batch_shape={batch_shape!r}")
        if batch_shape is not None:
            if batch_size is not None:
                raise ValueError("Input: batch_size= goes with shape=, not with batch_shape= (which "
                                 "holds it)")
            batch_shape = _check_shape(batch_shape, "batch_shape")
        else:
            batch = None if batch_size is None else _check_shape((batch_size,), "batch_size")[0]
            batch_shape = (batch, *_check_shape(shape, "shape"))
        if len(batch_shape) < 1:
            raise ValueError(f"Input: expected a shape with the batch axis, got {batch_shape}")
        try:
            data_dtype = np.dtype(dtype or "float32")
        except TypeError:
            raise TypeError(f"dtype: Input expected a NumPy dtype name such as 'float32' or 'int32', "
                            f"got {dtype!r}") from None
        if data_dtype.kind not in "fiub":
            raise ValueError(f"dtype: Input expected a numeric dtype, got {data_dtype}")
        self.batch_shape = batch_shape
        self.input_dtype = data_dtype
        self.built = True
        node = Node(self, [], 0, [batch_shape], data_dtype)
        self._inbound_nodes.append(node)

    def get_config(self):
        return {"name": self.name, "batch_shape": list(self.batch_shape), "dtype": self.input_dtype.name}

    def compute_output_shape(self, input_shape):
        return self.batch_shape


def Input(shape=None, batch_size=None, dtype=None, batch_shape=None, name=None,  # noqa: N802
          **kwargs) -> KerasTensor:
    """A symbolic tensor standing for a model's input data: ``shape`` without the batch axis (None for a
    free size, such as the time axis of variable-length sequences), or ``batch_shape`` with it."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name,
                      **kwargs).output
