"""The Numba kernels (scratchrnn/kernels) against the NumPy reference (scratchrnn/cells): the same
outputs, final states and gradients (ledger included), for every cell, variant and option, through
both time loops ("jit": all Numba; "blas": Python loop over BLAS products), the "blas" loop both with
MKL's packed products (where the optional ``mkl`` wheel is installed, as in CI) and with NumPy's.

Agreement is 1e-12 relative in float64: element-wise rtol 1e-12, with an absolute floor of 1e-12 times
the largest magnitude in the array for elements that cancel to near zero (the two sides sum the same
terms in a different order, so such an element can differ by a few ulps of its neighbours).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os

import numpy as np
import pytest
from cellcheck import CELLS, IDS, VARIANTS, random_problem, run_without_jit
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchrnn.kernels import _common, _packed_gemm, _parallel
from scratchrnn.kernels import gru as k_gru
from scratchrnn.kernels import lstm as k_lstm
from scratchrnn.kernels import simple_rnn as k_simple_rnn

KERNELS = {"simple_rnn": k_simple_rnn, "lstm": k_lstm, "gru": k_gru}
MAX_EXAMPLES = int(os.environ.get("SCRATCHRNN_KERNEL_EXAMPLES", "20"))
# "blas": with MKL (where installed) packed at every length, in two blocks of rows on two threads where
# there are two cores; "blas-unit-blocks": the same, the LSTM's passes in two blocks of units whatever the
# size (``lstm.UNIT_BLOCKS_MAX_BATCH``); "blas-one-thread": on one thread; "blas-numpy": MKL off.
LOOPS = ["jit", "blas", "blas-unit-blocks", "blas-one-thread", "blas-numpy"]
ACTIVATIONS = ["tanh", "sigmoid", "hard_sigmoid", "relu", "linear"]
dims = st.integers(1, 5)


@contextlib.contextmanager
def forced_loop(loop):
    """The loop to run (LOOPS); "blas" packs with MKL (where installed) at every length."""
    saved = (_common.FORCE_LOOP, _packed_gemm._MKL, _packed_gemm.PACK_MIN_STEPS, _parallel.THREADS,
             k_lstm.UNIT_BLOCKS_MAX_BATCH, k_lstm.UNIT_BLOCKS_MIN_UNITS)
    if loop == "blas-numpy":
        loop, _packed_gemm._MKL = "blas", None
    elif loop in ("blas", "blas-unit-blocks", "blas-one-thread"):
        _packed_gemm.PACK_MIN_STEPS = 0
        if loop == "blas-one-thread":
            _parallel.THREADS = 1
        if loop == "blas-unit-blocks":
            k_lstm.UNIT_BLOCKS_MAX_BATCH, k_lstm.UNIT_BLOCKS_MIN_UNITS = 10**9, 1
        else:
            k_lstm.UNIT_BLOCKS_MAX_BATCH = 0
        loop = "blas"
    _common.FORCE_LOOP = loop
    try:
        yield
    finally:
        (_common.FORCE_LOOP, _packed_gemm._MKL, _packed_gemm.PACK_MIN_STEPS, _parallel.THREADS,
         k_lstm.UNIT_BLOCKS_MAX_BATCH, k_lstm.UNIT_BLOCKS_MIN_UNITS) = saved


def assert_close(actual, expected, rtol, what):
    assert actual.shape == expected.shape, what
    assert actual.dtype == expected.dtype, what
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def run_both(cell, x, states, weights, options, upstream, ledger, rng):
    """Forward and backward through the reference cell and the kernel with the same upstream gradients."""
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
    grads_ker = kernel.backward(d_outputs, d_finals, cache_ker, ledger=ledger)
    return (out_ref, finals_ref, grads_ref), (out_ker, finals_ker, grads_ker)


def assert_same_results(expected, actual, rtol):
    (out_ref, finals_ref, grads_ref), (out_ker, finals_ker, grads_ker) = expected, actual
    assert_close(out_ker, out_ref, rtol, "outputs")
    assert len(finals_ker) == len(finals_ref)
    for i, (a, b) in enumerate(zip(finals_ker, finals_ref)):
        assert_close(a, b, rtol, f"final state {i}")
    assert_close(grads_ker.inputs, grads_ref.inputs, rtol, "d inputs")
    assert len(grads_ker.initial_states) == len(grads_ref.initial_states)
    for i, (a, b) in enumerate(zip(grads_ker.initial_states, grads_ref.initial_states)):
        assert_close(a, b, rtol, f"d initial state {i}")
    for name, a, b in zip(("kernel", "recurrent_kernel", "bias"), grads_ker.weights, grads_ref.weights):
        if b is None:
            assert a is None, name
        else:
            assert_close(a, b, rtol, f"d {name}")
    if grads_ref.ledger is None:
        assert grads_ker.ledger is None
    else:
        assert sorted(grads_ker.ledger) == sorted(grads_ref.ledger)
        for key in grads_ref.ledger:
            assert_close(grads_ker.ledger[key], grads_ref.ledger[key], rtol, f"ledger {key}")


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(batch=dims, steps=dims, input_dim=dims, units=dims, seed=st.integers(0, 2**32 - 1),
       go_backwards=st.booleans(), use_bias=st.booleans(), ledger=st.booleans(),
       activation=st.sampled_from(ACTIVATIONS), recurrent_activation=st.sampled_from(ACTIVATIONS),
       upstream=st.sampled_from(["both", "outputs", "finals"]))
def test_kernel_matches_reference_float64(loop, cell, options, batch, steps, input_dim, units, seed,
                                          go_backwards, use_bias, ledger, activation, recurrent_activation,
                                          upstream):
    rng = np.random.default_rng(seed)
    weight_options = {"reset_after": options["reset_after"]} if cell == "gru" else {}
    x, states, weights = random_problem(rng, cell, batch, steps, input_dim, units, use_bias=use_bias,
                                        **weight_options)
    options = dict(options, activation=activation, go_backwards=go_backwards)
    if cell != "simple_rnn":
        options["recurrent_activation"] = recurrent_activation
    with forced_loop(loop):
        expected, actual = run_both(cell, x, states, weights, options, upstream, ledger, rng)
    assert_same_results(expected, actual, rtol=1e-12)


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
def test_kernel_matches_reference_float32(loop, cell, options):
    """The layers' default dtype: float32 in, float32 out, agreeing with the reference to ~1e-5."""
    rng = np.random.default_rng(4)
    weight_options = {"reset_after": options["reset_after"]} if cell == "gru" else {}
    x, states, weights = random_problem(rng, cell, 4, 7, 3, 6, **weight_options)
    x = x.astype(np.float32)
    states = tuple(s.astype(np.float32) for s in states)
    weights = tuple(w.astype(np.float32) for w in weights)
    with forced_loop(loop):
        expected, actual = run_both(cell, x, states, weights, options, "both", True, rng)
    assert actual[0].dtype == np.float32
    assert all(g.dtype == np.float32 for g in actual[2].weights)
    assert_same_results(expected, actual, rtol=1e-5)


