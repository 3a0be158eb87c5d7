"""The output side under the "numba" backend: softmax over the last axis, and categorical
cross-entropy's value together with its gradient w.r.t. the logits.

No new math. The NumPy twins are ``activations.softmax`` and ``losses.CategoricalCrossentropy``'s
``value`` and ``logits_gradient`` (the formulas are in their docstrings); tests/test_output_kernels.py
checks that both agree to 1e-12 in float64. What changes is the number of passes over memory:

    softmax      NumPy: max, subtract, exp, sum, divide, each a pass and most a new array; here the
                 shift by the row maximum and the division by the row sum are one Numba pass each,
                 around NumPy's vectorised exp in place (Numba's exp does not vectorise without SVML).
    loss         NumPy: clip, log, dot for the value, then subtract and divide for the gradient; here
                 one pass writes the gradient and sums the value, taking the log only where y is not
                 zero (y * log(p) is exactly zero there: p is clipped, so its log is finite).

Shapes: (B, T, V) or (B, V), V the classes on the last axis, in any memory order of the leading axes
(a TimeDistributed output is a batch-major view of time-major memory); other arrays take the NumPy
twins. Measured on the (c) benchmark's output, 1600 x 65 float32 in time-major memory, medians, us:
softmax 239 -> 147 (max and shift 47, exp 43, sum and divide 43); value + logits gradient 110 + 58 ->
114 (one-hot targets in batch-major rows).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import activations
from ._common import scalar_like

_FLOATS = (np.float32, np.float64)


def _rows(a):
    """(a's rows (N, V) as a C-contiguous view in memory order, True where that order is time-major: a
    (B, T, V) view of (T, B, V) memory), or None for arrays the kernels do not take: not rank 2 or 3,
    not float32/float64, or in another memory order."""
    if a.ndim not in (2, 3) or a.dtype not in _FLOATS:
        return None
    if a.flags.c_contiguous:
        return (a if a.ndim == 2 else a.reshape(-1, a.shape[-1])), False  # (N, V)
    if a.ndim == 3 and np.swapaxes(a, 0, 1).flags.c_contiguous:
        return np.swapaxes(a, 0, 1).reshape(-1, a.shape[-1]), True  # (T*B, V)
    return None


def softmax(z: np.ndarray) -> np.ndarray:
    """exp(z - max z) / sum exp(z - max z) over the last axis (activations.softmax), in z's layout."""
    rows = _rows(z)
    if rows is None:
        return activations.softmax(z)
    out = np.empty_like(z)  # (..., V), the same memory order as z
    out_rows = _rows(out)[0]  # (N, V)
    _shift_by_row_max(rows[0], out_rows)  # z - max z
    np.exp(out_rows, out=out_rows)
    _divide_by_row_sum(out_rows)  # / sum
    return out


@njit(cache=True)
def _shift_by_row_max(z, out):
    for r in range(z.shape[0]):
        row, shifted = z[r], out[r]
        top = row[0]
        for j in range(1, row.shape[0]):
            top = max(top, row[j])
        for j in range(row.shape[0]):
            shifted[j] = row[j] - top


@njit(cache=True)
def _divide_by_row_sum(out):
    for r in range(out.shape[0]):
        row = out[r]
        total = scalar_like(0.0, row[0])
        for j in range(row.shape[0]):
            total += row[j]
        for j in range(row.shape[0]):
            row[j] = row[j] / total


def cross_entropy_and_logits_gradient(y_true, probabilities, epsilon):
    """(L, dL/dz) of categorical cross-entropy on softmax outputs p = ``probabilities``, as
    ``losses.CategoricalCrossentropy`` computes them: L = -(1/N) sum y log(clip(p, eps, 1 - eps)) and
    dL/dz = (p - y) / N, N = the number of rows; the gradient in p's layout. None where the arrays
    are not the kernel's kind (the caller then takes the NumPy twins)."""
    p_rows, y_rows = _rows(probabilities), _rows(y_true)
    if (p_rows is None or y_rows is None or probabilities.size == 0 or y_true.shape != probabilities.shape
            or y_true.dtype != probabilities.dtype):
        return None
    gradient = np.empty_like(probabilities)  # (..., V), p's memory order
    # Rows of p in memory order; y's rows may lie in the other order (time- vs batch-major).
    batch, steps = (probabilities.shape[0], probabilities.shape[1]) if probabilities.ndim == 3 else (0, 0)
    transposed, p_time_major = p_rows[1] != y_rows[1], p_rows[1]
    total = _cross_entropy_rows(y_rows[0], p_rows[0], _rows(gradient)[0], epsilon, transposed, p_time_major,
                                batch, steps)
    return -total / p_rows[0].shape[0], gradient


@njit(cache=True)
def _cross_entropy_rows(y_true, probabilities, gradient, epsilon, transposed, p_time_major, batch, steps):
    """gradient = (p - y) / N, row by row of p; returns sum y log(clip(p)), accumulated in float64.
    With ``transposed`` y's rows lie in the other order: row r = t B + b of time-major p is row b T + t
    of batch-major y, and row r = b T + t of batch-major p is row t B + b of time-major y."""
    rows = probabilities.shape[0]
    like = probabilities[0, 0]  # the bounds and N in p's dtype, as NumPy casts Python scalars
    low, high, count = scalar_like(epsilon, like), scalar_like(1.0 - epsilon, like), scalar_like(rows, like)
    total = 0.0
    for r in range(rows):
        s = r
        if transposed:
            s = (r % batch) * steps + r // batch if p_time_major else (r % steps) * batch + r // steps
        y, p, d = y_true[s], probabilities[r], gradient[r]
        for j in range(p.shape[0]):
            d[j] = (p[j] - y[j]) / count
        for j in range(p.shape[0]):
            if y[j] != 0:
                total += y[j] * np.log(min(max(p[j], low), high))
    return total
