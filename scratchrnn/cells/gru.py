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

With a ``mask`` (m_t (B, 1): step t is real, in processing order) the output is y_t, not h_t:
    (M1)  h_t = (L7) where m_t, else h_{t-1}           a masked step keeps the state
    (M2)  y_t = h_t where s_t, else 0                  output; s_t = m_t with zero_output_for_mask,
                                                       else s_t = m_1 or .. or m_t (Keras repeats the
                                                       last real output, zeros before the first)
    (dM1) (dL2), (dL3), (dL7) read m_t * delta_h_t; and carry_{t-1} gains (1 - m_t) * delta_h_t:
          a masked step passes delta_h_t straight on and adds nothing to the weight gradients
    (dM2) dy_t in (dL1) is s_t * dy_t
With dropout masks P^k (B, D) (``input_masks``) and Q^k (B, H) (``recurrent_masks``) for the gate blocks
k = z, r, h (or one P, one Q for all three). Only the recurrent products read h_{t-1} * Q^k; the
z_t * h_{t-1} of (L7) reads h_{t-1}:
    (D1)  x_t W  in (L1) reads  [(x_t * P^z) W_z | (x_t * P^r) W_r | (x_t * P^h) W_h]
    (D2)  h_{t-1} U in (L2a) reads [(h_{t-1} * Q^z) U_z | (h_{t-1} * Q^r) U_r | (h_{t-1} * Q^h) U_h];
          in (L2b) and (L5b) the z, r blocks likewise, and s_t = r_t * (h_{t-1} * Q^h)
    (dD1) dW_k = sum_t (x_t * P^k)^T delta_xp^k_t;      dx_t = sum_k (delta_xp^k_t W_k^T) * P^k
    (dD2) (dL9a), (dL9b) pair the blocks of delta_rec_t with h_{t-1} * Q^k (and s_t is dropped as above);
          in (dL7a), (dL7b) delta_rec_t U^T is sum_k (delta_rec^k_t U_k^T) * Q^k, and in (dL4b), (dL7b)
          delta_s reaches r_t as delta_s * (h_{t-1} * Q^h) and h_{t-1} as delta_s * r_t * Q^h

The derivation is in docs/gru.md.
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

def forward(x, initial_states, weights, *, mask=None, input_masks=None, recurrent_masks=None,
            zero_output_for_mask=False, activation="tanh", recurrent_activation="sigmoid", reset_after=True,
            go_backwards=False):
    """Run the cell over x (B, T, D) from initial_states (h_0,); see the module docstring."""
    kernel, recurrent_kernel, bias = weights
    phi, sigma = activations.get(activation), activations.get(recurrent_activation)
    (h0,) = initial_states
    units = recurrent_kernel.shape[0]
    mask, input_masks, recurrent_masks = checked_masks(
        mask, input_masks, recurrent_masks, x, units, 3, np.result_type(x, kernel))
    keep, shown = time_mask(mask, go_backwards, zero_output_for_mask)  # (T, B, 1) each, or None
    masks_zr, mask_h = _zr_and_h(recurrent_masks)  # (1 or 2, B, H) and (B, H), or None
    x_tm = time_major(x, go_backwards)  # (T, B, D)
    steps, batch = x_tm.shape[:2]
    zr = 2 * units  # the z and r blocks share sigma and are computed together
    input_bias, recurrent_bias = split_bias(bias, units, reset_after)  # (3H,) or None each

    # (L1) for all steps in one GEMM (one per gate block with 3 input masks); only the recurrence
    # loops over time.
    x_projected = dropout_product(x_tm, input_masks, kernel)  # (L1) (D1) (T, B, 3H)
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
            rec = dropout_product(h_prev, recurrent_masks, recurrent_kernel)  # (L2a) (D2) (B, 3H)
            if recurrent_bias is not None:
                rec += recurrent_bias  # (L2a)
            rec_h[t] = rec[:, zr:]
        else:
            rec = dropout_product(h_prev, masks_zr, recurrent_kernel[:, :zr])  # (L2b) (D2) (B, 2H)
        preact[t, :, :zr] = x_projected[t, :, :zr] + rec[:, :zr]  # (L3) (L4)
        gates[t, :, :zr] = sigma.forward(preact[t, :, :zr])  # (L3) (L4)
        z, r = gates[t, :, :units], gates[t, :, units:zr]
        if reset_after:
            preact[t, :, zr:] = x_projected[t, :, zr:] + r * rec_h[t]  # (L5a)
        else:
            h_dropped = h_prev if mask_h is None else h_prev * mask_h  # (D2) (B, H)
            preact[t, :, zr:] = x_projected[t, :, zr:] + (r * h_dropped) @ recurrent_kernel[:, zr:]  # (L5b)
        gates[t, :, zr:] = phi.forward(preact[t, :, zr:])  # (L6)
        hidden[t + 1] = z * h_prev + (1.0 - z) * gates[t, :, zr:]  # (L7)
        if keep is not None:
            hidden[t + 1] = np.where(keep[t], hidden[t + 1], h_prev)  # (M1)

    outputs = hidden[1:] if shown is None else np.where(shown, hidden[1:], 0)  # (M2) (T, B, H)
    cache = dict(x_tm=x_tm, preact=preact, gates=gates, hidden=hidden, rec_h=rec_h, weights=weights,
                 phi=phi, sigma=sigma, reset_after=reset_after, go_backwards=go_backwards, keep=keep,
                 shown=shown, input_masks=input_masks, recurrent_masks=recurrent_masks)
    return read_only(outputs), (hidden[-1].copy(),), cache


