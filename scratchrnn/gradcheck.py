"""Finite-difference gradient checking, for the library's layers and for your own code.

The checker compares an analytic gradient with a central difference,

    dL/dp_i  ~  (L(p + eps e_i) - L(p - eps e_i)) / (2 eps),

element by element, in float64, and reports per parameter the relative error

    |analytic - numeric| / max(|analytic| + |numeric|, tiny)      (norms over the whole array).

For a layer, the loss is a random projection of everything it returns, L = sum(P * y) (+ the same for
each returned state), so every output element carries its own weight and a wrong derivative cannot hide
behind a symmetric loss.

    >>> from scratchrnn import layers, gradcheck
    >>> report = gradcheck.check_layer(layers.LSTM(3, return_state=True), x)   # x (B, T, D)
    >>> print(report)            # one line per weight, the input and each initial state
    >>> report.max_error < 1e-6
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np


class Report(dict):
    """Relative error per checked array, by name; ``max_error`` is the largest."""

    @property
    def max_error(self) -> float:
        return max(self.values()) if self else 0.0

    def passed(self, tolerance: float = 1e-6) -> bool:
        return self.max_error <= tolerance

    def __str__(self) -> str:
        width = max((len(name) for name in self), default=4)
        lines = [f"{'name':<{width}}  relative error"]
        lines += [f"{name:<{width}}  {error:.3e}" for name, error in self.items()]
        return "\n".join(lines)


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """||analytic - numeric|| / (||analytic|| + ||numeric||); 0 when both are exactly zero."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"analytic gradient: expected shape {numeric.shape}, got {analytic.shape}")
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    if scale == 0.0:
        return 0.0
    return float(np.linalg.norm(analytic - numeric) / scale)


def numerical_gradient(loss: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of ``loss()`` w.r.t. ``array``, which is perturbed in place and
    restored; ``loss`` must read ``array`` each time it is called."""
    if array.dtype != np.float64:
        raise TypeError(f"array: expected float64 for a finite-difference check, got {array.dtype}")
    gradient = np.zeros_like(array)
    flat, flat_gradient = array.reshape(-1), gradient.reshape(-1)
    if not np.shares_memory(flat, array):
        raise ValueError("array: expected a contiguous array that can be perturbed in place")
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        plus = loss()
        flat[i] = saved - eps
        minus = loss()
        flat[i] = saved
        flat_gradient[i] = (plus - minus) / (2.0 * eps)
    return gradient


def check_gradients(loss: Callable[[], float], arrays: Mapping[str, np.ndarray],
                    analytic: Mapping[str, np.ndarray], eps: float = 1e-6) -> Report:
    """Compare ``analytic[name]`` with the numerical gradient of ``loss()`` w.r.t. ``arrays[name]``
    for every name; ``loss`` must read the arrays (they are perturbed in place)."""
    missing = set(arrays) - set(analytic)
    if missing:
        raise ValueError(f"analytic: expected a gradient for every array, missing {sorted(missing)}")
    return Report({name: relative_error(analytic[name], numerical_gradient(loss, array, eps))
                   for name, array in arrays.items()})


def check_layer(layer, x: np.ndarray, initial_state=None, seed: int = 0, eps: float = 1e-6) -> Report:
    """Check a layer's backward against finite differences of its forward.

    The layer must follow the layer contract (``build``, ``forward``, ``backward``, ``get_weights``,
    ``gradients``; recurrent layers also ``initial_state_gradients``) and have dtype float64. Every
    weight, the input ``x`` (B, T, D) and each initial state are checked; the loss is a random
    projection of all the layer returns.
    """
    if np.dtype(layer.dtype) != np.float64:
        raise TypeError(f"layer.dtype: expected float64 for a finite-difference check, got {layer.dtype}")
    x = np.array(x, dtype=np.float64)
    states = None if initial_state is None else [np.array(s, dtype=np.float64) for s in initial_state]
    if states is None and getattr(layer, "stateful", False):
        # Held fixed: a stateful layer would otherwise carry its state from one loss evaluation to the next.
        states = [np.zeros((x.shape[0], layer.units)) for _ in range(layer.state_count)]
    rng = np.random.default_rng(seed)

    def run():
        return layer.forward(x, initial_state=states) if states is not None else layer.forward(x)

    returned = run()
    as_list = returned if isinstance(returned, list) else [returned]
    projections = [rng.standard_normal(r.shape) for r in as_list]

    def loss() -> float:
        out = run()
        out = out if isinstance(out, list) else [out]
        return float(sum(np.sum(p * o) for p, o in zip(projections, out)))

    upstream = projections if isinstance(returned, list) else projections[0]
    d_x = layer.backward(upstream)
    names = [f"{name} {w.shape}" for name, w in zip(layer.weight_names, layer.weights)]
    arrays = dict(zip(names, layer.weights))
    analytic = dict(zip(names, layer.gradients))
    arrays["input"], analytic["input"] = x, d_x
    for i, (s, g) in enumerate(zip(states or [], getattr(layer, "initial_state_gradients", []))):
        arrays[f"initial state {i}"], analytic[f"initial state {i}"] = s, g
    return check_gradients(loss, arrays, analytic, eps)
