"""What the three kernels share: activations by integer code, a hand-written small matrix product, the
preparation that is the same for every cell, and the size rule that picks the time loop.

Nothing here is new math: the activations and their derivatives are the ones in
``scratchrnn/activations.py``, written once per element for Numba (``activate``/``derivative``) and
once as in-place NumPy ufuncs (``activate_numpy``), with the same operations in the same order.

Two time loops (``scratchrnn/kernels/__init__.py`` has the measurements behind them):

``"jit"``   the whole recurrence in one Numba function; the recurrent product by ``matmul_into``.
            No Python per step: wins where call overhead dominates (small batch x units).
``"blas"``  a Python loop over time; per step the recurrent product is one NumPy (BLAS) matmul into a
            preallocated buffer, the forward gate math NumPy ufuncs (vectorised tanh; LSTM, GRU: Numba
            passes around NumPy's tanh, see ``tanh_argument``), the backward element-wise math one
            Numba call. With MKL the LSTM runs these same steps as one Numba function per pass, MKL
            called from inside (``kernels/__init__.py``, note 13).

``use_jit_loop`` chooses; ``FORCE_LOOP`` overrides it (tests and benchmarks run both).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from .. import activations
from ..cells import batch_major, flat_steps, time_major
from ._parallel import matrix_product, matrix_products

# -- activations by code ---------------------------------------------------------------------------
TANH, SIGMOID, HARD_SIGMOID, RELU, LINEAR = range(5)
_CODES = {"tanh": TANH, "sigmoid": SIGMOID, "hard_sigmoid": HARD_SIGMOID, "relu": RELU, "linear": LINEAR}


def activation_code(name) -> int:
    """The integer the jitted code branches on, for an activation name (None: linear)."""
    activation = activations.get(name)
    if activation.name not in _CODES:
        raise ValueError(f"activation: the kernels support {sorted(_CODES)}, got {activation.name!r}")
    return _CODES[activation.name]


def scalar_like(value, like):
    """``value`` as a scalar of ``like``'s type: float32 math stays float32 (a bare 0.5 is float64)."""
    return type(like)(value)


@overload(scalar_like)
def _scalar_like_jit(value, like):
    scalar_type = as_dtype(like).type

    def impl(value, like):
        return scalar_type(value)

    return impl


@njit(cache=True)
def activate(code, z):
    """The activation ``code`` of one element z (activations.py: tanh, sigmoid, ...)."""
    if code == TANH:
        return np.tanh(z)
    if code == SIGMOID:
        half = scalar_like(0.5, z)
        return half * (np.tanh(half * z) + scalar_like(1.0, z))  # through tanh, as activations.sigmoid
    if code == HARD_SIGMOID:
        v = z / scalar_like(6.0, z) + scalar_like(0.5, z)
        zero, one = scalar_like(0.0, z), scalar_like(1.0, z)
        return zero if v < zero else (one if v > one else v)  # clip(v, 0, 1); NaN passes through
    if code == RELU:
        zero = scalar_like(0.0, z)
        return zero if z < zero else z  # maximum(z, 0); NaN passes through
    return z


def uses_tanh(code: int) -> bool:
    """True for the activations that ``activate`` computes through tanh (tanh, sigmoid)."""
    return code == TANH or code == SIGMOID


@overload(uses_tanh)
def _uses_tanh_jit(code):
    return lambda code: code == TANH or code == SIGMOID


@njit(cache=True)
def tanh_argument(code, z):
    """The first half of ``activate``: what it passes to tanh for tanh (z) and sigmoid (0.5 z); the
    whole activation for the others. With ``from_tanh``, for every code:
    activate(code, z) == from_tanh(code, tanh(tanh_argument(code, z))) if uses_tanh(code) else
    from_tanh(code, tanh_argument(code, z)), the same operations in the same order; the tanh in between
    is then NumPy's vectorised one, over a whole block."""
    if code == TANH:
        return z
    if code == SIGMOID:
        return scalar_like(0.5, z) * z
    return activate(code, z)


