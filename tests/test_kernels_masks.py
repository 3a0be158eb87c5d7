"""The Numba kernels with a sequence mask and dropout masks against the NumPy cells (issue 13): the
same outputs, final states and gradients (ledger included), for every cell and variant, through every
time loop of tests/test_kernels.py ("jit"; "blas" with MKL's packed products on two threads, in blocks
of units, on one thread; "blas" with NumPy's), in float64 to 1e-12 and float32 to 1e-5, and again as
plain Python under NUMBA_DISABLE_JIT=1.

The cells (scratchrnn/cells) follow Keras 3's semantics and are checked against Keras and by finite
differences elsewhere (tests/test_cells_gradcheck.py, tests/test_masking.py, tests/test_dropout.py); here
the kernels, which share no loop code with them, must agree with them.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from cellcheck import CELLS, GATES, random_problem, run_without_jit
from hypothesis import given, settings
from hypothesis import strategies as st
from test_kernels import IDS, KERNELS, LOOPS, VARIANTS, assert_same_results, forced_loop

MAX_EXAMPLES = int(os.environ.get("SCRATCHRNN_KERNEL_EXAMPLES", "20"))
BATCH, STEPS, FEATURES, UNITS = 3, 5, 2, 4


def sequence_mask(kind, batch, steps, rng):
    """(B, T) bool: "right" / "left" padded with random lengths 1..T, "single" (one sequence with a
    single real step, at its end; one with a single real step at its start; the rest whole), "gaps"
    (real and masked steps mixed, one sequence wholly masked), or None."""
    if kind is None:
        return None
    if kind == "gaps":
        mask = rng.random((batch, steps)) < 0.6
        mask[0] = False  # a sequence without a real step: zeros out, the initial state carried through
        return mask
    lengths = rng.integers(1, steps + 1, batch)
    if kind == "single":
        lengths[:] = steps
        lengths[:2] = 1
    mask = np.arange(steps)[None, :] < lengths[:, None]  # (B, T), right-padded
    if kind == "left" or kind == "single":
        mask[0] = mask[0, ::-1]
    if kind == "left":
        mask = mask[:, ::-1]
    return np.ascontiguousarray(mask)


def dropout_masks(count, batch, width, rng, dtype=np.float64):
    """``count`` Keras-style dropout masks (0 or 1 / (1 - rate)), or None for count 0."""
    if not count:
        return None
    rate = 0.3
    return ((rng.random((count, batch, width)) >= rate) / (1 - rate)).astype(dtype)


def masked_problem(cell, options, rng, batch=BATCH, steps=STEPS, features=FEATURES, units=UNITS, mask=None,
                   input_masks=0, recurrent_masks=0, dtype=np.float64, **weight_options):
    """A random problem and the forward options with the given mask kind and dropout mask counts
    ("gates": one per gate block)."""
    if cell == "gru":
        weight_options["reset_after"] = options["reset_after"]
    x, states, weights = random_problem(rng, cell, batch, steps, features, units, **weight_options)
    gates = GATES[cell]
    counts = [gates if count == "gates" else count for count in (input_masks, recurrent_masks)]
    options = dict(options, mask=sequence_mask(mask, batch, steps, rng),
                   input_masks=dropout_masks(counts[0], batch, features, rng),
                   recurrent_masks=dropout_masks(counts[1], batch, units, rng))
    cast = (lambda a: None if a is None else a.astype(dtype)) if dtype != np.float64 else (lambda a: a)
    x, states = cast(x), tuple(cast(s) for s in states)
    weights = tuple(cast(w) for w in weights)
    for name in ("input_masks", "recurrent_masks"):
        options[name] = cast(options[name])
    return x, states, weights, options


def run_both(cell, x, states, weights, options, rng, upstream="both", ledger=True):
    """Forward and backward through the cell and the kernel, the same upstream gradients; also checks
    the weight gradients land in given arrays (the layers' flat buffer) and that d_inputs=False skips
    only dLoss/dx."""
    reference, kernel = CELLS[cell], KERNELS[cell]
    out_ref, finals_ref, cache_ref = reference.forward(x, states, weights, **options)
    out_ker, finals_ker, cache_ker = kernel.forward(x, states, weights, **options)
    d_outputs = rng.standard_normal(out_ref.shape).astype(x.dtype)
    d_finals = tuple(rng.standard_normal(f.shape).astype(x.dtype) for f in finals_ref)
    if upstream == "finals":
        d_outputs = None
    elif upstream == "outputs":
        d_finals = (None,) * len(d_finals)
    grads_ref = reference.backward(d_outputs, d_finals, cache_ref, ledger=ledger)
    targets = tuple(None if w is None else np.full_like(w, np.nan) for w in weights)
    grads_ker = kernel.backward(d_outputs, d_finals, cache_ker, ledger=ledger, weight_gradients=targets)
    for target, gradient in zip(targets, grads_ker.weights):
        assert target is None or gradient is target
    cache = kernel.forward(x, states, weights, **options)[2]
    without_dx = kernel.backward(d_outputs, d_finals, cache, d_inputs=False)
    assert without_dx.inputs is None
    for a, b in zip(without_dx.weights + without_dx.initial_states,
                    grads_ker.weights + grads_ker.initial_states):
        if b is not None:
            np.testing.assert_array_equal(a, b)
    return (out_ref, finals_ref, grads_ref), (out_ker, finals_ker, grads_ker)


# The cases, each through every loop: padded batches, a single real step, go_backwards,
# zero_output_for_mask (Bidirectional's), dropout masks 1 or one per gate, everything together.
CASES = {
    "right_padded": dict(mask="right"),
    "left_padded": dict(mask="left"),
    "single_real_step": dict(mask="single"),
    "gaps_and_an_empty_sequence": dict(mask="gaps"),
    "go_backwards": dict(mask="right", go_backwards=True),
    "zero_output_for_mask": dict(mask="left", zero_output_for_mask=True),
    "zero_output_go_backwards": dict(mask="right", zero_output_for_mask=True, go_backwards=True),
    "input_masks_1": dict(input_masks=1),
    "input_masks_gates": dict(input_masks="gates"),
    "recurrent_masks_1": dict(recurrent_masks=1),
    "recurrent_masks_gates": dict(recurrent_masks="gates"),
    "dropout_both_1": dict(input_masks=1, recurrent_masks=1),
    "everything": dict(mask="gaps", input_masks="gates", recurrent_masks="gates", go_backwards=True,
                       zero_output_for_mask=True),
    "everything_one_mask": dict(mask="right", input_masks=1, recurrent_masks=1, go_backwards=True),
}
FORWARD_OPTIONS = ("go_backwards", "zero_output_for_mask")


def case_problem(cell, options, case, rng, **kwargs):
    spec = dict(CASES[case])
    forward_options = {k: spec.pop(k) for k in FORWARD_OPTIONS if k in spec}
    return masked_problem(cell, dict(options, **forward_options), rng, **spec, **kwargs)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
def test_masked_kernel_matches_the_cell_float64(loop, cell, options, case):
    rng = np.random.default_rng(sorted(CASES).index(case))
    x, states, weights, options = case_problem(cell, options, case, rng)
    with forced_loop(loop):
        expected, actual = run_both(cell, x, states, weights, options, rng)
    assert_same_results(expected, actual, rtol=1e-12)


@pytest.mark.parametrize("case", ["everything", "everything_one_mask", "single_real_step"])
@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
def test_masked_kernel_matches_the_cell_float32(loop, cell, options, case):
    """The layers' default dtype: float32 in and out (masks too), agreeing with the cell to ~1e-5."""
    rng = np.random.default_rng(11)
    x, states, weights, options = case_problem(cell, options, case, rng, dtype=np.float32)
    with forced_loop(loop):
        expected, actual = run_both(cell, x, states, weights, options, rng)
    assert actual[0].dtype == np.float32
    assert all(g is None or g.dtype == np.float32 for g in actual[2].weights)
    assert_same_results(expected, actual, rtol=1e-5)


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(batch=st.integers(1, 5), steps=st.integers(1, 5), features=st.integers(1, 4), units=st.integers(1, 5),
       seed=st.integers(0, 2**32 - 1), mask=st.sampled_from([None, "right", "left", "single", "gaps"]),
       input_masks=st.sampled_from([0, 1, "gates"]), recurrent_masks=st.sampled_from([0, 1, "gates"]),
       go_backwards=st.booleans(), zero_output_for_mask=st.booleans(), use_bias=st.booleans(),
       ledger=st.booleans(),
       activation=st.sampled_from(["tanh", "sigmoid", "hard_sigmoid", "relu", "linear"]),
       recurrent_activation=st.sampled_from(["sigmoid", "tanh", "hard_sigmoid", "relu"]),
       upstream=st.sampled_from(["both", "outputs", "finals"]))
def test_masked_kernel_matches_the_cell_property(loop, cell, options, batch, steps, features, units, seed,
                                                 mask, input_masks, recurrent_masks, go_backwards,
                                                 zero_output_for_mask, use_bias, ledger, activation,
                                                 recurrent_activation, upstream):
    """Small shapes including 1, any mask and dropout combination (also none: the plain loops), both
    directions, every activation, either upstream gradient; float64."""
    rng = np.random.default_rng(seed)
    options = dict(options, go_backwards=go_backwards, zero_output_for_mask=zero_output_for_mask,
                   activation=activation)
    if cell != "simple_rnn":
        options["recurrent_activation"] = recurrent_activation
    x, states, weights, options = masked_problem(cell, options, rng, batch, steps, features, units, mask,
                                                 input_masks, recurrent_masks, use_bias=use_bias)
    if options["mask"] is None:
        del options["mask"], options["zero_output_for_mask"]
    with forced_loop(loop):
        expected, actual = run_both(cell, x, states, weights, options, rng, upstream, ledger)
    assert_same_results(expected, actual, rtol=1e-12)


@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
def test_default_loop_with_masks_at_a_larger_shape(cell, options):
    """A shape past the size rules, so the automatic choice takes the "blas" loop (with MKL where it is
    installed: packed products, two threads); everything together, float64."""
    rng = np.random.default_rng(12)
    x, states, weights, options = case_problem(cell, options, "everything", rng, batch=12, steps=20,
                                               features=5, units=24)
    weights = tuple(w / 4 for w in weights)  # keep 24 units away from saturation
    with forced_loop(None):
        expected, actual = run_both(cell, x, states, weights, options, rng)
    assert_same_results(expected, actual, rtol=1e-12)


@pytest.mark.parametrize("loop", ["jit", "blas"])
@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
def test_all_real_mask_and_unit_dropout_masks_change_nothing(loop, cell, options):
    """A mask of real steps only and dropout masks of ones run the masked loops and give the plain
    loops' results (to rounding: the products are made per gate block)."""
    rng = np.random.default_rng(13)
    x, states, weights, _ = masked_problem(cell, options, rng)
    gates = GATES[cell]
    masked = dict(options, mask=np.ones((BATCH, STEPS), bool), input_masks=np.ones((gates, BATCH, FEATURES)),
                  recurrent_masks=np.ones((gates, BATCH, UNITS)))
    kernel = KERNELS[cell]
    with forced_loop(loop):
        plain_out, plain_finals, plain_cache = kernel.forward(x, states, weights, **options)
        out, finals, cache = kernel.forward(x, states, weights, **masked)
        assert "masks" not in plain_cache and "masks" in cache  # the plain loops without masks
        d_outputs = rng.standard_normal(out.shape)
        plain = kernel.backward(d_outputs, (None,) * len(finals), plain_cache)
        grads = kernel.backward(d_outputs, (None,) * len(finals), cache)
    np.testing.assert_allclose(out, plain_out, rtol=1e-12, atol=1e-14)
    for a, b in zip(grads.weights + grads.initial_states + (grads.inputs,),
                    plain.weights + plain.initial_states + (plain.inputs,)):
        if b is not None:
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
def test_bad_masks_get_the_cells_errors(cell, options):
    rng = np.random.default_rng(14)
    x, states, weights, _ = masked_problem(cell, options, rng)
    bad = [dict(mask=np.ones((BATCH, STEPS + 1), bool)), dict(mask=np.ones((BATCH, STEPS))),
           dict(input_masks=np.ones((2, BATCH, FEATURES))),
           dict(recurrent_masks=np.ones((1, BATCH, UNITS + 1)))]
    for arguments in bad:
        with pytest.raises(ValueError) as expected:
            CELLS[cell].forward(x, states, weights, **options, **arguments)
        with pytest.raises(ValueError) as actual:
            KERNELS[cell].forward(x, states, weights, **options, **arguments)
        assert str(actual.value) == str(expected.value)


def test_the_layers_run_the_kernels_with_masks():
    """The layers (C) call the backend's module with a mask or dropout where its forward takes them."""
    from scratchrnn.layers import recurrent

    for cell in ("simple_rnn", "lstm", "gru"):
        assert recurrent._masking_module(cell, "numba") is KERNELS[cell]


def test_masks_are_read_in_the_callers_time_order():
    """go_backwards reverses the mask with x: a sequence whose only real step is the first (caller's
    order) shows it as its last output when run backwards, and keeps h_0 through the other steps."""
    rng = np.random.default_rng(15)
    x, states, weights, _ = masked_problem("simple_rnn", {}, rng)
    mask = np.zeros((BATCH, STEPS), bool)
    mask[:, 0] = True
    for loop in ("jit", "blas"):
        with forced_loop(loop):
            outputs, _, _ = KERNELS["simple_rnn"].forward(x, states, weights, mask=mask, go_backwards=True)
        np.testing.assert_array_equal(outputs[:, :-1], 0)
        one_step = KERNELS["simple_rnn"].forward(x[:, :1], states, weights)[0]
        np.testing.assert_allclose(outputs[:, -1], one_step[:, 0], rtol=1e-13)


def test_masked_kernels_as_plain_python_with_numba_disable_jit():
    """The same parity tests with NUMBA_DISABLE_JIT=1: the masked loops are also correct as Python."""
    run_without_jit(__file__, "not disable_jit")

