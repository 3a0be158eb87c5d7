"""What the three kernels share: activations by integer code, a hand-written small matrix product, the
preparation that is the same for every cell, and the size rule that picks the time loop.

Nothing here is new math: the activations and their derivatives are the ones in
``scratchrnn/activations.py``, written once per element for Numba (``activate``/``derivative``) and
once as in-place NumPy ufuncs (``activate_numpy``), with the same operations in the same order.

Two time loops (docs/performance.md has the measurements behind them):

``"jit"``   the whole recurrence in one Numba function; the recurrent product by ``matmul_into``.
            No Python per step: wins where call overhead dominates (small batch x units).
``"blas"``  a Python loop over time; per step the recurrent product is one NumPy (BLAS) matmul into a
            preallocated buffer, the forward gate math NumPy ufuncs (vectorised tanh; LSTM, GRU: Numba
            passes around NumPy's tanh, see ``tanh_argument``), the backward element-wise math one
            Numba call. With MKL the LSTM runs these same steps as one Numba function per pass, MKL
            called from inside (``docs/performance.md``, note 13).

``use_jit_loop`` chooses; ``FORCE_LOOP`` overrides it (tests and benchmarks run both).

Masks (the end of this module; docs/performance.md, note 19): what the three kernels' masked loops share.
The input dropout masks stay outside the recurrence (one GEMM per mask); the recurrent product runs in
blocks, one per recurrent dropout mask, reading h_{t-1} * mask; a masked step keeps the states
(``carry_masked_rows``) and its backward passes the state gradients on (``recurrent_gradient``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from .. import activations
from ..cells import batch_major, checked_masks, flat_steps, read_only, time_major, time_mask
from ._packed_gemm import RecurrentProduct, packed_product, packs
from ._parallel import enabled, matrix_product, matrix_products

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


# -- masks and dropout masks (issue 13) ------------------------------------------------------------
# Shared by the three kernels. A call with none of mask, input_masks, recurrent_masks never reaches
# this code: the plain loops run as before (docs/performance.md, note 19).
class Masks(NamedTuple):
    """What a forward pass with masks runs with, in processing order (``prepare_masks``).

    steps      (T, B) bool, True at a real step; None without a sequence mask
    outputs    (T, B, 1) bool, True where the output at that step is h_t (else zeros); None: everywhere
    inputs     (G_in, B, D) the input dropout masks in the compute dtype, G_in = 1 or gates; or None
    recurrent  (G_rec, B, H) the recurrent dropout masks, G_rec = 1 or gates; or None
    """

    steps: np.ndarray | None
    outputs: np.ndarray | None
    inputs: np.ndarray | None
    recurrent: np.ndarray | None


def any_masks(mask, input_masks, recurrent_masks) -> bool:
    """True when a forward pass needs the masked loops; False keeps the plain ones, untouched."""
    return mask is not None or input_masks is not None or recurrent_masks is not None


def prepare_masks(mask, input_masks, recurrent_masks, x, units, gates, go_backwards, zero_output_for_mask,
                  dtype) -> Masks:
    """The masks of a forward pass, checked as the cells check them (``cells.checked_masks``: the same
    ValueErrors) and laid out for the loops: mask (B, T) in the caller's time order becomes (T, B) in
    processing order; the dropout masks are used as given (the layer draws them)."""
    mask, input_masks, recurrent_masks = checked_masks(mask, input_masks, recurrent_masks, x, units, gates,
                                                       dtype)
    keep, shown = time_mask(mask, go_backwards, zero_output_for_mask)  # (T, B, 1) each, or None (M1)
    steps = None if keep is None else np.ascontiguousarray(keep[:, :, 0])  # (T, B)
    outputs = None if shown is None or shown.all() else shown  # (T, B, 1)
    contiguous = [None if m is None else np.ascontiguousarray(m) for m in (input_masks, recurrent_masks)]
    return Masks(steps, outputs, *contiguous)


def masked_outputs(hidden, output_mask):
    """The outputs (B, T, H) of a masked pass: the read-only view of h_1..h_T where every output is
    h_t, else a new array with zeros where ``output_mask`` (T, B, 1) is False (M2)."""
    if output_mask is None:
        return read_only(hidden[1:])
    return read_only(np.where(output_mask, hidden[1:], 0))  # (M2) (B, T, H)


def masked_upstream(d_outputs_tm, d_outputs, output_mask):
    """d_outputs (T, B, H) with the rows of zero outputs cleared (dM2); in place where
    ``upstream_time_major`` copied, else into a new array."""
    if output_mask is None or d_outputs is None:
        return d_outputs_tm
    if np.may_share_memory(d_outputs_tm, d_outputs):
        return d_outputs_tm * output_mask  # (dM2)
    d_outputs_tm *= output_mask  # (dM2)
    return d_outputs_tm


NO_STEPS = np.zeros((0, 0), dtype=np.bool_)  # a loop's "no sequence mask" (steps_mask has no rows)


def empty_like_rank(rank, dtype):
    """A (0, ..., 0) array: a loop argument that is not there (read only when it has rows)."""
    return np.empty((0,) * rank, dtype=dtype)


def recurrent_arguments(masks, steps, batch, units, dtype):
    """The masked loops' (steps_mask, recurrent_masks, h_dropped): empty arrays where not given;
    h_dropped (G_rec, T, B, H) receives h_{t-1} * mask_g (D2), which dU reads."""
    steps_mask = NO_STEPS if masks.steps is None else masks.steps  # (T, B)
    if masks.recurrent is None:
        return steps_mask, empty_like_rank(3, dtype), empty_like_rank(4, dtype)
    count = len(masks.recurrent)
    return steps_mask, masks.recurrent, np.empty((count, steps, batch, units), dtype=dtype)


# The input side of dropout lies outside the recurrence: x * mask_g feeds gate block g of (L1) for all
# steps at once, and the backward pass multiplies block g's dx by the same mask.
def dropped_input_projection(x, kernel, input_bias, input_masks, go_backwards):
    """As ``input_projection``, with block g of the G = kernel columns reading x * input_masks[g]
    (G_in equal blocks; one mask: all columns) (D1). Returns x_tm (T, B, D), the dropped inputs
    (G_in, T, B, D) that dW reads, and x_projected (T, B, G)."""
    x_tm = np.ascontiguousarray(time_major(x, go_backwards))  # (T, B, D)
    dtype = np.result_type(x_tm.dtype, kernel.dtype)
    steps, batch, features = x_tm.shape
    dropped = np.multiply(x_tm[None], input_masks[:, None], dtype=dtype)  # (G_in, T, B, D) (D1)
    blocks = len(input_masks)
    if blocks == 1:
        x_projected = matrix_product(flat_steps(dropped[0]), kernel)  # (T*B, G) (D1)
    else:
        width = kernel.shape[1] // blocks
        columns = [slice(g * width, (g + 1) * width) for g in range(blocks)]
        x_projected = np.empty((steps * batch, kernel.shape[1]), dtype=dtype)  # (T*B, G)
        if enabled():
            # One product per mask through ``matrix_products`` (MKL's, on the two threads: NumPy's
            # np.matmul would wake OpenBLAS's spinning pool beside them, see _parallel), then copied
            # into the blocks (at (c) np.matmul made the LSTM's forward 30 ms instead of 6).
            parts = matrix_products([(flat_steps(dropped[g]), kernel[:, c], None)
                                     for g, c in enumerate(columns)])  # G_in x (T*B, width) (D1)
            for part, c in zip(parts, columns):
                x_projected[:, c] = part
        else:  # NumPy's products, written into the blocks where they lie
            for g, c in enumerate(columns):
                np.matmul(flat_steps(dropped[g]), kernel[:, c], out=x_projected[:, c])  # (D1)
    x_projected = x_projected.reshape(steps, batch, kernel.shape[1])  # (T, B, G)
    if input_bias is not None:
        x_projected += input_bias
    return x_tm, dropped, x_projected


def dropped_input_gradient(deltas_tm, kernel, input_masks, go_backwards, spare=None):
    """dx (B, T, D) of ``input_gradient`` through the input dropout masks: block g of the columns
    reaches x through x * input_masks[g] (dD1)."""
    blocks = len(input_masks)
    if blocks == 1:
        d_x = input_gradient(deltas_tm, kernel, go_backwards, spare)  # (B, T, D), a view of new memory
        d_x *= input_masks[0][:, None, :]  # (dD1)
        return d_x
    steps, batch = deltas_tm.shape[:2]
    width = kernel.shape[1] // blocks
    terms = [(flat_steps(deltas_tm[:, :, g * width:(g + 1) * width]), kernel[:, g * width:(g + 1) * width].T)
             for g in range(blocks)]  # the blocks' (delta^g, W_g^T)
    if enabled():  # MKL's, one hand-over to the two threads
        parts = matrix_products([(a, b, None) for a, b in terms])  # G_in x (T*B, D)
    else:  # NumPy's np.matmul reads the column blocks where they lie (np.dot would copy them)
        parts = [np.matmul(a, b) for a, b in terms]  # G_in x (T*B, D)
    d_x_tm = parts[0].reshape(steps, batch, kernel.shape[0])  # (T, B, D)
    d_x_tm *= input_masks[0]  # (dD1)
    for g in range(1, blocks):
        part = parts[g].reshape(d_x_tm.shape)  # (T, B, D)
        part *= input_masks[g]  # (dD1)
        d_x_tm += part
    return batch_major(d_x_tm, go_backwards)


def summed_by_blocks(*groups) -> list:
    """``summed_over_steps`` for weights whose column blocks read different inputs (the dropped inputs of
    dropout): each group (inputs, deltas_tm, out) has inputs (T, B, K), or a sequence of n (T, B, K)
    arrays, input g for the g-th of n equal blocks of deltas_tm's columns (dD2). All products in one
    call (one hand-over to the two threads); each result (K, G) lands in ``out`` where given."""
    groups = [(inputs[0] if isinstance(inputs, np.ndarray) and inputs.ndim == 4 and len(inputs) == 1
               else inputs, deltas_tm, out) for inputs, deltas_tm, out in groups]  # one block: all columns
    if not enabled():
        # NumPy's products: np.matmul reads a block of the deltas' columns where it lies and writes into
        # the gradient's block (np.dot, which ``matrix_product`` uses, copies such blocks first: LSTM(128)
        # B32 T50, dW and dU per gate 2.8-5.2 ms that way, 2.2-3.7 this way, 1.9-2.9 unblocked).
        return [summed_over_steps((inputs, deltas_tm, out))[0] if isinstance(inputs, np.ndarray)
                and inputs.ndim == 3 else _summed_in_blocks(inputs, deltas_tm, out)
                for inputs, deltas_tm, out in groups]
    terms, layout = [], []
    for inputs, deltas_tm, out in groups:
        if isinstance(inputs, np.ndarray) and inputs.ndim == 3:
            layout.append(None)
            terms.append((inputs, deltas_tm, out))
            continue
        blocks = len(inputs)
        width = deltas_tm.shape[-1] // blocks
        layout.append((blocks, out))
        terms.extend((inputs[g], deltas_tm[:, :, g * width:(g + 1) * width], None) for g in range(blocks))
    products, results, k = summed_over_steps(*terms), [], 0
    for entry in layout:
        if entry is None:
            results.append(products[k])
            k += 1
        else:
            blocks, out = entry
            results.append(np.concatenate(products[k:k + blocks], axis=1, out=out))  # (K, G) (dD2)
            k += blocks
    return results


def _summed_in_blocks(inputs, deltas_tm, out):
    """``summed_by_blocks`` of one weight in blocks with NumPy's products, into ``out`` (or a new array)."""
    width = deltas_tm.shape[-1] // len(inputs)
    if out is None:
        out = np.empty((inputs[0].shape[-1], deltas_tm.shape[-1]), dtype=np.result_type(inputs[0], deltas_tm))
    for g, a in enumerate(inputs):
        columns = slice(g * width, (g + 1) * width)
        np.matmul(flat_steps(a).T, flat_steps(deltas_tm[:, :, columns]), out=out[:, columns])  # (dD1) (dD2)
    return out


