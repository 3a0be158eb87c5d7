"""GRU kernel, both Keras variants: the same forward/backward as ``scratchrnn/cells/gru.py``, with the
time loop in Numba. The equations (L1)-(L7), (dL1)-(dL12), with variant tags (..a) reset_after=True and
(..b) reset_after=False, the mask's (M1)-(M2), (dM1)-(dM2) and dropout's (D1)-(D2), (dD1)-(dD2), and
their derivation live there; the tags below point to them.

Shapes: B batch, T time, D input features, H hidden units; the 3H axis holds the gate blocks z, r, h.
Arrays are time-major inside. The loop is "jit" (all Numba) or "blas" (Python loop, BLAS products per
step), see ``_common``. A call with a mask or dropout masks runs loops of its own, which call the same
steps; without them, the plain loops (docs/performance.md, note 19).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..cells import Gradients, read_only_outputs, step_ledger, stored, weight_gradient_targets
from ..cells.gru import split_bias
from ._common import (
    SIGMOID,
    TANH,
    DroppedProducts,
    TransposedProducts,
    activate,
    activation_code,
    any_masks,
    as_contiguous,
    block_contributions,
    block_pairs,
    carry_masked_rows,
    derivative,
    dropped_input_gradient,
    dropped_input_projection,
    dropped_products_jit,
    empty_like_rank,
    from_tanh,
    input_gradient,
    input_projection,
    masked_outputs,
    masked_upstream,
    matmul_into,
    needs_preactivation,
    prepare_masks,
    recurrent_arguments,
    recurrent_gradient,
    scalar_like,
    summed_over_steps,
    tanh_argument,
    transposed_products_jit,
    upstream_time_major,
    use_jit_loop,
    uses_tanh,
)
from ._packed_gemm import RecurrentProduct

# The size rule for this cell: its "blas" forward step runs tanh through NumPy over whole blocks and its
# backward steps vectorise (docs/performance.md note 10), which moves the crossover down from _common's
# 256 (fwd + bwd, T=20, D=H, jit vs blas ms, reset_after=True / False: B4 H32 0.21 vs 0.26 / 0.22 vs 0.32,
# B4 H40 0.29 vs 0.32 / 0.27 vs 0.34, B2 H96 0.55 vs 0.48 / 0.54 vs 0.52, B8 H24 0.28 vs 0.28 / 0.29 vs
# 0.34, B8 H32 0.40 vs 0.35 / 0.40 vs 0.41, B8 H48 0.67 vs 0.46 / 0.63 vs 0.53).
JIT_LOOP_MAX_BATCH_UNITS = 160


def forward(x, initial_states, weights, *, activation="tanh", recurrent_activation="sigmoid",
            reset_after=True, go_backwards=False, mask=None, input_masks=None, recurrent_masks=None,
            zero_output_for_mask=False):
    """Run the cell over x (B, T, D) from initial_states (h_0,); see cells/gru.py."""
    kernel, recurrent_kernel, bias = weights
    phi, sigma = activation_code(activation), activation_code(recurrent_activation)
    (h0,) = initial_states
    units = recurrent_kernel.shape[0]
    zr = 2 * units  # the z and r blocks share sigma and are computed together
    input_bias, recurrent_bias = split_bias(bias, units, reset_after)  # (3H,) or None each
    masks = x_dropped = None
    if any_masks(mask, input_masks, recurrent_masks):  # loops of their own; without, the plain ones
        masks = prepare_masks(mask, input_masks, recurrent_masks, x, units, 3, go_backwards,
                              zero_output_for_mask, np.result_type(x.dtype, kernel.dtype))

    # (L1) for all steps in one GEMM, written where the loop completes a_z, a_r, a_h in place.
    if masks is None or masks.inputs is None:
        x_tm, preact = input_projection(x, kernel, input_bias, go_backwards)  # (L1) (T, B, D), (T, B, 3H)
    else:
        x_tm, x_dropped, preact = dropped_input_projection(x, kernel, input_bias, masks.inputs,
                                                           go_backwards)  # (L1) (D1)
    steps, batch = preact.shape[:2]
    dtype = preact.dtype
    # The backward pass reads a_* only for hard_sigmoid and relu; otherwise the gates overwrite them.
    keep_preact = needs_preactivation(phi) or needs_preactivation(sigma)
    gates = np.empty_like(preact) if keep_preact else preact  # (T, B, 3H), z | r | hh
    hidden = np.empty((steps + 1, batch, units), dtype=dtype)  # (T+1, B, H), h_0..h_T
    hidden[0] = h0
    jit_loop = use_jit_loop(batch, units, JIT_LOOP_MAX_BATCH_UNITS)
    if reset_after:
        # (dL4a) needs rec_h, which only reset_after keeps apart from the candidate's pre-activation.
        rec_h = np.empty((steps, batch, units), dtype=dtype)  # (T, B, H)
        rec = np.empty((batch, 3 * units), dtype=dtype)  # (B, 3H), scratch for (L2a)
        if recurrent_bias is None:
            recurrent_bias = np.zeros(3 * units, dtype=dtype)  # (3H,); adding 0 changes nothing
        recurrent_bias = as_contiguous(recurrent_bias, dtype)
        if masks is not None:
            h_dropped = _forward_after_masked(jit_loop, masks, recurrent_kernel, recurrent_bias, phi, sigma,
                                              rec, preact, gates, rec_h, hidden)
        elif jit_loop:
            _forward_loop_after(as_contiguous(recurrent_kernel, dtype), recurrent_bias, phi, sigma, rec,
                                preact, gates, rec_h, hidden)
        else:
            recurrent_product = RecurrentProduct(recurrent_kernel, batch, dtype, steps)  # U
            for t in range(steps):
                recurrent_product(hidden[t], rec)  # (L2a) before b_rec
                _gate_arguments_after(t, phi, sigma, rec, recurrent_bias, preact, gates,
                                      rec_h)  # (L2a) (L3) (L4) up to tanh
                _tanh_block(sigma, gates[t, :, :zr])  # (L3) (L4)
                _candidate_argument_after(t, phi, sigma, preact, gates, rec_h)  # (L3) (L4) (L5a) (L6)
                _tanh_block(phi, gates[t, :, zr:])  # (L6)
                _hidden_update(t, phi, gates, hidden)  # (L6) after tanh, (L7)
        reset_input = None
    else:
        rec_h = None
        rec_zr = np.empty((batch, zr), dtype=dtype)  # (B, 2H), scratch for (L2b)
        reset_input = np.empty((steps, batch, units), dtype=dtype)  # (T, B, H), s_t of (L5b)
        rec_s = np.empty((batch, units), dtype=dtype)  # (B, H), scratch for s_t U_h
        if masks is not None:
            h_dropped = _forward_before_masked(jit_loop, masks, recurrent_kernel, phi, sigma, rec_zr, rec_s,
                                               preact, gates, reset_input, hidden)
        elif jit_loop:
            _forward_loop_before(as_contiguous(recurrent_kernel, dtype), phi, sigma, rec_zr, rec_s, preact,
                                 gates, reset_input, hidden)
        else:
            recurrent_zr = RecurrentProduct(recurrent_kernel[:, :zr], batch, dtype, steps)  # U_z|U_r
            recurrent_h = RecurrentProduct(recurrent_kernel[:, zr:], batch, dtype, steps)  # U_h
            for t in range(steps):
                recurrent_zr(hidden[t], rec_zr)  # (L2b)
                _gate_arguments_before(t, sigma, rec_zr, preact, gates)  # (L3) (L4) up to tanh
                _tanh_block(sigma, gates[t, :, :zr])  # (L3) (L4)
                _reset_input(t, sigma, gates, hidden, reset_input)  # (L3) (L4) after tanh, (L5b) s_t
                recurrent_h(reset_input[t], rec_s)  # (L5b)
                _candidate_argument_before(t, phi, rec_s, preact, gates)  # (L5b), (L6) up to tanh
                _tanh_block(phi, gates[t, :, zr:])  # (L6)
                _hidden_update(t, phi, gates, hidden)  # (L6) after tanh, (L7)

    cache = dict(x_tm=x_tm, preact=preact if keep_preact else None, gates=gates, hidden=hidden, rec_h=rec_h,
                 reset_input=reset_input, weights=weights, phi=phi, sigma=sigma, reset_after=reset_after,
                 go_backwards=go_backwards)
    if masks is not None:
        cache.update(masks=masks, x_dropped=x_dropped, h_dropped=h_dropped)
        return masked_outputs(hidden, masks.outputs), (hidden[-1].copy(),), cache  # (M2)
    return read_only_outputs(hidden), (hidden[-1].copy(),), cache


def _forward_after_masked(jit_loop, masks, recurrent_kernel, recurrent_bias, phi, sigma, rec, preact, gates,
                          rec_h, hidden):
    """The reset_after loops with a sequence mask or recurrent dropout; returns h_dropped (or None)."""
    steps, batch, units = rec_h.shape
    dtype, zr = rec.dtype, 2 * units
    steps_mask, recurrent_masks, h_dropped = recurrent_arguments(masks, steps, batch, units, dtype)
    dropping = masks.recurrent is not None
    if jit_loop:
        scratch = np.empty((batch, 3 * units // max(len(recurrent_masks), 1)), dtype=dtype)  # (B, 3H / G_rec)
        _forward_loop_after_masked(as_contiguous(recurrent_kernel, dtype), recurrent_bias, phi, sigma, rec,
                                   preact, gates, rec_h, hidden, steps_mask, recurrent_masks, h_dropped,
                                   scratch)
    else:
        if dropping:  # (h_{t-1} * mask_g) U_g (D2)
            product = DroppedProducts(recurrent_kernel, recurrent_masks, h_dropped, len(recurrent_masks),
                                      batch, dtype, steps)
        else:
            recurrent_product = RecurrentProduct(recurrent_kernel, batch, dtype, steps)  # U
        for t in range(steps):
            if dropping:
                product(t, hidden[t], rec)  # (L2a) (D2) before b_rec
            else:
                recurrent_product(hidden[t], rec)  # (L2a) before b_rec
            _gate_arguments_after(t, phi, sigma, rec, recurrent_bias, preact, gates,
                                  rec_h)  # (L2a) (L3) (L4) up to tanh
            _tanh_block(sigma, gates[t, :, :zr])  # (L3) (L4)
            _candidate_argument_after(t, phi, sigma, preact, gates, rec_h)  # (L3) (L4) (L5a) (L6)
            _tanh_block(phi, gates[t, :, zr:])  # (L6)
            _hidden_update(t, phi, gates, hidden)  # (L6) after tanh, (L7)
            if masks.steps is not None:
                carry_masked_rows(t, 0, batch, 0, units, steps_mask, hidden, hidden[:0])  # (M1)
    return h_dropped if dropping else None


def _forward_before_masked(jit_loop, masks, recurrent_kernel, phi, sigma, rec_zr, rec_s, preact, gates,
                           reset_input, hidden):
    """The reset_before loops with a sequence mask or recurrent dropout; returns h_dropped (or None).
    With G_rec masks, z and r read masks 0 and 1 and s_t the last (one mask: all read it) (D2)."""
    steps, batch, units = reset_input.shape
    dtype, zr = rec_zr.dtype, 2 * units
    steps_mask, recurrent_masks, h_dropped = recurrent_arguments(masks, steps, batch, units, dtype)
    dropping = masks.recurrent is not None
    zr_blocks = min(len(recurrent_masks), 2)
    if jit_loop:
        scratch = np.empty((batch, zr // max(zr_blocks, 1)), dtype=dtype)  # (B, 2H / blocks)
        _forward_loop_before_masked(as_contiguous(recurrent_kernel, dtype), phi, sigma, rec_zr, rec_s, preact,
                                    gates, reset_input, hidden, steps_mask, recurrent_masks, h_dropped,
                                    scratch)
        return h_dropped if dropping else None
    if dropping:
        product_zr = DroppedProducts(recurrent_kernel[:, :zr], recurrent_masks, h_dropped, zr_blocks, batch,
                                     dtype, steps)  # (h_{t-1} * mask_g) U_g, g = z, r (D2)
        reset_source = h_dropped[-1]  # (T, B, H): s_t = r_t * (h_{t-1} * mask) (D2)
    else:
        recurrent_zr = RecurrentProduct(recurrent_kernel[:, :zr], batch, dtype, steps)  # U_z|U_r
        reset_source = hidden
    recurrent_h = RecurrentProduct(recurrent_kernel[:, zr:], batch, dtype, steps)  # U_h
    for t in range(steps):
        if dropping:
            product_zr(t, hidden[t], rec_zr)  # (L2b) (D2)
        else:
            recurrent_zr(hidden[t], rec_zr)  # (L2b)
        _gate_arguments_before(t, sigma, rec_zr, preact, gates)  # (L3) (L4) up to tanh
        _tanh_block(sigma, gates[t, :, :zr])  # (L3) (L4)
        _reset_input(t, sigma, gates, reset_source, reset_input)  # (L3) (L4) after tanh, (L5b) (D2) s_t
        recurrent_h(reset_input[t], rec_s)  # (L5b)
        _candidate_argument_before(t, phi, rec_s, preact, gates)  # (L5b), (L6) up to tanh
        _tanh_block(phi, gates[t, :, zr:])  # (L6)
        _hidden_update(t, phi, gates, hidden)  # (L6) after tanh, (L7)
        if masks.steps is not None:
            carry_masked_rows(t, 0, batch, 0, units, steps_mask, hidden, hidden[:0])  # (M1)
    return h_dropped if dropping else None


@njit(cache=True)
def _forward_loop_after(recurrent_kernel, recurrent_bias, phi, sigma, rec, preact, gates, rec_h, hidden):
    steps, batch, units = rec_h.shape
    for t in range(steps):
        matmul_into(hidden[t], recurrent_kernel, 0, units, 0, rec)  # (L2a)
        _forward_rows_after(t, phi, sigma, recurrent_bias, rec, preact, gates, rec_h, hidden)


@njit(inline="always")
def _forward_rows_after(t, phi, sigma, recurrent_bias, rec, preact, gates, rec_h, hidden):
    """The "jit" loop's step t after the product, reset_after."""
    batch, units = rec_h.shape[1], rec_h.shape[2]
    for b in range(batch):
        for j in range(3 * units):
            rec[b, j] += recurrent_bias[j]  # (L2a)
        for j in range(2 * units):
            a = preact[t, b, j] + rec[b, j]  # (L3) (L4)
            preact[t, b, j] = a
            gates[t, b, j] = activate(sigma, a)  # (L3) (L4)
        for j in range(units):
            z, r = gates[t, b, j], gates[t, b, units + j]
            rec_h[t, b, j] = rec[b, 2 * units + j]
            a = preact[t, b, 2 * units + j] + r * rec_h[t, b, j]  # (L5a)
            preact[t, b, 2 * units + j] = a
            hh = activate(phi, a)  # (L6)
            gates[t, b, 2 * units + j] = hh
            hidden[t + 1, b, j] = z * hidden[t, b, j] + (scalar_like(1.0, z) - z) * hh  # (L7)


