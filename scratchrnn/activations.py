"""Element-wise activations and their derivatives, by Keras name.

Each activation is a pair: ``forward(z) -> a`` and ``derivative(z, a) -> da/dz``. The derivative gets
both the pre-activation ``z`` and the output ``a`` so that each can use whichever is cheaper and exact
(tanh' = 1 - a^2 needs only ``a``; relu' needs only ``z``).

hard_sigmoid follows Keras 3: clip(z / 6 + 1/2, 0, 1) (Keras 2 used slope 0.2).

Softmax is not element-wise; it lives in ``softmax`` below and in the losses, where its gradient is
fused with cross-entropy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np


class Activation(NamedTuple):
    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]


def sigmoid(z: np.ndarray) -> np.ndarray:
    # Written through tanh: exact, and never overflows for large |z|.
    return 0.5 * (np.tanh(0.5 * z) + 1.0)


def hard_sigmoid(z: np.ndarray) -> np.ndarray:
    return np.clip(z / 6.0 + 0.5, 0.0, 1.0)


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def linear(z: np.ndarray) -> np.ndarray:
    return z


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = np.exp(z - z.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


_ACTIVATIONS = {
    "tanh": Activation("tanh", np.tanh, lambda z, a: 1.0 - a * a),
    "sigmoid": Activation("sigmoid", sigmoid, lambda z, a: a * (1.0 - a)),
    "hard_sigmoid": Activation(
        "hard_sigmoid", hard_sigmoid, lambda z, a: np.where(np.abs(z) < 3.0, 1.0 / 6.0, 0.0).astype(z.dtype)
    ),
    "relu": Activation("relu", relu, lambda z, a: (z > 0).astype(z.dtype)),
    "linear": Activation("linear", linear, lambda z, a: np.ones_like(z)),
}

ELEMENTWISE = tuple(_ACTIVATIONS)


def get(name: str | None) -> Activation:
    """The activation called ``name`` (None means linear); a ValueError names the choices otherwise."""
    if name is None:
        name = "linear"
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str) or name not in _ACTIVATIONS:
        raise ValueError(
            f"activation: expected one of {sorted(_ACTIVATIONS)} (or None for linear), got {name!r}"
        )
    return _ACTIVATIONS[name]