def block_pairs(inputs, deltas_tm) -> list:
    """[(inputs_g, deltas_tm's g-th of n equal column blocks), ...] for inputs (T, B, K) (one pair, all
    columns) or n arrays (T, B, K), one per block (dropout): the pairs of ``summed_over_steps``."""
    if isinstance(inputs, np.ndarray) and inputs.ndim == 3:
        return [(inputs, deltas_tm)]
    width = deltas_tm.shape[-1] // len(inputs)
    return [(a, deltas_tm[:, :, g * width:(g + 1) * width]) for g, a in enumerate(inputs)]


def block_contributions(inputs, deltas_tm):
    """The per-step ledger entries (T, K, G) of a weight whose n column blocks read inputs[g]."""
    if isinstance(inputs, np.ndarray) and inputs.ndim == 3:
        inputs = [inputs]
    width = deltas_tm.shape[-1] // len(inputs)
    return np.concatenate([np.einsum("tbk,tbg->tkg", a, deltas_tm[:, :, g * width:(g + 1) * width])
                           for g, a in enumerate(inputs)], axis=2)


# The loops' pieces. Every one takes rows first:last and units u0:u1 where a loop runs in blocks.
@njit(cache=True, nogil=True)
def carry_masked_rows(t, first, last, u0, u1, steps_mask, hidden, cell):
    """After step t: rows masked at t (steps_mask[t, b] false) keep their states, h_t = h_{t-1} (M1)
    and, where ``cell`` has rows (LSTM), c_t = c_{t-1} (M1)."""
    for b in range(first, last):
        if steps_mask[t, b]:
            continue
        h_new, h_prev = hidden[t + 1, b, u0:u1], hidden[t, b, u0:u1]
        for j in range(u1 - u0):
            h_new[j] = h_prev[j]  # (M1)
        if cell.shape[0]:
            c_new, c_prev = cell[t + 1, b, u0:u1], cell[t, b, u0:u1]
            for j in range(u1 - u0):
                c_new[j] = c_prev[j]  # (M1)


