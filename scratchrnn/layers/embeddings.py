"""Embedding: a learned vector per integer id."""

from __future__ import annotations

import numpy as np

from .. import initializers
from ..validation import check_array, check_positive_int
from .base import KerasTensor, Layer, symbolic_mask


class Embedding(Layer):
    """Looks up a learned vector per integer id: (B, T) ids -> (B, T, output_dim).

    With ``mask_zero=True`` the id 0 is padding, as in Keras: the output carries the mask ids != 0 (B, T),
    which the layers after it (recurrent layers, losses) use to skip those steps. Id 0 still has its
    row, so input_dim counts it: a vocabulary of n words takes input_dim = n + 1."""

    weight_names = ("embeddings",)

    def __init__(self, input_dim, output_dim, embeddings_initializer="random_uniform", mask_zero=False,
                 **kwargs):
        self.input_dim = check_positive_int(input_dim, "input_dim")
        self.output_dim = check_positive_int(output_dim, "output_dim")
        super().__init__(**kwargs)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        if mask_zero not in (True, False):
            raise ValueError(f"mask_zero: expected True or False, got {mask_zero!r}")
        self.mask_zero = bool(mask_zero)

    @property
    def supports_masking(self) -> bool:
        return self.mask_zero

    def compute_mask(self, inputs, mask=None):
        """Keras's: ids != 0 when mask_zero, else no mask."""
        if not self.mask_zero:
            return None
        if isinstance(inputs, KerasTensor):
            return symbolic_mask(inputs.shape, self)
        return inputs != 0  # (B, T)

    def _weight_specs(self, input_shape):
        return [(self.embeddings_initializer, (self.input_dim, self.output_dim))]

    def check_input(self, x):
        values = check_array(x, "x", min_rank=self.min_input_rank, dtype=np.float64)  # finite, numeric
        if not np.all(values == np.round(values)):
            raise TypeError(f"x: {self.name!r} expected integer ids, got non-integer values such as "
                            f"{values[values != np.round(values)][0]}")
        if values.min() < 0 or values.max() >= self.input_dim:
            raise ValueError(f"x: {self.name!r} expected ids in [0, {self.input_dim}), "
                             f"got {values.min():g}..{values.max():g}")
        ids = values.astype(np.int64)
        if not self.built:
            self.build(ids.shape)
        return ids

    def call(self, ids):
        self._cache = ids
        return self.weights[0][ids]  # (B, T, output_dim)

    def backward(self, dy, d_inputs=True):
        gradient = np.zeros_like(self.weights[0])
        np.add.at(gradient, self._cache.reshape(-1), dy.reshape(-1, self.output_dim))  # repeated ids add up
        self._store_gradients([gradient])
        return None

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def get_config(self):
        return dict(super().get_config(), input_dim=self.input_dim, output_dim=self.output_dim,
                    mask_zero=self.mask_zero)

