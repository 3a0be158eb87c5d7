"""LSTM kernel: the same forward/backward as ``scratchrnn/cells/lstm.py``, with the time loop in Numba.
The equations (L1)-(L4), (dL1)-(dL8) and their derivation live there; the tags below point to them.

Shapes: B batch, T time, D input features, H hidden units; the 4H axis holds the gate blocks i, f, c, o.
Arrays are time-major inside. The loop is "jit" (all Numba) or "blas" (Python loop, BLAS product per
step), see ``_common``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..cells import Gradients, batch_major, step_contributions
from ._common import (
    activate,
    activate_numpy,
    activation_code,
    as_contiguous,
    derivative,
    input_gradient,
    input_projection,
    matmul_into,
    state_gradient,
    summed_over_steps,
    upstream_time_major,
    use_jit_loop,
)


def forward(x, initial_states, weights, *, activation="tanh", recurrent_activation="sigmoid",
            go_backwards=False):
    """Run the cell over x (B, T, D) from initial_states (h_0, c_0); see cells/lstm.py."""
    kernel, recurrent_kernel, bias = weights
    phi, sigma = activation_code(activation), activation_code(recurrent_activation)
    h0, c0 = initial_states
    # The input half of (L1) for all steps in one GEMM; only the recurrence loops over time.
    x_tm, x_projected = input_projection(x, kernel, bias, go_backwards)  # (T, B, D), (T, B, 4H)
    steps, batch = x_projected.shape[:2]
    units = recurrent_kernel.shape[0]
    dtype = x_projected.dtype
    recurrent_kernel = as_contiguous(recurrent_kernel, dtype)  # (H, 4H)
    preact = np.empty_like(x_projected)  # (T, B, 4H)
    gates = np.empty_like(preact)  # (T, B, 4H), i f g o
    cell = np.empty((steps + 1, batch, units), dtype=dtype)  # (T+1, B, H), c_0..c_T
    cell_act = np.empty((steps, batch, units), dtype=dtype)  # (T, B, H), phi(c_1)..phi(c_T)
    hidden = np.empty((steps + 1, batch, units), dtype=dtype)  # (T+1, B, H), h_0..h_T
    hidden[0], cell[0] = h0, c0

    if use_jit_loop(batch, units):
        _forward_loop(x_projected, recurrent_kernel, phi, sigma, preact, gates, cell, cell_act, hidden)
    else:
        scratch = np.empty((batch, units), dtype=dtype)  # (B, H)
        for t in range(steps):
            np.matmul(hidden[t], recurrent_kernel, out=preact[t])  # h_{t-1} U (L1)
            _forward_step_numpy(t, x_projected, phi, sigma, preact, gates, cell, cell_act, hidden, scratch)

    cache = dict(x_tm=x_tm, preact=preact, gates=gates, cell=cell, cell_act=cell_act, hidden=hidden,
                 weights=weights, phi=phi, sigma=sigma, go_backwards=go_backwards, batch_shape=x.shape)
    return batch_major(hidden[1:], False), (hidden[-1].copy(), cell[-1].copy()), cache


@njit(cache=True)
def _forward_loop(x_projected, recurrent_kernel, phi, sigma, preact, gates, cell, cell_act, hidden):
    steps, batch, units = hidden.shape[0] - 1, hidden.shape[1], hidden.shape[2]
    for t in range(steps):
        matmul_into(hidden[t], recurrent_kernel, 0, units, 0, preact[t])  # h_{t-1} U (L1)
        for b in range(batch):
            for j in range(4 * units):
                preact[t, b, j] = x_projected[t, b, j] + preact[t, b, j]  # (L1)
            for j in range(units):
                i = activate(sigma, preact[t, b, j])  # (L2)
                f = activate(sigma, preact[t, b, units + j])  # (L2)
                g = activate(phi, preact[t, b, 2 * units + j])  # (L2)
                o = activate(sigma, preact[t, b, 3 * units + j])  # (L2)
                gates[t, b, j], gates[t, b, units + j] = i, f
                gates[t, b, 2 * units + j], gates[t, b, 3 * units + j] = g, o
                c = f * cell[t, b, j] + i * g  # (L3)
                cell[t + 1, b, j] = c
                c_act = activate(phi, c)  # (L4)
                cell_act[t, b, j] = c_act
                hidden[t + 1, b, j] = o * c_act  # (L4)


def _forward_step_numpy(t, x_projected, phi, sigma, preact, gates, cell, cell_act, hidden, scratch):
    """Step t after the recurrent product (preact[t] holds h_{t-1} U), as in-place NumPy ufuncs."""
    units = hidden.shape[2]
    np.add(x_projected[t], preact[t], out=preact[t])  # (L1)
    activate_numpy(sigma, preact[t, :, :2 * units], gates[t, :, :2 * units])  # (L2) i, f
    activate_numpy(phi, preact[t, :, 2 * units:3 * units], gates[t, :, 2 * units:3 * units])  # (L2) g
    activate_numpy(sigma, preact[t, :, 3 * units:], gates[t, :, 3 * units:])  # (L2) o
    i, f = gates[t, :, :units], gates[t, :, units:2 * units]
    g, o = gates[t, :, 2 * units:3 * units], gates[t, :, 3 * units:]
    np.multiply(f, cell[t], out=cell[t + 1])  # (L3)
    np.multiply(i, g, out=scratch)  # (L3)
    cell[t + 1] += scratch  # (L3)
    activate_numpy(phi, cell[t + 1], cell_act[t])  # (L4)
    np.multiply(o, cell_act[t], out=hidden[t + 1])  # (L4)


def backward(d_outputs, d_final_states, cache, ledger=False):
    """Gradients of the loss w.r.t. inputs, (h_0, c_0) and weights; see cells/lstm.py."""
    kernel, recurrent_kernel, bias = cache["weights"]
    x_tm, preact, gates, hidden = cache["x_tm"], cache["preact"], cache["gates"], cache["hidden"]
    cell, cell_act, phi, sigma = cache["cell"], cache["cell_act"], cache["phi"], cache["sigma"]
    d_outputs_tm, d_next_h = upstream_time_major(d_outputs, d_final_states[0], hidden)  # (T,B,H), (B,H)
    d_next_c = state_gradient(d_final_states[1], cell[0])  # (B, H)
    steps, batch, units = cell_act.shape
    recurrent_kernel_t = as_contiguous(recurrent_kernel.T, preact.dtype)  # (4H, H), U^T

    delta_z = np.empty_like(preact)  # (T, B, 4H)
    delta_h = np.empty_like(cell_act)  # (T, B, H), kept for the ledger
    if use_jit_loop(batch, units):
        _backward_loop(phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates, cell, cell_act,
                       recurrent_kernel_t, delta_h, delta_z)
    else:
        for t in range(steps - 1, -1, -1):
            _backward_step(t, phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates, cell, cell_act,
                           delta_h, delta_z)
            np.matmul(delta_z[t], recurrent_kernel_t, out=d_next_h)  # (dL1) for step t-1, (dL8) at t = 1

    # Weight gradients summed over all steps, one GEMM each.
    d_kernel = summed_over_steps(x_tm, delta_z)  # (dL4) (D, 4H)
    d_recurrent = summed_over_steps(hidden[:-1], delta_z)  # (dL5) (H, 4H)
    d_bias = None if bias is None else delta_z.sum(axis=(0, 1))  # (dL6) (4H,)
    d_x = input_gradient(delta_z, kernel, cache["go_backwards"])  # (dL7) (B, T, D)

    per_step = None
    if ledger:
        per_step = {
            "kernel": step_contributions(x_tm, delta_z),  # (T, D, 4H)
            "recurrent_kernel": step_contributions(hidden[:-1], delta_z),  # (T, H, 4H)
            "hidden": delta_h,  # (T, B, H)
        }
        if bias is not None:
            per_step["bias"] = delta_z.sum(axis=1)  # (T, 4H)
    return Gradients(d_x, (d_next_h, d_next_c), (d_kernel, d_recurrent, d_bias), per_step)


@njit(cache=True)
def _backward_step(t, phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates, cell, cell_act,
                   delta_h, delta_z):
    """Step t's element-wise part; on entry d_next_h holds delta_z_{t+1} U^T (or dh_T^final) and
    d_next_c holds delta_c_{t+1} * f_{t+1} (or dc_T^final); on exit d_next_c is delta_c_t * f_t."""
    batch, units = d_next_h.shape
    for b in range(batch):
        for j in range(units):
            dh = d_outputs_tm[t, b, j] + d_next_h[b, j]  # (dL1)
            delta_h[t, b, j] = dh
            i, f = gates[t, b, j], gates[t, b, units + j]
            g, o = gates[t, b, 2 * units + j], gates[t, b, 3 * units + j]
            c_act = cell_act[t, b, j]
            # c_t reaches the loss through h_t and through c_{t+1}: both paths add up here.
            dc = dh * o * derivative(phi, cell[t + 1, b, j], c_act) + d_next_c[b, j]  # (dL2)
            delta_z[t, b, j] = dc * g * derivative(sigma, preact[t, b, j], i)  # (dL3) block i
            delta_z[t, b, units + j] = (dc * cell[t, b, j]
                                        * derivative(sigma, preact[t, b, units + j], f))  # (dL3) block f
            delta_z[t, b, 2 * units + j] = dc * i * derivative(phi, preact[t, b, 2 * units + j], g)  # (dL3) c
            delta_z[t, b, 3 * units + j] = (dh * c_act
                                            * derivative(sigma, preact[t, b, 3 * units + j], o))  # (dL3) o
            d_next_c[b, j] = dc * f  # (dL2) for step t-1, (dL8) at t = 1


@njit(cache=True)
def _backward_loop(phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates, cell, cell_act,
                   recurrent_kernel_t, delta_h, delta_z):
    steps, units = cell_act.shape[0], cell_act.shape[2]
    for t in range(steps - 1, -1, -1):
        _backward_step(t, phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates, cell, cell_act,
                       delta_h, delta_z)
        matmul_into(delta_z[t], recurrent_kernel_t, 0, 4 * units, 0, d_next_h)  # (dL1) t-1, (dL8) t = 1
