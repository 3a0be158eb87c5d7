"""Finite-difference proof of every cell's backward pass (float64, random non-zero biases and states)."""

import numpy as np
import pytest
from cellcheck import CELLS, IDS, check_cell, random_problem
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchrnn import gradcheck

TOLERANCE = 1e-6
dims = st.integers(1, 5)
VARIANTS = [
    ("simple_rnn", {}, {}),
    ("lstm", {}, {}),
    ("gru", {"reset_after": True}, {"reset_after": True}),
    ("gru", {"reset_after": False}, {"reset_after": False}),
]


@pytest.mark.parametrize("cell, weight_options, options", VARIANTS, ids=IDS)
@settings(max_examples=15, deadline=None)
@given(batch=dims, steps=dims, input_dim=dims, units=dims, seed=st.integers(0, 2**32 - 1),
       go_backwards=st.booleans())
def test_backward_matches_finite_differences(cell, weight_options, options, batch, steps, input_dim,
                                             units, seed, go_backwards):
    rng = np.random.default_rng(seed)
    x, states, weights = random_problem(rng, cell, batch, steps, input_dim, units, **weight_options)
    report, _ = check_cell(cell, x, states, weights, rng, go_backwards=go_backwards, **options)
    assert report.max_error <= TOLERANCE, str(report)


ACTIVATIONS = ["tanh", "sigmoid", "hard_sigmoid", "relu", "linear"]


@pytest.mark.parametrize("cell, weight_options, options", VARIANTS, ids=IDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_each_activation(cell, weight_options, options, activation):
    rng = np.random.default_rng(7)
    x, states, weights = random_problem(rng, cell, 3, 4, 2, 3, **weight_options)
    if cell != "simple_rnn":  # a different recurrent activation, so a mix-up of the two cannot pass
        options = dict(options, recurrent_activation=ACTIVATIONS[ACTIVATIONS.index(activation) - 1])
    report, _ = check_cell(cell, x, states, weights, rng, activation=activation, **options)
    assert report.max_error <= TOLERANCE, str(report)


@pytest.mark.parametrize("cell, weight_options, options", VARIANTS, ids=IDS)
def test_without_bias(cell, weight_options, options):
    rng = np.random.default_rng(3)
    x, states, weights = random_problem(rng, cell, 2, 3, 2, 4, use_bias=False, **weight_options)
    report, grads = check_cell(cell, x, states, weights, rng, **options)
    assert grads.weights[2] is None
    assert report.max_error <= TOLERANCE, str(report)


@pytest.mark.parametrize("cell, weight_options, options", VARIANTS, ids=IDS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_ledger_hidden_is_total_gradient_of_each_hidden_state(cell, weight_options, options, go_backwards):
    """ledger["hidden"][t] is dLoss/dh_t in processing order: at the last step nothing flows back
    from later steps, so it is that step's output gradient plus the final-state gradient; and it
    matches a finite difference of the loss w.r.t. an offset added to h_t inside the sequence,
    which, for t = 1, is the input-independent part: running steps 2..T from h_1 + e."""
    rng = np.random.default_rng(11)
    x, states, weights = random_problem(rng, cell, 2, 4, 3, 3, **weight_options)
    module = CELLS[cell]
    outputs, finals, cache = module.forward(x, states, weights, go_backwards=go_backwards, **options)
    d_outputs = rng.standard_normal(outputs.shape)
    d_finals = tuple(rng.standard_normal(f.shape) for f in finals)
    grads = module.backward(d_outputs, d_finals, cache, ledger=True)
    hidden = grads.ledger["hidden"]
    assert hidden.shape == (4, 2, 3)
    np.testing.assert_allclose(hidden[-1], d_outputs[:, -1] + d_finals[0], rtol=1e-12)

    # dLoss/dh_1 by finite differences: the loss of steps 2..T run from (h_1 + e, other states at
    # step 1), plus step 1's own output term, which is linear in h_1.
    first_outputs, first_finals, _ = module.forward(
        x[:, ::-1][:, :1] if go_backwards else x[:, :1], states, weights, go_backwards=False, **options)
    rest = x[:, ::-1][:, 1:] if go_backwards else x[:, 1:]
    h1 = first_finals[0].copy()

    def loss():
        out, fin, _ = module.forward(rest, (h1, *first_finals[1:]), weights, go_backwards=False, **options)
        total = np.sum(d_outputs[:, 1:] * out) + np.sum(d_outputs[:, 0] * h1)
        return float(total + sum(np.sum(d * f) for d, f in zip(d_finals, fin)))

    numeric = gradcheck.numerical_gradient(loss, h1)
    assert gradcheck.relative_error(hidden[0], numeric) < 1e-6
