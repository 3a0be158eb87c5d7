"""Parity with Keras 3 (TensorFlow backend) in float32: same config, same weights, same numbers.

The weights go from the scratchrnn layer to the Keras layer unchanged through ``set_weights``: the
layouts are the same by design (DESIGN.md). Gradients come from ``tf.GradientTape`` on one side and
``layer.backward`` on the other, for the loss L = sum(P * outputs) + sum(Q * h_T) (+ sum(R * c_T)
for the LSTM) with random P, Q, R, and must agree to a relative 1e-4 (float32 round-off).
"""

import os

import numpy as np
import pytest

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
if keras.backend.backend() != "tensorflow":  # keras was imported earlier with another backend
    pytest.skip(f"needs the Keras TensorFlow backend, got {keras.backend.backend()!r}",
                allow_module_level=True)

from scratchrnn import layers  # noqa: E402

RTOL = 1e-4  # norm-relative, per array

# cell name -> (scratchrnn layer, Keras layer, shared options, number of states)
CELLS = {
    "simple_rnn": (layers.SimpleRNN, keras.layers.SimpleRNN, {}, 1),
    "lstm": (layers.LSTM, keras.layers.LSTM, {}, 2),
    "gru_reset_after": (layers.GRU, keras.layers.GRU, {"reset_after": True}, 1),
    "gru_reset_before": (layers.GRU, keras.layers.GRU, {"reset_after": False}, 1),
}
VARIANTS = {
    "default": {},
    "go_backwards": {"go_backwards": True},
    # hard_sigmoid is Keras 3's clip(x / 6 + 1/2, 0, 1); inputs are scaled up to reach its flat parts.
    "relu_hard_sigmoid": {"activation": "relu", "recurrent_activation": "hard_sigmoid"},
    "no_bias": {"use_bias": False},
}


def rel_err(got, expected) -> float:
    """Norm-relative error ||got - expected|| / ||expected||, computed in float64."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return float(np.linalg.norm(got - expected) / max(np.linalg.norm(expected), 1e-30))


def run_pair(cell, variant, batch=3, steps=5, features=4, units=6, seed=0) -> dict:
    """Run a scratchrnn float32 layer and the Keras layer with the same config, weights and states.

    Returns {quantity: (scratchrnn value, Keras value)} for the outputs, final states, dL/dx,
    dL/d(initial states) and every weight gradient.
    """
    layer_cls, keras_cls, options, n_states = CELLS[cell]
    options = dict(options, **VARIANTS[variant])
    if cell == "simple_rnn":
        options.pop("recurrent_activation", None)
    rng = np.random.default_rng(seed)
    config = dict(return_sequences=True, return_state=True, dtype="float32", **options)
    layer = layer_cls(units, **config)
    keras_layer = keras_cls(units, **config)
    scale = 2.0 if variant == "relu_hard_sigmoid" else 1.0
    x = (scale * rng.standard_normal((batch, steps, features))).astype(np.float32)
    layer.build(x.shape)
    keras_layer.build(x.shape)
    layer.set_weights([rng.uniform(-0.8, 0.8, w.shape).astype(np.float32) for w in layer.get_weights()])
    keras_layer.set_weights(layer.get_weights())
    assert [w.name for w in keras_layer.trainable_weights] == list(layer.weight_names)
    states = [rng.uniform(-0.9, 0.9, (batch, units)).astype(np.float32) for _ in range(n_states)]

    out, *finals = layer(x, initial_state=states)
    projections = [rng.standard_normal(out.shape).astype(np.float32)]
    projections += [rng.standard_normal(f.shape).astype(np.float32) for f in finals]
    dx = layer.backward(projections)

    x_tf = tf.constant(x)
    states_tf = [tf.constant(s) for s in states]
    with tf.GradientTape() as tape:
        tape.watch([x_tf, *states_tf])
        out_k, *finals_k = keras_layer(x_tf, initial_state=states_tf)
        loss = tf.add_n([tf.reduce_sum(p * a) for p, a in zip(projections, [out_k, *finals_k], strict=True)])
    grads = tape.gradient(loss, [x_tf, *states_tf, *keras_layer.trainable_weights])
    grads = [g.numpy() for g in grads]

    names = ["h_T", "c_T"][:n_states]
    pairs = {"output": (out, out_k.numpy())}
    pairs.update({name: (f, f_k.numpy()) for name, f, f_k in zip(names, finals, finals_k, strict=True)})
    pairs["dx"] = (dx, grads[0])
    pairs.update({f"d{n[0]}0": (g, g_k) for n, g, g_k in zip(
        names, layer.initial_state_gradients, grads[1:1 + n_states], strict=True)})
    pairs.update({f"d_{name}": (g, g_k) for name, g, g_k in zip(
        layer.weight_names, layer.gradients, grads[1 + n_states:], strict=True)})
    return pairs


def assert_parity(pairs):
    for name, (got, expected) in pairs.items():
        assert got.shape == expected.shape, name
        assert got.dtype == np.float32, name
        error = rel_err(got, expected)
        assert error <= RTOL, f"{name}: relative error {error:.3g}"
        atol = 1e-5 * max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=atol, err_msg=name)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("cell", list(CELLS))
def test_outputs_and_gradients_match_keras(cell, variant):
    pairs = run_pair(cell, variant, seed=len(cell) + len(variant))
    n_weights = 3 if variant != "no_bias" else 2
    assert len(pairs) == (4 if cell != "lstm" else 6) + n_weights
    assert_parity(pairs)


@pytest.mark.parametrize("cell", list(CELLS))
def test_size_one_shapes_match_keras(cell):
    assert_parity(run_pair(cell, "default", batch=1, steps=1, features=1, units=1, seed=1))


def test_alphabet_model_parameter_count_matches_keras():
    model = keras.Sequential([keras.Input(batch_shape=(1, 1, 1)), keras.layers.LSTM(50),
                              keras.layers.Dense(26, activation="softmax")])
    lstm, dense = layers.LSTM(50), layers.Dense(26, activation="softmax")
    dense(lstm(np.zeros((1, 1, 1))))
    assert model.count_params() == lstm.count_params() + dense.count_params() == 11726


@pytest.mark.parametrize("name, args, options, input_shape", [
    ("SimpleRNN", (5,), {}, (2, 4, 3)),
    ("SimpleRNN", (5,), {"use_bias": False}, (2, 4, 3)),
    ("LSTM", (5,), {}, (2, 4, 3)),
    ("LSTM", (5,), {"use_bias": False}, (2, 4, 3)),
    ("GRU", (5,), {}, (2, 4, 3)),
    ("GRU", (5,), {"reset_after": False}, (2, 4, 3)),
    ("GRU", (5,), {"use_bias": False}, (2, 4, 3)),
    ("LSTM", (50,), {}, (1, 1, 1)),
    ("Dense", (7,), {}, (2, 4, 3)),
    ("Dense", (7,), {"use_bias": False}, (2, 3)),
    ("Embedding", (10, 4), {}, (2, 4)),
])
def test_weight_shapes_match_keras(name, args, options, input_shape):
    layer = getattr(layers, name)(*args, **options)
    keras_layer = getattr(keras.layers, name)(*args, **options)
    layer.build(input_shape)
    keras_layer.build(input_shape)
    assert [w.shape for w in layer.get_weights()] == [w.shape for w in keras_layer.get_weights()]
    assert layer.count_params() == keras_layer.count_params()
    assert list(layer.weight_names) == [w.name for w in keras_layer.weights]