@njit(cache=True, nogil=True)
def dropped_inputs(t, first, last, u0, u1, h, masks, dropped):
    """dropped[g, t] = h * masks[g] for every recurrent dropout mask g (D2): what gate block g of the
    recurrent product reads at step t (h = h_{t-1}), and what dU sums."""
    for g in range(masks.shape[0]):
        for b in range(first, last):
            out, source, mask = dropped[g, t, b, u0:u1], h[b, u0:u1], masks[g, b, u0:u1]
            for j in range(u1 - u0):
                out[j] = source[j] * mask[j]  # (D2)


@njit(cache=True)
def dropped_products_jit(t, h, masks, dropped, matrix, blocks, scratch, out):
    """The "jit" loops' recurrent product with dropout: dropped[:, t] = h * masks (D2), then
    out[:, block g] = dropped[g, t] @ matrix[:, block g] for the first ``blocks`` masks, out's columns
    (matrix's first out.shape[1]) in ``blocks`` equal blocks (one block: the whole product reads mask 0).
    scratch (B, width of a block)."""
    batch, units = h.shape
    dropped_inputs(t, 0, batch, 0, units, h, masks, dropped)
    width = out.shape[1] // blocks
    for g in range(blocks):
        matmul_into(dropped[g, t], matrix, 0, units, g * width, scratch)  # (D2)
        for b in range(batch):
            row, source = out[b, g * width:(g + 1) * width], scratch[b]
            for j in range(width):
                row[j] = source[j]