@njit(cache=True)
def from_tanh(code, v):
    """The second half of ``activate`` (see ``tanh_argument``): 0.5 (v + 1) for sigmoid, else v."""
    if code == SIGMOID:
        return scalar_like(0.5, v) * (v + scalar_like(1.0, v))
    return v


def needs_preactivation(code: int) -> bool:
    """True where ``derivative`` reads its input z (hard_sigmoid, relu); tanh, sigmoid and linear take
    their derivative from the output alone, so a kernel need not keep z for them."""
    return code in (HARD_SIGMOID, RELU)


@njit(cache=True)
def derivative(code, z, a):
    """d activation / dz of one element from its input z and output a = activate(code, z)."""
    one = scalar_like(1.0, z)
    if code == TANH:
        return one - a * a
    if code == SIGMOID:
        return a * (one - a)
    if code == HARD_SIGMOID:
        return scalar_like(1.0 / 6.0, z) if abs(z) < scalar_like(3.0, z) else scalar_like(0.0, z)
    if code == RELU:
        return one if z > scalar_like(0.0, z) else scalar_like(0.0, z)
    return one


def activate_numpy(code: int, z: np.ndarray, out: np.ndarray) -> None:
    """out = activation ``code`` of z with in-place NumPy ufuncs (vectorised; no temporaries)."""
    if code == TANH:
        np.tanh(z, out=out)
    elif code == SIGMOID:
        np.multiply(z, 0.5, out=out)
        np.tanh(out, out=out)
        out += 1.0
        out *= 0.5
    elif code == HARD_SIGMOID:
        np.divide(z, 6.0, out=out)
        out += 0.5
        np.clip(out, 0.0, 1.0, out=out)
    elif code == RELU:
        np.maximum(z, 0.0, out=out)
    else:
        np.copyto(out, z)


# -- the small recurrent product -------------------------------------------------------------------
@njit(cache=True)
def matmul_into(a, b, k0, k1, col0, out):
    """out = a[:, k0:k1] @ b[k0:k1, col0:col0 + N], N = out.shape[1], as plain loops.

    For the small shapes of the "jit" loop this beats a BLAS call, whose fixed cost is larger than the
    product. The innermost loop runs along contiguous row slices (so LLVM vectorises it; an index
    like ``col0 + j`` would keep Numba's negative-index wraparound check and block that), four rows of
    b at a time so that each pass over the out row does four multiply-adds.
    """
    rows, cols = out.shape
    for i in range(rows):
        out_row = out[i]
        out_row[:] = 0
        k = k0
        while k + 4 <= k1:
            a0, a1, a2, a3 = a[i, k], a[i, k + 1], a[i, k + 2], a[i, k + 3]
            b0, b1 = b[k, col0:col0 + cols], b[k + 1, col0:col0 + cols]
            b2, b3 = b[k + 2, col0:col0 + cols], b[k + 3, col0:col0 + cols]
            for j in range(cols):
                out_row[j] += a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j]
            k += 4
        while k < k1:
            a0, b0 = a[i, k], b[k, col0:col0 + cols]
            for j in range(cols):
                out_row[j] += a0 * b0[j]
            k += 1


# -- shared preparation ----------------------------------------------------------------------------
def input_projection(x, kernel, input_bias, go_backwards):
    """x (B, T, D) -> x_tm (T, B, D) contiguous in processing order, and x_tm W + b_in (T, B, G) as
    ONE matrix product over all steps."""
    x_tm = np.ascontiguousarray(time_major(x, go_backwards))  # (T, B, D)
    steps, batch, features = x_tm.shape
    x_projected = matrix_product(x_tm.reshape(steps * batch, features), kernel)  # (T*B, G): one GEMM
    x_projected = x_projected.reshape(steps, batch, kernel.shape[1])  # (T, B, G)
    if input_bias is not None:
        x_projected += input_bias
    return x_tm, x_projected


