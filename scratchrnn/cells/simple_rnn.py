"""SimpleRNN (Elman) cell: forward over a sequence and backpropagation through time.

Shapes: B batch, T time, D input features, H hidden units.
Weights (Keras layout): kernel W (D, H), recurrent_kernel U (H, H), bias b (H,).
phi is ``activation`` (tanh by default).

Forward, for t = 1..T, from h_0:
    (L1)  a_t = x_t W + h_{t-1} U + b                 pre-activation         (B, H)
    (L2)  h_t = phi(a_t)                              hidden state, output   (B, H)

Backward, for t = T..1, given the upstream gradients dy_t = dLoss/dh_t (from the outputs) and
dh_T^final (from the final state); delta_* is the total gradient of the loss w.r.t. that quantity:
    (dL1) delta_h_t = dy_t + delta_a_{t+1} U^T        (delta_a_{T+1} U^T := dh_T^final)
    (dL2) delta_a_t = delta_h_t * phi'(a_t)
    (dL3) dW  = sum_t x_t^T delta_a_t
    (dL4) dU  = sum_t h_{t-1}^T delta_a_t
    (dL5) db  = sum_t sum_batch delta_a_t
    (dL6) dx_t = delta_a_t W^T
    (dL7) dh_0 = delta_a_1 U^T

The derivation is in docs/simple_rnn.md.
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


def forward(x, initial_states, weights, *, activation="tanh", go_backwards=False):
    """Run the cell over x (B, T, D) from initial_states (h_0,); see the module docstring."""
    kernel, recurrent_kernel, bias = weights
    phi = activations.get(activation)
    (h0,) = initial_states
    x_tm = time_major(x, go_backwards)  # (T, B, D)
    steps, batch = x_tm.shape[:2]
    units = recurrent_kernel.shape[0]

    # The input half of (L1) for all steps in one GEMM; only the recurrence loops over time.
    x_projected = x_tm @ kernel  # (T, B, H)
    if bias is not None:
        x_projected += bias
    preact = np.empty((steps, batch, units), dtype=x_projected.dtype)  # (T, B, H)
    hidden = np.empty((steps + 1, batch, units), dtype=x_projected.dtype)  # (T+1, B, H), h_0..h_T
    hidden[0] = h0
    for t in range(steps):
        preact[t] = x_projected[t] + hidden[t] @ recurrent_kernel  # (L1)
        hidden[t + 1] = phi.forward(preact[t])  # (L2)

    cache = dict(x_tm=x_tm, preact=preact, hidden=hidden, weights=weights, phi=phi,
                 go_backwards=go_backwards)
    return read_only_outputs(hidden), (hidden[-1].copy(),), cache


def backward(d_outputs, d_final_states, cache, ledger=False, weight_gradients=None, d_inputs=True):
    """Gradients of the loss w.r.t. inputs, h_0 and weights; see the module docstring."""
    kernel, recurrent_kernel, bias = cache["weights"]
    targets = weight_gradient_targets(weight_gradients, cache["weights"])
    x_tm, preact, hidden, phi = cache["x_tm"], cache["preact"], cache["hidden"], cache["phi"]
    d_outputs_tm, d_next = upstream(d_outputs, d_final_states[0], hidden[1:])  # (T, B, H), (B, H)

    delta_a = np.empty_like(preact)  # (T, B, H)
    delta_h = np.empty_like(preact)  # (T, B, H), kept for the ledger
    for t in reversed(range(len(preact))):
        delta_h[t] = d_outputs_tm[t] + d_next  # (dL1)
        delta_a[t] = delta_h[t] * phi.derivative(preact[t], hidden[t + 1])  # (dL2)
        d_next = delta_a[t] @ recurrent_kernel.T  # (dL1) for step t-1, (dL7) at t = 1

    # Weight gradients summed over all steps, one GEMM each.
    d_kernel = flat_steps(x_tm).T @ flat_steps(delta_a)  # (dL3) (D, H)
    d_recurrent = flat_steps(hidden[:-1]).T @ flat_steps(delta_a)  # (dL4) (H, H)
    d_bias = None if bias is None else delta_a.sum(axis=(0, 1))  # (dL5) (H,)
    d_x = None if not d_inputs else batch_major(delta_a @ kernel.T, cache["go_backwards"])  # (dL6) (B, T, D)

    per_step = None if not ledger else step_ledger(
        x_tm, delta_a, [(hidden[:-1], delta_a)], [delta_a], None if bias is None else bias.shape, delta_h)
    return Gradients(d_x, (d_next,), stored(targets, (d_kernel, d_recurrent, d_bias)), per_step)
