"""SimpleRNN kernel: the same forward/backward as ``scratchrnn/cells/simple_rnn.py``, with the time
loop in Numba. The equations (L1)-(L2), (dL1)-(dL7), the mask's (M1)-(M2), (dM1)-(dM2) and dropout's
(D1)-(D2), (dD1)-(dD2), and their derivation live there; the tags below point to them.

Shapes: B batch, T time, D input features, H hidden units. Arrays are time-major inside.
The loop is "jit" (all Numba) or "blas" (Python loop, BLAS product per step), see ``_common``. A call
with a mask or dropout masks runs loops of its own; without them, the plain loops (note 19 of
docs/performance.md).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..cells import Gradients, read_only_outputs, step_ledger, weight_gradient_targets
from ._common import (
    NO_STEPS,
    DroppedProducts,
    TransposedProducts,
    activate,
    activate_numpy,
    activation_code,
    any_masks,
    as_contiguous,
    block_contributions,
    carry_masked_rows,
    derivative,
    dropped_input_gradient,
    dropped_input_projection,
    dropped_products_jit,
    empty_like_rank,
    input_gradient,
    input_projection,
    masked_outputs,
    masked_upstream,
    matmul_into,
    prepare_masks,
    recurrent_gradient,
    summed_by_blocks,
    summed_over_steps,
    transposed_products_jit,
    upstream_time_major,
    use_jit_loop,
)
from ._packed_gemm import RecurrentProduct


def forward(x, initial_states, weights, *, activation="tanh", go_backwards=False, mask=None,
            input_masks=None, recurrent_masks=None, zero_output_for_mask=False):
    """Run the cell over x (B, T, D) from initial_states (h_0,); see cells/simple_rnn.py."""
    if any_masks(mask, input_masks, recurrent_masks):
        return _forward_masked(x, initial_states, weights, activation, go_backwards, mask, input_masks,
                               recurrent_masks, zero_output_for_mask)
    kernel, recurrent_kernel, bias = weights
    phi = activation_code(activation)
    (h0,) = initial_states
    # The input half of (L1) for all steps in one GEMM; only the recurrence loops over time.
    x_tm, x_projected = input_projection(x, kernel, bias, go_backwards)  # (T, B, D), (T, B, H)
    steps, batch, units = x_projected.shape
    dtype = x_projected.dtype
    preact = np.empty_like(x_projected)  # (T, B, H)
    hidden = np.empty((steps + 1, batch, units), dtype=dtype)  # (T+1, B, H), h_0..h_T
    hidden[0] = h0

    if use_jit_loop(batch, units):
        _forward_loop(x_projected, as_contiguous(recurrent_kernel, dtype), phi, preact, hidden)
    else:
        recurrent_product = RecurrentProduct(recurrent_kernel, batch, dtype, steps)  # U
        for t in range(steps):
            recurrent_product(hidden[t], preact[t])  # h_{t-1} U (L1)
            np.add(x_projected[t], preact[t], out=preact[t])  # (L1)
            activate_numpy(phi, preact[t], hidden[t + 1])  # (L2)

    cache = dict(x_tm=x_tm, preact=preact, hidden=hidden, weights=weights, phi=phi,
                 go_backwards=go_backwards)
    return read_only_outputs(hidden), (hidden[-1].copy(),), cache


@njit(cache=True)
def _forward_loop(x_projected, recurrent_kernel, phi, preact, hidden):
    steps, batch, units = preact.shape
    for t in range(steps):
        matmul_into(hidden[t], recurrent_kernel, 0, units, 0, preact[t])  # h_{t-1} U (L1)
        for b in range(batch):
            for j in range(units):
                a = x_projected[t, b, j] + preact[t, b, j]  # (L1)
                preact[t, b, j] = a
                hidden[t + 1, b, j] = activate(phi, a)  # (L2)


def _forward_masked(x, initial_states, weights, activation, go_backwards, mask, input_masks, recurrent_masks,
                    zero_output_for_mask):
    """``forward`` with a sequence mask or dropout masks: loops of their own, the plain ones untouched."""
    kernel, recurrent_kernel, bias = weights
    phi = activation_code(activation)
    (h0,) = initial_states
    units = recurrent_kernel.shape[0]
    dtype = np.result_type(x.dtype, kernel.dtype)
    masks = prepare_masks(mask, input_masks, recurrent_masks, x, units, 1, go_backwards,
                          zero_output_for_mask, dtype)
    if masks.inputs is None:
        x_tm, x_projected = input_projection(x, kernel, bias, go_backwards)  # (T, B, D), (T, B, H)
        x_dropped = None
    else:  # (D1): x * mask in (L1), one GEMM
        x_tm, x_dropped, x_projected = dropped_input_projection(x, kernel, bias, masks.inputs, go_backwards)
    steps, batch = x_projected.shape[:2]
    preact = np.empty_like(x_projected)  # (T, B, H)
    hidden = np.empty((steps + 1, batch, units), dtype=dtype)  # (T+1, B, H), h_0..h_T
    hidden[0] = h0
    steps_mask = NO_STEPS if masks.steps is None else masks.steps  # (T, B)
    recurrent_masks = empty_like_rank(3, dtype) if masks.recurrent is None else masks.recurrent  # (1, B, H)
    # h_{t-1} * mask (D2) of every step, which dU reads: (1, T, B, H)
    h_dropped = None if masks.recurrent is None else np.empty((1, steps, batch, units), dtype=dtype)

    if use_jit_loop(batch, units):
        _forward_loop_masked(x_projected, as_contiguous(recurrent_kernel, dtype), phi, preact, hidden,
                             steps_mask, recurrent_masks,
                             empty_like_rank(4, dtype) if h_dropped is None else h_dropped,
                             np.empty((batch, units), dtype=dtype))
    else:
        if h_dropped is None:
            recurrent_product = RecurrentProduct(recurrent_kernel, batch, dtype, steps)  # U
        else:
            dropped_product = DroppedProducts(recurrent_kernel, recurrent_masks, h_dropped, 1, batch, dtype,
                                              steps)
        for t in range(steps):
            if h_dropped is None:
                recurrent_product(hidden[t], preact[t])  # h_{t-1} U (L1)
            else:
                dropped_product(t, hidden[t], preact[t])  # (h_{t-1} * mask) U (D2)
            np.add(x_projected[t], preact[t], out=preact[t])  # (L1)
            activate_numpy(phi, preact[t], hidden[t + 1])  # (L2)
            if masks.steps is not None:
                carry_masked_rows(t, 0, batch, 0, units, steps_mask, hidden, hidden[:0])  # (M1)

    cache = dict(x_tm=x_tm, preact=preact, hidden=hidden, weights=weights, phi=phi, go_backwards=go_backwards,
                 masks=masks, x_dropped=x_dropped, h_dropped=h_dropped)
    return masked_outputs(hidden, masks.outputs), (hidden[-1].copy(),), cache  # (M2)


@njit(cache=True)
def _forward_loop_masked(x_projected, recurrent_kernel, phi, preact, hidden, steps_mask, recurrent_masks,
                         h_dropped, scratch):
    """``_forward_loop`` with recurrent dropout (``recurrent_masks`` non-empty) and a sequence mask
    (``steps_mask`` non-empty)."""
    steps, batch, units = preact.shape
    for t in range(steps):
        if recurrent_masks.shape[0]:
            dropped_products_jit(t, hidden[t], recurrent_masks, h_dropped, recurrent_kernel, 1, scratch,
                                 preact[t])  # (h_{t-1} * mask) U (D2)
        else:
            matmul_into(hidden[t], recurrent_kernel, 0, units, 0, preact[t])  # h_{t-1} U (L1)
        for b in range(batch):
            for j in range(units):
                a = x_projected[t, b, j] + preact[t, b, j]  # (L1)
                preact[t, b, j] = a
                hidden[t + 1, b, j] = activate(phi, a)  # (L2)
        if steps_mask.shape[0]:
            carry_masked_rows(t, 0, batch, 0, units, steps_mask, hidden, hidden[:0])  # (M1)


def backward(d_outputs, d_final_states, cache, ledger=False, weight_gradients=None, d_inputs=True):
    """Gradients of the loss w.r.t. inputs, h_0 and weights; see cells/simple_rnn.py."""
    if "masks" in cache:
        return _backward_masked(d_outputs, d_final_states, cache, ledger, weight_gradients, d_inputs)
    kernel, recurrent_kernel, bias = cache["weights"]
    targets = weight_gradient_targets(weight_gradients, cache["weights"])
    x_tm, preact, hidden, phi = cache["x_tm"], cache["preact"], cache["hidden"], cache["phi"]
    d_outputs_tm, d_next = upstream_time_major(d_outputs, d_final_states[0], hidden)  # (T,B,H), (B,H)
    steps, batch, units = preact.shape

    delta_a = np.empty_like(preact)  # (T, B, H)
    delta_h = np.empty_like(preact)  # (T, B, H), kept for the ledger
    if use_jit_loop(batch, units):
        recurrent_kernel_t = as_contiguous(recurrent_kernel.T, preact.dtype)  # (H, H), U^T
        _backward_loop(phi, d_outputs_tm, d_next, preact, hidden, recurrent_kernel_t, delta_h, delta_a)
    else:
        transposed_product = RecurrentProduct(recurrent_kernel.T, batch, preact.dtype, steps)  # U^T
        for t in range(steps - 1, -1, -1):
            _backward_step(t, phi, d_outputs_tm, d_next, preact, hidden, delta_h, delta_a)
            transposed_product(delta_a[t], d_next)  # (dL1) for step t-1, (dL7) at t = 1

    # Weight gradients summed over all steps, one GEMM each.
    d_kernel, d_recurrent = summed_over_steps(
        (x_tm, delta_a, targets[0]),  # (dL3) (D, H)
        (hidden[:-1], delta_a, targets[1]))  # (dL4) (H, H)
    d_bias = None if bias is None else delta_a.sum(axis=(0, 1), out=targets[2])  # (dL5) (H,)
    d_x = None if not d_inputs else input_gradient(delta_a, kernel, cache["go_backwards"])  # (dL6) (B, T, D)

    per_step = None if not ledger else step_ledger(
        x_tm, delta_a, [(hidden[:-1], delta_a)], [delta_a], None if bias is None else bias.shape, delta_h)
    return Gradients(d_x, (d_next,), (d_kernel, d_recurrent, d_bias), per_step)


@njit(cache=True)
def _backward_step(t, phi, d_outputs_tm, d_next, preact, hidden, delta_h, delta_a):
    """Step t's element-wise part; d_next holds delta_a_{t+1} U^T (or dh_T^final) on entry."""
    batch, units = d_next.shape
    for b in range(batch):
        for j in range(units):
            dh = d_outputs_tm[t, b, j] + d_next[b, j]  # (dL1)
            delta_h[t, b, j] = dh
            delta_a[t, b, j] = dh * derivative(phi, preact[t, b, j], hidden[t + 1, b, j])  # (dL2)


