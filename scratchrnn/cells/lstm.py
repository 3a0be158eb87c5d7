"""LSTM cell: forward over a sequence and backpropagation through time.

Shapes: B batch, T time, D input features, H hidden units.
Weights (Keras layout): kernel W (D, 4H), recurrent_kernel U (H, 4H), bias b (4H,); the 4H axis holds
the gate blocks in the order i (input), f (forget), c (candidate), o (output).
phi is ``activation`` (tanh by default), sigma is ``recurrent_activation`` (sigmoid by default).

Forward, for t = 1..T, from h_0 and c_0:
    (L1)  z_t = x_t W + h_{t-1} U + b                 pre-activations, blocks z^i z^f z^c z^o  (B, 4H)
    (L2)  i_t = sigma(z^i_t)   f_t = sigma(z^f_t)   g_t = phi(z^c_t)   o_t = sigma(z^o_t)       (B, 4H)
    (L3)  c_t = f_t * c_{t-1} + i_t * g_t             cell state             (B, H)
    (L4)  h_t = o_t * phi(c_t)                        hidden state, output   (B, H)

Backward, for t = T..1, given the upstream gradients dy_t = dLoss/dh_t (from the outputs), dh_T^final
and dc_T^final (from the final states); delta_* is the total gradient of the loss w.r.t. that quantity:
    (dL1) delta_h_t = dy_t + delta_z_{t+1} U^T                     (delta_z_{T+1} U^T := dh_T^final)
    (dL2) delta_c_t = delta_h_t * o_t * phi'(c_t) + delta_c_{t+1} * f_{t+1}
                                                                   (delta_c_{T+1} f_{T+1} := dc_T^final)
    (dL3) delta_z_t = [delta_c_t * g_t     * sigma'(z^i_t),        block i
                       delta_c_t * c_{t-1} * sigma'(z^f_t),        block f
                       delta_c_t * i_t     * phi'(z^c_t),          block c
                       delta_h_t * phi(c_t) * sigma'(z^o_t)]       block o
    (dL4) dW  = sum_t x_t^T delta_z_t
    (dL5) dU  = sum_t h_{t-1}^T delta_z_t
    (dL6) db  = sum_t sum_batch delta_z_t
    (dL7) dx_t = delta_z_t W^T
    (dL8) dh_0 = delta_z_1 U^T,   dc_0 = delta_c_1 * f_1

The derivation is in docs/lstm.md.
"""

from __future__ import annotations

import numpy as np

from .. import activations
from . import (
    Gradients,
    batch_major,
    flat_steps,
    read_only_outputs,
    step_ledger,
    stored,
    time_major,
    upstream,
    weight_gradient_targets,
)


def _by_gate(sigma_fn, phi_fn, *arrays):
    """Apply sigma_fn block-wise to the i, f, o blocks and phi_fn to the c block of (..., 4H) arrays."""
    blocks = zip(*(np.split(a, 4, axis=-1) for a in arrays), strict=True)
    return np.concatenate([(phi_fn if k == 2 else sigma_fn)(*b) for k, b in enumerate(blocks)], axis=-1)