@njit(cache=True, nogil=True)
def dropped_products_packed(t, first, last, h, masks, dropped, address, packed, out):
    """``dropped_products_jit`` with MKL's packed products (one per block: ``packed`` holds the blocks'
    packed matrices), for rows first:last."""
    dropped_inputs(t, first, last, 0, h.shape[1], h, masks, dropped)
    blocks = len(packed)
    width = out.shape[1] // blocks
    for g in range(blocks):
        packed_product(address, dropped[g, t, first:last], packed[g],
                       out[first:last, g * width:(g + 1) * width])  # (D2)


@njit(cache=True, nogil=True)
def transposed_products_packed(first, last, u0, u1, deltas, address, packed, products):
    """products[g, rows, u0:u1] = deltas[rows, block g] @ (matrix block g)^T[:, u0:u1] by MKL, one
    packed product per block (``packed``: the blocks' transposes, or their columns u0:u1)."""
    blocks = len(packed)
    width = deltas.shape[1] // blocks
    for g in range(blocks):
        packed_product(address, deltas[first:last, g * width:(g + 1) * width], packed[g],
                       products[g, first:last, u0:u1])  # (dD2)


@njit(cache=True)
def transposed_products_jit(deltas, matrix_t, products):
    """products[g] = deltas[:, block g] @ matrix_t[block g] for the n = len(products) equal blocks of
    deltas' columns (matrix_t: the recurrent matrix transposed, contiguous; the "jit" loops)."""
    blocks = products.shape[0]
    width = deltas.shape[1] // blocks
    for g in range(blocks):
        matmul_into(deltas, matrix_t, g * width, (g + 1) * width, 0, products[g])  # (dD2)


