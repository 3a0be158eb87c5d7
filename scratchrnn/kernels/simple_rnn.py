"""SimpleRNN kernel: the same forward/backward as ``scratchrnn/cells/simple_rnn.py``, with the time
loop in Numba. The equations (L1)-(L2), (dL1)-(dL7) and their derivation live there; the tags below
point to them.

Shapes: B batch, T time, D input features, H hidden units. Arrays are time-major inside.
The loop is "jit" (all Numba) or "blas" (Python loop, BLAS product per step), see ``_common``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..cells import Gradients, read_only_outputs, step_ledger, weight_gradient_targets
from ._common import (
    activate,
    activate_numpy,
    activation_code,
    as_contiguous,
    derivative,
    input_gradient,
    input_projection,
    matmul_into,
    summed_over_steps,
    upstream_time_major,
    use_jit_loop,
)
from ._packed_gemm import RecurrentProduct


def forward(x, initial_states, weights, *, activation="tanh", go_backwards=False):
    """Run the cell over x (B, T, D) from initial_states (h_0,); see cells/simple_rnn.py."""
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


def backward(d_outputs, d_final_states, cache, ledger=False, weight_gradients=None, d_inputs=True):
    """Gradients of the loss w.r.t. inputs, h_0 and weights; see cells/simple_rnn.py."""
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