@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
def test_default_loop_agrees_at_a_larger_shape(cell, options):
    """A shape past the size rule, so the automatic choice takes the "blas" loop; float64."""
    rng = np.random.default_rng(8)
    weight_options = {"reset_after": options["reset_after"]} if cell == "gru" else {}
    x, states, weights = random_problem(rng, cell, 12, 6, 5, 24, **weight_options)
    weights = tuple(w / 4 for w in weights)  # keep 24 units away from saturation
    assert not _common.use_jit_loop(12, 24)
    with forced_loop(None):
        expected, actual = run_both(cell, x, states, weights, dict(options), "both", True, rng)
    assert_same_results(expected, actual, rtol=1e-12)


def test_size_rule_picks_the_jit_loop_for_small_shapes():
    with forced_loop(None):
        assert _common.use_jit_loop(1, 50)  # the stateful alphabet LSTM
        assert not _common.use_jit_loop(32, 128)
    with forced_loop("blas"):
        assert not _common.use_jit_loop(1, 1)
    with forced_loop("gpu"), pytest.raises(ValueError, match="FORCE_LOOP"):
        _common.use_jit_loop(1, 1)


def test_lstm_size_rule_is_its_own():
    with forced_loop(None):
        assert _common.use_jit_loop(1, 50, k_lstm.JIT_LOOP_MAX_BATCH_UNITS)  # the stateful alphabet LSTM
        assert not _common.use_jit_loop(4, 32, k_lstm.JIT_LOOP_MAX_BATCH_UNITS)
        assert _common.use_jit_loop(4, 32)  # the default rule, for the other cells


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("recurrent_activation", ACTIVATIONS)
def test_lstm_every_activation_pair(loop, activation, recurrent_activation):
    """Every (phi, sigma) pair, float64: the LSTM "blas" step and the backward step specialise
    (tanh, sigmoid) and keep z only where a derivative reads it (hard_sigmoid, relu)."""
    rng = np.random.default_rng(5)
    x, states, weights = random_problem(rng, "lstm", 3, 4, 2, 5)
    options = dict(activation=activation, recurrent_activation=recurrent_activation)
    with forced_loop(loop):
        expected, actual = run_both("lstm", x, states, weights, options, "both", True, rng)
        cache = k_lstm.forward(x, states, weights, **options)[2]
    assert_same_results(expected, actual, rtol=1e-12)
    reads_z = {"hard_sigmoid", "relu"} & {activation, recurrent_activation}
    assert (cache["preact"] is None) == (not reads_z)


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("recurrent_activation", ACTIVATIONS)
def test_gru_every_activation_pair(loop, reset_after, activation, recurrent_activation):
    """Every (phi, sigma) pair and both variants, float64: the GRU "blas" forward passes and the
    backward steps specialise (tanh, sigmoid) and keep a_* only where a derivative reads it."""
    rng = np.random.default_rng(6)
    x, states, weights = random_problem(rng, "gru", 3, 4, 2, 5, reset_after=reset_after)
    options = dict(activation=activation, recurrent_activation=recurrent_activation, reset_after=reset_after)
    with forced_loop(loop):
        expected, actual = run_both("gru", x, states, weights, options, "both", True, rng)
        cache = k_gru.forward(x, states, weights, **options)[2]
    assert_same_results(expected, actual, rtol=1e-12)
    reads_z = {"hard_sigmoid", "relu"} & {activation, recurrent_activation}
    assert (cache["preact"] is None) == (not reads_z)


