"""Binary cross-entropy: the value and both gradients (w.r.t. the probabilities, and w.r.t. the logits of
a sigmoid output) against Keras 3 in float64 and finite differences; the model fuses it with a sigmoid
output exactly as it would backpropagate through the sigmoid, and a sigmoid unit learns with it."""

import kerascheck
import numpy as np
import pytest

from scratchrnn import activations, gradcheck, losses, optimizers
from scratchrnn.layers import Dense, SimpleRNN
from scratchrnn.models import Sequential
from scratchrnn.utils import set_random_seed

keras, tf = kerascheck.import_keras()

SHAPES = [(5, 3), (6, 1), (2, 4, 3)]  # (B, V), one unit, (B, T, V)


def data(shape, seed, soft=False):
    rng = np.random.default_rng(seed)
    y = rng.uniform(0.0, 1.0, shape) if soft else rng.integers(0, 2, shape).astype(np.float64)
    p = rng.uniform(0.05, 0.95, shape)
    return y, p


def keras_value_and_gradient(y, p):
    p_tensor = tf.constant(p)
    with tf.GradientTape() as tape:
        tape.watch(p_tensor)
        per_sample = keras.losses.binary_crossentropy(tf.constant(y), p_tensor)  # mean over the last axis
        value = tf.reduce_mean(per_sample)  # then over the batch (and time)
    return float(value), tape.gradient(value, p_tensor).numpy(), per_sample.numpy()


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
def test_value_and_gradient_match_keras(shape, soft):
    y, p = data(shape, seed=len(shape) + soft, soft=soft)
    p.flat[0], p.flat[-1] = 0.0, 1.0  # clipped to 1e-7 and 1 - 1e-7, as Keras clips them
    value, gradient, per_sample = keras_value_and_gradient(y, p)
    assert per_sample.shape == shape[:-1]
    loss = losses.get("binary_crossentropy")
    assert isinstance(loss, losses.BinaryCrossentropy) and loss.get_config() == "binary_crossentropy"
    assert loss(y, p) == pytest.approx(value, rel=1e-12)
    assert loss(y, p) == pytest.approx(float(np.mean(per_sample)), rel=1e-12)
    np.testing.assert_allclose(loss.gradient(y, p), gradient, rtol=1e-12, atol=1e-300)
    assert loss.gradient(y, p).flat[0] == 0.0 and loss.gradient(y, p).flat[-1] == 0.0  # outside the clip
    # Keras's Loss object (sum over batch size reduction) gives the same number
    keras_loss = keras.losses.BinaryCrossentropy(dtype="float64")
    assert loss(y, p) == pytest.approx(float(keras_loss(y, p)), rel=1e-12)


def test_targets_without_the_unit_axis_as_keras():
    y, p = data((7, 1), seed=3)
    # Keras expands (B,) targets to (B, 1)
    expected = float(keras.losses.BinaryCrossentropy(dtype="float64")(y[:, 0], p))
    assert losses.binary_crossentropy(y[:, 0], p) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_gradient_by_finite_differences(shape):
    y, p = data(shape, seed=11, soft=True)
    loss = losses.BinaryCrossentropy()
    report = gradcheck.check_gradients(lambda: loss.value(y, p), {"p": p}, {"p": loss.gradient(y, p)})
    assert report.max_error < 1e-7, str(report)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_logits_gradient_through_a_sigmoid(shape):
    """dL/dz of L(y, sigmoid(z)) = (p - y) / size: by finite differences through the sigmoid, and
    against Keras differentiating its own sigmoid and binary cross-entropy."""
    rng = np.random.default_rng(5)
    y, _ = data(shape, seed=12)
    z = rng.uniform(-3.0, 3.0, shape)
    loss = losses.BinaryCrossentropy()
    assert loss.fuses_activation == "sigmoid"
    value, analytic = loss.value_and_logits_gradient(y, activations.sigmoid(z))
    assert value == loss.value(y, activations.sigmoid(z))
    report = gradcheck.check_gradients(lambda: loss.value(y, activations.sigmoid(z)), {"z": z},
                                       {"z": analytic})
    assert report.max_error < 1e-7, str(report)
    z_tensor = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(z_tensor)
        keras_value = keras.losses.BinaryCrossentropy(dtype="float64")(tf.constant(y),
                                                                       keras.activations.sigmoid(z_tensor))
    np.testing.assert_allclose(analytic, tape.gradient(keras_value, z_tensor).numpy(), rtol=1e-12,
                               atol=1e-300)
    assert value == pytest.approx(float(keras_value), rel=1e-12)