def _zr_and_h(recurrent_masks):
    """The recurrent dropout masks of the z and r blocks, (2, B, H) (or the one mask (1, B, H)), and
    that of the h block (B, H); Nones without masks. Reset before U_h, the two parts meet h_{t-1} in
    different products."""
    if recurrent_masks is None:
        return None, None
    return recurrent_masks[:2], recurrent_masks[-1]


def backward(d_outputs, d_final_states, cache, ledger=False, weight_gradients=None, d_inputs=True):
    """Gradients of the loss w.r.t. inputs, h_0 and weights; see the module docstring."""
    kernel, recurrent_kernel, bias = cache["weights"]
    targets = weight_gradient_targets(weight_gradients, cache["weights"])
    x_tm, preact, gates, hidden = cache["x_tm"], cache["preact"], cache["gates"], cache["hidden"]
    phi, sigma, rec_h, reset_after = cache["phi"], cache["sigma"], cache["rec_h"], cache["reset_after"]
    keep, shown = cache["keep"], cache["shown"]
    input_masks, recurrent_masks = cache["input_masks"], cache["recurrent_masks"]
    masks_zr, mask_h = _zr_and_h(recurrent_masks)  # (1 or 2, B, H) and (B, H), or None
    units = hidden.shape[-1]
    zr = 2 * units
    d_outputs_tm, d_next = upstream(d_outputs, d_final_states[0], hidden[1:])  # (T, B, H), (B, H)
    if shown is not None:
        d_outputs_tm = d_outputs_tm * shown  # (dM2) (T, B, H)

    delta_xp = np.empty_like(preact)  # (dL5) (T, B, 3H), delta_a_z | delta_a_r | delta_a_h, filled below
    # reset_after: r scales the h block, so its gradient differs from delta_xp there; kept for dU, db.
    delta_rec = np.empty_like(preact) if reset_after else None  # (T, B, 3H)
    delta_h = np.empty_like(hidden[1:])  # (T, B, H), kept for the ledger
    for t in reversed(range(len(preact))):
        h_prev = hidden[t]
        z, r, hh = gates[t, :, :units], gates[t, :, units:zr], gates[t, :, zr:]
        delta_h[t] = d_outputs_tm[t] + d_next  # (dL1)
        delta_step = delta_h[t] if keep is None else keep[t] * delta_h[t]  # (dM1) (B, H)
        delta_xp[t, :, zr:] = delta_step * (1.0 - z) * phi.derivative(preact[t, :, zr:], hh)  # (dL2)
        delta_xp[t, :, :units] = (delta_step * (h_prev - hh)
                                  * sigma.derivative(preact[t, :, :units], z))  # (dL3)
        sigma_r = sigma.derivative(preact[t, :, units:zr], r)  # (B, H)
        if reset_after:
            delta_xp[t, :, units:zr] = delta_xp[t, :, zr:] * rec_h[t] * sigma_r  # (dL4a)
            delta_rec[t, :, :zr] = delta_xp[t, :, :zr]  # (dL6a)
            delta_rec[t, :, zr:] = r * delta_xp[t, :, zr:]  # (dL6a)
            d_next = delta_step * z + dropout_product_backward(
                delta_rec[t], recurrent_masks, recurrent_kernel)  # (dL7a) (dD2), (dL12) at t = 1
        else:
            h_dropped = h_prev if mask_h is None else h_prev * mask_h  # (D2) (B, H)
            delta_s = delta_xp[t, :, zr:] @ recurrent_kernel[:, zr:].T  # (dL4b) (B, H)
            delta_xp[t, :, units:zr] = delta_s * h_dropped * sigma_r  # (dL4b) (dD2)
            through_s = delta_s * r if mask_h is None else delta_s * r * mask_h  # (dL7b) (dD2) (B, H)
            d_next = (delta_step * z + dropout_product_backward(delta_xp[t, :, :zr], masks_zr,
                                                                recurrent_kernel[:, :zr])
                      + through_s)  # (dL6b) (dL7b) (dD2), (dL12) at t = 1
        if keep is not None:
            d_next += ~keep[t] * delta_h[t]  # (dM1) a masked step passes delta_h_t on unchanged

    # Each recurrent-kernel column block pairs the matrix it multiplies with the gradient at its
    # product; reset before U_h, that matrix is s_t = r_t * h_{t-1} for the h block.
    if reset_after:
        recurrent_blocks = dropout_blocks(hidden[:-1], recurrent_masks, delta_rec)  # (dL9a) (dD2)
    else:
        h_dropped = hidden[:-1] if mask_h is None else hidden[:-1] * mask_h  # (D2) (T, B, H)
        s = gates[:, :, units:zr] * h_dropped  # (L5b) (T, B, H)
        recurrent_blocks = [*dropout_blocks(hidden[:-1], masks_zr, delta_xp[:, :, :zr]),
                            (s, delta_xp[:, :, zr:])]  # (dL9b) (dD2)
    input_blocks = dropout_blocks(x_tm, input_masks, delta_xp)  # (dD1)
    bias_deltas = (delta_xp, delta_rec) if reset_after else (delta_xp,)  # (dL10a) (dL10b)

    # Weight gradients summed over all steps, one GEMM per weight (per column block for dL9b and
    # with dropout masks per gate block).
    d_kernel = summed_gradient(input_blocks)  # (dL8) (dD1) (D, 3H)
    d_recurrent = summed_gradient(recurrent_blocks)  # (dL9a) (dL9b) (dD2) (H, 3H)
    d_bias = None
    if bias is not None:
        d_bias = np.stack([d.sum(axis=(0, 1)) for d in bias_deltas]).reshape(
            bias.shape)  # (dL10a) (dL10b) (2, 3H) | (3H,)
    d_x = None
    if d_inputs:
        d_x = batch_major(dropout_product_backward(delta_xp, input_masks, kernel),
                          cache["go_backwards"])  # (dL11) (dD1) (B, T, D)

    per_step = None if not ledger else ledger_of_blocks(
        input_blocks, recurrent_blocks, bias_deltas, None if bias is None else bias.shape, delta_h)
    return Gradients(d_x, (d_next,), stored(targets, (d_kernel, d_recurrent, d_bias)), per_step)
