"""The math: each recurrent cell as plain, vectorised NumPy, forward and backward side by side.

Every cell module (``simple_rnn``, ``lstm``, ``gru``) has the same two functions:

``forward(x, initial_states, weights, *, mask=None, input_masks=None, recurrent_masks=None,
zero_output_for_mask=False, go_backwards=False, **options) -> (outputs, final_states, cache)``
    x (B, T, D) batch-major; initial_states a tuple of (B, H) arrays (SimpleRNN and GRU: (h0,),
    LSTM: (h0, c0)); weights a tuple in Keras order (kernel, recurrent_kernel, bias), bias None when
    the layer has no bias. outputs (B, T, H) are the hidden states in processing order (reversed
    time when go_backwards, as Keras returns them); final_states is a tuple shaped like
    initial_states.
    mask (B, T) bool, in the caller's time order, True for a real step: a masked step keeps the
    states and shows the last real step's output (zeros before the first real step), or zeros with
    zero_output_for_mask, as Keras does. input_masks (G_in, B, D) and recurrent_masks (G_rec, B, H)
    are dropout masks (0 or 1/(1-rate), drawn by the caller), one per gate block or one (G = 1) for
    every block, the same at every step. Without them the cells run as they did before masks.

``backward(d_outputs, d_final_states, cache, ledger=False, weight_gradients=None, d_inputs=True)``
    -> Gradients. d_outputs (B, T, H) or None; d_final_states a tuple like final_states (entries may
    be None); weight_gradients, when given, the arrays (like the weights) that receive the weight
    gradients; d_inputs=False skips dLoss/dx (one GEMM) for a layer whose input is the data.
    The outputs are a read-only view of the cache. A cache serves one backward pass (the kernels
    write deltas over its activations).

Shapes: B batch, T time, D input features, H hidden units, G = gates x H.
Inside, the cells work time-major, (T, B, ...), so that step t is ``array[t]``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Gradients(NamedTuple):
    """What a cell's backward returns.

    inputs          (B, T, D)     dLoss/dx, in the caller's time order; None when not asked for
    initial_states  tuple         dLoss/d(initial state), each (B, H)
    weights         tuple         dLoss/dW in the order of the weights tuple, summed over time;
                                  None where the weight is None (no bias)
    ledger          dict or None  per-step contributions when asked for: for each weight name a
                                  (T, *weight.shape) array whose sum over axis 0 is that weight's
                                  gradient, and "hidden": (T, B, H), the total dLoss/dh_t; step
                                  index in processing order
    """

    inputs: np.ndarray
    initial_states: tuple
    weights: tuple
    ledger: dict | None


def time_major(x: np.ndarray, go_backwards: bool) -> np.ndarray:
    """(B, T, D) -> (T, B, D), reversed in time when go_backwards: the processing order."""
    x_tm = np.swapaxes(x, 0, 1)  # (T, B, D)
    return x_tm[::-1] if go_backwards else x_tm


def batch_major(x_tm: np.ndarray, go_backwards: bool) -> np.ndarray:
    """Undo ``time_major``: (T, B, D) in processing order -> (B, T, D) in the caller's order, as a view:
    no copy, and a following layer's ``time_major`` gets the contiguous (T, B, D) array back."""
    if go_backwards:
        x_tm = x_tm[::-1]
    return np.swapaxes(x_tm, 0, 1)  # (B, T, D)


def read_only_outputs(hidden: np.ndarray) -> np.ndarray:
    """The outputs (B, T, H) of a forward pass: a read-only view of h_1..h_T in ``hidden`` (T+1, B, H).
    They share memory with the cache, whose h_t the backward pass reads (dU), hence read-only."""
    return read_only(hidden[1:])


def read_only(outputs_tm: np.ndarray) -> np.ndarray:
    """Time-major outputs (T, B, H) as the read-only batch-major view (B, T, H) a forward pass returns."""
    outputs = batch_major(outputs_tm, False)  # (B, T, H)
    outputs.flags.writeable = False
    return outputs


