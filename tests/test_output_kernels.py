"""The output kernels (scratchrnn/kernels/output.py) against their NumPy twins: softmax against
``activations.softmax``, cross-entropy's value and logits gradient against
``losses.CategoricalCrossentropy``; 1e-12 relative in float64, in every memory order the kernels take
and through the fallbacks for the others. Also: glibc's heap keeps a step's arrays (kernels/_heap.py)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import numpy as np
import pytest
from cellcheck import run_without_jit
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchrnn
from scratchrnn import activations, losses
from scratchrnn.kernels import output

MAX_EXAMPLES = int(os.environ.get("SCRATCHRNN_KERNEL_EXAMPLES", "20"))
dims = st.integers(1, 6)
LAYOUTS = ["batch-major", "time-major", "2-d"]


def logits(rng, batch, steps, classes, layout, dtype=np.float64):
    """Random logits (B, T, V) in ``layout``: contiguous, a batch-major view of time-major memory (as a
    TimeDistributed output), or (B, V)."""
    if layout == "2-d":
        return (rng.standard_normal((batch, classes)) * 4).astype(dtype)
    if layout == "time-major":
        return np.swapaxes((rng.standard_normal((steps, batch, classes)) * 4).astype(dtype), 0, 1)
    return (rng.standard_normal((batch, steps, classes)) * 4).astype(dtype)


def targets(rng, shape, one_hot, dtype=np.float64):
    """One-hot rows, or soft labels with zeros among them, each row summing to 1."""
    if one_hot:
        return np.eye(shape[-1], dtype=dtype)[rng.integers(0, shape[-1], shape[:-1])]
    soft = rng.random(shape) * (rng.random(shape) < 0.6)
    soft[..., 0] += 0.1  # no all-zero row
    return (soft / soft.sum(axis=-1, keepdims=True)).astype(dtype)


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(batch=dims, steps=dims, classes=dims, layout=st.sampled_from(LAYOUTS), seed=st.integers(0, 2**16))
def test_softmax_like_the_reference(batch, steps, classes, layout, seed):
    z = logits(np.random.default_rng(seed), batch, steps, classes, layout)
    got = output.softmax(z)
    np.testing.assert_allclose(got, activations.softmax(z), rtol=1e-12, atol=1e-300)
    assert got.strides == np.empty_like(z).strides  # in z's memory order, as the layers hand it on


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(batch=dims, steps=dims, classes=dims, p_layout=st.sampled_from(LAYOUTS),
       y_time_major=st.booleans(), one_hot=st.booleans(), seed=st.integers(0, 2**16))
def test_cross_entropy_like_the_reference(batch, steps, classes, p_layout, y_time_major, one_hot, seed):
    rng = np.random.default_rng(seed)
    probabilities = activations.softmax(logits(rng, batch, steps, classes, p_layout))
    probabilities[(0,) * probabilities.ndim] = 1e-9  # below the clip: the clipped log counts too
    y = targets(rng, probabilities.shape, one_hot)
    if y_time_major and y.ndim == 3:  # rows in the other order than p's (or the same)
        y = np.swapaxes(np.ascontiguousarray(np.swapaxes(y, 0, 1)), 0, 1)
    loss = losses.CategoricalCrossentropy()
    value, gradient = output.cross_entropy_and_logits_gradient(y, probabilities, losses.EPSILON)
    np.testing.assert_allclose(value, loss.value(y, probabilities), rtol=1e-12)
    np.testing.assert_allclose(gradient, loss.logits_gradient(y, probabilities), rtol=1e-12, atol=1e-300)
    assert gradient.strides == np.empty_like(probabilities).strides


def test_float32_stays_float32():
    rng = np.random.default_rng(0)
    z = logits(rng, 3, 4, 5, "time-major", np.float32)
    p = output.softmax(z)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p, activations.softmax(z), rtol=1e-6)
    y = targets(rng, p.shape, True, np.float32)
    value, gradient = output.cross_entropy_and_logits_gradient(y, p, losses.EPSILON)
    assert gradient.dtype == np.float32
    loss = losses.CategoricalCrossentropy()
    np.testing.assert_allclose(value, loss.value(y, p), rtol=1e-5)
    np.testing.assert_array_equal(gradient, loss.logits_gradient(y, p))  # the same float32 operations


def test_what_the_kernels_do_not_take_goes_to_the_twins():
    rng = np.random.default_rng(1)
    four_d = rng.standard_normal((2, 3, 4, 5))
    np.testing.assert_array_equal(output.softmax(four_d), activations.softmax(four_d))
    strided = rng.standard_normal((4, 6, 5))[:, ::2]  # neither memory order
    np.testing.assert_array_equal(output.softmax(strided), activations.softmax(strided))
    p = activations.softmax(rng.standard_normal((2, 3, 5)))
    y = targets(rng, p.shape, True)
    for other in (y.astype(np.float32), y[:, :2], y[:, ::-1]):  # another dtype, shape, memory order
        assert output.cross_entropy_and_logits_gradient(other, p, 1e-7) is None
    assert output.cross_entropy_and_logits_gradient(y[:, :0], p[:, :0], 1e-7) is None  # empty
    loss = losses.CategoricalCrossentropy()
    value, gradient = loss.value_and_logits_gradient(y[:, ::-1], p)  # the twins answer instead
    assert value == loss.value(y[:, ::-1], p)
    np.testing.assert_array_equal(gradient, loss.logits_gradient(y[:, ::-1], p))


@pytest.mark.parametrize("name, labels", [("categorical_crossentropy", "one-hot"),
                                          ("sparse_categorical_crossentropy", "ids")])
def test_both_backends_train_alike(name, labels):
    """A model's training step with the output kernels ("numba") and with their twins ("numpy")."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 2))
    ids = rng.integers(0, 5, (3, 4))
    y = np.eye(5)[ids] if labels == "one-hot" else ids
    results = []
    for backend in ("numpy", "numba"):
        scratchrnn.set_random_seed(0)
        model = scratchrnn.models.Sequential([
            scratchrnn.layers.LSTM(3, return_sequences=True, input_shape=(None, 2), dtype="float64",
                                   backend="numpy"),
            scratchrnn.layers.TimeDistributed(scratchrnn.layers.Dense(5, dtype="float64")),
            scratchrnn.layers.Activation("softmax", dtype="float64")])
        model.compile(optimizer="adam", loss=name)
        previous = scratchrnn.get_backend()
        scratchrnn.set_backend(backend)
        try:
            logs = [model.train_on_batch(x, y) for _ in range(3)]
        finally:
            scratchrnn.set_backend(previous)
        results.append((logs, [w.copy() for layer in model.layers for w in layer.weights]))
    (logs_numpy, weights_numpy), (logs_numba, weights_numba) = results
    np.testing.assert_allclose(logs_numba, logs_numpy, rtol=1e-12)
    for got, expected in zip(weights_numba, weights_numpy, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


FAULTS_SCRIPT = """
import resource, sys
import numpy as np
if sys.argv[1] == "scratchrnn":
    import scratchrnn
def step():  # a training step's pattern: several arrays of ~3 MB made, written and freed
    arrays = [np.ones(3 << 18, dtype=np.float32) for _ in range(4)]
    del arrays
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's heap only")
def test_a_steps_arrays_stay_in_the_heap_after_import():
    """Without scratchrnn the 12 MB freed by each "step" go back to the OS and fault back in (the
    pattern that slowed GRU(128) by a quarter); after ``import scratchrnn`` they stay."""
    def faults(imported):
        result = subprocess.run([sys.executable, "-c", FAULTS_SCRIPT, imported], capture_output=True,
                                text=True, timeout=120, check=True)
        return int(result.stdout)

    assert faults("numpy") > 2000  # 12 MB in 4 KiB pages: the script shows the problem
    assert faults("scratchrnn") < 100


def test_output_kernels_as_plain_python_with_numba_disable_jit():
    """The parity tests above with NUMBA_DISABLE_JIT=1: the kernel code is also correct as Python."""
    run_without_jit(__file__, "like_the_reference or float32 or twins")