def summed_over_steps(*terms) -> list:
    """For each term (inputs_tm, deltas_tm, out): sum_t inputs_t^T deltas_t (K, G) for (T, B, K) and
    (T, B, G), ONE matrix product over all steps, written into ``out`` (a C-contiguous (K, G) array of
    the same dtype, or None for a new one). The terms of a backward pass go to the two threads together
    (``matrix_products``: one hand-over, no product split that need not be).

    ``matrix_product`` falls back to np.dot rather than @: for T*B = 1 (the stateful batch-1 case)
    NumPy's matmul took 22 us for the (50, 1) x (1, 200) product where np.dot took 3 us.
    """
    return matrix_products([(flat_steps(inputs_tm).T, flat_steps(deltas_tm), out)
                            for inputs_tm, deltas_tm, out in terms])


def spend(cache, key):
    """Take out of the cache the buffer that a backward pass overwrites: a cache serves one backward."""
    if key not in cache:
        raise ValueError("cache: already used by a backward pass, which overwrites its activations; "
                         "run forward again for another backward")
    return cache.pop(key)


def input_gradient(deltas_tm, kernel, go_backwards, spare=None):
    """delta_t W^T for all steps as ONE matrix product, (T, B, G) -> (B, T, D) in the caller's order.

    ``spare``: a contiguous buffer the backward pass no longer needs (a spent cache array), written over
    when it is big enough and of the result's dtype, so that d_x takes no new memory: in a stack of
    layers the backward pass of the top one holds every layer's cache, the peak of a training step."""
    steps, batch = deltas_tm.shape[:2]
    size = steps * batch * kernel.shape[0]
    fits = (spare is not None and spare.flags.c_contiguous and spare.size >= size
            and spare.dtype == np.result_type(deltas_tm.dtype, kernel.dtype))
    out = spare.reshape(-1)[:size].reshape(steps * batch, kernel.shape[0]) if fits else None  # (T*B, D)
    d_x_tm = matrix_product(flat_steps(deltas_tm), kernel.T, out=out)  # (T*B, D)
    d_x_tm = d_x_tm.reshape(steps, batch, kernel.shape[0])  # (T, B, D)
    return batch_major(d_x_tm, go_backwards)


def as_contiguous(a, dtype):
    """a as a C-contiguous array of dtype, copied only when needed (one compiled variant per dtype)."""
    return np.ascontiguousarray(a, dtype=dtype)


def upstream_time_major(d_outputs, d_final_state, hidden):
    """Upstream gradients as fresh, contiguous arrays shaped by ``hidden`` (T+1, B, H), h_0..h_T: the
    time-major outputs gradient (T, B, H) and a (B, H) final-state gradient that the backward loop may
    overwrite. A None gradient is zero."""
    if d_outputs is None:
        d_outputs_tm = np.zeros(hidden[1:].shape, hidden.dtype)  # (T, B, H); zeros_like costs 3 us more
    else:
        d_outputs_tm = np.ascontiguousarray(np.swapaxes(d_outputs, 0, 1), dtype=hidden.dtype)  # (T, B, H)
    return d_outputs_tm, state_gradient(d_final_state, hidden[0])


def state_gradient(d_state, like):
    """A final-state gradient as a fresh (B, H) array shaped like ``like`` (zeros for None), which the
    backward loop may overwrite."""
    return np.zeros(like.shape, like.dtype) if d_state is None else np.array(d_state, dtype=like.dtype)


# -- which loop -------------------------------------------------------------------------------------
FORCE_LOOP: str | None = None  # None: by size; "jit" or "blas" to force one (tests, benchmarks)
JIT_LOOP_MAX_BATCH_UNITS = 256  # largest batch * units for the all-Numba loop (measured; LSTM: its own)


def use_jit_loop(batch: int, units: int, max_batch_units: int | None = None) -> bool:
    """True for the all-Numba loop, False for the Python loop over BLAS products; a cell whose "blas"
    loop is cheaper passes its own measured ``max_batch_units`` (None: ``JIT_LOOP_MAX_BATCH_UNITS``)."""
    if FORCE_LOOP is not None:
        if FORCE_LOOP not in ("jit", "blas"):
            raise ValueError(f"FORCE_LOOP: expected None, 'jit' or 'blas', got {FORCE_LOOP!r}")
        return FORCE_LOOP == "jit"
    return batch * units <= (JIT_LOOP_MAX_BATCH_UNITS if max_batch_units is None else max_batch_units)