def test_fuses_activation_names_the_activation_each_loss_fuses_with():
    assert not hasattr(losses.Loss(), "fuses_softmax")  # replaced by fuses_activation
    assert losses.CategoricalCrossentropy.fuses_activation == "softmax"
    assert losses.SparseCategoricalCrossentropy.fuses_activation == "softmax"
    assert losses.MeanSquaredError.fuses_activation is None
    assert losses.get("bce").fuses_activation == "sigmoid"


class CountingBCE(losses.BinaryCrossentropy):
    fused_calls = 0

    def value_and_logits_gradient(self, y_true, probabilities):
        CountingBCE.fused_calls += 1
        return super().value_and_logits_gradient(y_true, probabilities)


class UnfusedBCE(losses.BinaryCrossentropy):
    fuses_activation = None  # the model backpropagates dL/dp through the sigmoid's derivative


def toy_problem(samples=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, 2))
    y = (x[:, 0] + 2.0 * x[:, 1] > 0.0).astype(np.float64)  # (N,): Keras takes it for a (N, 1) output
    return x, y


@pytest.mark.parametrize("recurrent", [False, True], ids=["dense", "rnn_per_step"])
def test_model_fuses_sigmoid_and_binary_crossentropy(recurrent):
    """One training step with the fused logits gradient moves the weights exactly as the unfused
    backward through the sigmoid does (float64), and the model did take the fused path."""
    rng = np.random.default_rng(1)
    if recurrent:  # a sigmoid on every time step: the mean over batch and time
        x, y = rng.standard_normal((4, 5, 3)), rng.integers(0, 2, (4, 5, 1)).astype(np.float64)
    else:
        x, y = toy_problem(16)

    def model(loss):
        set_random_seed(3)
        first = (SimpleRNN(4, return_sequences=True, input_shape=(5, 3), dtype="float64") if recurrent
                 else Dense(3, activation="tanh", input_shape=(2,), dtype="float64"))
        net = Sequential([first, Dense(1, activation="sigmoid", bias_initializer="ones", dtype="float64")])
        net.build()  # the weights drawn now, after the seed
        net.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss=loss)
        return net

    fused, unfused = model(CountingBCE()), model(UnfusedBCE())
    assert len(fused.get_weights()) == (5 if recurrent else 4)
    for a, b in zip(fused.get_weights(), unfused.get_weights()):
        np.testing.assert_array_equal(a, b)
    CountingBCE.fused_calls = 0
    fused_loss = fused.train_on_batch(x, y)
    assert CountingBCE.fused_calls == 1
    unfused_loss = unfused.train_on_batch(x, y)
    assert fused_loss == pytest.approx(unfused_loss, rel=1e-12)
    moved = False
    for a, b, start in zip(fused.get_weights(), unfused.get_weights(), model(UnfusedBCE()).get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
        moved |= not np.allclose(a, start)
    assert moved


def test_a_sigmoid_unit_learns_a_separable_problem():
    x, y = toy_problem(128)
    set_random_seed(0)
    model = Sequential([Dense(1, activation="sigmoid", input_shape=(2,), dtype="float64")])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.1), loss="binary_crossentropy")
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, batch_size=16, epochs=40, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    before, after = np.ravel(before)[0], np.ravel(after)[0]
    assert before > 0.5 and after < 0.15 and history.history["loss"][-1] < history.history["loss"][0]
    predicted = model.predict(x, verbose=0)[:, 0] > 0.5
    assert np.mean(predicted == (y > 0.5)) > 0.95


def test_clear_errors():
    loss = losses.BinaryCrossentropy()
    with pytest.raises(ValueError, match="y_true: expected shape \\(3, 2\\)"):
        loss(np.zeros((3, 3)), np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="y_pred: expected finite numbers"):
        loss(np.zeros((3, 2)), np.full((3, 2), np.nan))
    with pytest.raises(TypeError, match="y_true: expected a numeric array"):
        loss("yes", np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="loss: expected one of .*'binary_crossentropy'"):
        losses.get("binary_cross_entropy")