@njit(cache=True)
def _forward_loop_after_masked(recurrent_kernel, recurrent_bias, phi, sigma, rec, preact, gates, rec_h,
                               hidden, steps_mask, recurrent_masks, h_dropped, scratch):
    """``_forward_loop_after`` with recurrent dropout and a sequence mask (each where non-empty)."""
    steps, batch, units = rec_h.shape
    for t in range(steps):
        if recurrent_masks.shape[0]:
            dropped_products_jit(t, hidden[t], recurrent_masks, h_dropped, recurrent_kernel,
                                 recurrent_masks.shape[0], scratch, rec)  # (L2a) (D2)
        else:
            matmul_into(hidden[t], recurrent_kernel, 0, units, 0, rec)  # (L2a)
        _forward_rows_after(t, phi, sigma, recurrent_bias, rec, preact, gates, rec_h, hidden)
        if steps_mask.shape[0]:
            carry_masked_rows(t, 0, batch, 0, units, steps_mask, hidden, hidden[:0])  # (M1)


# -- the "blas" forward step: Numba passes for everything but tanh, NumPy's vectorised tanh in between
# (``_common.tanh_argument``/``from_tanh``; docs/performance.md, notes 9 and 10). Each pass runs the
# default pair (tanh, sigmoid) with the codes as constants, so that its loops vectorise; gates may be
# preact itself.
def _tanh_block(code, block):
    """The tanh between ``tanh_argument`` and ``from_tanh``, in place, where ``code`` has one."""
    if uses_tanh(code):
        np.tanh(block, out=block)


