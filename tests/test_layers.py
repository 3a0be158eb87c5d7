"""The layer contract: shapes, Keras weight layout, gradients through every return mode, stateful carry."""

import numpy as np
import pytest

from scratchrnn import gradcheck, layers

RECURRENT = [
    (layers.SimpleRNN, {}),
    (layers.LSTM, {}),
    (layers.GRU, {"reset_after": True}),
    (layers.GRU, {"reset_after": False}),
]
IDS = ["simple_rnn", "lstm", "gru_reset_after", "gru_reset_before"]


def randomize(layer, rng):
    """Random non-zero weights (biases included) so that no gradient hides behind a zero."""
    layer.set_weights([rng.uniform(-0.7, 0.7, w.shape) for w in layer.get_weights()])


@pytest.mark.parametrize("cls, options", RECURRENT, ids=IDS)
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("return_state", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_layer_gradcheck(cls, options, return_sequences, return_state, go_backwards):
    rng = np.random.default_rng(5)
    layer = cls(3, dtype="float64", return_sequences=return_sequences, return_state=return_state,
                go_backwards=go_backwards, **options)
    x = rng.standard_normal((2, 4, 3))
    layer.build(x.shape)
    randomize(layer, rng)
    states = [rng.uniform(-0.9, 0.9, (2, 3)) for _ in range(2 if cls is layers.LSTM else 1)]
    report = gradcheck.check_layer(layer, x, initial_state=states)
    assert len(report) == len(layer.weights) + 1 + len(states)
    assert report.max_error < 1e-6, str(report)


@pytest.mark.parametrize("cls, options", RECURRENT, ids=IDS)
def test_two_chunks_with_carried_state_equal_one_run(cls, options):
    """Running T steps in two chunks, carrying the state, gives the same outputs; and with the carried
    state's gradient passed back into the first chunk, the same gradients."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 6, 2))
    whole = cls(4, dtype="float64", return_sequences=True, return_state=True, **options)
    whole.build(x.shape)
    randomize(whole, rng)
    first = cls(4, dtype="float64", return_sequences=True, return_state=True, **options)
    second = cls(4, dtype="float64", return_sequences=True, return_state=True, **options)
    for part in (first, second):
        part.build(x.shape)
        part.set_weights(whole.get_weights())

    out_whole, *finals_whole = whole(x)
    out_1, *carried = first(x[:, :4])
    out_2, *finals_2 = second(x[:, 4:], initial_state=carried)
    np.testing.assert_allclose(np.concatenate([out_1, out_2], axis=1), out_whole, rtol=1e-12, atol=1e-14)
    for a, b in zip(finals_2, finals_whole):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)

    d_out = rng.standard_normal(out_whole.shape)
    d_finals = [rng.standard_normal(f.shape) for f in finals_whole]
    dx_whole = whole.backward([d_out, *d_finals])
    dx_2 = second.backward([d_out[:, 4:], *d_finals])
    dx_1 = first.backward([d_out[:, :4], *second.initial_state_gradients])
    np.testing.assert_allclose(np.concatenate([dx_1, dx_2], axis=1), dx_whole, rtol=1e-10, atol=1e-12)
    for g_whole, g_1, g_2 in zip(whole.gradients, first.gradients, second.gradients):
        np.testing.assert_allclose(g_1 + g_2, g_whole, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls, options", RECURRENT, ids=IDS)
def test_stateful_layer_carries_state_between_calls(cls, options):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 3))
    stateless = cls(5, return_sequences=True, **options)
    stateful = cls(5, return_sequences=True, stateful=True, **options)
    stateless.build(x.shape)
    stateful.build(x.shape)
    stateful.set_weights(stateless.get_weights())
    expected = stateless(x)
    got = np.concatenate([stateful(x[:, :3]), stateful(x[:, 3:])], axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    stateful.reset_states()
    np.testing.assert_allclose(stateful(x[:, :3]), expected[:, :3], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="batch size 2"):
        stateful(x[:1])


@pytest.mark.parametrize("cls, options, shapes", [
    (layers.SimpleRNN, {}, [(3, 5), (5, 5), (5,)]),
    (layers.LSTM, {}, [(3, 20), (5, 20), (20,)]),
    (layers.GRU, {}, [(3, 15), (5, 15), (2, 15)]),
    (layers.GRU, {"reset_after": False}, [(3, 15), (5, 15), (15,)]),
])
def test_keras_weight_shapes_and_dtype(cls, options, shapes):
    for dtype in ("float32", "float64"):
        layer = cls(5, dtype=dtype, **options)
        y = layer(np.ones((2, 4, 3)))
        assert [w.shape for w in layer.get_weights()] == shapes
        assert all(w.dtype == dtype for w in layer.weights) and y.dtype == dtype
        assert y.shape == (2, 5)


def test_lstm_initialisation_follows_keras():
    layer = layers.LSTM(4)
    layer.build((1, 1, 3))
    kernel, recurrent, bias = layer.get_weights()
    np.testing.assert_array_equal(bias, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(4), atol=1e-6)  # orthogonal rows
    assert np.abs(kernel).max() <= np.sqrt(6 / (3 + 16))


def test_parameter_count_matches_keras_alphabet_model():
    lstm, dense = layers.LSTM(50), layers.Dense(26, activation="softmax")
    h = lstm(np.zeros((1, 1, 1)))
    dense(h)
    assert lstm.count_params() + dense.count_params() == 11726


@pytest.mark.parametrize("activation", [None, "tanh", "relu", "sigmoid", "softmax"])
def test_dense_gradcheck_on_sequences(activation):
    rng = np.random.default_rng(4)
    layer = layers.TimeDistributed(layers.Dense(4, activation=activation, dtype="float64"))
    x = rng.standard_normal((2, 3, 5))
    layer.build(x.shape)
    randomize(layer, rng)
    assert gradcheck.check_layer(layer, x).max_error < 1e-6


@pytest.mark.parametrize("activation", ["softmax", "tanh", "hard_sigmoid"])
def test_activation_layer_gradcheck(activation):
    rng = np.random.default_rng(6)
    layer = layers.Activation(activation, dtype="float64")
    assert gradcheck.check_layer(layer, rng.standard_normal((2, 3, 4))).max_error < 1e-6


def test_embedding_gradient_adds_up_repeated_ids():
    layer = layers.Embedding(5, 3, dtype="float64")
    ids = np.array([[1, 1, 4]])
    y = layer(ids)
    assert y.shape == (1, 3, 3)
    layer.backward(np.ones((1, 3, 3)))
    np.testing.assert_array_equal(layer.gradients[0][:, 0], [0, 2, 0, 0, 1])


def test_freezing_is_refused_rather_than_ignored():
    assert layers.Dense(2, trainable=True).count_params() == 0
    with pytest.raises(ValueError, match="trainable: expected True"):
        layers.LSTM(2, trainable=False)


def test_time_distributed_on_a_time_major_view_matches_a_contiguous_input():
    """A recurrent layer's outputs are a batch-major view of time-major memory, which TimeDistributed
    flattens in (T, B) order without a copy: same outputs and gradients as from a contiguous copy."""
    from scratchrnn.layers import Dense, TimeDistributed

    rng = np.random.default_rng(0)
    view = np.swapaxes(rng.standard_normal((5, 3, 4)), 0, 1)  # (B=3, T=5, 4), time-major memory
    dy = rng.standard_normal((3, 5, 2))
    results = []
    for x in (view, np.ascontiguousarray(view)):
        layer = TimeDistributed(Dense(2, dtype="float64"), dtype="float64")
        layer.build((None, None, 4))
        layer.set_weights([np.arange(8.0).reshape(4, 2) / 10, np.array([0.5, -0.5])])
        y = layer.forward(x)
        dx = layer.backward(dy)
        results.append((y, dx, [g.copy() for g in layer.gradients]))
    (y1, dx1, g1), (y2, dx2, g2) = results
    np.testing.assert_allclose(y1, y2, rtol=1e-14)
    np.testing.assert_allclose(dx1, dx2, rtol=1e-14)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-14)


@pytest.mark.parametrize("make", [
    lambda: layers.Dense(3, activation="tanh", dtype="float64"),
    lambda: layers.Activation("sigmoid", dtype="float64"),
    lambda: layers.TimeDistributed(layers.Dense(3, dtype="float64"), dtype="float64"),
    lambda: layers.LSTM(3, return_sequences=True, dtype="float64"),
], ids=["dense", "activation", "time_distributed", "lstm"])
def test_backward_without_d_inputs_returns_none_and_the_same_weight_gradients(make):
    """A model's first layer is asked for no dLoss/dx (its input is the data): every layer honours it."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 5))
    layer = make()
    layer.build(x.shape)
    results = []
    for d_inputs in (True, False):
        y = layer.forward(x)
        dx = layer.backward(np.ones_like(y), d_inputs=d_inputs)
        results.append((dx, [g.copy() for g in layer.gradients]))
    (dx_full, grads_full), (dx_none, grads_none) = results
    assert dx_full.shape == x.shape and dx_none is None
    for a, b in zip(grads_full, grads_none):
        np.testing.assert_array_equal(a, b)