def forward(x, initial_states, weights, *, activation="tanh", recurrent_activation="sigmoid",
            go_backwards=False):
    """Run the cell over x (B, T, D) from initial_states (h_0, c_0); see the module docstring."""
    kernel, recurrent_kernel, bias = weights
    phi, sigma = activations.get(activation), activations.get(recurrent_activation)
    h0, c0 = initial_states
    x_tm = time_major(x, go_backwards)  # (T, B, D)
    steps, batch = x_tm.shape[:2]
    units = recurrent_kernel.shape[0]

    # The input half of (L1) for all steps in one GEMM; only the recurrence loops over time.
    x_projected = x_tm @ kernel  # (T, B, 4H)
    if bias is not None:
        x_projected += bias
    dtype = x_projected.dtype
    preact = np.empty((steps, batch, 4 * units), dtype=dtype)  # (T, B, 4H)
    gates = np.empty_like(preact)  # (T, B, 4H), i f g o
    cell = np.empty((steps + 1, batch, units), dtype=dtype)  # (T+1, B, H), c_0..c_T
    cell_act = np.empty((steps, batch, units), dtype=dtype)  # (T, B, H), phi(c_1)..phi(c_T)
    hidden = np.empty((steps + 1, batch, units), dtype=dtype)  # (T+1, B, H), h_0..h_T
    hidden[0], cell[0] = h0, c0
    for t in range(steps):
        preact[t] = x_projected[t] + hidden[t] @ recurrent_kernel  # (L1)
        gates[t] = _by_gate(sigma.forward, phi.forward, preact[t])  # (L2)
        i, f, g, o = np.split(gates[t], 4, axis=-1)  # 4 x (B, H) views
        cell[t + 1] = f * cell[t] + i * g  # (L3)
        cell_act[t] = phi.forward(cell[t + 1])  # (L4)
        hidden[t + 1] = o * cell_act[t]  # (L4)

    cache = dict(x_tm=x_tm, preact=preact, gates=gates, cell=cell, cell_act=cell_act, hidden=hidden,
                 weights=weights, phi=phi, sigma=sigma, go_backwards=go_backwards)
    return read_only_outputs(hidden), (hidden[-1].copy(), cell[-1].copy()), cache


def backward(d_outputs, d_final_states, cache, ledger=False, weight_gradients=None, d_inputs=True):
    """Gradients of the loss w.r.t. inputs, (h_0, c_0) and weights; see the module docstring."""
    kernel, recurrent_kernel, bias = cache["weights"]
    targets = weight_gradient_targets(weight_gradients, cache["weights"])
    x_tm, preact, gates, hidden = cache["x_tm"], cache["preact"], cache["gates"], cache["hidden"]
    cell, cell_act, phi, sigma = cache["cell"], cache["cell_act"], cache["phi"], cache["sigma"]
    d_outputs_tm, d_next_h = upstream(d_outputs, d_final_states[0], hidden[1:])  # (T, B, H), (B, H)
    d_final_c = d_final_states[1]
    d_next_c = np.zeros_like(cell[0]) if d_final_c is None else d_final_c  # (B, H)

    # The activation derivatives do not depend on the upstream gradient, so all steps at once.
    d_gates = _by_gate(sigma.derivative, phi.derivative, preact, gates)  # (T, B, 4H)
    d_cell_act = phi.derivative(cell[1:], cell_act)  # (T, B, H), phi'(c_t)

    delta_z = np.empty_like(preact)  # (T, B, 4H)
    delta_h = np.empty_like(cell_act)  # (T, B, H), kept for the ledger
    for t in reversed(range(len(preact))):
        i, f, g, o = np.split(gates[t], 4, axis=-1)  # 4 x (B, H) views
        delta_h[t] = d_outputs_tm[t] + d_next_h  # (dL1)
        # c_t reaches the loss through h_t and through c_{t+1}: both paths add up here.
        delta_c = delta_h[t] * o * d_cell_act[t] + d_next_c  # (dL2) (B, H)
        delta_z[t] = np.concatenate(
            [delta_c * g, delta_c * cell[t], delta_c * i, delta_h[t] * cell_act[t]], axis=-1
        ) * d_gates[t]  # (dL3) (B, 4H)
        d_next_h = delta_z[t] @ recurrent_kernel.T  # (dL1) for step t-1, (dL8) at t = 1
        d_next_c = delta_c * f  # (dL2) for step t-1, (dL8) at t = 1

    # Weight gradients summed over all steps, one GEMM each.
    d_kernel = flat_steps(x_tm).T @ flat_steps(delta_z)  # (dL4) (D, 4H)
    d_recurrent = flat_steps(hidden[:-1]).T @ flat_steps(delta_z)  # (dL5) (H, 4H)
    d_bias = None if bias is None else delta_z.sum(axis=(0, 1))  # (dL6) (4H,)
    d_x = None if not d_inputs else batch_major(delta_z @ kernel.T, cache["go_backwards"])  # (dL7) (B, T, D)

    per_step = None if not ledger else step_ledger(
        x_tm, delta_z, [(hidden[:-1], delta_z)], [delta_z], None if bias is None else bias.shape, delta_h)
    return Gradients(d_x, (d_next_h, d_next_c), stored(targets, (d_kernel, d_recurrent, d_bias)), per_step)