@njit(cache=True)
def _gate_arguments_after(t, phi, sigma, rec, recurrent_bias, preact, gates, rec_h):
    """rec += b_rec, a_z | a_r completed in preact[t], their tanh arguments in gates[t], rec_h[t]."""
    if phi == TANH and sigma == SIGMOID:
        _gate_argument_rows_after(t, SIGMOID, rec, recurrent_bias, preact, gates, rec_h)
    else:
        _gate_argument_rows_after(t, sigma, rec, recurrent_bias, preact, gates, rec_h)


@njit(inline="always")
def _gate_argument_rows_after(t, sigma, rec, recurrent_bias, preact, gates, rec_h):
    batch, units = rec_h.shape[1], rec_h.shape[2]
    zr = 2 * units
    bias_zr, bias_h = recurrent_bias[:zr], recurrent_bias[zr:]
    for b in range(batch):
        rec_zr, rec_hh = rec[b, :zr], rec[b, zr:]
        a, g, rh = preact[t, b, :zr], gates[t, b, :zr], rec_h[t, b]
        for j in range(zr):
            rec_zr[j] += bias_zr[j]  # (L2a)
        for j in range(units):
            rec_hh[j] += bias_h[j]  # (L2a)
            rh[j] = rec_hh[j]
        for j in range(zr):
            a[j] = a[j] + rec_zr[j]  # (L3) (L4)
        for j in range(zr):
            g[j] = tanh_argument(sigma, a[j])  # (L3) (L4) before tanh