def test_gru_size_rule_is_its_own():
    with forced_loop(None):
        assert _common.use_jit_loop(1, 50, k_gru.JIT_LOOP_MAX_BATCH_UNITS)  # batch 1, 50 units
        assert not _common.use_jit_loop(4, 48, k_gru.JIT_LOOP_MAX_BATCH_UNITS)


def test_unknown_activation_and_wrong_gru_bias_are_refused_like_the_cells():
    rng = np.random.default_rng(0)
    x, states, weights = random_problem(rng, "gru", 2, 3, 2, 4, reset_after=True)
    with pytest.raises(ValueError, match="bias"):
        k_gru.forward(x, states, weights, reset_after=False)
    with pytest.raises(ValueError, match="activation"):
        k_gru.forward(x, states, weights, activation="softmax")


def test_kernels_as_plain_python_with_numba_disable_jit():
    """The same parity tests with NUMBA_DISABLE_JIT=1: the kernel code is also correct as Python."""
    run_without_jit(__file__, "not disable_jit")


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
def test_zero_steps_like_the_reference(loop, cell, options):
    rng = np.random.default_rng(1)
    weight_options = {"reset_after": options["reset_after"]} if cell == "gru" else {}
    x, states, weights = random_problem(rng, cell, 2, 0, 3, 4, **weight_options)
    with forced_loop(loop):
        expected, actual = run_both(cell, x, states, weights, dict(options), "both", True, rng)
    assert_same_results(expected, actual, rtol=1e-12)


def test_mkl_is_used_wherever_it_is_installed():
    """The README's test command installs the ``mkl`` extra, so there the "blas" rows above ran MKL's
    packed products as well as NumPy's; MKL unused although installed would be a loading bug."""
    try:
        installed = importlib.metadata.version("mkl") is not None
    except importlib.metadata.PackageNotFoundError:
        installed = False
    wanted = os.environ.get("SCRATCHRNN_MKL", "1") != "0"
    assert _packed_gemm.mkl_available() == (installed and wanted)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transposed", [False, True])
def test_recurrent_product_is_the_matrix_product(dtype, transposed):
    """Both paths, a plain and a transposed view, a row-strided block: a @ matrix to rounding."""
    rng = np.random.default_rng(2)
    base = rng.standard_normal((7, 5) if transposed else (5, 7)).astype(dtype)
    matrix = base.T if transposed else base  # (5, 7)
    block = rng.standard_normal((3, 9)).astype(dtype)[:, 2:7]  # (3, 5), rows 9 apart
    tolerance = 1e-5 if dtype == np.float32 else 1e-13
    for mkl in (_packed_gemm._MKL, None):
        saved, _packed_gemm._MKL = _packed_gemm._MKL, mkl
        try:
            product = _packed_gemm.RecurrentProduct(matrix, 3, dtype, _packed_gemm.PACK_MIN_STEPS)
            out = np.empty((3, 7), dtype=dtype)
            product(block, out)
        finally:
            _packed_gemm._MKL = saved
        np.testing.assert_allclose(out, block @ matrix, rtol=tolerance, atol=tolerance)


def test_short_passes_are_not_packed():
    """Packing costs about five products: a pass shorter than PACK_MIN_STEPS multiplies unpacked."""
    matrix = np.ones((4, 8), dtype=np.float32)
    short = _packed_gemm.RecurrentProduct(matrix, 2, np.float32, _packed_gemm.PACK_MIN_STEPS - 1)
    long = _packed_gemm.RecurrentProduct(matrix, 2, np.float32, _packed_gemm.PACK_MIN_STEPS)
    assert short._packed is None
    assert (long._packed is not None) == _packed_gemm.mkl_available()


