"""SimpleRNN (Elman) cell: forward over a sequence and backpropagation through time.

Shapes: B batch, T time, D input features, H hidden units.
Weights (Keras layout): kernel W (D, H), recurrent_kernel U (H, H), bias b (H,).
phi is ``activation`` (tanh by default).

Forward, for t = 1..T, from h_0:
    (L1)  a_t = x_t W + h_{t-1} U + b                 pre-activation         (B, H)
    (L2)  h_t = phi(a_t)                              hidden state, output   (B, H)

With a ``mask`` (m_t (B, 1): step t is real, in processing order) the output is y_t, not h_t:
    (M1)  h_t = phi(a_t) where m_t, else h_{t-1}      a masked step keeps the state
    (M2)  y_t = h_t where s_t, else 0                 output; s_t = m_t with zero_output_for_mask,
                                                      else s_t = m_1 or .. or m_t (Keras repeats the
                                                      last real output, zeros before the first)
With dropout masks P (1, B, D) (``input_masks``) and Q (1, B, H) (``recurrent_masks``), one gate block:
    (D1)  x_t W  in (L1) reads  (x_t * P) W
    (D2)  h_{t-1} U  in (L1) reads  (h_{t-1} * Q) U   (only the product; the state itself is not dropped)

Backward, for t = T..1, given the upstream gradients dy_t = dLoss/dh_t (from the outputs) and
dh_T^final (from the final state); delta_* is the total gradient of the loss w.r.t. that quantity:
    (dL1) delta_h_t = dy_t + delta_a_{t+1} U^T        (delta_a_{T+1} U^T := dh_T^final)
    (dL2) delta_a_t = delta_h_t * phi'(a_t)
    (dL3) dW  = sum_t x_t^T delta_a_t
    (dL4) dU  = sum_t h_{t-1}^T delta_a_t
    (dL5) db  = sum_t sum_batch delta_a_t
    (dL6) dx_t = delta_a_t W^T
    (dL7) dh_0 = delta_a_1 U^T
With a mask (a masked step adds nothing to the weight gradients, its delta_a_t is zero):
    (dM1) (dL2) reads m_t * delta_h_t;  h_{t-1} receives (1 - m_t) * delta_h_t besides delta_a_t U^T
    (dM2) dy_t in (dL1) is s_t * dy_t
With dropout masks:
    (dD1) dW = sum_t (x_t * P)^T delta_a_t;          dx_t = (delta_a_t W^T) * P
    (dD2) dU = sum_t (h_{t-1} * Q)^T delta_a_t;      delta_a_t U^T in (dL1) is (delta_a_t U^T) * Q

The derivation is in docs/simple_rnn.md.
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


def forward(x, initial_states, weights, *, mask=None, input_masks=None, recurrent_masks=None,
            zero_output_for_mask=False, activation="tanh", go_backwards=False):
    """Run the cell over x (B, T, D) from initial_states (h_0,); see the module docstring."""
    kernel, recurrent_kernel, bias = weights
    phi = activations.get(activation)
    (h0,) = initial_states
    units = recurrent_kernel.shape[0]
    mask, input_masks, recurrent_masks = checked_masks(
        mask, input_masks, recurrent_masks, x, units, 1, np.result_type(x, kernel))
    keep, shown = time_mask(mask, go_backwards, zero_output_for_mask)  # (T, B, 1) each, or None
    x_tm = time_major(x, go_backwards)  # (T, B, D)
    steps, batch = x_tm.shape[:2]

    # The input half of (L1) for all steps in one GEMM; only the recurrence loops over time.
    x_projected = dropout_product(x_tm, input_masks, kernel)  # (L1) (D1) (T, B, H)
    if bias is not None:
        x_projected += bias
    preact = np.empty((steps, batch, units), dtype=x_projected.dtype)  # (T, B, H)
    hidden = np.empty((steps + 1, batch, units), dtype=x_projected.dtype)  # (T+1, B, H), h_0..h_T
    hidden[0] = h0
    for t in range(steps):
        recurrent = dropout_product(hidden[t], recurrent_masks, recurrent_kernel)  # (D2) (B, H)
        preact[t] = x_projected[t] + recurrent  # (L1)
        hidden[t + 1] = phi.forward(preact[t])  # (L2)
        if keep is not None:
            hidden[t + 1] = np.where(keep[t], hidden[t + 1], hidden[t])  # (M1)

    outputs = hidden[1:] if shown is None else np.where(shown, hidden[1:], 0)  # (M2) (T, B, H)
    cache = dict(x_tm=x_tm, preact=preact, hidden=hidden, weights=weights, phi=phi,
                 go_backwards=go_backwards, keep=keep, shown=shown, input_masks=input_masks,
                 recurrent_masks=recurrent_masks)
    return read_only(outputs), (hidden[-1].copy(),), cache


def backward(d_outputs, d_final_states, cache, ledger=False, weight_gradients=None, d_inputs=True):
    """Gradients of the loss w.r.t. inputs, h_0 and weights; see the module docstring."""
    kernel, recurrent_kernel, bias = cache["weights"]
    targets = weight_gradient_targets(weight_gradients, cache["weights"])
    x_tm, preact, hidden, phi = cache["x_tm"], cache["preact"], cache["hidden"], cache["phi"]
    keep, shown = cache["keep"], cache["shown"]
    input_masks, recurrent_masks = cache["input_masks"], cache["recurrent_masks"]
    d_outputs_tm, d_next = upstream(d_outputs, d_final_states[0], hidden[1:])  # (T, B, H), (B, H)
    if shown is not None:
        d_outputs_tm = d_outputs_tm * shown  # (dM2) (T, B, H)

    delta_a = np.empty_like(preact)  # (T, B, H)
    delta_h = np.empty_like(preact)  # (T, B, H), kept for the ledger
    for t in reversed(range(len(preact))):
        delta_h[t] = d_outputs_tm[t] + d_next  # (dL1)
        delta_step = delta_h[t] if keep is None else keep[t] * delta_h[t]  # (dM1) (B, H)
        delta_a[t] = delta_step * phi.derivative(preact[t], hidden[t + 1])  # (dL2)
        # (dL1) for step t-1, (dL7) at t = 1
        d_next = dropout_product_backward(delta_a[t], recurrent_masks, recurrent_kernel)  # (dD2) (B, H)
        if keep is not None:
            d_next += ~keep[t] * delta_h[t]  # (dM1) a masked step passes delta_h_t on unchanged

    # Weight gradients summed over all steps, one GEMM each (one per gate block with dropout masks).
    input_blocks = dropout_blocks(x_tm, input_masks, delta_a)  # (dD1)
    recurrent_blocks = dropout_blocks(hidden[:-1], recurrent_masks, delta_a)  # (dD2)
    d_kernel = summed_gradient(input_blocks)  # (dL3) (dD1) (D, H)
    d_recurrent = summed_gradient(recurrent_blocks)  # (dL4) (dD2) (H, H)
    d_bias = None if bias is None else delta_a.sum(axis=(0, 1))  # (dL5) (H,)
    d_x = None
    if d_inputs:
        d_x = batch_major(dropout_product_backward(delta_a, input_masks, kernel),
                          cache["go_backwards"])  # (dL6) (dD1) (B, T, D)

    per_step = None if not ledger else ledger_of_blocks(
        input_blocks, recurrent_blocks, [delta_a], None if bias is None else bias.shape, delta_h)
    return Gradients(d_x, (d_next,), stored(targets, (d_kernel, d_recurrent, d_bias)), per_step)