@njit(cache=True)
def _candidate_argument_after(t, phi, sigma, preact, gates, rec_h):
    """z, r after tanh, a_h = x_h + r * rec_h (L5a) in preact[t], its tanh argument in gates[t]."""
    if phi == TANH and sigma == SIGMOID:
        _candidate_argument_rows_after(t, TANH, SIGMOID, preact, gates, rec_h)
    else:
        _candidate_argument_rows_after(t, phi, sigma, preact, gates, rec_h)


@njit(inline="always")
def _candidate_argument_rows_after(t, phi, sigma, preact, gates, rec_h):
    batch, units = rec_h.shape[1], rec_h.shape[2]
    zr = 2 * units
    for b in range(batch):
        g_zr, g_r, g_h = gates[t, b, :zr], gates[t, b, units:zr], gates[t, b, zr:]
        a_h, rh = preact[t, b, zr:], rec_h[t, b]
        for j in range(zr):
            g_zr[j] = from_tanh(sigma, g_zr[j])  # (L3) (L4) after tanh
        for j in range(units):
            a = a_h[j] + g_r[j] * rh[j]  # (L5a)
            a_h[j] = a
            g_h[j] = tanh_argument(phi, a)  # (L6) before tanh


@njit(cache=True)
def _gate_arguments_before(t, sigma, rec_zr, preact, gates):
    """a_z | a_r completed in preact[t], their tanh arguments in gates[t]."""
    if sigma == SIGMOID:
        _gate_argument_rows_before(t, SIGMOID, rec_zr, preact, gates)
    else:
        _gate_argument_rows_before(t, sigma, rec_zr, preact, gates)


@njit(inline="always")
def _gate_argument_rows_before(t, sigma, rec_zr, preact, gates):
    batch, zr = rec_zr.shape
    for b in range(batch):
        r, a, g = rec_zr[b], preact[t, b, :zr], gates[t, b, :zr]
        for j in range(zr):
            a[j] = a[j] + r[j]  # (L3) (L4)
        for j in range(zr):
            g[j] = tanh_argument(sigma, a[j])  # (L3) (L4) before tanh


@njit(cache=True)
def _reset_input(t, sigma, gates, hidden, reset_input):
    """z, r after tanh, and s_t = r_t * h_{t-1} (L5b)."""
    if sigma == SIGMOID:
        _reset_input_rows(t, SIGMOID, gates, hidden, reset_input)
    else:
        _reset_input_rows(t, sigma, gates, hidden, reset_input)


@njit(inline="always")
def _reset_input_rows(t, sigma, gates, hidden, reset_input):
    batch, units = hidden.shape[1], hidden.shape[2]
    zr = 2 * units
    for b in range(batch):
        g_zr, g_r, h_prev, s = gates[t, b, :zr], gates[t, b, units:zr], hidden[t, b], reset_input[t, b]
        for j in range(zr):
            g_zr[j] = from_tanh(sigma, g_zr[j])  # (L3) (L4) after tanh
        for j in range(units):
            s[j] = g_r[j] * h_prev[j]  # (L5b) s_t


@njit(cache=True)
def _candidate_argument_before(t, phi, rec_s, preact, gates):
    """a_h = x_h + s_t U_h (L5b) in preact[t], its tanh argument in gates[t]."""
    if phi == TANH:
        _candidate_argument_rows_before(t, TANH, rec_s, preact, gates)
    else:
        _candidate_argument_rows_before(t, phi, rec_s, preact, gates)


@njit(inline="always")
def _candidate_argument_rows_before(t, phi, rec_s, preact, gates):
    batch, units = rec_s.shape
    zr = 2 * units
    for b in range(batch):
        r, a_h, g_h = rec_s[b], preact[t, b, zr:], gates[t, b, zr:]
        for j in range(units):
            a = a_h[j] + r[j]  # (L5b)
            a_h[j] = a
            g_h[j] = tanh_argument(phi, a)  # (L6) before tanh


@njit(cache=True)
def _hidden_update(t, phi, gates, hidden):
    """hh after tanh (L6) and h_t (L7)."""
    if phi == TANH:
        _hidden_update_rows(t, TANH, gates, hidden)
    else:
        _hidden_update_rows(t, phi, gates, hidden)


@njit(inline="always")
def _hidden_update_rows(t, phi, gates, hidden):
    batch, units = hidden.shape[1], hidden.shape[2]
    for b in range(batch):
        g_z, g_h = gates[t, b, :units], gates[t, b, 2 * units:]
        h_prev, h_new = hidden[t, b], hidden[t + 1, b]
        for j in range(units):
            hh = from_tanh(phi, g_h[j])  # (L6) after tanh
            g_h[j] = hh
            z = g_z[j]
            h_new[j] = z * h_prev[j] + (scalar_like(1.0, z) - z) * hh  # (L7)


@njit(cache=True)
def _forward_loop_before(recurrent_kernel, phi, sigma, rec_zr, rec_s, preact, gates, reset_input, hidden):
    steps, batch, units = reset_input.shape
    for t in range(steps):
        matmul_into(hidden[t], recurrent_kernel, 0, units, 0, rec_zr)  # (L2b)
        _gate_rows_before(t, sigma, rec_zr, preact, gates, hidden, reset_input)
        matmul_into(reset_input[t], recurrent_kernel, 0, units, 2 * units, rec_s)  # (L5b) s_t U_h
        _candidate_rows_before(t, phi, rec_s, preact, gates, hidden)


@njit(inline="always")
def _gate_rows_before(t, sigma, rec_zr, preact, gates, reset_source, reset_input):
    """The "jit" loop's step t from (L2b) to s_t = r_t * reset_source[t] (L5b), reset_before;
    reset_source is hidden (h_{t-1}), or h_{t-1} * its recurrent dropout mask (D2)."""
    batch, units = reset_input.shape[1], reset_input.shape[2]
    for b in range(batch):
        for j in range(2 * units):
            a = preact[t, b, j] + rec_zr[b, j]  # (L3) (L4)
            preact[t, b, j] = a
            gates[t, b, j] = activate(sigma, a)  # (L3) (L4)
        for j in range(units):
            reset_input[t, b, j] = gates[t, b, units + j] * reset_source[t, b, j]  # (L5b) s_t