def weight_gradient_targets(weight_gradients, weights) -> tuple:
    """The arrays a backward pass writes the weight gradients into: ``weight_gradients`` (one array or
    None per weight, each C-contiguous and shaped and typed like its weight), or Nones for new arrays."""
    if weight_gradients is None:
        return (None,) * len(weights)
    weight_gradients = tuple(weight_gradients)
    if len(weight_gradients) != len(weights):
        raise ValueError(f"weight_gradients: expected {len(weights)} arrays like the weights, "
                         f"got {len(weight_gradients)}")
    for k, (target, weight) in enumerate(zip(weight_gradients, weights)):
        if weight is None or target is None:
            continue
        flags = getattr(target, "flags", None)
        if (not isinstance(target, np.ndarray) or target.shape != weight.shape or target.dtype != weight.dtype
                or not (flags.c_contiguous and flags.writeable)):
            got = (f"{target.shape} {target.dtype}" if isinstance(target, np.ndarray)
                   else type(target).__name__)
            raise ValueError(f"weight_gradients[{k}]: expected a writeable C-contiguous {weight.shape} "
                             f"{weight.dtype} array, got {got}")
    return weight_gradients


def stored(targets, gradients) -> tuple:
    """The weight gradients, each copied into its target array where ``targets`` has one."""
    return tuple(gradient if target is None or gradient is None else _copied(gradient, target)
                 for target, gradient in zip(targets, gradients))


