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

With a ``mask`` (m_t (B, 1): step t is real, in processing order) the output is y_t, not h_t:
    (M1)  c_t, h_t = (L3), (L4) where m_t, else c_{t-1}, h_{t-1}      a masked step keeps both states
    (M2)  y_t = h_t where s_t, else 0                 output; s_t = m_t with zero_output_for_mask,
                                                      else s_t = m_1 or .. or m_t (Keras repeats the
                                                      last real output, zeros before the first)
    (dM1) (dL2), (dL3) read m_t * delta_h_t and m_t * e_t, e_t being the gradient c_t gets from later
          (delta_c_{t+1} * f_{t+1}, or dc_T^final); and (1 - m_t) * delta_h_t, (1 - m_t) * e_t pass
          straight to h_{t-1}, c_{t-1}: a masked step adds nothing to the weight gradients
    (dM2) dy_t in (dL1) is s_t * dy_t
With dropout masks P^k (B, D) (``input_masks``) and Q^k (B, H) (``recurrent_masks``) for the gate blocks
k = i, f, c, o (or one P, one Q for all four):
    (D1)  x_t W  in (L1) reads  [(x_t * P^i) W_i | (x_t * P^f) W_f | (x_t * P^c) W_c | (x_t * P^o) W_o]
    (D2)  h_{t-1} U  in (L1) reads  [(h_{t-1} * Q^i) U_i | ... | (h_{t-1} * Q^o) U_o]   (only the product)
    (dD1) dW_k = sum_t (x_t * P^k)^T delta_z^k_t;       dx_t = sum_k (delta_z^k_t W_k^T) * P^k
    (dD2) dU_k = sum_t (h_{t-1} * Q^k)^T delta_z^k_t;   delta_z_t U^T in (dL1), (dL8) is
                                                         sum_k (delta_z^k_t U_k^T) * Q^k