@njit(inline="always")
def _candidate_rows_before(t, phi, rec_s, preact, gates, hidden):
    """The "jit" loop's step t after s_t U_h, reset_before."""
    batch, units = rec_s.shape
    for b in range(batch):
        for j in range(units):
            z = gates[t, b, j]
            a = preact[t, b, 2 * units + j] + rec_s[b, j]  # (L5b)
            preact[t, b, 2 * units + j] = a
            hh = activate(phi, a)  # (L6)
            gates[t, b, 2 * units + j] = hh
            hidden[t + 1, b, j] = z * hidden[t, b, j] + (scalar_like(1.0, z) - z) * hh  # (L7)


@njit(cache=True)
def _forward_loop_before_masked(recurrent_kernel, phi, sigma, rec_zr, rec_s, preact, gates, reset_input,
                                hidden, steps_mask, recurrent_masks, h_dropped, scratch):
    """``_forward_loop_before`` with recurrent dropout and a sequence mask (each where non-empty)."""
    steps, batch, units = reset_input.shape
    masks = recurrent_masks.shape[0]
    for t in range(steps):
        if masks:
            # z, r read masks 0, 1 (one mask: 0); s_t reads the last (D2)
            dropped_products_jit(t, hidden[t], recurrent_masks, h_dropped, recurrent_kernel, min(masks, 2),
                                 scratch, rec_zr)  # (L2b) (D2)
            _gate_rows_before(t, sigma, rec_zr, preact, gates, h_dropped[masks - 1], reset_input)  # (D2)
        else:
            matmul_into(hidden[t], recurrent_kernel, 0, units, 0, rec_zr)  # (L2b)
            _gate_rows_before(t, sigma, rec_zr, preact, gates, hidden, reset_input)
        matmul_into(reset_input[t], recurrent_kernel, 0, units, 2 * units, rec_s)  # (L5b) s_t U_h
        _candidate_rows_before(t, phi, rec_s, preact, gates, hidden)
        if steps_mask.shape[0]:
            carry_masked_rows(t, 0, batch, 0, units, steps_mask, hidden, hidden[:0])  # (M1)


def backward(d_outputs, d_final_states, cache, ledger=False, weight_gradients=None, d_inputs=True):
    """Gradients of the loss w.r.t. inputs, h_0 and weights; see cells/gru.py."""
    kernel, recurrent_kernel, bias = cache["weights"]
    targets = weight_gradient_targets(weight_gradients, cache["weights"])
    x_tm, gates, hidden = cache["x_tm"], cache["gates"], cache["hidden"]
    # None where phi and sigma take their derivatives from the gates alone (``needs_preactivation``).
    preact = gates if cache["preact"] is None else cache["preact"]
    phi, sigma, rec_h, reset_after = cache["phi"], cache["sigma"], cache["rec_h"], cache["reset_after"]
    masks = cache.get("masks")  # None: the plain loops
    steps, batch, units = hidden.shape[0] - 1, hidden.shape[1], hidden.shape[2]
    zr = 2 * units
    d_outputs_tm, d_next = upstream_time_major(d_outputs, d_final_states[0], hidden)  # (T,B,H), (B,H)
    if masks is not None:
        d_outputs_tm = masked_upstream(d_outputs_tm, d_outputs, masks.outputs)  # (dM2)

    delta_xp = np.empty_like(preact)  # (dL5) (T, B, 3H), delta_a_z | delta_a_r | delta_a_h, filled below
    delta_h = np.empty_like(hidden[1:])  # (T, B, H), kept for the ledger
    carry = np.empty_like(d_next)  # (B, H), scratch: delta_h_t * z_t of (dL7a) (dL7b)
    jit_loop = use_jit_loop(batch, units, JIT_LOOP_MAX_BATCH_UNITS)
    dtype = preact.dtype
    if reset_after:
        # r scales the h block, so its gradient differs from delta_xp there; kept for dU, db.
        delta_rec = np.empty_like(preact)  # (T, B, 3H)
        if masks is not None:
            _backward_after_masked(jit_loop, masks, recurrent_kernel, phi, sigma, d_outputs_tm, d_next,
                                   preact, gates, rec_h, hidden, carry, delta_h, delta_xp, delta_rec)
        elif jit_loop:
            _backward_loop_after(phi, sigma, d_outputs_tm, d_next, preact, gates, rec_h, hidden,
                                 as_contiguous(recurrent_kernel.T, dtype), carry, delta_h, delta_xp,
                                 delta_rec)
        else:
            transposed_product = RecurrentProduct(recurrent_kernel.T, batch, dtype, steps)  # U^T
            for t in range(steps - 1, -1, -1):
                _backward_step_after(t, phi, sigma, d_outputs_tm, d_next, preact, gates, rec_h, hidden,
                                     carry, delta_h, delta_xp, delta_rec)
                transposed_product(delta_rec[t], d_next)  # (dL7a)
                d_next += carry  # (dL7a), (dL12) at t = 1
    else:
        delta_rec = None
        delta_s = np.empty_like(d_next)  # (B, H), scratch for (dL4b)
        if masks is not None:
            _backward_before_masked(jit_loop, masks, cache["h_dropped"], recurrent_kernel, phi, sigma,
                                    d_outputs_tm, d_next, preact, gates, hidden, carry, delta_s, delta_h,
                                    delta_xp)
        elif jit_loop:
            _backward_loop_before(phi, sigma, d_outputs_tm, d_next, preact, gates, hidden,
                                  as_contiguous(recurrent_kernel.T, dtype), carry, delta_s, delta_h, delta_xp)
        else:
            recurrent_zr_t = RecurrentProduct(recurrent_kernel[:, :zr].T, batch, dtype, steps)  # (2H, H)
            recurrent_h_t = RecurrentProduct(recurrent_kernel[:, zr:].T, batch, dtype, steps)  # (H, H)
            for t in range(steps - 1, -1, -1):
                _backward_step_before_1(t, phi, sigma, d_outputs_tm, d_next, preact, gates, hidden, carry,
                                        delta_h, delta_xp)
                recurrent_h_t(delta_xp[t, :, zr:], delta_s)  # (dL4b)
                _backward_step_before_2(t, sigma, preact, gates, hidden, delta_s, delta_xp)
                recurrent_zr_t(delta_xp[t, :, :zr], d_next)  # (dL7b)
                _backward_step_before_3(t, gates, carry, delta_s, d_next)  # (dL6b) (dL7b), (dL12) at t = 1

    # Each weight column block pairs the matrix it multiplies with the gradient at its product; reset
    # before U_h, that matrix is s_t = r_t * h_{t-1} for the h block. With dropout, block g of W reads
    # x * mask_g and block g of U h_{t-1} * mask_g (dD1) (dD2).
    x_dropped = h_dropped = None
    if masks is not None:
        x_dropped, h_dropped = cache["x_dropped"], cache["h_dropped"]
    kernel_blocks = block_pairs(x_tm if x_dropped is None else x_dropped, delta_xp)  # (dL8) (dD1)
    h_prev = hidden[:-1] if h_dropped is None else h_dropped  # (T, B, H) | (G_rec, T, B, H)
    if reset_after:
        recurrent_blocks = block_pairs(h_prev, delta_rec)  # (dL9a) (dD2)
    else:
        s = cache["reset_input"]  # (L5b) (T, B, H)
        h_prev_zr = h_prev if h_dropped is None else h_dropped[:min(len(h_dropped), 2)]
        recurrent_blocks = block_pairs(h_prev_zr, delta_xp[:, :, :zr]) + [(s, delta_xp[:, :, zr:])]  # (dL9b)
    bias_deltas = (delta_xp, delta_rec) if reset_after else (delta_xp,)  # (dL10a) (dL10b)

    # Weight gradients summed over all steps, one GEMM per weight (per column block for dL9b, dropout).
    parts = summed_over_steps(*[(a, d, None) for a, d in kernel_blocks + recurrent_blocks])  # (dL8) (dL9)
    d_kernel = parts[0] if len(kernel_blocks) == 1 else np.concatenate(parts[:len(kernel_blocks)], axis=1)
    d_recurrent = np.concatenate(parts[len(kernel_blocks):], axis=1)  # (dL9a) (dL9b) (H, 3H)
    d_bias = None
    if bias is not None:
        d_bias = np.stack([d.sum(axis=(0, 1)) for d in bias_deltas]).reshape(
            bias.shape)  # (dL10a) (dL10b) (2, 3H) | (3H,)
    d_x = None
    if d_inputs and x_dropped is None:
        d_x = input_gradient(delta_xp, kernel, cache["go_backwards"])  # (dL11)
    elif d_inputs:
        d_x = dropped_input_gradient(delta_xp, kernel, masks.inputs, cache["go_backwards"])  # (dL11) (dD1)

    per_step = None
    if ledger:
        per_step = step_ledger(x_tm, delta_xp, recurrent_blocks, bias_deltas,
                               None if bias is None else bias.shape, delta_h)
        if x_dropped is not None:
            per_step["kernel"] = block_contributions(x_dropped, delta_xp)  # (dD1)
    return Gradients(d_x, (d_next,), stored(targets, (d_kernel, d_recurrent, d_bias)), per_step)


