"""GRU cell, both Keras variants: forward over a sequence and backpropagation through time.

Shapes: B batch, T time, D input features, H hidden units.
Weights (Keras layout, gate blocks z | r | h along the 3H axis): kernel W (D, 3H),
recurrent_kernel U (H, 3H), with U_zr = U[:, :2H] and U_h = U[:, 2H:]; bias (2, 3H) when
reset_after (row 0 b_in, row 1 b_rec), (3H,) = b_in otherwise.
sigma is ``recurrent_activation`` (sigmoid), phi is ``activation`` (tanh).
Variant tags: (..a) reset_after=True, the Keras default (cuDNN, PyTorch); (..b) reset_after=False.

Forward, for t = 1..T, from h_0:
    (L1)  [x_z | x_r | x_h] = x_t W + b_in                     input projection        (B, 3H)
    (L2a) [rec_z | rec_r | rec_h] = h_{t-1} U + b_rec          recurrent projection    (B, 3H)
    (L2b) [rec_z | rec_r] = h_{t-1} U_zr                       recurrent projection    (B, 2H)
    (L3)  z_t = sigma(a_z),  a_z = x_z + rec_z                 update gate             (B, H)
    (L4)  r_t = sigma(a_r),  a_r = x_r + rec_r                 reset gate              (B, H)
    (L5a) a_h = x_h + r_t * rec_h                              reset after U_h         (B, H)
    (L5b) a_h = x_h + s_t U_h,  s_t = r_t * h_{t-1}            reset before U_h        (B, H)
    (L6)  hh_t = phi(a_h)                                      candidate state         (B, H)
    (L7)  h_t = z_t * h_{t-1} + (1 - z_t) * hh_t               hidden state, output    (B, H)

Backward, for t = T..1, given the upstream gradients dy_t = dLoss/dh_t (from the outputs) and
dh_T^final (from the final state); delta_* is the total gradient of the loss w.r.t. that quantity:
    (dL1)  delta_h_t = dy_t + carry_t                    (carry_T = dh_T^final, carry_{t-1} from dL7)
    (dL2)  delta_a_h = delta_h_t * (1 - z_t) * phi'(a_h)
    (dL3)  delta_a_z = delta_h_t * (h_{t-1} - hh_t) * sigma'(a_z)
    (dL4a) delta_a_r = delta_a_h * rec_h * sigma'(a_r)
    (dL4b) delta_s = delta_a_h U_h^T;  delta_a_r = delta_s * h_{t-1} * sigma'(a_r)
    (dL5)  delta_xp_t = [delta_a_z | delta_a_r | delta_a_h]           at the output of (L1)
    (dL6a) delta_rec_t = [delta_a_z | delta_a_r | r_t * delta_a_h]    at the output of (L2a)
    (dL6b) delta_rec_t = [delta_a_z | delta_a_r]                      at the output of (L2b)
    (dL7a) carry_{t-1} = delta_h_t * z_t + delta_rec_t U^T
    (dL7b) carry_{t-1} = delta_h_t * z_t + delta_rec_t U_zr^T + delta_s * r_t
    (dL8)  dW = sum_t x_t^T delta_xp_t
    (dL9a) dU = sum_t h_{t-1}^T delta_rec_t
    (dL9b) dU_zr = sum_t h_{t-1}^T delta_rec_t;  dU_h = sum_t s_t^T delta_a_h
    (dL10a) db = [sum_{t,batch} delta_xp_t ; sum_{t,batch} delta_rec_t]       (2, 3H)
    (dL10b) db = sum_{t,batch} delta_xp_t                                     (3H,)
    (dL11) dx_t = delta_xp_t W^T
    (dL12) dh_0 = carry_0

The derivation is in docs/gru.md.
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


def split_bias(bias, units, reset_after):
    """(input bias, recurrent bias) of the Keras bias: rows b_in, b_rec of a (2, 3H) reset_after bias,
    or the (3H,) bias and None; a bias of the other variant's shape is a ValueError, since a (2, 3H)
    bias would otherwise broadcast silently over a batch of 2."""
    expected = (2, 3 * units) if reset_after else (3 * units,)
    if bias is not None and bias.shape != expected:
        raise ValueError(f"bias: expected shape {expected} for reset_after={reset_after}, got {bias.shape}")
    if bias is None or not reset_after:
        return bias, None
    return bias[0], bias[1]

def forward(x, initial_states, weights, *, activation="tanh", recurrent_activation="sigmoid",
            reset_after=True, go_backwards=False):
    """Run the cell over x (B, T, D) from initial_states (h_0,); see the module docstring."""
    kernel, recurrent_kernel, bias = weights
    phi, sigma = activations.get(activation), activations.get(recurrent_activation)
    (h0,) = initial_states
    x_tm = time_major(x, go_backwards)  # (T, B, D)
    steps, batch = x_tm.shape[:2]
    units = recurrent_kernel.shape[0]
    zr = 2 * units  # the z and r blocks share sigma and are computed together
    input_bias, recurrent_bias = split_bias(bias, units, reset_after)  # (3H,) or None each

    # (L1) for all steps in one GEMM; only the recurrence loops over time.
    x_projected = x_tm @ kernel  # (L1) (T, B, 3H)
    if input_bias is not None:
        x_projected += input_bias  # (L1)
    preact = np.empty_like(x_projected)  # (T, B, 3H), a_z | a_r | a_h
    gates = np.empty_like(x_projected)  # (T, B, 3H), z | r | hh
    hidden = np.empty((steps + 1, batch, units), dtype=x_projected.dtype)  # (T+1, B, H), h_0..h_T
    hidden[0] = h0
    # (dL4a) needs rec_h, which only reset_after keeps apart from the candidate's pre-activation.
    rec_h = np.empty((steps, batch, units), dtype=x_projected.dtype) if reset_after else None  # (T, B, H)
    for t in range(steps):
        h_prev = hidden[t]
        if reset_after:
            rec = h_prev @ recurrent_kernel  # (L2a) (B, 3H)
            if recurrent_bias is not None:
                rec += recurrent_bias  # (L2a)
            rec_h[t] = rec[:, zr:]
        else:
            rec = h_prev @ recurrent_kernel[:, :zr]  # (L2b) (B, 2H)
        preact[t, :, :zr] = x_projected[t, :, :zr] + rec[:, :zr]  # (L3) (L4)
        gates[t, :, :zr] = sigma.forward(preact[t, :, :zr])  # (L3) (L4)
        z, r = gates[t, :, :units], gates[t, :, units:zr]
        if reset_after:
            preact[t, :, zr:] = x_projected[t, :, zr:] + r * rec_h[t]  # (L5a)
        else:
            preact[t, :, zr:] = x_projected[t, :, zr:] + (r * h_prev) @ recurrent_kernel[:, zr:]  # (L5b)
        gates[t, :, zr:] = phi.forward(preact[t, :, zr:])  # (L6)
        hidden[t + 1] = z * h_prev + (1.0 - z) * gates[t, :, zr:]  # (L7)

    cache = dict(x_tm=x_tm, preact=preact, gates=gates, hidden=hidden, rec_h=rec_h, weights=weights,
                 phi=phi, sigma=sigma, reset_after=reset_after, go_backwards=go_backwards)
    return read_only_outputs(hidden), (hidden[-1].copy(),), cache


def backward(d_outputs, d_final_states, cache, ledger=False, weight_gradients=None, d_inputs=True):
    """Gradients of the loss w.r.t. inputs, h_0 and weights; see the module docstring."""
    kernel, recurrent_kernel, bias = cache["weights"]
    targets = weight_gradient_targets(weight_gradients, cache["weights"])
    x_tm, preact, gates, hidden = cache["x_tm"], cache["preact"], cache["gates"], cache["hidden"]
    phi, sigma, rec_h, reset_after = cache["phi"], cache["sigma"], cache["rec_h"], cache["reset_after"]
    units = hidden.shape[-1]
    zr = 2 * units
    d_outputs_tm, d_next = upstream(d_outputs, d_final_states[0], hidden[1:])  # (T, B, H), (B, H)

    delta_xp = np.empty_like(preact)  # (dL5) (T, B, 3H), delta_a_z | delta_a_r | delta_a_h, filled below
    # reset_after: r scales the h block, so its gradient differs from delta_xp there; kept for dU, db.
    delta_rec = np.empty_like(preact) if reset_after else None  # (T, B, 3H)
    delta_h = np.empty_like(hidden[1:])  # (T, B, H), kept for the ledger
    for t in reversed(range(len(preact))):
        h_prev = hidden[t]
        z, r, hh = gates[t, :, :units], gates[t, :, units:zr], gates[t, :, zr:]
        delta_h[t] = d_outputs_tm[t] + d_next  # (dL1)
        delta_xp[t, :, zr:] = delta_h[t] * (1.0 - z) * phi.derivative(preact[t, :, zr:], hh)  # (dL2)
        delta_xp[t, :, :units] = (delta_h[t] * (h_prev - hh)
                                  * sigma.derivative(preact[t, :, :units], z))  # (dL3)
        sigma_r = sigma.derivative(preact[t, :, units:zr], r)  # (B, H)
        if reset_after:
            delta_xp[t, :, units:zr] = delta_xp[t, :, zr:] * rec_h[t] * sigma_r  # (dL4a)
            delta_rec[t, :, :zr] = delta_xp[t, :, :zr]  # (dL6a)
            delta_rec[t, :, zr:] = r * delta_xp[t, :, zr:]  # (dL6a)
            d_next = delta_h[t] * z + delta_rec[t] @ recurrent_kernel.T  # (dL7a), (dL12) at t = 1
        else:
            delta_s = delta_xp[t, :, zr:] @ recurrent_kernel[:, zr:].T  # (dL4b) (B, H)
            delta_xp[t, :, units:zr] = delta_s * h_prev * sigma_r  # (dL4b)
            d_next = (delta_h[t] * z + delta_xp[t, :, :zr] @ recurrent_kernel[:, :zr].T
                      + delta_s * r)  # (dL6b) (dL7b), (dL12) at t = 1

    # Each recurrent-kernel column block pairs the matrix it multiplies with the gradient at its
    # product; reset before U_h, that matrix is s_t = r_t * h_{t-1} for the h block.
    if reset_after:
        recurrent_blocks = [(hidden[:-1], delta_rec)]  # (dL9a)
    else:
        s = gates[:, :, units:zr] * hidden[:-1]  # (L5b) (T, B, H)
        recurrent_blocks = [(hidden[:-1], delta_xp[:, :, :zr]), (s, delta_xp[:, :, zr:])]  # (dL9b)
    bias_deltas = (delta_xp, delta_rec) if reset_after else (delta_xp,)  # (dL10a) (dL10b)

    # Weight gradients summed over all steps, one GEMM per weight (per column block for dL9b).
    d_kernel = flat_steps(x_tm).T @ flat_steps(delta_xp)  # (dL8) (D, 3H)
    d_recurrent = np.concatenate([flat_steps(a).T @ flat_steps(d) for a, d in recurrent_blocks],
                                 axis=1)  # (dL9a) (dL9b) (H, 3H)
    d_bias = None
    if bias is not None:
        d_bias = np.stack([d.sum(axis=(0, 1)) for d in bias_deltas]).reshape(
            bias.shape)  # (dL10a) (dL10b) (2, 3H) | (3H,)
    d_x = None if not d_inputs else batch_major(delta_xp @ kernel.T, cache["go_backwards"])  # (dL11)

    per_step = None if not ledger else step_ledger(
        x_tm, delta_xp, recurrent_blocks, bias_deltas, None if bias is None else bias.shape, delta_h)
    return Gradients(d_x, (d_next,), stored(targets, (d_kernel, d_recurrent, d_bias)), per_step)