def small_problem(cell, options, module, seed):
    """The reference cell or the kernel, and a random (B=2, T=3, D=2, H=4) float64 problem for it."""
    weight_options = {"reset_after": options["reset_after"]} if cell == "gru" else {}
    x, states, weights = random_problem(np.random.default_rng(seed), cell, 2, 3, 2, 4, **weight_options)
    return (CELLS[cell] if module == "cells" else KERNELS[cell]), x, states, weights


@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
@pytest.mark.parametrize("module", ["cells", "kernels"])
def test_weight_gradients_land_in_the_given_arrays(cell, options, module):
    implementation, x, states, weights = small_problem(cell, options, module, seed=3)
    outputs, finals, cache = implementation.forward(x, states, weights, **options)
    expected = implementation.backward(np.ones_like(outputs), (None,) * len(finals),
                                       implementation.forward(x, states, weights, **options)[2])
    targets = tuple(np.full_like(w, np.nan) for w in weights)
    grads = implementation.backward(np.ones_like(outputs), (None,) * len(finals), cache,
                                    weight_gradients=targets)
    for target, got, want in zip(targets, grads.weights, expected.weights):
        assert got is target
        np.testing.assert_array_equal(target, want)


def test_weight_gradients_of_the_wrong_shape_or_layout_are_refused():
    rng = np.random.default_rng(3)
    x, states, weights = random_problem(rng, "lstm", 2, 3, 2, 4)
    for module in (CELLS["lstm"], k_lstm):
        cache = module.forward(x, states, weights)[2]
        wrong = [np.zeros_like(w) for w in weights]
        wrong[1] = np.asfortranarray(np.zeros_like(weights[1]))  # column-major
        with pytest.raises(ValueError, match=r"weight_gradients\[1\]: expected a writeable C-contiguous"):
            module.backward(None, (np.ones((2, 4)), None), cache, weight_gradients=wrong)
        with pytest.raises(ValueError, match="weight_gradients: expected 3 arrays"):
            module.backward(None, (np.ones((2, 4)), None), cache, weight_gradients=wrong[:2])


@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
def test_outputs_are_a_read_only_view_of_the_cache(cell, options):
    """No copy between layers, and no way to change the h_t that dU is computed from."""
    rng = np.random.default_rng(3)
    weight_options = {"reset_after": options["reset_after"]} if cell == "gru" else {}
    x, states, weights = random_problem(rng, cell, 2, 3, 2, 4, **weight_options)
    for module in (CELLS[cell], KERNELS[cell]):
        outputs, _, cache = module.forward(x, states, weights, **options)
        assert np.shares_memory(outputs, cache["hidden"])
        with pytest.raises(ValueError, match="read-only"):
            outputs[0, 0, 0] = 1.0


def test_an_lstm_kernel_cache_serves_one_backward():
    rng = np.random.default_rng(3)
    x, states, weights = random_problem(rng, "lstm", 2, 3, 2, 4)
    cache = k_lstm.forward(x, states, weights)[2]
    k_lstm.backward(None, (np.ones((2, 4)), None), cache)
    with pytest.raises(ValueError, match="already used by a backward pass"):
        k_lstm.backward(None, (np.ones((2, 4)), None), cache)


@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
@pytest.mark.parametrize("module", ["cells", "kernels"])
def test_d_inputs_false_skips_only_the_input_gradient(cell, options, module):
    implementation, x, states, weights = small_problem(cell, options, module, seed=5)
    results = []
    for d_inputs in (True, False):
        outputs, finals, cache = implementation.forward(x, states, weights, **options)
        results.append(implementation.backward(np.ones_like(outputs), (None,) * len(finals), cache,
                                               d_inputs=d_inputs))
    assert results[0].inputs.shape == x.shape
    assert results[1].inputs is None
    with_dx, without_dx = results
    for a, b in zip(with_dx.weights + with_dx.initial_states, without_dx.weights + without_dx.initial_states):
        np.testing.assert_array_equal(a, b)


def test_blocks_of_units_only_where_their_products_are_packed(monkeypatch):
    """Generation runs one step at a time: no packing, so no copy of U's columns for blocks of units
    either (that copy cost 1.2 ms per character of the 3 x LSTM(700) model)."""
    monkeypatch.setattr(k_lstm, "UNIT_BLOCKS_MAX_BATCH", 16)
    monkeypatch.setattr(k_lstm, "UNIT_BLOCKS_MIN_UNITS", 2)
    recurrent_kernel = np.ones((8, 32), dtype=np.float32)
    assert k_lstm._packed_unit_blocks(recurrent_kernel, 1, 1, np.float32) is None
    steps = _packed_gemm.PACK_MIN_STEPS
    blocks = k_lstm._packed_unit_blocks(recurrent_kernel, 1, steps, np.float32)
    if _parallel.enabled():
        assert [(u0, u1) for u0, u1, _ in blocks] == [(0, 4), (4, 8)]
    else:
        assert blocks is None