@njit(cache=True, nogil=True)
def recurrent_gradient(t, first, last, u0, u1, steps_mask, masks, products, carry, passed, d_next,
                       zero_a, zero_b):
    """d_next = dLoss/dh_{t-1} for rows first:last and units u0:u1 after step t's products:
    carry + sum_g products[g] * masks[g] (dD2) at rows real at step t (masks without rows: products[0];
    carry without rows: none), and ``passed`` (their delta_h_t) at rows masked at t, which the masked
    step hands straight to h_{t-1} (dM1); there the rows [t, b] of zero_a, zero_b (where they have rows)
    are cleared: a masked step adds nothing to the weight gradients (dM1)."""
    masked, width = steps_mask.shape[0] > 0, u1 - u0
    for b in range(first, last):
        row = d_next[b, u0:u1]
        if masked and not steps_mask[t, b]:
            source = passed[b, u0:u1]
            for j in range(width):
                row[j] = source[j]  # (dM1)
            if zero_a.shape[0]:
                zero_a[t, b] = 0  # (dM1)
            if zero_b.shape[0]:
                zero_b[t, b] = 0  # (dM1)
            continue
        first_product = products[0, b, u0:u1]
        if masks.shape[0]:
            mask = masks[0, b, u0:u1]
            for j in range(width):
                row[j] = first_product[j] * mask[j]  # (dD2)
            for g in range(1, products.shape[0]):
                product, mask = products[g, b, u0:u1], masks[g, b, u0:u1]
                for j in range(width):
                    row[j] += product[j] * mask[j]  # (dD2)
        else:
            for j in range(width):
                row[j] = first_product[j]
        if carry.shape[0]:
            carried = carry[b, u0:u1]
            for j in range(width):
                row[j] += carried[j]


def _column_blocks(a, blocks, width):
    """The first blocks x width columns of a 2-D array (rows contiguous) as a (rows, blocks, width) view;
    never a copy (a reshape that would copy raises)."""
    view = a[:, :blocks * width].view()
    view.shape = (a.shape[0], blocks, width)
    return view