@njit(cache=True)
def _backward_loop(phi, d_outputs_tm, d_next, preact, hidden, recurrent_kernel_t, delta_h, delta_a):
    steps, batch, units = preact.shape
    for t in range(steps - 1, -1, -1):
        _backward_step(t, phi, d_outputs_tm, d_next, preact, hidden, delta_h, delta_a)
        matmul_into(delta_a[t], recurrent_kernel_t, 0, units, 0, d_next)  # (dL1) for t-1, (dL7) at t = 1


def _backward_masked(d_outputs, d_final_states, cache, ledger, weight_gradients, d_inputs):
    """``backward`` of ``_forward_masked``."""
    kernel, recurrent_kernel, bias = cache["weights"]
    targets = weight_gradient_targets(weight_gradients, cache["weights"])
    x_tm, preact, hidden, phi = cache["x_tm"], cache["preact"], cache["hidden"], cache["phi"]
    masks, x_dropped, h_dropped = cache["masks"], cache["x_dropped"], cache["h_dropped"]
    d_outputs_tm, d_next = upstream_time_major(d_outputs, d_final_states[0], hidden)  # (T,B,H), (B,H)
    d_outputs_tm = masked_upstream(d_outputs_tm, d_outputs, masks.outputs)  # (dM2)
    steps, batch, units = preact.shape
    dtype = preact.dtype
    steps_mask = NO_STEPS if masks.steps is None else masks.steps  # (T, B)
    recurrent_masks = empty_like_rank(3, dtype) if masks.recurrent is None else masks.recurrent  # (1, B, H)

    delta_a = np.empty_like(preact)  # (T, B, H)
    delta_h = np.empty_like(preact)  # (T, B, H): the ledger's, and what a masked step passes on (dM1)
    products = np.empty((1, batch, units), dtype=dtype)  # (1, B, H), delta_a_t U^T
    no_rows = empty_like_rank(2, dtype)
    if use_jit_loop(batch, units):
        _backward_loop_masked(phi, d_outputs_tm, d_next, preact, hidden,
                              as_contiguous(recurrent_kernel.T, dtype), delta_h, delta_a, steps_mask,
                              recurrent_masks, products)
    else:
        transposed_product = TransposedProducts(recurrent_kernel, 1, batch, dtype, steps)  # U^T
        for t in range(steps - 1, -1, -1):
            _backward_step(t, phi, d_outputs_tm, d_next, preact, hidden, delta_h, delta_a)
            transposed_product(delta_a, t, products)  # (dL1) for step t-1
            recurrent_gradient(t, 0, batch, 0, units, steps_mask, recurrent_masks, products, no_rows,
                               delta_h[t], d_next, delta_a, delta_a[:0])  # (dL1) (dD2) (dM1), (dL7)

    # Weight gradients summed over all steps, one GEMM each.
    d_kernel, d_recurrent = summed_by_blocks(
        (x_tm if x_dropped is None else x_dropped, delta_a, targets[0]),  # (dL3) (dD1)
        (hidden[:-1] if h_dropped is None else h_dropped, delta_a, targets[1]))  # (dL4) (dD2)
    d_bias = None if bias is None else delta_a.sum(axis=(0, 1), out=targets[2])  # (dL5) (H,)
    d_x = None
    if d_inputs:  # (dL6) (B, T, D)
        d_x = (input_gradient(delta_a, kernel, cache["go_backwards"]) if x_dropped is None
               else dropped_input_gradient(delta_a, kernel, masks.inputs, cache["go_backwards"]))  # (dD1)

    per_step = None
    if ledger:
        per_step = step_ledger(x_tm, delta_a, [(hidden[:-1] if h_dropped is None else h_dropped[0], delta_a)],
                               [delta_a], None if bias is None else bias.shape, delta_h)
        if x_dropped is not None:
            per_step["kernel"] = block_contributions(x_dropped, delta_a)  # (dD1)
    return Gradients(d_x, (d_next,), (d_kernel, d_recurrent, d_bias), per_step)


@njit(cache=True)
def _backward_loop_masked(phi, d_outputs_tm, d_next, preact, hidden, recurrent_kernel_t, delta_h, delta_a,
                          steps_mask, recurrent_masks, products):
    """``_backward_loop`` with a sequence mask and recurrent dropout (each where non-empty)."""
    steps, batch, units = preact.shape
    no_rows = d_next[:0]
    for t in range(steps - 1, -1, -1):
        _backward_step(t, phi, d_outputs_tm, d_next, preact, hidden, delta_h, delta_a)
        transposed_products_jit(delta_a[t], recurrent_kernel_t, products)  # (dL1) for step t-1
        recurrent_gradient(t, 0, batch, 0, units, steps_mask, recurrent_masks, products, no_rows, delta_h[t],
                           d_next, delta_a, delta_a[:0])  # (dL1) (dD2) (dM1), (dL7) at t = 1