def _backward_after_masked(jit_loop, masks, recurrent_kernel, phi, sigma, d_outputs_tm, d_next, preact, gates,
                           rec_h, hidden, carry, delta_h, delta_xp, delta_rec):
    """The reset_after backward loops with a sequence mask or recurrent dropout."""
    steps, batch, units = rec_h.shape
    dtype = preact.dtype
    steps_mask, recurrent_masks, _ = recurrent_arguments(masks, 0, batch, units, dtype)
    blocks = max(len(recurrent_masks), 1)
    products = np.empty((blocks, batch, units), dtype=dtype)  # (G_rec, B, H): delta_rec_t block g U_g^T
    if jit_loop:
        _backward_loop_after_masked(phi, sigma, d_outputs_tm, d_next, preact, gates, rec_h, hidden,
                                    as_contiguous(recurrent_kernel.T, dtype), carry, delta_h, delta_xp,
                                    delta_rec, steps_mask, recurrent_masks, products)
        return
    transposed_products = TransposedProducts(recurrent_kernel, blocks, batch, dtype, steps)  # U_g^T
    for t in range(steps - 1, -1, -1):
        _backward_step_after(t, phi, sigma, d_outputs_tm, d_next, preact, gates, rec_h, hidden, carry,
                             delta_h, delta_xp, delta_rec)
        transposed_products(delta_rec, t, products)  # (dL7a) (dD2)
        recurrent_gradient(t, 0, batch, 0, units, steps_mask, recurrent_masks, products, carry, delta_h[t],
                           d_next, delta_xp, delta_rec)  # (dL7a) (dD2) (dM1), (dL12) at t = 1


