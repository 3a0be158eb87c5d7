"""LSTM kernel: the same forward/backward as ``scratchrnn/cells/lstm.py``, with the time loop in Numba.
The equations (L1)-(L4), (dL1)-(dL8), the mask's (M1)-(M2), (dM1)-(dM2) and dropout's (D1)-(D2),
(dD1)-(dD2), and their derivation live there; the tags below point to them.

Shapes: B batch, T time, D input features, H hidden units; the 4H axis holds the gate blocks i, f, c, o.
Arrays are time-major inside. The loop is "jit" (all Numba) or "blas" (Python loop, BLAS product per
step), see ``_common``. A call with a mask or dropout masks runs loops of its own ("jit", NumPy) or the
MKL loops with the masks as arguments; without them, the plain loops (docs/performance.md, note 19).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..cells import Gradients, read_only_outputs, step_ledger, time_major, weight_gradient_targets
from ._common import (
    NO_STEPS,
    SIGMOID,
    TANH,
    DroppedProducts,
    TransposedProducts,
    activate,
    activate_numpy,
    activation_code,
    any_masks,
    as_contiguous,
    block_contributions,
    block_pairs,
    carry_masked_rows,
    derivative,
    dropped_input_gradient,
    dropped_input_projection,
    dropped_inputs,
    dropped_products_jit,
    from_tanh,
    input_gradient,
    input_projection,
    masked_outputs,
    masked_upstream,
    matmul_into,
    needs_preactivation,
    prepare_masks,
    recurrent_arguments,
    recurrent_gradient,
    spend,
    state_gradient,
    summed_by_blocks,
    summed_over_steps,
    tanh_argument,
    transposed_products_jit,
    transposed_products_packed,
    upstream_time_major,
    use_jit_loop,
    uses_tanh,
)
from ._packed_gemm import RecurrentProduct, packed_product, packs, tanh_address, vector_tanh
from ._parallel import NO_BARRIER, enabled, in_row_blocks, step_done, with_partner

# The size rule for this cell: its "blas" forward step runs tanh through NumPy over whole blocks, which
# moves the crossover down from _common's 256 (fwd + bwd, T=20, jit vs blas ms: B1 H50 0.14 vs 0.19,
# B1 H64 0.22 vs 0.23, B4 H16 0.16 vs 0.17, B1 H96 0.33 vs 0.30, B4 H24 0.24 vs 0.22, B4 H64 0.74 vs 0.33).
JIT_LOOP_MAX_BATCH_UNITS = 64
# The small path: in the "jit" loop, with at most this many rows (T x B), the input projection and the
# weight gradients are computed inside the loop too, which saves the fixed costs of those NumPy calls.
# Forward + backward, us, GEMMs / small path: B1 T1 D1 H50 (the alphabet model) 46 / 31; B1 T1 D65 H64
# 64 / 43; B2 T4 D65 H32 73 / 69; B1 T8 D1 H50 100 / 87; B1 T8 D65 H64 130 / 140; B1 T16 D1 H50 157 / 164.
SMALL_MAX_ROWS = 4
# The MKL loops run a pass on two threads as two blocks of batch rows, or, for a batch of at most
# UNIT_BLOCKS_MAX_BATCH rows, as two blocks of units (at least UNIT_BLOCKS_MIN_UNITS each), which meet
# after every step (``_parallel.with_partner``): half of B12 is six rows, and the packed product of six
# rows is slow. One thread, us per product (GFLOP/s): 6x700 @ 700x2800 377 (62), 12x700 @ 700x1400 279
# (84); 6x2800 @ 2800x700 416 (57), 12x2800 @ 2800x350 275 (85); but 16x128 @ 128x512 24.0 (87), 32x128
# @ 128x256 25.1 (84). Forward / backward of one layer, ms, rows -> units (T100 unless given): B12 H700
# 60.5 / 96.9 -> 53.0 / 85.2; B16 H700 55.1 / 88.2 -> 50.3 / 80.0; B24 H700 63.3 / 110.7 -> 63.6 / 107.8;
# B8 H1024 73.7 / 105.0 -> 53.8 / 84.0; B12 H512 27.2 / 42.2 -> 23.7 / 36.4; B12 H384 16.3 / 25.6 ->
# 14.7 / 22.6; where a step is short the meeting costs more than it saves: B8 H256 3.5 / 6.2 -> 4.7 /
# 7.1; B16 H256 6.5 / 11.6 -> 8.5 / 13.3; B32 T50 H512 21.5 / 39.5 -> 24.6 / 40.8.
UNIT_BLOCKS_MAX_BATCH = 16
UNIT_BLOCKS_MIN_UNITS = 192


def forward(x, initial_states, weights, *, activation="tanh", recurrent_activation="sigmoid",
            go_backwards=False, mask=None, input_masks=None, recurrent_masks=None,
            zero_output_for_mask=False):
    """Run the cell over x (B, T, D) from initial_states (h_0, c_0); see cells/lstm.py."""
    kernel, recurrent_kernel, bias = weights
    phi, sigma = activation_code(activation), activation_code(recurrent_activation)
    h0, c0 = initial_states
    batch, steps = x.shape[:2]
    units = recurrent_kernel.shape[0]
    dtype = np.result_type(x.dtype, kernel.dtype)
    masks = x_dropped = None
    if any_masks(mask, input_masks, recurrent_masks):  # loops of their own; without, the plain ones
        masks = prepare_masks(mask, input_masks, recurrent_masks, x, units, 4, go_backwards,
                              zero_output_for_mask, dtype)
    jit_loop = use_jit_loop(batch, units, JIT_LOOP_MAX_BATCH_UNITS)
    small = jit_loop and steps * batch <= SMALL_MAX_ROWS and masks is None
    # Blocks of units pack their columns of U first, so that the copy they pack from is freed before
    # this layer's cache is made (in the top layer it would add to the step's peak memory).
    unit_blocks = None if jit_loop else _packed_unit_blocks(recurrent_kernel, batch, steps, dtype,
                                                            _product_blocks(masks))
    if small:  # x_t W inside the loop (``SMALL_MAX_ROWS``)
        x_tm = as_contiguous(time_major(x, go_backwards), dtype)  # (T, B, D)
        preact = np.empty((steps, batch, 4 * units), dtype=dtype)  # (T, B, 4H)
    elif masks is not None and masks.inputs is not None:  # x * mask_g W_g (D1), one GEMM per mask
        x_tm, x_dropped, preact = dropped_input_projection(x, kernel, None, masks.inputs, go_backwards)
    else:
        # x_t W of (L1) for all steps in one GEMM, written where the loop completes (L1) in place; only
        # the recurrence loops over time.
        x_tm, preact = input_projection(x, kernel, None, go_backwards)  # (T, B, D), (T, B, 4H): x_t W
    # b of (L1) is added in the loop, in the pass that adds h_{t-1} U: one pass over preact less than
    # adding it to the projection (B32 T50 H128: ~190 us a step).
    bias_in_loop = _bias_or_empty(bias, dtype)  # (4H,), or (0,) without a bias
    # The backward pass reads z only for hard_sigmoid and relu; otherwise the gates overwrite it.
    keep_preact = needs_preactivation(phi) or needs_preactivation(sigma)
    gates = np.empty_like(preact) if keep_preact else preact  # (T, B, 4H), i f g o
    cell = np.empty((steps + 1, batch, units), dtype=dtype)  # (T+1, B, H), c_0..c_T
    # phi(c_t) of the current step only: backward recomputes it from c_t (one tanh per step) rather
    # than keep T of them (T x B x H less per layer: 3.4 MB at B12 T100 H700).
    c_act = np.empty((batch, units), dtype=dtype)  # (B, H)
    hidden = np.empty((steps + 1, batch, units), dtype=dtype)  # (T+1, B, H), h_0..h_T
    hidden[0], cell[0] = h0, c0
    rec = np.empty((batch, 4 * units), dtype=dtype)  # (B, 4H), h_{t-1} U of the current step

    if masks is not None:
        h_dropped = _forward_masked(jit_loop, unit_blocks, masks, recurrent_kernel, phi, sigma, bias_in_loop,
                                    rec, preact, gates, cell, c_act, hidden)
    elif jit_loop:
        projection = as_contiguous(kernel, dtype) if small else np.empty((0, 0), dtype)  # W; empty: done
        _forward_loop(x_tm, projection, bias_in_loop, as_contiguous(recurrent_kernel, dtype), phi, sigma, rec,
                      preact, gates, cell, hidden)
    elif not (unit_blocks and _forward_in_unit_blocks(unit_blocks, dtype, phi, sigma, bias_in_loop, preact,
                                                      gates, cell, c_act, hidden)):
        recurrent_product = RecurrentProduct(recurrent_kernel, batch, dtype, steps)  # U
        packed = _packed_tuple(recurrent_product)
        if packed is not None:  # MKL: the same steps, all in Numba
            in_row_blocks(_forward_loop_packed, batch, 0, units, *packed, tanh_address(dtype), phi, sigma,
                          bias_in_loop, rec, preact, gates, cell, c_act, hidden, *_no_masks(dtype),
                          NO_BARRIER, 0)
        else:
            for t in range(steps):
                recurrent_product(hidden[t], rec)  # h_{t-1} U (L1)
                _forward_step_numpy(t, phi, sigma, bias_in_loop, rec, preact, gates, cell, c_act, hidden)

    cache = dict(x_tm=x_tm, preact=preact if keep_preact else None, gates=gates, cell=cell, hidden=hidden,
                 weights=weights, phi=phi, sigma=sigma, go_backwards=go_backwards, small=small)
    if masks is not None:
        cache.update(masks=masks, x_dropped=x_dropped, h_dropped=h_dropped)
        return masked_outputs(hidden, masks.outputs), (hidden[-1].copy(), cell[-1].copy()), cache  # (M2)
    return read_only_outputs(hidden), (hidden[-1].copy(), cell[-1].copy()), cache


def _product_blocks(masks):
    """How many blocks the recurrent product is made in: one per recurrent dropout mask (D2), else 1."""
    return 1 if masks is None or masks.recurrent is None else len(masks.recurrent)


def _packed_tuple(product):
    """(address, (packed,)) of a ``RecurrentProduct`` for the packed loops (which take one packed
    matrix per block of the product), or None where it is not packed."""
    packed = product.jit_arguments()
    return None if packed is None else (packed[0], (packed[1],))


def _no_masks(dtype):
    """The packed loops' (steps_mask, recurrent_masks, h_dropped) of a pass without masks."""
    return NO_STEPS, np.empty((0, 0, 0), dtype), np.empty((0, 0, 0, 0), dtype)


