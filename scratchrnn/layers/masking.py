"""Masking: marks the time steps whose features all equal ``mask_value`` as padding, for the layers after it.

With x of shape (B, T, D) (or (B, D): one step per sample):

    m  = any_d (x[..., d] != mask_value)        the mask, True at a real step        (B, T)    (K1)
    y  = x where m, else 0                       a padding step's features zeroed     (B, T, D) (K2)
    dx = dy where m, else 0                                                                     (dK2)

The mask travels with y (``compute_mask``): recurrent layers carry their state through the masked steps,
and losses and metrics leave them out, as in Keras.
"""

from __future__ import annotations

import numpy as np

from .base import KerasTensor, Layer, symbolic_mask


class Masking(Layer):
    """Masks the steps whose features all equal ``mask_value`` (Keras's ``Masking``)."""

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, (bool, np.bool_)) or not isinstance(mask_value, (int, float, np.integer,
                                                                                  np.floating)):
            raise TypeError(f"mask_value: expected a number, got {type(mask_value).__name__} {mask_value!r}")
        if not np.isfinite(mask_value):
            raise ValueError(f"mask_value: expected a finite number (inputs hold no NaN or infinity), got "
                             f"{mask_value!r}")
        self.mask_value = float(mask_value)

    def call(self, x):
        real = np.any(x != self.mask_value, axis=-1, keepdims=True)  # (B, T, 1)             (K1)
        self._cache = real
        return np.where(real, x, x.dtype.type(0))  # (B, T, D)                                 (K2)

    def backward(self, dy, d_inputs=True):
        if not d_inputs:
            return None
        return np.where(self._cache, dy, dy.dtype.type(0))  # (B, T, D)                        (dK2)

    def compute_mask(self, inputs, mask=None):
        """The steps that are not all ``mask_value``; an incoming mask is replaced, as in Keras."""
        if isinstance(inputs, KerasTensor):
            return symbolic_mask(inputs.shape[:-1], self)
        return np.any(inputs != self.mask_value, axis=-1)  # (B, T)                             (K1)

    def get_config(self):
        return dict(super().get_config(), mask_value=self.mask_value)