The derivation is in docs/lstm.md.
"""

from __future__ import annotations

import numpy as np

from .. import activations
from . import (
    Gradients,
    batch_major,
    checked_masks,
    dropout_blocks,
    dropout_product,
    dropout_product_backward,
    ledger_of_blocks,
    read_only,
    stored,
    summed_gradient,
    time_major,
    time_mask,
    upstream,
    weight_gradient_targets,
)


def _by_gate(sigma_fn, phi_fn, *arrays):
    """Apply sigma_fn block-wise to the i, f, o blocks and phi_fn to the c block of (..., 4H) arrays."""
    blocks = zip(*(np.split(a, 4, axis=-1) for a in arrays), strict=True)
    return np.concatenate([(phi_fn if k == 2 else sigma_fn)(*b) for k, b in enumerate(blocks)], axis=-1)


def forward(x, initial_states, weights, *, mask=None, input_masks=None, recurrent_masks=None,
            zero_output_for_mask=False, activation="tanh", recurrent_activation="sigmoid",
            go_backwards=False):
    """Run the cell over x (B, T, D) from initial_states (h_0, c_0); see the module docstring."""
    kernel, recurrent_kernel, bias = weights
    phi, sigma = activations.get(activation), activations.get(recurrent_activation)
    h0, c0 = initial_states
    units = recurrent_kernel.shape[0]
    mask, input_masks, recurrent_masks = checked_masks(
        mask, input_masks, recurrent_masks, x, units, 4, np.result_type(x, kernel))
    keep, shown = time_mask(mask, go_backwards, zero_output_for_mask)  # (T, B, 1) each, or None
    x_tm = time_major(x, go_backwards)  # (T, B, D)
    steps, batch = x_tm.shape[:2]

    # The input half of (L1) for all steps in one GEMM (one per gate block with 4 input masks);
    # only the recurrence loops over time.
    x_projected = dropout_product(x_tm, input_masks, kernel)  # (L1) (D1) (T, B, 4H)
    if bias is not None:
        x_projected += bias
    dtype = x_projected.dtype
    preact = np.empty((steps, batch, 4 * units), dtype=dtype)  # (T, B, 4H)
    gates = np.empty_like(preact)  # (T, B, 4H), i f g o
    cell = np.empty((steps + 1, batch, units), dtype=dtype)  # (T+1, B, H), c_0..c_T
    cell_act = np.empty((steps, batch, units), dtype=dtype)  # (T, B, H), phi(c_1)..phi(c_T) of (L4)
    hidden = np.empty((steps + 1, batch, units), dtype=dtype)  # (T+1, B, H), h_0..h_T
    hidden[0], cell[0] = h0, c0
    for t in range(steps):
        recurrent = dropout_product(hidden[t], recurrent_masks, recurrent_kernel)  # (D2) (B, 4H)
        preact[t] = x_projected[t] + recurrent  # (L1)
        gates[t] = _by_gate(sigma.forward, phi.forward, preact[t])  # (L2)
        i, f, g, o = np.split(gates[t], 4, axis=-1)  # 4 x (B, H) views
        cell[t + 1] = f * cell[t] + i * g  # (L3)
        cell_act[t] = phi.forward(cell[t + 1])  # (L4)
        hidden[t + 1] = o * cell_act[t]  # (L4)
        if keep is not None:
            cell[t + 1] = np.where(keep[t], cell[t + 1], cell[t])  # (M1)
            hidden[t + 1] = np.where(keep[t], hidden[t + 1], hidden[t])  # (M1)

    outputs = hidden[1:] if shown is None else np.where(shown, hidden[1:], 0)  # (M2) (T, B, H)
    cache = dict(x_tm=x_tm, preact=preact, gates=gates, cell=cell, cell_act=cell_act, hidden=hidden,
                 weights=weights, phi=phi, sigma=sigma, go_backwards=go_backwards, keep=keep, shown=shown,
                 input_masks=input_masks, recurrent_masks=recurrent_masks)
    return read_only(outputs), (hidden[-1].copy(), cell[-1].copy()), cache


def backward(d_outputs, d_final_states, cache, ledger=False, weight_gradients=None, d_inputs=True):
    """Gradients of the loss w.r.t. inputs, (h_0, c_0) and weights; see the module docstring."""
    kernel, recurrent_kernel, bias = cache["weights"]
    targets = weight_gradient_targets(weight_gradients, cache["weights"])
    x_tm, preact, gates, hidden = cache["x_tm"], cache["preact"], cache["gates"], cache["hidden"]
    cell, cell_act, phi, sigma = cache["cell"], cache["cell_act"], cache["phi"], cache["sigma"]
    keep, shown = cache["keep"], cache["shown"]
    input_masks, recurrent_masks = cache["input_masks"], cache["recurrent_masks"]
    d_outputs_tm, d_next_h = upstream(d_outputs, d_final_states[0], hidden[1:])  # (T, B, H), (B, H)
    if shown is not None:
        d_outputs_tm = d_outputs_tm * shown  # (dM2) (T, B, H)
    d_final_c = d_final_states[1]
    d_next_c = np.zeros_like(cell[0]) if d_final_c is None else d_final_c  # (B, H)

    # The activation derivatives do not depend on the upstream gradient, so all steps at once.
    d_gates = _by_gate(sigma.derivative, phi.derivative, preact, gates)  # (T, B, 4H)
    # phi'(c_t); at a masked step (where c_t is c_{t-1}) it is unused: (dM1) zeroes what multiplies it.
    d_cell_act = phi.derivative(cell[1:], cell_act)  # (T, B, H)

    delta_z = np.empty_like(preact)  # (T, B, 4H)
    delta_h = np.empty_like(cell_act)  # (T, B, H), kept for the ledger
    for t in reversed(range(len(preact))):
        i, f, g, o = np.split(gates[t], 4, axis=-1)  # 4 x (B, H) views
        delta_h[t] = d_outputs_tm[t] + d_next_h  # (dL1)
        step_h, step_c = delta_h[t], d_next_c  # (B, H) each, what this step's new h_t and c_t receive
        if keep is not None:
            step_h, step_c = keep[t] * delta_h[t], keep[t] * d_next_c  # (dM1)
        # c_t reaches the loss through h_t and through c_{t+1}: both paths add up here.
        delta_c = step_h * o * d_cell_act[t] + step_c  # (dL2) (B, H)
        delta_z[t] = np.concatenate(
            [delta_c * g, delta_c * cell[t], delta_c * i, step_h * cell_act[t]], axis=-1
        ) * d_gates[t]  # (dL3) (B, 4H)
        # (dL1) and (dL2) for step t-1, (dL8) at t = 1
        previous_h = dropout_product_backward(delta_z[t], recurrent_masks, recurrent_kernel)  # (dD2) (B, H)
        previous_c = delta_c * f  # (B, H)
        if keep is not None:  # a masked step passes both gradients on unchanged
            previous_h += ~keep[t] * delta_h[t]  # (dM1)
            previous_c += ~keep[t] * d_next_c  # (dM1)
        d_next_h, d_next_c = previous_h, previous_c

    # Weight gradients summed over all steps, one GEMM each (one per gate block with 4 dropout masks).
    input_blocks = dropout_blocks(x_tm, input_masks, delta_z)  # (dD1)
    recurrent_blocks = dropout_blocks(hidden[:-1], recurrent_masks, delta_z)  # (dD2)
    d_kernel = summed_gradient(input_blocks)  # (dL4) (dD1) (D, 4H)
    d_recurrent = summed_gradient(recurrent_blocks)  # (dL5) (dD2) (H, 4H)
    d_bias = None if bias is None else delta_z.sum(axis=(0, 1))  # (dL6) (4H,)
    d_x = None
    if d_inputs:
        d_x = batch_major(dropout_product_backward(delta_z, input_masks, kernel),
                          cache["go_backwards"])  # (dL7) (dD1) (B, T, D)

    per_step = None if not ledger else ledger_of_blocks(
        input_blocks, recurrent_blocks, [delta_z], None if bias is None else bias.shape, delta_h)
    return Gradients(d_x, (d_next_h, d_next_c), stored(targets, (d_kernel, d_recurrent, d_bias)), per_step)