def _forward_masked(jit_loop, unit_blocks, masks, recurrent_kernel, phi, sigma, bias, rec, preact, gates,
                    cell, c_act, hidden):
    """The forward loops with a sequence mask or recurrent dropout; returns h_dropped (or None)."""
    steps, batch, units = hidden.shape[0] - 1, hidden.shape[1], hidden.shape[2]
    dtype = hidden.dtype
    steps_mask, recurrent_masks, h_dropped = recurrent_arguments(masks, steps, batch, units, dtype)
    dropping = masks.recurrent is not None
    blocks = _product_blocks(masks)
    if dropping and steps:
        np.multiply(hidden[0], recurrent_masks, out=h_dropped[:, 0])  # (D2) of step 1 (the packed loops')
    masked = (steps_mask, recurrent_masks, h_dropped)
    if jit_loop:
        scratch = np.empty((batch, 4 * units // blocks), dtype=dtype)  # (B, 4H / blocks)
        _forward_loop_masked(bias, as_contiguous(recurrent_kernel, dtype), phi, sigma, rec, preact, gates,
                             cell, hidden, *masked, scratch)
    elif not (unit_blocks and _forward_in_unit_blocks(unit_blocks, dtype, phi, sigma, bias, preact, gates,
                                                      cell, c_act, hidden, masked)):
        if dropping:  # (h_{t-1} * mask_g) U_g (D2)
            product = DroppedProducts(recurrent_kernel, recurrent_masks, h_dropped, blocks, batch, dtype,
                                      steps)
            packed = product.packed
        else:
            product = RecurrentProduct(recurrent_kernel, batch, dtype, steps)  # U
            packed = _packed_tuple(product)
        if packed is not None:  # MKL: all in Numba
            in_row_blocks(_forward_loop_packed, batch, 0, units, *packed, tanh_address(dtype), phi, sigma,
                          bias, rec, preact, gates, cell, c_act, hidden, *masked, NO_BARRIER, 0)
        else:
            for t in range(steps):
                if dropping:
                    product(t, hidden[t], rec)  # (h_{t-1} * mask_g) U_g (L1) (D2)
                else:
                    product(hidden[t], rec)  # h_{t-1} U (L1)
                _forward_step_numpy(t, phi, sigma, bias, rec, preact, gates, cell, c_act, hidden)
                if masks.steps is not None:
                    carry_masked_rows(t, 0, batch, 0, units, steps_mask, hidden, cell)  # (M1)
    return h_dropped if dropping else None


def _bias_or_empty(bias, dtype):
    return np.empty(0, dtype) if bias is None else as_contiguous(bias, dtype)


def _unit_halves(batch, units, steps, dtype):
    """[(0, u1), (u1, units)]: the units split in two for a pass on two threads, where a block of rows
    would be too thin for the packed product (``UNIT_BLOCKS_MAX_BATCH``); None otherwise, and where the
    blocks' products would not be packed (too few steps, as in generation, or not float32/64)."""
    if (batch > UNIT_BLOCKS_MAX_BATCH or units < 2 * UNIT_BLOCKS_MIN_UNITS or not enabled()
            or not packs(batch, steps, dtype)):
        return None
    half = (units + 1) // 2
    return [(0, half), (half, units)]


def _packed_unit_blocks(recurrent_kernel, batch, steps, dtype, blocks=1):
    """[(u0, u1, products), ...] for the forward loop in blocks of units (``_unit_halves``): products this
    block's columns of U, gate after gate, packed once for all steps: one product, or with recurrent
    dropout one per gate (``blocks`` = 4, (D2)); None where it does not apply."""
    units = recurrent_kernel.shape[0]
    halves = _unit_halves(batch, units, steps, dtype)
    if halves is None:
        return None
    unit_blocks = []
    for u0, u1 in halves:
        columns = [recurrent_kernel[:, g * units + u0:g * units + u1] for g in range(4)]  # 4 x (H, u1 - u0)
        if blocks == 1:
            columns = [np.concatenate(columns, axis=1)]  # (H, 4 (u1 - u0))
        unit_blocks.append((u0, u1, [RecurrentProduct(c, batch, dtype, steps) for c in columns]))
    return unit_blocks


def _forward_in_unit_blocks(unit_blocks, dtype, phi, sigma, bias, preact, gates, cell, c_act, hidden,
                            masked=None) -> bool:
    """The MKL forward loop as two blocks of units on two threads; False where the two cannot run at
    once, with nothing done. ``masked``: (steps_mask, recurrent_masks, h_dropped) of ``_forward_masked``."""
    batch = hidden.shape[1]
    sides = []
    for u0, u1, products in unit_blocks:
        rec = np.empty((batch, 4 * (u1 - u0)), dtype=dtype)  # (B, 4 (u1 - u0)), this block's h_{t-1} U
        packed = tuple(product.jit_arguments()[1] for product in products)
        sides.append((0, batch, u0, u1, products[0].jit_arguments()[0], packed, tanh_address(dtype), phi,
                      sigma, bias, rec, preact, gates, cell, c_act, hidden, *(masked or _no_masks(dtype))))
    return with_partner(_forward_loop_packed, *sides)


@njit(cache=True)
def _forward_loop(x_tm, kernel, bias, recurrent_kernel, phi, sigma, rec, preact, gates, cell, hidden):
    """The "jit" loop. With a non-empty kernel (the small path) it also computes preact[t] = x_t W;
    otherwise preact already holds it (one GEMM over all steps)."""
    steps, units = hidden.shape[0] - 1, hidden.shape[2]
    for t in range(steps):
        if kernel.shape[0]:
            matmul_into(x_tm[t], kernel, 0, kernel.shape[0], 0, preact[t])  # x_t W (L1)
        matmul_into(hidden[t], recurrent_kernel, 0, units, 0, rec)  # h_{t-1} U (L1)
        _forward_rows(t, phi, sigma, bias, rec, preact, gates, cell, hidden)


@njit(cache=True)
def _forward_loop_masked(bias, recurrent_kernel, phi, sigma, rec, preact, gates, cell, hidden, steps_mask,
                         recurrent_masks, h_dropped, scratch):
    """``_forward_loop`` (preact holding x_t W) with recurrent dropout and a sequence mask (each where
    non-empty)."""
    steps, batch, units = hidden.shape[0] - 1, hidden.shape[1], hidden.shape[2]
    for t in range(steps):
        if recurrent_masks.shape[0]:
            dropped_products_jit(t, hidden[t], recurrent_masks, h_dropped, recurrent_kernel,
                                 recurrent_masks.shape[0], scratch, rec)  # (h_{t-1} * mask_g) U_g (L1) (D2)
        else:
            matmul_into(hidden[t], recurrent_kernel, 0, units, 0, rec)  # h_{t-1} U (L1)
        _forward_rows(t, phi, sigma, bias, rec, preact, gates, cell, hidden)
        if steps_mask.shape[0]:
            carry_masked_rows(t, 0, batch, 0, units, steps_mask, hidden, cell)  # (M1)


@njit(inline="always")
def _forward_rows(t, phi, sigma, bias, rec, preact, gates, cell, hidden):
    """The "jit" loop's step t after the recurrent product (rec: h_{t-1} U)."""
    batch, units = hidden.shape[1], hidden.shape[2]
    for b in range(batch):
        _completed_preactivation(preact[t, b], bias, rec[b])  # (L1)
        for j in range(units):
            i = activate(sigma, preact[t, b, j])  # (L2)
            f = activate(sigma, preact[t, b, units + j])  # (L2)
            g = activate(phi, preact[t, b, 2 * units + j])  # (L2)
            o = activate(sigma, preact[t, b, 3 * units + j])  # (L2)
            gates[t, b, j], gates[t, b, units + j] = i, f
            gates[t, b, 2 * units + j], gates[t, b, 3 * units + j] = g, o
            c = f * cell[t, b, j] + i * g  # (L3)
            cell[t + 1, b, j] = c
            hidden[t + 1, b, j] = o * activate(phi, c)  # (L4)


def _forward_step_numpy(t, phi, sigma, bias, rec, preact, gates, cell, c_act, hidden):
    """Step t after the recurrent product (rec holds h_{t-1} U): Numba passes for everything but tanh,
    and NumPy's vectorised tanh in between, over whole blocks (``tanh_argument``/``from_tanh``)."""
    units = hidden.shape[2]
    block = (0, rec.shape[0], 0, units)  # every row, every unit
    _gate_arguments(t, *block, phi, sigma, bias, rec, preact, gates)  # (L1), (L2) up to tanh
    if uses_tanh(sigma) and uses_tanh(phi):
        np.tanh(gates[t], out=gates[t])  # (L2) all four blocks, one call
    else:
        if uses_tanh(sigma):
            np.tanh(gates[t, :, :2 * units], out=gates[t, :, :2 * units])  # (L2) i, f
            np.tanh(gates[t, :, 3 * units:], out=gates[t, :, 3 * units:])  # (L2) o
        if uses_tanh(phi):
            np.tanh(gates[t, :, 2 * units:3 * units], out=gates[t, :, 2 * units:3 * units])  # (L2) g
    _cell_update(t, *block, phi, sigma, gates, cell, c_act)  # (L2) after tanh, (L3), (L4) up to tanh
    if uses_tanh(phi):
        np.tanh(c_act, out=c_act)  # (L4)
    _hidden_update(t, *block, phi, gates, c_act, hidden)  # (L4) after tanh


@njit(cache=True, nogil=True)
def _forward_loop_packed(first, last, u0, u1, product_address, packed, tanh_address, phi, sigma, bias, rec,
                         preact, gates, cell, c_act, hidden, steps_mask, recurrent_masks, h_dropped, barrier,
                         me):
    """The "blas" loop with MKL for the block of batch rows first:last and units u0:u1:
    ``_forward_step_numpy`` step by step, its products and tanh calls MKL's (packed GEMM, VML tanh)
    from inside Numba, so no Python runs between steps and the GIL is free for another block.

    Blocks of rows (all units) are independent. A block of units (all rows) needs all of h_{t-1}: its
    ``packed`` holds only its units' columns of U, gate by gate, rec (B, 4 (u1 - u0)) is its own, and
    ``barrier`` (``_parallel.with_partner``) holds it after each step until the other block has
    written its half of h_t.

    ``packed`` holds one packed matrix, or with recurrent dropout (``recurrent_masks`` non-empty) one
    per mask, each for its block of rec's columns, read from h_dropped[g, t] = h_{t-1} * mask_g, which
    each step writes for the next (D2). A sequence mask (``steps_mask`` non-empty) carries the states
    of masked rows (M1). Both are per-step branches: the plain pass costs the same."""
    units, steps = hidden.shape[2], hidden.shape[0] - 1
    whole_rows = u0 == 0 and u1 == units
    dropping = recurrent_masks.shape[0] > 0
    width = rec.shape[1] // len(packed)
    for t in range(steps):
        if dropping:
            for g in range(len(packed)):
                packed_product(product_address, h_dropped[g, t, first:last], packed[g],
                               rec[first:last, g * width:(g + 1) * width])  # (h_{t-1} * mask_g) U_g (L1) (D2)
        else:
            packed_product(product_address, hidden[t, first:last], packed[0],
                           rec[first:last])  # h_{t-1} U (L1)
        _gate_arguments(t, first, last, u0, u1, phi, sigma, bias, rec, preact, gates)  # (L1), (L2) to tanh
        if whole_rows and uses_tanh(sigma) and uses_tanh(phi):
            vector_tanh(tanh_address, gates[t, first:last], gates[t, first:last])  # (L2) all four blocks
        else:
            for b in range(first, last):  # the blocks that use tanh, row by row
                for gate in range(4):
                    if uses_tanh(phi if gate == 2 else sigma):
                        part = gates[t, b, gate * units + u0:gate * units + u1]
                        vector_tanh(tanh_address, part, part)  # (L2) i, f, c, o
        _cell_update(t, first, last, u0, u1, phi, sigma, gates, cell, c_act)  # (L2) after tanh, (L3), (L4)
        if uses_tanh(phi):
            if whole_rows:
                vector_tanh(tanh_address, c_act[first:last], c_act[first:last])  # (L4)
            else:
                for b in range(first, last):
                    vector_tanh(tanh_address, c_act[b, u0:u1], c_act[b, u0:u1])  # (L4)
        _hidden_update(t, first, last, u0, u1, phi, gates, c_act, hidden)  # (L4) after tanh
        if steps_mask.shape[0]:
            carry_masked_rows(t, first, last, u0, u1, steps_mask, hidden, cell)  # (M1)
        if dropping and t + 1 < steps:
            dropped_inputs(t + 1, first, last, u0, u1, hidden[t + 1], recurrent_masks, h_dropped)  # (D2)
        step_done(barrier, me, t + 1)  # h_t complete before step t + 1 reads it


@njit(cache=True)
def _gate_arguments(t, first, last, u0, u1, phi, sigma, bias, rec, preact, gates):
    """preact[t] += b + h_{t-1} U, then gates[t] = tanh_argument per block (gates may be preact itself),
    for rows first:last and units u0:u1; rec holds h_{t-1} U for those units, gate after gate. The pair
    (tanh, sigmoid) runs with the codes as constants, so that the loops vectorise."""
    if phi == TANH and sigma == SIGMOID:
        _gate_argument_rows(t, first, last, u0, u1, TANH, SIGMOID, bias, rec, preact, gates)
    else:
        _gate_argument_rows(t, first, last, u0, u1, phi, sigma, bias, rec, preact, gates)


@njit(inline="always")
def _completed_preactivation(z, bias, rec):
    """z = x_t W + b + h_{t-1} U for one row, from z = x_t W (``bias`` empty: no b), in that order."""
    if bias.shape[0]:
        for j in range(z.shape[0]):
            z[j] = z[j] + bias[j] + rec[j]  # (L1)
    else:
        for j in range(z.shape[0]):
            z[j] = z[j] + rec[j]  # (L1)


@njit(inline="always")
def _gate_argument_rows(t, first, last, u0, u1, phi, sigma, bias, rec, preact, gates):
    units, width = preact.shape[2] // 4, u1 - u0
    for b in range(first, last):
        for gate in range(4):
            columns = slice(gate * units + u0, gate * units + u1)
            _completed_preactivation(preact[t, b, columns], bias[columns],
                                     rec[b, gate * width:(gate + 1) * width])  # (L1)
        z, a = preact[t, b], gates[t, b]
        z_i, z_f = z[u0:u1], z[units + u0:units + u1]
        z_g, z_o = z[2 * units + u0:2 * units + u1], z[3 * units + u0:3 * units + u1]
        a_i, a_f = a[u0:u1], a[units + u0:units + u1]
        a_g, a_o = a[2 * units + u0:2 * units + u1], a[3 * units + u0:3 * units + u1]
        for j in range(width):
            a_i[j] = tanh_argument(sigma, z_i[j])  # (L2) before tanh
            a_f[j] = tanh_argument(sigma, z_f[j])  # (L2) before tanh
            a_g[j] = tanh_argument(phi, z_g[j])  # (L2) before tanh
            a_o[j] = tanh_argument(sigma, z_o[j])  # (L2) before tanh


@njit(cache=True)
def _cell_update(t, first, last, u0, u1, phi, sigma, gates, cell, c_act):
    """gates[t] = from_tanh per block, c_t, and c_act (B, H) = tanh_argument(phi, c_t), for rows
    first:last and units u0:u1."""
    if phi == TANH and sigma == SIGMOID:
        _cell_update_rows(t, first, last, u0, u1, TANH, SIGMOID, gates, cell, c_act)
    else:
        _cell_update_rows(t, first, last, u0, u1, phi, sigma, gates, cell, c_act)


@njit(inline="always")
def _cell_update_rows(t, first, last, u0, u1, phi, sigma, gates, cell, c_act):
    units = c_act.shape[1]
    for b in range(first, last):
        a = gates[t, b]
        a_i, a_f = a[u0:u1], a[units + u0:units + u1]
        a_g, a_o = a[2 * units + u0:2 * units + u1], a[3 * units + u0:3 * units + u1]
        c_prev, c_new, c_arg = cell[t, b, u0:u1], cell[t + 1, b, u0:u1], c_act[b, u0:u1]
        for j in range(u1 - u0):
            i = from_tanh(sigma, a_i[j])  # (L2) after tanh
            f = from_tanh(sigma, a_f[j])  # (L2) after tanh
            g = from_tanh(phi, a_g[j])  # (L2) after tanh
            a_i[j], a_f[j], a_g[j] = i, f, g
            a_o[j] = from_tanh(sigma, a_o[j])  # (L2) after tanh
            c = f * c_prev[j] + i * g  # (L3)
            c_new[j] = c
            c_arg[j] = tanh_argument(phi, c)  # (L4) before tanh


@njit(cache=True)
def _hidden_update(t, first, last, u0, u1, phi, gates, c_act, hidden):
    """h_t = o_t * phi(c_t), phi(c_t) = from_tanh(phi, c_act), for rows first:last and units u0:u1."""
    if phi == TANH:
        _hidden_update_rows(t, first, last, u0, u1, TANH, gates, c_act, hidden)
    else:
        _hidden_update_rows(t, first, last, u0, u1, phi, gates, c_act, hidden)


@njit(inline="always")
def _hidden_update_rows(t, first, last, u0, u1, phi, gates, c_act, hidden):
    units = c_act.shape[1]
    for b in range(first, last):
        o_row, c_act_row = gates[t, b, 3 * units + u0:3 * units + u1], c_act[b, u0:u1]
        h_row = hidden[t + 1, b, u0:u1]
        for j in range(u1 - u0):
            h_row[j] = o_row[j] * from_tanh(phi, c_act_row[j])  # (L4), phi after tanh


def backward(d_outputs, d_final_states, cache, ledger=False, weight_gradients=None, d_inputs=True):
    """Gradients of the loss w.r.t. inputs, (h_0, c_0) and weights; see cells/lstm.py. The cache is
    spent: delta_z is written over its gates, which step t no longer needs once its own delta is done."""
    kernel, recurrent_kernel, bias = cache["weights"]
    targets = weight_gradient_targets(weight_gradients, cache["weights"])
    x_tm, gates, hidden = cache["x_tm"], spend(cache, "gates"), cache["hidden"]
    # None where phi and sigma take their derivatives from the gates alone (``needs_preactivation``).
    preact = gates if cache["preact"] is None else cache["preact"]
    cell, phi, sigma = spend(cache, "cell"), cache["phi"], cache["sigma"]
    masks = cache.get("masks")  # None: the plain loops
    d_outputs_tm, d_next_h = upstream_time_major(d_outputs, d_final_states[0], hidden)  # (T,B,H), (B,H)
    if masks is not None:
        d_outputs_tm = masked_upstream(d_outputs_tm, d_outputs, masks.outputs)  # (dM2)
    d_next_c = state_gradient(d_final_states[1], cell[0])  # (B, H)
    steps, batch, units = hidden.shape[0] - 1, hidden.shape[1], hidden.shape[2]
    dtype = preact.dtype
    c_act = np.empty((batch, units), dtype=dtype)  # (B, H), phi(c_t) of the current step

    delta_h = np.empty((steps if ledger else 0, batch, units), dtype=dtype)  # (T, B, H), for the ledger
    # (dL6) is summed inside the loop, each row of delta_z added as it is made (no pass over delta_z
    # afterwards: B32 T50 H128, ~160 us a step), one row of sums per batch row so that the two blocks of
    # rows never write the same sums; the rows are added up below, except for one row, which is d_bias.
    d_bias = None if bias is None else np.zeros(bias.shape, dtype) if targets[2] is None else targets[2]
    if d_bias is None:
        bias_rows = np.zeros((0, 0), dtype=dtype)
    elif batch == 1:
        d_bias[...] = 0
        bias_rows = d_bias.reshape(1, -1)  # (1, 4H)
    else:
        bias_rows = np.zeros((batch, 4 * units), dtype=dtype)  # (B, 4H)
    small = cache["small"]
    if small:  # the weight gradients summed inside the loop too
        d_kernel = np.empty(kernel.shape, dtype) if targets[0] is None else targets[0]  # (D, 4H)
        d_recurrent = np.empty(recurrent_kernel.shape, dtype) if targets[1] is None else targets[1]  # (H, 4H)
        sums = (x_tm, hidden, d_kernel, d_recurrent)
    else:
        sums = (np.empty((0, 0, 0), dtype), hidden, np.empty((0, 0), dtype),
                np.empty((0, 0), dtype))  # nothing to sum in the loop: GEMMs below
    if masks is not None:
        _backward_masked(masks, recurrent_kernel, phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates,
                         cell, c_act, bias_rows, delta_h)
    elif small or use_jit_loop(batch, units, JIT_LOOP_MAX_BATCH_UNITS):
        _backward_loop(phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates, cell, c_act, bias_rows,
                       as_contiguous(recurrent_kernel.T, dtype), delta_h, *sums)
    elif not _backward_in_unit_blocks(recurrent_kernel, dtype, phi, sigma, d_outputs_tm, d_next_h, d_next_c,
                                      preact, gates, cell, c_act, bias_rows, delta_h):
        transposed_product = RecurrentProduct(recurrent_kernel.T, batch, dtype, steps)  # U^T
        packed = _packed_tuple(transposed_product)
        if packed is not None:  # MKL: the same steps, all in Numba
            in_row_blocks(_backward_loop_packed, batch, 0, units, *packed, tanh_address(dtype), phi, sigma,
                          d_outputs_tm, d_next_h, d_next_c, preact, gates, cell, c_act, bias_rows, delta_h,
                          *_no_masks_backward(dtype), NO_BARRIER, 0)
        else:
            for t in range(steps - 1, -1, -1):
                activate_numpy(phi, cell[t + 1], c_act)  # (L4) phi(c_t) again
                _backward_step(t, 0, batch, 0, units, phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact,
                               gates, cell, c_act, bias_rows)
                if ledger:
                    delta_h[t] = d_next_h
                transposed_product(gates[t], d_next_h)  # (dL1) for step t-1, (dL8) at t = 1
        del transposed_product, packed
    delta_z = gates  # (T, B, 4H): the loop wrote delta_z over the gates
    del d_outputs_tm, preact  # freed (with the cache) before the GEMMs below allocate

    x_dropped = h_dropped = None
    if masks is not None:  # with dropout, block g of W reads x * mask_g (dD1), of U h_{t-1} * mask_g (dD2)
        x_dropped, h_dropped = cache["x_dropped"], cache["h_dropped"]
    x_inputs = x_tm if x_dropped is None else x_dropped  # (T, B, D) | (G_in, T, B, D)
    h_inputs = hidden[:-1] if h_dropped is None else h_dropped  # (T, B, H) | (G_rec, T, B, H)
    if masks is not None:  # weight gradients summed over all steps, one GEMM per weight and mask
        d_kernel, d_recurrent = summed_by_blocks(
            (x_inputs, delta_z, targets[0]),  # (dL4) (dD1) (D, 4H)
            (h_inputs, delta_z, targets[1]))  # (dL5) (dD2) (H, 4H)
    elif not small:  # weight gradients summed over all steps, one GEMM each
        d_kernel, d_recurrent = summed_over_steps(
            (x_tm, delta_z, targets[0]),  # (dL4) (D, 4H)
            (hidden[:-1], delta_z, targets[1]))  # (dL5) (H, 4H)
    if d_bias is not None and batch > 1:
        bias_rows.sum(axis=0, out=d_bias)  # (dL6) (4H,)
    # (dL7) (B, T, D), written over c_0..c_T where it fits: the cell states are spent
    d_x = None
    if d_inputs and x_dropped is None:
        d_x = input_gradient(delta_z, kernel, cache["go_backwards"], spare=cell)
    elif d_inputs:
        d_x = dropped_input_gradient(delta_z, kernel, masks.inputs, cache["go_backwards"],
                                     spare=cell)  # (dD1)

    per_step = None
    if ledger:
        per_step = step_ledger(x_tm, delta_z, block_pairs(h_inputs, delta_z), [delta_z],
                               None if bias is None else bias.shape, delta_h)
        if x_dropped is not None:
            per_step["kernel"] = block_contributions(x_dropped, delta_z)  # (dD1)
    return Gradients(d_x, (d_next_h, d_next_c), (d_kernel, d_recurrent, d_bias), per_step)


def _no_masks_backward(dtype):
    """The packed backward loop's (steps_mask, recurrent_masks, products) of a pass without masks."""
    return NO_STEPS, np.empty((0, 0, 0), dtype), np.empty((0, 0, 0), dtype)


def _backward_masked(masks, recurrent_kernel, phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates,
                     cell, c_act, bias_rows, delta_h):
    """The backward loops with a sequence mask or recurrent dropout (the plain ones' paths: "jit", blocks
    of units, rows with MKL, NumPy)."""
    steps, batch, units = cell.shape[0] - 1, cell.shape[1], cell.shape[2]
    dtype = cell.dtype
    steps_mask, recurrent_masks, _ = recurrent_arguments(masks, 0, batch, units, dtype)
    blocks = _product_blocks(masks)
    products = np.empty((blocks, batch, units), dtype=dtype)  # (blocks, B, H): delta_z_t block g U_g^T
    masked = (steps_mask, recurrent_masks, products)
    if use_jit_loop(batch, units, JIT_LOOP_MAX_BATCH_UNITS):
        _backward_loop_masked(phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates, cell, c_act,
                              bias_rows, as_contiguous(recurrent_kernel.T, dtype), delta_h, *masked)
        return
    if _backward_in_unit_blocks(recurrent_kernel, dtype, phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact,
                                gates, cell, c_act, bias_rows, delta_h, masked):
        return
    transposed_products = TransposedProducts(recurrent_kernel, blocks, batch, dtype, steps)  # U_g^T
    if transposed_products.packed is not None:  # MKL: all in Numba
        in_row_blocks(_backward_loop_packed, batch, 0, units, *transposed_products.packed,
                      tanh_address(dtype), phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates, cell,
                      c_act, bias_rows, delta_h, *masked, NO_BARRIER, 0)
        return
    no_carry, no_rows = d_next_h[:0], gates[:0]
    for t in range(steps - 1, -1, -1):
        activate_numpy(phi, cell[t + 1], c_act)  # (L4) phi(c_t) again
        _backward_step_masked(t, 0, batch, 0, units, phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact,
                              gates, cell, c_act, bias_rows, steps_mask)
        if delta_h.shape[0]:
            delta_h[t] = d_next_h
        transposed_products(gates, t, products)  # (dL1) (dD2)
        recurrent_gradient(t, 0, batch, 0, units, steps_mask, recurrent_masks, products, no_carry, d_next_h,
                           d_next_h, no_rows, no_rows)  # (dL1) (dD2) (dM1), (dL8) at t = 1


@njit(cache=True)
def _backward_step_masked(t, first, last, u0, u1, phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates,
                          cell, c_act, bias_rows, steps_mask):
    """``_backward_step`` where rows masked at step t (``steps_mask`` non-empty, steps_mask[t, b] false)
    pass delta_h_t = dy_t + d_next_h to h_{t-1} (dM1), leave d_next_c (dM1), and have delta_z = 0 (dM1)."""
    if phi == TANH and sigma == SIGMOID:
        _backward_rows(t, first, last, u0, u1, TANH, SIGMOID, d_outputs_tm, d_next_h, d_next_c, preact, gates,
                       cell, c_act, bias_rows, steps_mask)
    else:
        _backward_rows(t, first, last, u0, u1, phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates,
                       cell, c_act, bias_rows, steps_mask)


@njit(cache=True)
def _backward_step(t, first, last, u0, u1, phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates, cell,
                   c_act, bias_rows):
    """Step t's element-wise part, for rows first:last and units u0:u1 of every gate block. On entry
    d_next_h holds delta_z_{t+1} U^T (or dh_T^final), d_next_c holds delta_c_{t+1} * f_{t+1} (or
    dc_T^final) and c_act phi(c_t); on exit d_next_h is delta_h_t, d_next_c is delta_c_t * f_t, and
    gates[t] holds delta_z_t (each element read before it is written), added to bias_rows (B, 4H) where
    a bias is (``bias_rows`` non-empty).

    The common pair (tanh, sigmoid) gets its own copy of the loop with the codes as constants, so the
    activation branches fold away and LLVM vectorises the row loop; the math is the same."""
    if phi == TANH and sigma == SIGMOID:
        _backward_rows(t, first, last, u0, u1, TANH, SIGMOID, d_outputs_tm, d_next_h, d_next_c, preact, gates,
                       cell, c_act, bias_rows, NO_STEPS)
    else:
        _backward_rows(t, first, last, u0, u1, phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates,
                       cell, c_act, bias_rows, NO_STEPS)


@njit(inline="always")
def _backward_rows(t, first, last, u0, u1, phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates, cell,
                   c_act, bias_rows, steps_mask):
    units = d_next_h.shape[1]
    i0, f0, g0, o0 = u0, units + u0, 2 * units + u0, 3 * units + u0  # where each gate block's units begin
    width = u1 - u0
    masked = steps_mask.shape[0] > 0  # NO_STEPS, a constant, in the plain ``_backward_step``: folds away
    for b in range(first, last):
        # Row slices, one per gate block: contiguous, indexed from 0 (no wraparound checks).
        dy, d_h, d_c = d_outputs_tm[t, b, u0:u1], d_next_h[b, u0:u1], d_next_c[b, u0:u1]
        # The gates in, delta_z out: one view per block serves both.
        g_i, g_f = gates[t, b, i0:i0 + width], gates[t, b, f0:f0 + width]
        g_g, g_o = gates[t, b, g0:g0 + width], gates[t, b, o0:o0 + width]
        if masked and not steps_mask[t, b]:  # a masked step: h_t = h_{t-1}, c_t = c_{t-1}
            for j in range(width):
                d_h[j] = dy[j] + d_h[j]  # (dL1), passed to h_{t-1} (dM1); d_c passes unchanged (dM1)
                g_i[j], g_f[j], g_g[j], g_o[j] = 0, 0, 0, 0  # delta_z_t = 0 (dM1)
            continue
        c_prev, c_new, c_act_row = cell[t, b, u0:u1], cell[t + 1, b, u0:u1], c_act[b, u0:u1]
        z_i, z_f = preact[t, b, i0:i0 + width], preact[t, b, f0:f0 + width]
        z_g, z_o = preact[t, b, g0:g0 + width], preact[t, b, o0:o0 + width]
        for j in range(width):
            dh = dy[j] + d_h[j]  # (dL1)
            d_h[j] = dh
            i, f, g, o = g_i[j], g_f[j], g_g[j], g_o[j]
            phi_c = c_act_row[j]
            # c_t reaches the loss through h_t and through c_{t+1}: both paths add up here.
            dc = dh * o * derivative(phi, c_new[j], phi_c) + d_c[j]  # (dL2)
            g_i[j] = dc * g * derivative(sigma, z_i[j], i)  # (dL3) block i
            g_f[j] = dc * c_prev[j] * derivative(sigma, z_f[j], f)  # (dL3) block f
            g_g[j] = dc * i * derivative(phi, z_g[j], g)  # (dL3) block c
            g_o[j] = dh * phi_c * derivative(sigma, z_o[j], o)  # (dL3) block o
            d_c[j] = dc * f  # (dL2) for step t-1, (dL8) at t = 1
        if bias_rows.shape[0]:
            for start in (i0, f0, g0, o0):
                sums, delta = bias_rows[b, start:start + width], gates[t, b, start:start + width]
                for j in range(width):
                    sums[j] += delta[j]  # (dL6), this row's share


@njit(cache=True, nogil=True)
def _backward_loop_packed(first, last, u0, u1, product_address, packed, tanh_address, phi, sigma,
                          d_outputs_tm, d_next_h, d_next_c, preact, gates, cell, c_act, bias_rows, delta_h,
                          steps_mask, recurrent_masks, products, barrier, me):
    """The "blas" backward loop with MKL for the block of batch rows first:last and units u0:u1: its
    steps with MKL's products (packed U^T, or its columns u0:u1 for a block of units) and tanh from
    Numba. A block of units waits at ``barrier`` until the other has written its half of delta_z_t,
    which its product reads whole.

    With a sequence mask or recurrent dropout (``steps_mask`` or ``recurrent_masks`` non-empty) the
    products go to ``products``, one per packed matrix (one per dropout mask: U_g^T), and
    ``recurrent_gradient`` makes dh_{t-1} of them (dD2) (dM1); per-step branches, so the plain pass
    costs the same."""
    whole_rows = u0 == 0 and u1 == cell.shape[2]
    masked = steps_mask.shape[0] > 0 or recurrent_masks.shape[0] > 0
    no_carry, no_rows = d_next_h[:0], gates[:0]
    for step, t in enumerate(range(cell.shape[0] - 2, -1, -1)):
        if phi == TANH and whole_rows:
            vector_tanh(tanh_address, cell[t + 1, first:last], c_act[first:last])  # (L4) phi(c_t) again
        elif phi == TANH:
            for b in range(first, last):
                vector_tanh(tanh_address, cell[t + 1, b, u0:u1], c_act[b, u0:u1])  # (L4) phi(c_t) again
        else:
            _activate_rows(phi, cell[t + 1, first:last, u0:u1], c_act[first:last, u0:u1])  # (L4) again
        _backward_step_masked(t, first, last, u0, u1, phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact,
                              gates, cell, c_act, bias_rows, steps_mask)
        if delta_h.shape[0]:
            delta_h[t, first:last, u0:u1] = d_next_h[first:last, u0:u1]  # for the ledger
        step_done(barrier, me, step + 1)  # delta_z_t complete before the product reads it
        if masked:
            transposed_products_packed(first, last, u0, u1, gates[t], product_address, packed,
                                       products)  # (dD2)
            recurrent_gradient(t, first, last, u0, u1, steps_mask, recurrent_masks, products, no_carry,
                               d_next_h, d_next_h, no_rows, no_rows)  # (dL1) (dD2) (dM1), (dL8) at t = 1
        else:
            # (dL1) for step t-1, (dL8) at t = 1
            packed_product(product_address, gates[t, first:last], packed[0], d_next_h[first:last, u0:u1])


def _backward_in_unit_blocks(recurrent_kernel, dtype, phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact,
                             gates, cell, c_act, bias_rows, delta_h, masked=None) -> bool:
    """The MKL backward loop as two blocks of units on two threads (``_unit_halves``); False where it
    does not apply or cannot run, with nothing done. ``masked``: (steps_mask, recurrent_masks, products)
    of ``_backward_masked``; with recurrent dropout, one product per gate (U_g^T's columns u0:u1)."""
    steps, batch, units = cell.shape[0] - 1, cell.shape[1], cell.shape[2]
    halves = _unit_halves(batch, units, steps, dtype)
    if halves is None:
        return False
    masked = masked or _no_masks_backward(dtype)
    blocks = max(len(masked[1]), 1)
    width = 4 * units // blocks
    products, sides = [], []
    for u0, u1 in halves:
        side = [RecurrentProduct(recurrent_kernel[:, g * width:(g + 1) * width].T[:, u0:u1], batch, dtype,
                                 steps) for g in range(blocks)]  # (width, u1 - u0) each
        products.extend(side)
        packed = tuple(product.jit_arguments()[1] for product in side)
        sides.append((0, batch, u0, u1, side[0].jit_arguments()[0], packed, tanh_address(dtype), phi, sigma,
                      d_outputs_tm, d_next_h, d_next_c, preact, gates, cell, c_act, bias_rows, delta_h,
                      *masked))
    return with_partner(_backward_loop_packed, *sides)


@njit(cache=True)
def _activate_rows(code, z, out):
    for b in range(z.shape[0]):
        for j in range(z.shape[1]):
            out[b, j] = activate(code, z[b, j])


@njit(cache=True)
def _backward_loop(phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates, cell, c_act, bias_rows,
                   recurrent_kernel_t, delta_h, x_tm, hidden, d_kernel, d_recurrent):
    """The "jit" backward loop; with non-empty d_kernel (the small path) it also writes the weight
    gradients of W and U, summed over steps and rows by ``_summed_small``."""
    steps, batch, units = cell.shape[0] - 1, cell.shape[1], cell.shape[2]
    for t in range(steps - 1, -1, -1):
        _activate_rows(phi, cell[t + 1], c_act)  # (L4) phi(c_t) again
        _backward_step(t, 0, batch, 0, units, phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates,
                       cell, c_act, bias_rows)
        if delta_h.shape[0]:
            delta_h[t] = d_next_h  # for the ledger
        matmul_into(gates[t], recurrent_kernel_t, 0, 4 * units, 0, d_next_h)  # (dL1) t-1, (dL8) t = 1
    if d_kernel.shape[0]:
        _summed_small(x_tm, gates, d_kernel)  # (dL4)
        _summed_small(hidden[:-1], gates, d_recurrent)  # (dL5)


@njit(cache=True)
def _backward_loop_masked(phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact, gates, cell, c_act, bias_rows,
                          recurrent_kernel_t, delta_h, steps_mask, recurrent_masks, products):
    """``_backward_loop`` (weight gradients by GEMMs afterwards) with a sequence mask and recurrent
    dropout (each where non-empty)."""
    steps, batch, units = cell.shape[0] - 1, cell.shape[1], cell.shape[2]
    no_carry, no_rows = d_next_h[:0], gates[:0]
    for t in range(steps - 1, -1, -1):
        _activate_rows(phi, cell[t + 1], c_act)  # (L4) phi(c_t) again
        _backward_step_masked(t, 0, batch, 0, units, phi, sigma, d_outputs_tm, d_next_h, d_next_c, preact,
                              gates, cell, c_act, bias_rows, steps_mask)
        if delta_h.shape[0]:
            delta_h[t] = d_next_h  # for the ledger
        transposed_products_jit(gates[t], recurrent_kernel_t, products)  # (dL1) (dD2)
        recurrent_gradient(t, 0, batch, 0, units, steps_mask, recurrent_masks, products, no_carry, d_next_h,
                           d_next_h, no_rows, no_rows)  # (dL1) (dD2) (dM1), (dL8) at t = 1


@njit(inline="always")
def _summed_small(inputs_tm, deltas_tm, out):
    """out (K, G) = sum over t, b of inputs[t, b]^T deltas[t, b]: ``summed_over_steps`` as loops, for
    the few rows of the small path (a row of out at a time, so the inner loop vectorises)."""
    steps, batch, depth = inputs_tm.shape
    for k in range(depth):
        row = out[k]
        row[:] = 0
        for t in range(steps):
            for b in range(batch):
                a, delta = inputs_tm[t, b, k], deltas_tm[t, b]
                for j in range(row.shape[0]):
                    row[j] += a * delta[j]