def _backward_before_masked(jit_loop, masks, h_dropped, recurrent_kernel, phi, sigma, d_outputs_tm, d_next,
                            preact, gates, hidden, carry, delta_s, delta_h, delta_xp):
    """The reset_before backward loops with a sequence mask or recurrent dropout: z and r read masks 0
    and 1, s_t the last (one mask: all read it)."""
    steps, batch, units = hidden.shape[0] - 1, hidden.shape[1], hidden.shape[2]
    dtype, zr = preact.dtype, 2 * units
    steps_mask, recurrent_masks, _ = recurrent_arguments(masks, 0, batch, units, dtype)
    dropping = masks.recurrent is not None
    blocks = min(len(recurrent_masks), 2) if dropping else 1
    zr_masks = recurrent_masks[:blocks]  # (blocks, B, H), or empty
    reset_mask = recurrent_masks[-1] if dropping else empty_like_rank(2, dtype)  # (B, H): s_t's
    reset_source = h_dropped[-1] if dropping else hidden  # h_{t-1} (* mask) (D2)
    products = np.empty((blocks, batch, units), dtype=dtype)  # (blocks, B, H)
    if jit_loop:
        _backward_loop_before_masked(phi, sigma, d_outputs_tm, d_next, preact, gates, hidden,
                                     as_contiguous(recurrent_kernel.T, dtype), carry, delta_s, delta_h,
                                     delta_xp, steps_mask, zr_masks, reset_mask, reset_source, products)
        return
    transposed_products = TransposedProducts(recurrent_kernel[:, :zr], blocks, batch, dtype, steps)  # U_g^T
    delta_xp_zr = delta_xp[:, :, :zr]  # (T, B, 2H)
    recurrent_h_t = RecurrentProduct(recurrent_kernel[:, zr:].T, batch, dtype, steps)  # (H, H)
    for t in range(steps - 1, -1, -1):
        _backward_step_before_1(t, phi, sigma, d_outputs_tm, d_next, preact, gates, hidden, carry, delta_h,
                                delta_xp)
        recurrent_h_t(delta_xp[t, :, zr:], delta_s)  # (dL4b)
        _backward_step_before_2(t, sigma, preact, gates, reset_source, delta_s, delta_xp)  # (dL4b) (dD2)
        _reset_carry(t, gates, delta_s, reset_mask, carry)  # (dL7b) (dD2)
        transposed_products(delta_xp_zr, t, products)  # (dL7b) (dD2)
        recurrent_gradient(t, 0, batch, 0, units, steps_mask, zr_masks, products, carry, delta_h[t], d_next,
                           delta_xp, delta_xp[:0])  # (dL7b) (dD2) (dM1), (dL12) at t = 1


@njit(cache=True)
def _reset_carry(t, gates, delta_s, reset_mask, carry):
    """carry += delta_s * r_t, times s_t's dropout mask where given: the path h_{t-1} -> s_t of (dL7b)."""
    batch, units = carry.shape
    for b in range(batch):
        g_r, d_s, c_row = gates[t, b, units:2 * units], delta_s[b], carry[b]
        if reset_mask.shape[0]:
            mask = reset_mask[b]
            for j in range(units):
                c_row[j] += d_s[j] * g_r[j] * mask[j]  # (dL7b) (dD2)
        else:
            for j in range(units):
                c_row[j] += d_s[j] * g_r[j]  # (dL7b)


# -- the backward element-wise steps: the default pair (tanh, sigmoid) runs with the codes as constants,
# so that the activation branches fold away and LLVM vectorises the row loops (docs/performance.md,
# note 6); row slices, one per gate block, contiguous and indexed from 0 (no wraparound checks).
@njit(inline="always")
def _candidate_delta_rows(t, b, phi, sigma, d_outputs_tm, d_next, preact, gates, hidden, carry, delta_h,
                          delta_xp):
    """(dL1)-(dL3) for row b of step t, shared by both variants: writes delta_h_t, delta_a_h,
    delta_a_z and carry = delta_h_t * z_t."""
    units = hidden.shape[2]
    zr = 2 * units
    dy, d_n, c_row, dh_row = d_outputs_tm[t, b], d_next[b], carry[b], delta_h[t, b]
    h_prev, a_z, a_h = hidden[t, b], preact[t, b, :units], preact[t, b, zr:]
    g_z, g_h = gates[t, b, :units], gates[t, b, zr:]
    d_z, d_h = delta_xp[t, b, :units], delta_xp[t, b, zr:]
    for j in range(units):
        z, hh = g_z[j], g_h[j]
        dh = dy[j] + d_n[j]  # (dL1)
        dh_row[j] = dh
        d_h[j] = dh * (scalar_like(1.0, z) - z) * derivative(phi, a_h[j], hh)  # (dL2)
        d_z[j] = dh * (h_prev[j] - hh) * derivative(sigma, a_z[j], z)  # (dL3)
        c_row[j] = dh * z  # first term of (dL7a) (dL7b)


@njit(cache=True)
def _backward_step_after(t, phi, sigma, d_outputs_tm, d_next, preact, gates, rec_h, hidden, carry, delta_h,
                         delta_xp, delta_rec):
    """Step t's element-wise part; d_next holds carry_t on entry (dL1)."""
    if phi == TANH and sigma == SIGMOID:
        _backward_rows_after(t, TANH, SIGMOID, d_outputs_tm, d_next, preact, gates, rec_h, hidden, carry,
                             delta_h, delta_xp, delta_rec)
    else:
        _backward_rows_after(t, phi, sigma, d_outputs_tm, d_next, preact, gates, rec_h, hidden, carry,
                             delta_h, delta_xp, delta_rec)


@njit(inline="always")
def _backward_rows_after(t, phi, sigma, d_outputs_tm, d_next, preact, gates, rec_h, hidden, carry, delta_h,
                         delta_xp, delta_rec):
    batch, units = d_next.shape
    zr = 2 * units
    for b in range(batch):
        _candidate_delta_rows(t, b, phi, sigma, d_outputs_tm, d_next, preact, gates, hidden, carry,
                              delta_h, delta_xp)
        a_r, g_r, rh = preact[t, b, units:zr], gates[t, b, units:zr], rec_h[t, b]
        d_zr, d_r, d_h = delta_xp[t, b, :zr], delta_xp[t, b, units:zr], delta_xp[t, b, zr:]
        e_zr, e_h = delta_rec[t, b, :zr], delta_rec[t, b, zr:]
        for j in range(units):
            r = g_r[j]
            d_r[j] = d_h[j] * rh[j] * derivative(sigma, a_r[j], r)  # (dL4a)
            e_h[j] = r * d_h[j]  # (dL6a)
        for j in range(zr):
            e_zr[j] = d_zr[j]  # (dL6a)


