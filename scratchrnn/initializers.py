"""Weight initialisers, by Keras name, drawing from the library's seeded generator (``rng``)."""

from __future__ import annotations

import numpy as np

from . import rng


def _fans(shape):
    # Keras's convention: a 2-D weight (fan_in, fan_out); a 1-D one counts its length both ways.
    if len(shape) == 1:
        return shape[0], shape[0]
    return int(np.prod(shape[:-1])), shape[-1]


def zeros(shape):
    return np.zeros(shape)


def ones(shape):
    return np.ones(shape)


def glorot_uniform(shape):
    fan_in, fan_out = _fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.generator().uniform(-limit, limit, shape)


def glorot_normal(shape):
    fan_in, fan_out = _fans(shape)
    std = np.sqrt(2.0 / (fan_in + fan_out))
    return np.clip(rng.generator().normal(0.0, std, shape), -2 * std, 2 * std)


def he_uniform(shape):
    fan_in, _ = _fans(shape)
    limit = np.sqrt(6.0 / fan_in)
    return rng.generator().uniform(-limit, limit, shape)


def random_normal(shape):
    return rng.generator().normal(0.0, 0.05, shape)


def random_uniform(shape):
    return rng.generator().uniform(-0.05, 0.05, shape)


def orthogonal(shape):
    """A (rows, cols) matrix with orthonormal rows or columns, whichever are fewer (Saxe et al.)."""
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    normal = rng.generator().standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(normal)
    q *= np.sign(np.diag(r))  # makes the decomposition unique, so the draw is uniform
    if rows < cols:
        q = q.T
    return q.reshape(shape)


_INITIALIZERS = {f.__name__: f for f in (zeros, ones, glorot_uniform, glorot_normal, he_uniform,
                                         random_normal, random_uniform, orthogonal)}


def get(name):
    """The initialiser called ``name``, or ``name`` itself when it is a callable taking a shape."""
    if callable(name):
        return name
    if not isinstance(name, str) or name not in _INITIALIZERS:
        raise ValueError(f"initializer: expected one of {sorted(_INITIALIZERS)} or a callable, got {name!r}")
    return _INITIALIZERS[name]
