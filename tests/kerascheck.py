"""Parity with Keras 3 in float64, for any layer or model: the same weights in both, the same inputs, the
loss L = sum of random projections of every output; outputs, dL/d(every input) and every weight gradient
must agree to ``RTOL`` (norm-relative, per array).

Keras runs on its TensorFlow backend and differentiates with ``tf.GradientTape``; scratchrnn runs its own
hand-written backward passes. Import this module only from tests that ``pytest.importorskip`` Keras first
(``keras, tf = kerascheck.import_keras()`` does that).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

RTOL = 1e-9


def import_keras():
    """(keras, tensorflow) on the TensorFlow backend, or the calling test module is skipped."""
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip(f"needs the Keras TensorFlow backend, got {keras.backend.backend()!r}",
                    allow_module_level=True)
    return keras, tf


def rel_err(got, expected) -> float:
    """Norm-relative error ||got - expected|| / ||expected||, in float64."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return float(np.linalg.norm(got - expected) / max(np.linalg.norm(expected), 1e-30))


def as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def keras_outputs_and_gradients(keras_callable, inputs: list, projections_of, weights) -> tuple:
    """Keras's outputs (list) and the gradients of sum(P * output) w.r.t. ``inputs`` then ``weights``
    (Keras variables). ``keras_callable(list of tf tensors)`` returns the output(s); ``projections_of``
    maps the list of output arrays to the list of projections P (the same ones scratchrnn uses)."""
    _, tf = import_keras()
    tensors = [tf.constant(x) for x in inputs]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        outputs = as_list(keras_callable(tensors))
        projections = projections_of([o.numpy() for o in outputs])
        loss = tf.add_n([tf.reduce_sum(tf.constant(p) * o) for p, o in zip(projections, outputs)])
    grads = tape.gradient(loss, [*tensors, *weights], unconnected_gradients="zero")
    # An Embedding's gradient comes as IndexedSlices: made dense first.
    return [o.numpy() for o in outputs], [tf.convert_to_tensor(g).numpy() for g in grads]


def random_projections(rng):
    """The P of each output, drawn once: the function remembers its first draw, so that Keras and
    scratchrnn use the same projections whichever runs first."""
    drawn = []

    def projections_of(outputs):
        if not drawn:
            drawn.extend(rng.standard_normal(np.shape(o)) for o in outputs)
        return drawn

    return projections_of


def assert_close(pairs: dict, rtol: float = RTOL) -> None:
    """Every (got, expected) pair has the same shape and a relative error within ``rtol``."""
    assert pairs, "nothing compared"
    for name, (got, expected) in pairs.items():
        assert got is not None, f"{name}: scratchrnn gave None"
        assert np.shape(got) == np.shape(expected), f"{name}: shape {np.shape(got)} != {np.shape(expected)}"
        error = rel_err(got, expected)
        assert error <= rtol, f"{name}: relative error {error:.3g} > {rtol:g}"


def compare_layer(layer, keras_layer, inputs, rng, call_kwargs=None, keras_kwargs=None,
                  rtol: float = RTOL) -> dict:
    """A scratchrnn layer against its Keras twin, both float64, on ``inputs`` (one array or a list, for
    layers that take a list). The scratchrnn layer's weights (random non-zero, drawn here) are copied
    into the Keras layer. Asserts parity of the outputs, dL/d(each input) and each weight gradient, and
    returns the compared pairs."""
    call_kwargs = call_kwargs or {}
    keras_kwargs = call_kwargs if keras_kwargs is None else keras_kwargs
    takes_list = isinstance(inputs, (list, tuple))
    arrays = [np.asarray(x, dtype=np.float64) for x in as_list(inputs)]
    outputs = as_list(layer(arrays if takes_list else arrays[0], **call_kwargs))
    weights = [rng.uniform(-0.8, 0.8, w.shape) for w in layer.get_weights()]
    if weights:
        layer.set_weights(weights)
        outputs = as_list(layer(arrays if takes_list else arrays[0], **call_kwargs))
    projections_of = random_projections(rng)
    projections = projections_of(outputs)
    dy = projections if len(outputs) > 1 else projections[0]
    d_inputs = as_list(layer.backward(dy))

    keras_layer.build([x.shape for x in arrays] if takes_list else arrays[0].shape)
    keras_layer.set_weights(layer.get_weights())
    keras_out, keras_grads = keras_outputs_and_gradients(
        lambda ts: keras_layer(ts if takes_list else ts[0], **keras_kwargs), arrays, projections_of,
        keras_layer.trainable_weights)
    pairs = {f"output[{i}]": (o, k) for i, (o, k) in enumerate(zip(outputs, keras_out, strict=True))}
    keras_d_inputs = keras_grads[:len(arrays)]
    pairs.update({f"d_input[{i}]": (d, k) for i, (d, k) in enumerate(zip(d_inputs, keras_d_inputs))})
    pairs.update({f"d_{name}": (g, k) for name, g, k in zip(
        layer.weight_names, layer.gradients, keras_grads[len(arrays):], strict=True)})
    assert_close(pairs, rtol)
    return pairs