class DroppedProducts:
    """The "blas" loops' recurrent product with dropout, ``product(t, h, out)``: dropped[:, t] = h * masks
    (D2), and out's columns (in ``blocks`` equal blocks) block g = dropped[g, t] @ matrix[:, block g].
    With MKL one Numba call a step (``dropped_products_packed``); else NumPy, the blocks' products as one
    batched matmul (B32 H128, 4 blocks of 128: 60 us against 57 for the one (128, 512) product)."""

    def __init__(self, matrix, masks, dropped, blocks, batch, dtype, steps):
        width = matrix.shape[1] // blocks
        self.masks, self.dropped, self.blocks, self.width = masks, dropped, blocks, width
        self.packed = self._out = self._out_blocks = None
        if packs(batch, steps, dtype) and min(matrix.shape) > 0:
            products = [RecurrentProduct(matrix[:, g * width:(g + 1) * width], batch, dtype, steps)
                        for g in range(blocks)]
            self._products = products  # they own the packed buffers
            self.packed = (products[0].jit_arguments()[0], tuple(p.jit_arguments()[1] for p in products))
        else:
            columns = _column_blocks(np.asarray(matrix, dtype=dtype), blocks, width)  # (K, blocks, width)
            self.matrices = np.ascontiguousarray(columns.transpose(1, 0, 2))  # (blocks, K, width)

    def __call__(self, t, h, out):
        if self.packed is not None:
            dropped_products_packed(t, 0, h.shape[0], h, self.masks, self.dropped, *self.packed, out)
            return
        np.multiply(h, self.masks, out=self.dropped[:, t])  # (D2)
        blocks = self.blocks
        if blocks == 1:
            np.matmul(self.dropped[0, t], self.matrices[0], out=out[:, :self.width])  # (D2)
            return
        if out is not self._out:  # the loops pass the same buffer every step: its view is made once
            self._out, self._out_blocks = out, _column_blocks(out, blocks, self.width).transpose(1, 0, 2)
        np.matmul(self.dropped[:blocks, t], self.matrices, out=self._out_blocks)  # (D2) (blocks, B, width)


class TransposedProducts:
    """The "blas" loops' backward products by blocks, ``product(deltas_tm, t, products)``: products[g] =
    deltas_tm[t][:, block g] @ (matrix[:, block g])^T (dD2), for n equal blocks of the matrix's columns
    (its first ``blocks`` x width). MKL: one Numba call; NumPy: one batched matmul."""

    def __init__(self, matrix, blocks, batch, dtype, steps):
        width = matrix.shape[1] // blocks
        self.blocks, self.width = blocks, width
        self.packed = self._deltas = self._delta_blocks = None
        if packs(batch, steps, dtype) and min(matrix.shape) > 0:
            products = [RecurrentProduct(matrix[:, g * width:(g + 1) * width].T, batch, dtype, steps)
                        for g in range(blocks)]
            self._products = products  # they own the packed buffers
            self.packed = (products[0].jit_arguments()[0], tuple(p.jit_arguments()[1] for p in products))
        else:
            columns = _column_blocks(np.asarray(matrix, dtype=dtype), blocks, width)  # (K, blocks, width)
            self.matrices = np.ascontiguousarray(columns.transpose(1, 2, 0))  # (blocks, width, K): transposed

    def __call__(self, deltas_tm, t, products):
        if self.packed is not None:
            transposed_products_packed(0, deltas_tm.shape[1], 0, products.shape[2], deltas_tm[t],
                                       *self.packed, products)
            return
        if self.blocks == 1:
            np.matmul(deltas_tm[t, :, :self.width], self.matrices[0], out=products[0])  # (dD2)
            return
        if deltas_tm is not self._deltas:  # the same array every step: its (T, n, B, width) view made once
            steps, batch = deltas_tm.shape[:2]
            view = deltas_tm[:, :, :self.blocks * self.width].view()
            view.shape = (steps, batch, self.blocks, self.width)  # never a copy (raises instead)
            self._deltas, self._delta_blocks = deltas_tm, view.transpose(0, 2, 1, 3)
        np.matmul(self._delta_blocks[t], self.matrices, out=products)  # (dD2)