def _copied(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    target[...] = source
    return target


def upstream(d_outputs, d_final_state, like: np.ndarray):
    """Upstream gradients as arrays: d_outputs time-major (T, B, H) and d_final_state (B, H).

    ``like`` is the time-major hidden-state array (T, B, H) that fixes shape and dtype; a None
    upstream gradient is zero.
    """
    d_hidden = np.zeros_like(like) if d_outputs is None else np.swapaxes(d_outputs, 0, 1)  # (T, B, H)
    d_last = np.zeros_like(like[0]) if d_final_state is None else d_final_state  # (B, H)
    return d_hidden, d_last


def flat_steps(a_tm: np.ndarray) -> np.ndarray:
    """(T, B, K) -> (T*B, K): all time steps as one matrix, for one GEMM over all steps."""
    return a_tm.reshape(-1, a_tm.shape[-1])


def step_contributions(inputs_tm: np.ndarray, d_preact_tm: np.ndarray) -> np.ndarray:
    """Per-step weight gradient contributions, (T, K, G): inputs_t^T @ d_preact_t for every t."""
    return np.einsum("tbk,tbg->tkg", inputs_tm, d_preact_tm)


def step_ledger(x_tm, input_delta, recurrent_blocks, bias_deltas, bias_shape, delta_h) -> dict:
    """The per-step gradient ledger of ``Gradients``, from what a backward pass already has.

    input_delta        (T, B, G) the gradient w.r.t. the input projection x_t W (+ b)
    recurrent_blocks   [(inputs_tm, delta_tm), ...]: the recurrent kernel's columns, block by block
                       (one block, except GRU with the reset gate before the product: two)
    bias_deltas        the deltas whose sums over the batch make the bias gradient, one per bias row
    bias_shape         the bias's shape, or None without a bias
    delta_h            (T, B, H) the total dLoss/dh_t
    """
    return ledger_of_blocks([(x_tm, input_delta)], recurrent_blocks, bias_deltas, bias_shape, delta_h)


def ledger_of_blocks(input_blocks, recurrent_blocks, bias_deltas, bias_shape, delta_h) -> dict:
    """``step_ledger`` with the kernel's columns in blocks too, [(inputs_tm, delta_tm), ...]: with
    input dropout each gate block of the kernel multiplies its own x_t * P^g (see ``dropout_blocks``)."""
    ledger = {
        "kernel": np.concatenate(
            [step_contributions(a, d) for a, d in input_blocks], axis=2),  # (T, D, G)
        "recurrent_kernel": np.concatenate(
            [step_contributions(a, d) for a, d in recurrent_blocks], axis=2),  # (T, H, G)
        "hidden": delta_h,  # (T, B, H)
    }
    if bias_shape is not None:
        ledger["bias"] = np.stack([d.sum(axis=1) for d in bias_deltas], axis=1).reshape(
            len(delta_h), *bias_shape)  # (T, G) | (T, 2, G)
    return ledger


# Masks: the time mask and the dropout masks of a forward pass.

def checked_masks(mask, input_masks, recurrent_masks, x, units, gates, dtype):
    """The three mask arguments of ``forward``, checked against x (B, T, D), ``units`` H and the
    cell's number of gate blocks: ``mask`` as a (B, T) bool array, the dropout masks as arrays
    (G, B, D) and (G, B, H) of ``dtype`` (the computation's, so that float32 stays float32), G 1 or
    ``gates``. Each may be None. A ValueError names the argument that is wrong."""
    batch, steps, input_dim = x.shape
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != (batch, steps) or mask.dtype != np.bool_:
            raise ValueError(f"mask: expected a bool array of shape (batch, time) = {(batch, steps)}, "
                             f"True for a real step; got shape {mask.shape} {mask.dtype}")
    input_masks = _checked_dropout_masks("input_masks", input_masks, gates, (batch, input_dim), dtype)
    recurrent_masks = _checked_dropout_masks("recurrent_masks", recurrent_masks, gates, (batch, units),
                                             dtype)
    return mask, input_masks, recurrent_masks


def _checked_dropout_masks(name, masks, gates, shape, dtype):
    if masks is None:
        return None
    masks = np.asarray(masks)
    counts = (1,) if gates == 1 else (1, gates)
    if (masks.ndim != 3 or masks.shape[0] not in counts or masks.shape[1:] != shape
            or not (np.issubdtype(masks.dtype, np.floating) or np.issubdtype(masks.dtype, np.integer)
                    or masks.dtype == np.bool_)):
        count = "1" if gates == 1 else f"1 (one for every gate block) or {gates} (one per gate block)"
        raise ValueError(f"{name}: expected {count} real-valued masks of shape {shape}, as an array "
                         f"(count, {', '.join(map(str, shape))}); got shape {masks.shape} {masks.dtype}")
    return masks.astype(dtype, copy=False)


def time_mask(mask, go_backwards: bool, zero_output_for_mask: bool):
    """(keep, shown), each (T, B, 1) bool in processing order, or (None, None) without a mask.

    keep   m_t: step t is real (M1); a masked step keeps the states
    shown  s_t: the output at step t is h_t (M2), else zeros: s_t = m_t with zero_output_for_mask;
           otherwise s_t = m_1 or ... or m_t, since a masked step repeats the previous output, which
           is h_t itself (the states were kept) once a real step has been, and zeros before (Keras
           starts its previous output at zeros, not h_0)
    """
    if mask is None:
        return None, None
    keep = time_major(mask[:, :, None], go_backwards)  # (T, B, 1)
    shown = keep if zero_output_for_mask else np.logical_or.accumulate(keep, axis=0)  # (T, B, 1)
    return keep, shown


def dropout_product(a: np.ndarray, masks, matrix: np.ndarray) -> np.ndarray:
    """a @ matrix, with dropout on a: gate block g of the result's columns reads a * masks[g]
    ((D1), (D2) of the cells). a (..., B, K), masks None or (G, B, K), matrix (K, G*N).
    One product without masks or with one mask (G = 1), one per gate block otherwise."""
    if masks is None:
        return a @ matrix
    if len(masks) == 1:
        return (a * masks[0]) @ matrix
    blocks = np.split(matrix, len(masks), axis=1)  # G x (K, N)
    return np.concatenate([(a * m) @ block for m, block in zip(masks, blocks)], axis=-1)  # (..., B, G*N)


def dropout_product_backward(delta: np.ndarray, masks, matrix: np.ndarray) -> np.ndarray:
    """The gradient w.r.t. a of ``dropout_product(a, masks, matrix)`` given the gradient ``delta`` at its
    result: sum over gate blocks g of (delta^g matrix_g^T) * masks[g] ((dD1), (dD2))."""
    if masks is None:
        return delta @ matrix.T
    if len(masks) == 1:
        return (delta @ matrix.T) * masks[0]
    blocks = np.split(matrix, len(masks), axis=1)  # G x (K, N)
    deltas = np.split(delta, len(masks), axis=-1)  # G x (..., B, N)
    return sum((d @ block.T) * m for m, block, d in zip(masks, blocks, deltas))  # (..., B, K)


def dropout_blocks(a_tm: np.ndarray, masks, delta_tm: np.ndarray) -> list:
    """[(inputs_tm, delta_tm), ...] of ``dropout_product(a_tm, masks, matrix)``: for each column block
    of the matrix, what it multiplied (a * masks[g]) and the gradient at its columns (delta^g). One
    block without masks or with one mask."""
    if masks is None:
        return [(a_tm, delta_tm)]
    if len(masks) == 1:
        return [(a_tm * masks[0], delta_tm)]
    return [(a_tm * m, d) for m, d in zip(masks, np.split(delta_tm, len(masks), axis=-1))]


def summed_gradient(blocks: list) -> np.ndarray:
    """sum_t inputs_t^T delta_t for each block of ``dropout_blocks``, the blocks' columns side by
    side: a weight gradient over all steps, one GEMM per block."""
    products = [flat_steps(a).T @ flat_steps(d) for a, d in blocks]  # (K, N) each
    return products[0] if len(products) == 1 else np.concatenate(products, axis=1)
