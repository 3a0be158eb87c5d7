"""GRU kernel, both Keras variants: the same forward/backward as ``scratchrnn/cells/gru.py``, with the
time loop in Numba. The equations (L1)-(L7), (dL1)-(dL12), with variant tags (..a) reset_after=True and
(..b) reset_after=False, and their derivation live there; the tags below point to them.

Shapes: B batch, T time, D input features, H hidden units; the 3H axis holds the gate blocks z, r, h.
Arrays are time-major inside. The loop is "jit" (all Numba) or "blas" (Python loop, BLAS products per
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
    scalar_like,
    summed_over_steps,
    upstream_time_major,
    use_jit_loop,
)


def forward(x, initial_states, weights, *, activation="tanh", recurrent_activation="sigmoid",
            reset_after=True, go_backwards=False):
    """Run the cell over x (B, T, D) from initial_states (h_0,); see cells/gru.py."""
    kernel, recurrent_kernel, bias = weights
    phi, sigma = activation_code(activation), activation_code(recurrent_activation)
    (h0,) = initial_states
    units = recurrent_kernel.shape[0]
    zr = 2 * units  # the z and r blocks share sigma and are computed together
    # A (2, 3H) bias meant for reset_after would broadcast silently over a batch of 2.
    bias_shape = (2, 3 * units) if reset_after else (3 * units,)
    if bias is not None and bias.shape != bias_shape:
        raise ValueError(f"bias: expected shape {bias_shape} for reset_after={reset_after}, got {bias.shape}")
    input_bias, recurrent_bias = bias, None
    if bias is not None and reset_after:
        input_bias, recurrent_bias = bias  # (3H,), (3H,): b_in, b_rec

    x_tm, x_projected = input_projection(x, kernel, input_bias, go_backwards)  # (L1) (T, B, D), (T, B, 3H)
    steps, batch = x_projected.shape[:2]
    dtype = x_projected.dtype
    recurrent_kernel = as_contiguous(recurrent_kernel, dtype)  # (H, 3H)
    preact = np.empty_like(x_projected)  # (T, B, 3H), a_z | a_r | a_h
    gates = np.empty_like(x_projected)  # (T, B, 3H), z | r | hh
    hidden = np.empty((steps + 1, batch, units), dtype=dtype)  # (T+1, B, H), h_0..h_T
    hidden[0] = h0
    jit_loop = use_jit_loop(batch, units)
    scratch = None if jit_loop else np.empty((batch, units), dtype=dtype)  # (B, H), for (L7), "blas" loop
    if reset_after:
        # (dL4a) needs rec_h, which only reset_after keeps apart from the candidate's pre-activation.
        rec_h = np.empty((steps, batch, units), dtype=dtype)  # (T, B, H)
        rec = np.empty((batch, 3 * units), dtype=dtype)  # (B, 3H), scratch for (L2a)
        if recurrent_bias is None:
            recurrent_bias = np.zeros(3 * units, dtype=dtype)  # (3H,); adding 0 changes nothing
        recurrent_bias = as_contiguous(recurrent_bias, dtype)
        if jit_loop:
            _forward_loop_after(x_projected, recurrent_kernel, recurrent_bias, phi, sigma, rec, preact,
                                gates, rec_h, hidden)
        else:
            for t in range(steps):
                np.matmul(hidden[t], recurrent_kernel, out=rec)  # (L2a)
                rec += recurrent_bias  # (L2a)
                _forward_step_after_numpy(t, x_projected, phi, sigma, rec, preact, gates, rec_h, hidden,
                                          scratch)
        reset_input = None
    else:
        rec_h = None
        rec_zr = np.empty((batch, zr), dtype=dtype)  # (B, 2H), scratch for (L2b)
        reset_input = np.empty((steps, batch, units), dtype=dtype)  # (T, B, H), s_t of (L5b)
        rec_s = np.empty((batch, units), dtype=dtype)  # (B, H), scratch for s_t U_h
        if jit_loop:
            _forward_loop_before(x_projected, recurrent_kernel, phi, sigma, rec_zr, rec_s, preact, gates,
                                 reset_input, hidden)
        else:
            recurrent_zr, recurrent_h = recurrent_kernel[:, :zr], recurrent_kernel[:, zr:]  # (H, 2H), (H, H)
            for t in range(steps):
                np.matmul(hidden[t], recurrent_zr, out=rec_zr)  # (L2b)
                _gates_zr_numpy(t, x_projected, sigma, rec_zr, preact, gates)  # (L3) (L4)
                np.multiply(gates[t, :, units:zr], hidden[t], out=reset_input[t])  # (L5b) s_t
                np.matmul(reset_input[t], recurrent_h, out=rec_s)  # (L5b)
                _candidate_numpy(t, x_projected, phi, rec_s, preact, gates, hidden,
                                 scratch)  # (L5b) (L6) (L7)

    cache = dict(x_tm=x_tm, preact=preact, gates=gates, hidden=hidden, rec_h=rec_h, reset_input=reset_input,
                 weights=weights, phi=phi, sigma=sigma, reset_after=reset_after, go_backwards=go_backwards,
                 batch_shape=x.shape)
    return batch_major(hidden[1:], False), (hidden[-1].copy(),), cache


@njit(cache=True)
def _forward_loop_after(x_projected, recurrent_kernel, recurrent_bias, phi, sigma, rec, preact, gates,
                        rec_h, hidden):
    steps, batch, units = rec_h.shape
    for t in range(steps):
        matmul_into(hidden[t], recurrent_kernel, 0, units, 0, rec)  # (L2a)
        for b in range(batch):
            for j in range(3 * units):
                rec[b, j] += recurrent_bias[j]  # (L2a)
            for j in range(2 * units):
                a = x_projected[t, b, j] + rec[b, j]  # (L3) (L4)
                preact[t, b, j] = a
                gates[t, b, j] = activate(sigma, a)  # (L3) (L4)
            for j in range(units):
                z, r = gates[t, b, j], gates[t, b, units + j]
                rec_h[t, b, j] = rec[b, 2 * units + j]
                a = x_projected[t, b, 2 * units + j] + r * rec_h[t, b, j]  # (L5a)
                preact[t, b, 2 * units + j] = a
                hh = activate(phi, a)  # (L6)
                gates[t, b, 2 * units + j] = hh
                hidden[t + 1, b, j] = z * hidden[t, b, j] + (scalar_like(1.0, z) - z) * hh  # (L7)


def _forward_step_after_numpy(t, x_projected, phi, sigma, rec, preact, gates, rec_h, hidden, scratch):
    """Step t after (L2a) (rec holds h_{t-1} U + b_rec), as in-place NumPy ufuncs."""
    units = hidden.shape[2]
    zr = 2 * units
    rec_h[t] = rec[:, zr:]
    _gates_zr_numpy(t, x_projected, sigma, rec[:, :zr], preact, gates)  # (L3) (L4)
    np.multiply(gates[t, :, units:zr], rec_h[t], out=preact[t, :, zr:])  # (L5a)
    np.add(x_projected[t, :, zr:], preact[t, :, zr:], out=preact[t, :, zr:])  # (L5a)
    _candidate_tail_numpy(t, phi, gates, preact, hidden, scratch)  # (L6) (L7)


def _gates_zr_numpy(t, x_projected, sigma, rec_zr, preact, gates):
    zr = rec_zr.shape[1]
    np.add(x_projected[t, :, :zr], rec_zr, out=preact[t, :, :zr])  # (L3) (L4)
    activate_numpy(sigma, preact[t, :, :zr], gates[t, :, :zr])  # (L3) (L4)


def _candidate_numpy(t, x_projected, phi, rec_s, preact, gates, hidden, scratch):
    zr = 2 * hidden.shape[2]
    np.add(x_projected[t, :, zr:], rec_s, out=preact[t, :, zr:])  # (L5b)
    _candidate_tail_numpy(t, phi, gates, preact, hidden, scratch)  # (L6) (L7)


def _candidate_tail_numpy(t, phi, gates, preact, hidden, scratch):
    units = hidden.shape[2]
    zr = 2 * units
    activate_numpy(phi, preact[t, :, zr:], gates[t, :, zr:])  # (L6)
    z, hh = gates[t, :, :units], gates[t, :, zr:]
    # h_t = z * h_{t-1} + (1 - z) * hh in place: hidden[t+1] = (1 - z) * hh, then += z * h_{t-1}
    np.subtract(1.0, z, out=hidden[t + 1])  # (L7)
    hidden[t + 1] *= hh  # (L7)
    np.multiply(z, hidden[t], out=scratch)  # (L7)
    hidden[t + 1] += scratch  # (L7)


@njit(cache=True)
def _forward_loop_before(x_projected, recurrent_kernel, phi, sigma, rec_zr, rec_s, preact, gates,
                         reset_input, hidden):
    steps, batch, units = reset_input.shape
    for t in range(steps):
        matmul_into(hidden[t], recurrent_kernel, 0, units, 0, rec_zr)  # (L2b)
        for b in range(batch):
            for j in range(2 * units):
                a = x_projected[t, b, j] + rec_zr[b, j]  # (L3) (L4)
                preact[t, b, j] = a
                gates[t, b, j] = activate(sigma, a)  # (L3) (L4)
            for j in range(units):
                reset_input[t, b, j] = gates[t, b, units + j] * hidden[t, b, j]  # (L5b) s_t
        matmul_into(reset_input[t], recurrent_kernel, 0, units, 2 * units, rec_s)  # (L5b) s_t U_h
        for b in range(batch):
            for j in range(units):
                z = gates[t, b, j]
                a = x_projected[t, b, 2 * units + j] + rec_s[b, j]  # (L5b)
                preact[t, b, 2 * units + j] = a
                hh = activate(phi, a)  # (L6)
                gates[t, b, 2 * units + j] = hh
                hidden[t + 1, b, j] = z * hidden[t, b, j] + (scalar_like(1.0, z) - z) * hh  # (L7)


def backward(d_outputs, d_final_states, cache, ledger=False):
    """Gradients of the loss w.r.t. inputs, h_0 and weights; see cells/gru.py."""
    kernel, recurrent_kernel, bias = cache["weights"]
    x_tm, preact, gates, hidden = cache["x_tm"], cache["preact"], cache["gates"], cache["hidden"]
    phi, sigma, rec_h, reset_after = cache["phi"], cache["sigma"], cache["rec_h"], cache["reset_after"]
    steps, batch, units = hidden.shape[0] - 1, hidden.shape[1], hidden.shape[2]
    zr = 2 * units
    d_outputs_tm, d_next = upstream_time_major(d_outputs, d_final_states[0], hidden)  # (T,B,H), (B,H)
    recurrent_kernel_t = as_contiguous(recurrent_kernel.T, preact.dtype)  # (3H, H), U^T

    delta_xp = np.empty_like(preact)  # (dL5) (T, B, 3H), delta_a_z | delta_a_r | delta_a_h, filled below
    delta_h = np.empty_like(hidden[1:])  # (T, B, H), kept for the ledger
    carry = np.empty_like(d_next)  # (B, H), scratch: delta_h_t * z_t of (dL7a) (dL7b)
    jit_loop = use_jit_loop(batch, units)
    if reset_after:
        # r scales the h block, so its gradient differs from delta_xp there; kept for dU, db.
        delta_rec = np.empty_like(preact)  # (T, B, 3H)
        if jit_loop:
            _backward_loop_after(phi, sigma, d_outputs_tm, d_next, preact, gates, rec_h, hidden,
                                 recurrent_kernel_t, carry, delta_h, delta_xp, delta_rec)
        else:
            for t in range(steps - 1, -1, -1):
                _backward_step_after(t, phi, sigma, d_outputs_tm, d_next, preact, gates, rec_h, hidden,
                                     carry, delta_h, delta_xp, delta_rec)
                np.matmul(delta_rec[t], recurrent_kernel_t, out=d_next)  # (dL7a)
                d_next += carry  # (dL7a), (dL12) at t = 1
    else:
        delta_rec = None
        delta_s = np.empty_like(d_next)  # (B, H), scratch for (dL4b)
        if jit_loop:
            _backward_loop_before(phi, sigma, d_outputs_tm, d_next, preact, gates, hidden,
                                  recurrent_kernel_t, carry, delta_s, delta_h, delta_xp)
        else:
            recurrent_zr_t, recurrent_h_t = recurrent_kernel_t[:zr], recurrent_kernel_t[zr:]  # (2H,H), (H,H)
            for t in range(steps - 1, -1, -1):
                _backward_step_before_1(t, phi, sigma, d_outputs_tm, d_next, preact, gates, hidden, carry,
                                        delta_h, delta_xp)
                np.matmul(delta_xp[t, :, zr:], recurrent_h_t, out=delta_s)  # (dL4b)
                _backward_step_before_2(t, sigma, preact, gates, hidden, delta_s, delta_xp)
                np.matmul(delta_xp[t, :, :zr], recurrent_zr_t, out=d_next)  # (dL7b)
                _backward_step_before_3(t, gates, carry, delta_s, d_next)  # (dL6b) (dL7b), (dL12) at t = 1

    # Each recurrent-kernel column block pairs the matrix it multiplies with the gradient at its
    # product; reset before U_h, that matrix is s_t = r_t * h_{t-1} for the h block.
    if reset_after:
        recurrent_blocks = [(hidden[:-1], delta_rec)]  # (dL9a)
    else:
        s = cache["reset_input"]  # (L5b) (T, B, H)
        recurrent_blocks = [(hidden[:-1], delta_xp[:, :, :zr]), (s, delta_xp[:, :, zr:])]  # (dL9b)
    bias_deltas = (delta_xp, delta_rec) if reset_after else (delta_xp,)  # (dL10a) (dL10b)

    # Weight gradients summed over all steps, one GEMM per weight (per column block for dL9b).
    d_kernel = summed_over_steps(x_tm, delta_xp)  # (dL8) (D, 3H)
    d_recurrent = np.concatenate([summed_over_steps(a, d) for a, d in recurrent_blocks],
                                 axis=1)  # (dL9a) (dL9b) (H, 3H)
    d_bias = None
    if bias is not None:
        d_bias = np.stack([d.sum(axis=(0, 1)) for d in bias_deltas]).reshape(
            bias.shape)  # (dL10a) (dL10b) (2, 3H) | (3H,)
    d_x = input_gradient(delta_xp, kernel, cache["go_backwards"])  # (dL11) (B, T, D)

    per_step = None
    if ledger:
        per_step = {
            "kernel": step_contributions(x_tm, delta_xp),  # (T, D, 3H)
            "recurrent_kernel": np.concatenate(
                [step_contributions(a, d) for a, d in recurrent_blocks], axis=2),  # (T, H, 3H)
            "hidden": delta_h,  # (T, B, H)
        }
        if bias is not None:
            per_step["bias"] = np.stack([d.sum(axis=1) for d in bias_deltas], axis=1).reshape(
                steps, *bias.shape)  # (T, 2, 3H) | (T, 3H)
    return Gradients(d_x, (d_next,), (d_kernel, d_recurrent, d_bias), per_step)


@njit(cache=True)
def _candidate_deltas(t, b, j, phi, sigma, d_outputs_tm, d_next, preact, gates, hidden, carry, delta_h,
                      delta_xp):
    """(dL1)-(dL3) for element (b, j) of step t, shared by both variants: writes delta_h_t,
    delta_a_h, delta_a_z and carry = delta_h_t * z_t."""
    units = hidden.shape[2]
    z, hh = gates[t, b, j], gates[t, b, 2 * units + j]
    dh = d_outputs_tm[t, b, j] + d_next[b, j]  # (dL1)
    delta_h[t, b, j] = dh
    one = scalar_like(1.0, z)
    delta_xp[t, b, 2 * units + j] = dh * (one - z) * derivative(phi, preact[t, b, 2 * units + j], hh)  # (dL2)
    delta_xp[t, b, j] = dh * (hidden[t, b, j] - hh) * derivative(sigma, preact[t, b, j], z)  # (dL3)
    carry[b, j] = dh * z  # first term of (dL7a) (dL7b)


@njit(cache=True)
def _backward_step_after(t, phi, sigma, d_outputs_tm, d_next, preact, gates, rec_h, hidden, carry, delta_h,
                         delta_xp, delta_rec):
    """Step t's element-wise part; d_next holds carry_t on entry (dL1)."""
    batch, units = d_next.shape
    for b in range(batch):
        for j in range(units):
            _candidate_deltas(t, b, j, phi, sigma, d_outputs_tm, d_next, preact, gates, hidden, carry,
                              delta_h, delta_xp)
            r = gates[t, b, units + j]
            delta_a_h = delta_xp[t, b, 2 * units + j]
            delta_xp[t, b, units + j] = (delta_a_h * rec_h[t, b, j]
                                         * derivative(sigma, preact[t, b, units + j], r))  # (dL4a)
            delta_rec[t, b, j] = delta_xp[t, b, j]  # (dL6a)
            delta_rec[t, b, units + j] = delta_xp[t, b, units + j]  # (dL6a)
            delta_rec[t, b, 2 * units + j] = r * delta_a_h  # (dL6a)


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
    batch, units = d_next.shape
    for b in range(batch):
        for j in range(units):
            _candidate_deltas(t, b, j, phi, sigma, d_outputs_tm, d_next, preact, gates, hidden, carry,
                              delta_h, delta_xp)


@njit(cache=True)
def _backward_step_before_2(t, sigma, preact, gates, hidden, delta_s, delta_xp):
    """(dL4b) after delta_s = delta_a_h U_h^T."""
    batch, units = delta_s.shape
    for b in range(batch):
        for j in range(units):
            r = gates[t, b, units + j]
            delta_xp[t, b, units + j] = (delta_s[b, j] * hidden[t, b, j]
                                         * derivative(sigma, preact[t, b, units + j], r))  # (dL4b)


@njit(cache=True)
def _backward_step_before_3(t, gates, carry, delta_s, d_next):
    """(dL7b) after d_next = delta_rec_t U_zr^T."""
    batch, units = d_next.shape
    for b in range(batch):
        for j in range(units):
            r = gates[t, b, units + j]
            d_next[b, j] = carry[b, j] + d_next[b, j] + delta_s[b, j] * r  # (dL6b) (dL7b)


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
