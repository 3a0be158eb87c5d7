"""Shared helpers for the cell and kernel tests: random weights in Keras shapes, a finite-difference
check of a cell module's backward against its forward, and a test file's tests run again without the
JIT."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from scratchrnn import gradcheck
from scratchrnn.cells import gru, lstm, simple_rnn

CELLS = {"simple_rnn": simple_rnn, "lstm": lstm, "gru": gru}
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
STATES = {"simple_rnn": 1, "lstm": 2, "gru": 1}
# every cell and GRU variant, as (cell, options) with the test ids the parametrised tests use
VARIANTS = [
    ("simple_rnn", {}),
    ("lstm", {}),
    ("gru", {"reset_after": True}),
    ("gru", {"reset_after": False}),
]
IDS = ["simple_rnn", "lstm", "gru_reset_after", "gru_reset_before"]


def random_weights(rng, cell, input_dim, units, use_bias=True, reset_after=True, dtype=np.float64):
    """(kernel, recurrent_kernel, bias) in Keras shapes with random non-zero entries."""
    gates = GATES[cell] * units
    kernel = rng.uniform(-0.8, 0.8, (input_dim, gates))
    recurrent_kernel = rng.uniform(-0.8, 0.8, (units, gates))
    bias = None
    if use_bias:
        bias_shape = (2, gates) if cell == "gru" and reset_after else (gates,)
        bias = rng.uniform(-0.5, 0.5, bias_shape)
    return tuple(None if w is None else w.astype(dtype) for w in (kernel, recurrent_kernel, bias))


def random_problem(rng, cell, batch, steps, input_dim, units, **weight_options):
    x = rng.standard_normal((batch, steps, input_dim))
    states = tuple(rng.uniform(-0.9, 0.9, (batch, units)) for _ in range(STATES[cell]))
    return x, states, random_weights(rng, cell, input_dim, units, **weight_options)


def check_cell(cell, x, states, weights, rng, ledger=True, **options):
    """Relative error per array (input, each initial state, each weight) of the cell's backward,
    with the loss a random projection of the outputs and of every final state."""
    module = CELLS[cell]
    outputs, finals, _ = module.forward(x, states, weights, **options)
    d_outputs = rng.standard_normal(outputs.shape)
    d_finals = tuple(rng.standard_normal(f.shape) for f in finals)

    def loss():
        out, fin, _ = module.forward(x, states, weights, **options)
        return float(np.sum(d_outputs * out) + sum(np.sum(d * f) for d, f in zip(d_finals, fin)))

    _, _, cache = module.forward(x, states, weights, **options)
    grads = module.backward(d_outputs, d_finals, cache, ledger=ledger)
    arrays = {"input": x}
    analytic = {"input": grads.inputs}
    for i, (s, g) in enumerate(zip(states, grads.initial_states)):
        arrays[f"state{i}"], analytic[f"state{i}"] = s, g
    for name, w, g in zip(("kernel", "recurrent_kernel", "bias"), weights, grads.weights):
        if w is None:
            assert g is None
            continue
        arrays[name], analytic[name] = w, g
        if ledger:
            assert grads.ledger[name].shape == (x.shape[1], *w.shape)
            np.testing.assert_allclose(grads.ledger[name].sum(axis=0), g, rtol=1e-10, atol=1e-12)
    report = gradcheck.check_gradients(loss, arrays, analytic)
    return report, grads


def run_without_jit(test_file, selection: str) -> None:
    """The tests of ``test_file`` that pytest's -k ``selection`` picks, again in a fresh process with
    NUMBA_DISABLE_JIT=1 (and 4 hypothesis examples each): the kernel code must also be correct as Python.
    Fails, with pytest's output, unless they pass (pytest's exit code 5, none selected, fails too)."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", SCRATCHRNN_KERNEL_EXAMPLES="4")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(test_file), "-k", selection, "-q", "-x",
         "-p", "no:cacheprovider"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