@njit(cache=True)
def _backward_loop_after(phi, sigma, d_outputs_tm, d_next, preact, gates, rec_h, hidden, recurrent_kernel_t,
                         carry, delta_h, delta_xp, delta_rec):
    steps, batch, units = rec_h.shape
    for t in range(steps - 1, -1, -1):
        _backward_step_after(t, phi, sigma, d_outputs_tm, d_next, preact, gates, rec_h, hidden, carry,
                             delta_h, delta_xp, delta_rec)
        matmul_into(delta_rec[t], recurrent_kernel_t, 0, 3 * units, 0, d_next)  # (dL7a)
        for b in range(batch):
            for j in range(units):
                d_next[b, j] += carry[b, j]  # (dL7a), (dL12) at t = 1


@njit(cache=True)
def _backward_step_before_1(t, phi, sigma, d_outputs_tm, d_next, preact, gates, hidden, carry, delta_h,
                            delta_xp):
    """Step t up to (dL3); d_next holds carry_t on entry (dL1)."""
    if phi == TANH and sigma == SIGMOID:
        for b in range(d_next.shape[0]):
            _candidate_delta_rows(t, b, TANH, SIGMOID, d_outputs_tm, d_next, preact, gates, hidden, carry,
                                  delta_h, delta_xp)
    else:
        for b in range(d_next.shape[0]):
            _candidate_delta_rows(t, b, phi, sigma, d_outputs_tm, d_next, preact, gates, hidden, carry,
                                  delta_h, delta_xp)


@njit(cache=True)
def _backward_step_before_2(t, sigma, preact, gates, hidden, delta_s, delta_xp):
    """(dL4b) after delta_s = delta_a_h U_h^T."""
    if sigma == SIGMOID:
        _reset_delta_rows(t, SIGMOID, preact, gates, hidden, delta_s, delta_xp)
    else:
        _reset_delta_rows(t, sigma, preact, gates, hidden, delta_s, delta_xp)


@njit(inline="always")
def _reset_delta_rows(t, sigma, preact, gates, hidden, delta_s, delta_xp):
    batch, units = delta_s.shape
    zr = 2 * units
    for b in range(batch):
        a_r, g_r, h_prev = preact[t, b, units:zr], gates[t, b, units:zr], hidden[t, b]
        d_s, d_r = delta_s[b], delta_xp[t, b, units:zr]
        for j in range(units):
            d_r[j] = d_s[j] * h_prev[j] * derivative(sigma, a_r[j], g_r[j])  # (dL4b)


@njit(cache=True)
def _backward_step_before_3(t, gates, carry, delta_s, d_next):
    """(dL7b) after d_next = delta_rec_t U_zr^T."""
    batch, units = d_next.shape
    for b in range(batch):
        g_r, c_row, d_s, d_n = gates[t, b, units:2 * units], carry[b], delta_s[b], d_next[b]
        for j in range(units):
            d_n[j] = c_row[j] + d_n[j] + d_s[j] * g_r[j]  # (dL6b) (dL7b)


@njit(cache=True)
def _backward_loop_before(phi, sigma, d_outputs_tm, d_next, preact, gates, hidden, recurrent_kernel_t, carry,
                          delta_s, delta_h, delta_xp):
    steps, units = hidden.shape[0] - 1, hidden.shape[2]
    for t in range(steps - 1, -1, -1):
        _backward_step_before_1(t, phi, sigma, d_outputs_tm, d_next, preact, gates, hidden, carry, delta_h,
                                delta_xp)
        matmul_into(delta_xp[t], recurrent_kernel_t, 2 * units, 3 * units, 0, delta_s)  # (dL4b)
        _backward_step_before_2(t, sigma, preact, gates, hidden, delta_s, delta_xp)
        matmul_into(delta_xp[t], recurrent_kernel_t, 0, 2 * units, 0, d_next)  # (dL7b)
        _backward_step_before_3(t, gates, carry, delta_s, d_next)  # (dL6b) (dL7b), (dL12) at t = 1


@njit(cache=True)
def _backward_loop_after_masked(phi, sigma, d_outputs_tm, d_next, preact, gates, rec_h, hidden,
                                recurrent_kernel_t, carry, delta_h, delta_xp, delta_rec, steps_mask,
                                recurrent_masks, products):
    """``_backward_loop_after`` with a sequence mask and recurrent dropout (each where non-empty)."""
    steps, batch, units = rec_h.shape
    for t in range(steps - 1, -1, -1):
        _backward_step_after(t, phi, sigma, d_outputs_tm, d_next, preact, gates, rec_h, hidden, carry,
                             delta_h, delta_xp, delta_rec)
        transposed_products_jit(delta_rec[t], recurrent_kernel_t, products)  # (dL7a) (dD2)
        recurrent_gradient(t, 0, batch, 0, units, steps_mask, recurrent_masks, products, carry, delta_h[t],
                           d_next, delta_xp, delta_rec)  # (dL7a) (dD2) (dM1), (dL12) at t = 1


@njit(cache=True)
def _backward_loop_before_masked(phi, sigma, d_outputs_tm, d_next, preact, gates, hidden, recurrent_kernel_t,
                                 carry, delta_s, delta_h, delta_xp, steps_mask, zr_masks, reset_mask,
                                 reset_source, products):
    """``_backward_loop_before`` with a sequence mask and recurrent dropout (each where non-empty)."""
    steps, batch, units = hidden.shape[0] - 1, hidden.shape[1], hidden.shape[2]
    for t in range(steps - 1, -1, -1):
        _backward_step_before_1(t, phi, sigma, d_outputs_tm, d_next, preact, gates, hidden, carry, delta_h,
                                delta_xp)
        matmul_into(delta_xp[t], recurrent_kernel_t, 2 * units, 3 * units, 0, delta_s)  # (dL4b)
        _backward_step_before_2(t, sigma, preact, gates, reset_source, delta_s, delta_xp)  # (dL4b) (dD2)
        _reset_carry(t, gates, delta_s, reset_mask, carry)  # (dL7b) (dD2)
        transposed_products_jit(delta_xp[t, :, :2 * units], recurrent_kernel_t, products)  # (dL7b) (dD2)
        recurrent_gradient(t, 0, batch, 0, units, steps_mask, zr_masks, products, carry, delta_h[t], d_next,
                           delta_xp, delta_xp[:0])  # (dL7b) (dD2) (dM1), (dL12) at t = 1
