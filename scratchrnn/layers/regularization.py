"""Dropout and SpatialDropout1D: in training, zero a random fraction ``rate`` of the input and scale the
rest up so that the expected value is unchanged; otherwise the identity.

    keep ~ Bernoulli(1 - rate), drawn in the noise shape (broadcast over the input)
    mask = keep / (1 - rate)
    y    = x * mask                                        (training, rate > 0)        (L1)
    dx   = dy * mask                                       (the same mask)             (dL1)
    y    = x,  dx = dy                                     (otherwise)

The noise shape is the input's shape for Dropout (or its ``noise_shape``, a size 1 sharing one draw
along that axis), and (B, 1, C) for SpatialDropout1D: one draw per sequence and channel, so a dropped
channel is dropped at every time step. Masks come from the library's generator (``scratchrnn.rng``,
which ``set_random_seed`` reseeds) unless the layer has a ``seed``: then from its own generator, seeded
once when the layer is made, so that the same seed gives the same masks call after call.
"""

from __future__ import annotations

import numpy as np

from .. import rng
from ..validation import check_fraction
from .base import Layer, _check_shape


class Dropout(Layer):
    """y = x * keep / (1 - rate) in training (keep drawn with probability 1 - rate), y = x otherwise; a
    mask on the input goes on to the output."""

    min_input_rank = 1
    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_fraction(rate, "rate")
        self.noise_shape = None if noise_shape is None else _check_shape(noise_shape, "noise_shape")
        if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"seed: expected a non-negative integer or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._generator = None if seed is None else np.random.default_rng(self.seed)
        if self.batch_input_shape is not None:
            self._check_shape_fits(self.batch_input_shape, "batch_input_shape")

    def _noise_shape(self, shape) -> tuple:
        """The shape of the draw for an input of ``shape`` (None: the input's size on that axis)."""
        if self.noise_shape is None:
            return tuple(shape)
        return tuple(size if noise is None else noise for noise, size in zip(self.noise_shape, shape))

    def _check_shape_fits(self, shape, name: str) -> None:
        """ValueError when the noise shape cannot broadcast over an input of ``shape``."""
        if self.noise_shape is None:
            return
        fits = len(shape) == len(self.noise_shape) and all(
            noise in (None, 1) or size in (None, noise) for noise, size in zip(self.noise_shape, shape))
        if not fits:
            raise ValueError(f"{name}: layer {self.name!r} has noise_shape {self.noise_shape}, which needs "
                             "inputs of the same rank whose sizes equal it where it is neither None nor 1; "
                             f"got shape {tuple(shape)}")

    def check_input(self, x):
        x = super().check_input(x)
        self._check_shape_fits(x.shape, "x")
        return x

    def check_input_shape(self, shape) -> None:
        super().check_input_shape(shape)
        self._check_shape_fits(tuple(shape), "input_shape")

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            self._cache = None  # the identity: backward passes dy through
            return x
        generator = self._generator if self._generator is not None else rng.generator()
        keep = generator.random(self._noise_shape(x.shape)) >= self.rate  # (noise shape), P = 1 - rate
        scale = self.dtype.type(1.0 / (1.0 - self.rate))  # Keras's x * (1 / (1 - rate)), kept values
        mask = keep.astype(self.dtype)  # (noise shape): 0 or 1 / (1 - rate), broadcast over x
        mask *= scale
        self._cache = mask
        return x * mask  # (L1)

    def backward(self, dy, d_inputs=True):
        if not d_inputs:
            return None
        mask = self._cache
        return dy if mask is None else dy * mask  # (dL1)

    def get_config(self):
        noise_shape = None if self.noise_shape is None else list(self.noise_shape)
        return dict(super().get_config(), rate=self.rate, noise_shape=noise_shape, seed=self.seed)


class SpatialDropout1D(Dropout):
    """Dropout of whole channels of a (B, T, C) input: one draw per (sequence, channel), the same at
    every time step."""

    min_input_rank = 3

    def __init__(self, rate, seed=None, **kwargs):
        if "noise_shape" in kwargs:
            raise TypeError("SpatialDropout1D: unexpected keyword argument 'noise_shape' (its noise shape is "
                            "always (batch, 1, channels))")
        super().__init__(rate, seed=seed, **kwargs)

    def _noise_shape(self, shape) -> tuple:
        return (shape[0], 1, shape[2])  # (B, 1, C)

    def _check_shape_fits(self, shape, name: str) -> None:
        if len(shape) != 3:
            raise ValueError(f"{name}: layer {self.name!r} expected 3-D inputs (batch, time, channels), "
                             f"got shape {tuple(shape)}")

    def get_config(self):
        config = super().get_config()
        del config["noise_shape"]  # always (B, 1, C); not an argument, as in Keras
        return config
