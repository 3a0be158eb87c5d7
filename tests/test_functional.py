"""The functional API: Model(inputs, outputs) against Keras 3 in float64 (outputs, every weight gradient, a
training step), shared layers and tensors read twice, several inputs and outputs, the seq2seq example's
training and inference models, saving, and the errors a user gets."""

import numpy as np
import pytest

import scratchrnn
from scratchrnn import layers
from scratchrnn.models import Model, Sequential, load_model

kerascheck = pytest.importorskip("kerascheck")
keras, tf = kerascheck.import_keras()


def two_tower(lib, dtype="float64"):
    """Two inputs, a Dense layer shared by both (weights summed over two calls), an LSTM whose states
    start a SimpleRNN (initial_state from tensors), tensors read by two layers, two outputs."""
    L = lib.layers
    left = lib.Input(shape=(5, 3), name="left", dtype=dtype)
    right = lib.Input(shape=(5, 3), name="right", dtype=dtype)
    shared = L.Dense(4, activation="tanh", dtype=dtype, name="shared")
    a, b = shared(left), shared(right)
    sequence, h, c = L.LSTM(6, return_sequences=True, return_state=True, dtype=dtype, name="encoder")(a)
    decoded = L.SimpleRNN(6, dtype=dtype, name="decoder")(b, initial_state=[h])
    pooled = L.GlobalAveragePooling1D(dtype=dtype, name="pooled")(a)  # a is read twice: gradients add
    merged = L.Concatenate(dtype=dtype, name="merge")([decoded, c, pooled])
    classes = L.Dense(3, activation="softmax", dtype=dtype, name="classes")(merged)
    per_step = L.TimeDistributed(L.Dense(2, dtype=dtype), name="per_step", dtype=dtype)(sequence)
    return lib.Model([left, right], [classes, per_step])


def random_weights(model, rng):
    model.set_weights([rng.uniform(-0.7, 0.7, w.shape) for w in model.get_weights()])


def test_functional_model_outputs_and_every_weight_gradient_match_keras():
    rng = np.random.default_rng(0)
    model, keras_model = two_tower(scratchrnn), two_tower(keras)
    random_weights(model, rng)
    assert [w.shape for w in model.get_weights()] == [tuple(w.shape) for w in keras_model.get_weights()]
    keras_model.set_weights(model.get_weights())
    xs = [rng.standard_normal((4, 5, 3)), rng.standard_normal((4, 5, 3))]
    outputs = model._forward(xs)
    projections = [rng.standard_normal(o.shape) for o in outputs]
    model._transient_gradients = False
    model._backward(projections, [False, False])
    gradients = [g for layer in model.layers for g in layer.gradients]
    keras_out, keras_grads = kerascheck.keras_outputs_and_gradients(
        keras_model, xs, lambda _: projections, keras_model.trainable_weights)
    pairs = {f"output {i}": pair for i, pair in enumerate(zip(outputs, keras_out))}
    pairs.update({f"d {w.path}": (g, k) for w, g, k in zip(keras_model.trainable_weights, gradients,
                                                         keras_grads[2:], strict=True)})
    kerascheck.assert_close(pairs)


def test_a_training_step_with_two_losses_and_loss_weights_matches_keras():
    """One SGD step of the summed, weighted losses (softmax + cross-entropy fused, MSE): the same
    weights as Keras after the step, and the same loss values."""
    keras.config.set_floatx("float64")
    try:
        rng = np.random.default_rng(1)
        model, keras_model = two_tower(scratchrnn), two_tower(keras)
        random_weights(model, rng)
        keras_model.set_weights(model.get_weights())
        xs = [rng.standard_normal((4, 5, 3)), rng.standard_normal((4, 5, 3))]
        ys = [np.eye(3)[rng.integers(0, 3, 4)], rng.standard_normal((4, 5, 2))]
        for m, optimizer in ((model, scratchrnn.optimizers.SGD(0.1)),
                             (keras_model, keras.optimizers.SGD(0.1))):
            m.compile(optimizer=optimizer, loss=["categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5])
        ours = model.train_on_batch(xs, ys)
        theirs = keras_model.train_on_batch(xs, ys)
        assert ours[0] == pytest.approx(float(theirs[0]), rel=1e-12)
        kerascheck.assert_close({f"weight {i}": pair for i, pair in enumerate(
            zip(model.get_weights(), keras_model.get_weights()))})
        assert model.evaluate(xs, ys, verbose=0)[0] == pytest.approx(
            float(keras_model.evaluate(xs, ys, verbose=0)[0]), rel=1e-12)
    finally:
        keras.config.set_floatx("float32")


def test_dicts_of_inputs_and_targets_and_the_logs_of_each_output():
    rng = np.random.default_rng(2)
    model = two_tower(scratchrnn)
    model.compile(optimizer="adam", loss={"classes": "categorical_crossentropy", "per_step": "mse"},
                  metrics={"classes": ["accuracy"]})
    xs = {"left": rng.standard_normal((8, 5, 3)), "right": rng.standard_normal((8, 5, 3))}
    ys = {"classes": np.eye(3)[rng.integers(0, 3, 8)], "per_step": rng.standard_normal((8, 5, 2))}
    history = model.fit(xs, ys, epochs=3, batch_size=4, verbose=0, validation_split=0.25)
    names = {"loss", "classes_loss", "per_step_loss", "classes_accuracy"}
    assert set(history.history) == names | {f"val_{name}" for name in names}
    logs = history.history
    for k in range(3):
        assert logs["loss"][k] == pytest.approx(logs["classes_loss"][k] + logs["per_step_loss"][k], rel=1e-6)
    assert logs["loss"][-1] < logs["loss"][0]
    predicted = model.predict(xs)
    assert [p.shape for p in predicted] == [(8, 3), (8, 5, 2)]


def seq2seq(lib, tokens=5, latent=8):
    """The Keras 2 examples' lstm_seq2seq.py, as written there: a training model of two inputs, then an
    inference encoder and decoder made of the trained layers."""
    L = lib.layers
    encoder_inputs = lib.Input(shape=(None, tokens))
    encoder = L.LSTM(latent, return_state=True)
    encoder_outputs, state_h, state_c = encoder(encoder_inputs)
    encoder_states = [state_h, state_c]
    decoder_inputs = lib.Input(shape=(None, tokens))
    decoder_lstm = L.LSTM(latent, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
    decoder_dense = L.Dense(tokens, activation="softmax")
    decoder_outputs = decoder_dense(decoder_outputs)
    model = lib.Model([encoder_inputs, decoder_inputs], decoder_outputs)

    encoder_model = lib.Model(encoder_inputs, encoder_states)
    decoder_state_input_h = lib.Input(shape=(latent,))
    decoder_state_input_c = lib.Input(shape=(latent,))
    decoder_states_inputs = [decoder_state_input_h, decoder_state_input_c]
    decoder_outputs, state_h, state_c = decoder_lstm(decoder_inputs, initial_state=decoder_states_inputs)
    decoder_outputs = decoder_dense(decoder_outputs)
    decoder_model = lib.Model([decoder_inputs] + decoder_states_inputs, [decoder_outputs, state_h, state_c])
    return model, encoder_model, decoder_model


def decode(encoder_model, decoder_model, sequence, tokens=5, steps=6):
    """The example's decode_sequence: greedy, one step at a time, the states carried."""
    states = encoder_model.predict(sequence, verbose=0)
    target = np.zeros((1, 1, tokens))
    target[0, 0, 0] = 1.0
    decoded = []
    for _ in range(steps):
        output_tokens, h, c = decoder_model.predict([target] + list(states), verbose=0)
        token = int(np.argmax(output_tokens[0, -1, :]))
        decoded.append(token)
        target = np.zeros((1, 1, tokens))
        target[0, 0, token] = 1.0
        states = [h, c]
    return decoded


def test_seq2seq_trains_and_its_inference_models_decode_as_keras_does():
    scratchrnn.set_random_seed(3)
    rng = np.random.default_rng(3)
    tokens = 5
    ids = rng.integers(1, tokens, (16, 6))
    encoder_x = np.eye(tokens)[ids]  # the task: repeat the sequence
    decoder_x = np.eye(tokens)[np.concatenate([np.zeros((16, 1), int), ids[:, :-1]], axis=1)]
    decoder_y = np.eye(tokens)[ids]
    model, encoder_model, decoder_model = seq2seq(scratchrnn, tokens)
    model.compile(optimizer=scratchrnn.optimizers.RMSprop(learning_rate=0.02),
                  loss="categorical_crossentropy")
    history = model.fit([encoder_x, decoder_x], decoder_y, batch_size=8, epochs=30, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]

    keras.config.set_floatx("float32")
    keras_model, keras_encoder, keras_decoder = seq2seq(keras, tokens)
    keras_model.set_weights(model.get_weights())
    for sample in range(4):
        sequence = encoder_x[sample:sample + 1].astype(np.float32)
        ours = decode(encoder_model, decoder_model, sequence)
        assert ours == decode(keras_encoder, keras_decoder, sequence)
        np.testing.assert_allclose(encoder_model.predict(sequence)[0],
                                   keras_encoder.predict(sequence, verbose=0)[0], rtol=1e-5, atol=1e-6)

    # Training again after the inference models ran: they see the new weights (they share the layers).
    model.fit([encoder_x, decoder_x], decoder_y, batch_size=8, epochs=1, verbose=0)
    keras_model.set_weights(model.get_weights())
    sequence = encoder_x[:1].astype(np.float32)
    np.testing.assert_allclose(encoder_model.predict(sequence)[1],
                               keras_encoder.predict(sequence, verbose=0)[1], rtol=1e-5, atol=1e-6)


def test_layer_shared_by_two_models_trains_in_both_without_losing_updates():
    """Two compiled models share a Dense layer: training one, then the other, then the first again, each
    continues from the shared layer's latest weights."""
    dense = layers.Dense(2)
    a = scratchrnn.Input(shape=(3,))
    b = scratchrnn.Input(shape=(3,))
    first, second = Model(a, dense(a)), Model(b, layers.Dense(2)(dense(b)))
    for m in (first, second):
        m.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((4, 3)), np.zeros((4, 2))
    first.train_on_batch(x, y)
    after_first = dense.get_weights()[0]
    second.train_on_batch(x, y)
    assert not np.array_equal(dense.get_weights()[0], after_first)
    kernel, bias = dense.get_weights()
    first.train_on_batch(x, y)
    residual = 2 * (x @ kernel + bias) / y.size  # dMSE/d(output) of the first model, from the latest weights
    np.testing.assert_allclose(dense.get_weights()[0], kernel - 0.01 * x.T @ residual, rtol=1e-6)
    np.testing.assert_allclose(dense.get_weights()[1], bias - 0.01 * residual.sum(axis=0), rtol=1e-6)


def test_sequential_from_a_list_with_an_input_first_and_keras_order_of_layers():
    model = scratchrnn.Sequential([scratchrnn.Input(shape=(4, 2)), layers.LSTM(3), layers.Dense(1)])
    assert model.built and model.inputs[0].shape == (None, 4, 2)
    assert [type(layer).__name__ for layer in model.layers] == ["LSTM", "Dense"]
    x = scratchrnn.Input(shape=(4, 2))
    functional = Model(x, layers.Dense(1)(layers.LSTM(3)(x)))
    assert [type(layer).__name__ for layer in functional.layers] == ["InputLayer", "LSTM", "Dense"]


def test_functional_model_saves_and_loads_with_the_same_predictions(tmp_path):
    rng = np.random.default_rng(4)
    model = two_tower(scratchrnn)
    model.compile(optimizer="adam", loss=["categorical_crossentropy", "mse"])
    xs = [rng.standard_normal((4, 5, 3)), rng.standard_normal((4, 5, 3))]
    ys = [np.eye(3)[rng.integers(0, 3, 4)], rng.standard_normal((4, 5, 2))]
    model.fit(xs, ys, epochs=2, verbose=0)
    model.save(tmp_path / "two.npz")
    loaded = load_model(tmp_path / "two.npz")
    assert type(loaded) is Model
    for got, expected in zip(loaded.predict(xs), model.predict(xs), strict=True):
        np.testing.assert_array_equal(got, expected)
    assert loaded.train_on_batch(xs, ys) == model.train_on_batch(xs, ys)  # the optimizer state came back


def test_empty_batch_gives_empty_outputs():
    model = two_tower(scratchrnn)
    empty = [np.zeros((0, 5, 3)), np.zeros((0, 5, 3))]
    assert [o.shape for o in model.predict(empty)] == [(0, 3), (0, 5, 2)]
    sequential = Sequential([layers.LSTM(3, input_shape=(4, 2), return_sequences=True), layers.Dense(2)])
    assert sequential.predict(np.zeros((0, 4, 2))).shape == (0, 4, 2)
    output, h, c = layers.LSTM(3, return_state=True)(np.zeros((0, 4, 2)))
    assert (output.shape, h.shape, c.shape) == ((0, 3), (0, 3), (0, 3))
    assert layers.Concatenate()([np.zeros((0, 2)), np.zeros((0, 3))]).shape == (0, 5)
    with pytest.raises(ValueError, match="expected a non-empty array"):  # no time steps is no sequence
        layers.LSTM(3)(np.zeros((2, 0, 1)))


# -- errors -------------------------------------------------------------------------------------

def test_a_layer_called_on_the_wrong_rank_or_feature_size_names_the_layer():
    x = scratchrnn.Input(shape=(3,))
    with pytest.raises(ValueError, match=r"recurrent layer 'rank_check' expected \(batch, time, features\)"):
        layers.LSTM(2, name="rank_check")(x)
    dense = layers.Dense(2, name="built_for_three")
    dense(x)
    with pytest.raises(ValueError, match="'built_for_three' was built for inputs"):
        dense(scratchrnn.Input(shape=(4,)))


def test_a_disconnected_input_and_a_cycle_are_named():
    a, b = scratchrnn.Input(shape=(3,), name="used"), scratchrnn.Input(shape=(3,), name="missing")
    out = layers.Add()([layers.Dense(3)(a), layers.Dense(3)(b)])
    with pytest.raises(ValueError, match="graph disconnected.*'missing'"):
        Model(a, out)
    c = scratchrnn.Input(shape=(3,))
    first = layers.Dense(3, name="loop_a")
    second = layers.Dense(3, name="loop_b")
    y = second(first(c))
    first._inbound_nodes[0].inputs = [y]  # a hand-made loop: first reads what second makes of it
    with pytest.raises(ValueError, match="part of a cycle"):
        Model(c, y)


BAD_FIT_DATA = {
    "one array": (lambda r: r[0], None, "expected a list or dict of 2 arrays for the model's inputs"),
    "three arrays": (lambda r: r[:1] * 3, None, "expected 2 arrays, one per model input"),
    "wrong keys": (lambda r: {"left": r[0], "wrong": r[1]}, None,
                   r"expected a dict with the keys \['left', 'right'\]"),
    "features": (lambda r: [r[0], r[1][:, :, :2]], None,
                 r"'shared' expected 3 features.*\(model input 'right'\)"),
    "samples": (lambda r: [r[0], r[1][:2]], None, "the same number of samples in every input"),
    "target shape": (lambda r: r, [np.eye(3)[[0, 1, 2, 0]], np.zeros((4, 5, 9))],
                     r"y\['per_step'\]: expected shape"),
}


@pytest.mark.parametrize("case", sorted(BAD_FIT_DATA))
def test_fit_inputs_that_do_not_match_the_model_are_named(case):
    x, y, message = BAD_FIT_DATA[case]
    rng = np.random.default_rng(5)
    model = two_tower(scratchrnn)
    model.compile(optimizer="sgd", loss=["categorical_crossentropy", "mse"])
    arrays = [rng.standard_normal((4, 5, 3)), rng.standard_normal((4, 5, 3))]
    targets = [np.eye(3)[[0, 1, 2, 0]], np.zeros((4, 5, 2))]
    with pytest.raises(ValueError, match=message):
        model.fit(x(arrays), targets if y is None else y, verbose=0)


def test_model_needs_symbolic_tensors_and_a_sequential_no_return_state():
    with pytest.raises(TypeError, match="Model: expected Model"):
        Model()
    with pytest.raises(TypeError, match="inputs: expected symbolic tensors"):
        Model(np.zeros((2, 3)), scratchrnn.Input(shape=(3,)))
    with pytest.raises(ValueError, match="return_state=True"):
        Sequential([layers.LSTM(2, return_state=True)])
    x = scratchrnn.Input(shape=(4, 2))
    with pytest.raises(ValueError, match=r"initial_state: 'two_states' expected 2 tensors, got 1"):
        layers.LSTM(3, name="two_states")(x, initial_state=[scratchrnn.Input(shape=(3,))])


def test_save_under_keras_suffixes_writes_keras_weights_or_refuses(tmp_path):
    """model.save("x.hdf5") (the Brownlee tutorials' ModelCheckpoint) writes Keras's HDF5 weights, which
    load_weights reads in both libraries; a .keras name is refused with nothing written."""
    model = Sequential([scratchrnn.Input(shape=(3, 2)), layers.LSTM(4), layers.Dense(2)])
    model.save(tmp_path / "weights.hdf5")
    x = np.linspace(-1, 1, 12).reshape(2, 3, 2)
    again = Sequential([scratchrnn.Input(shape=(3, 2)), layers.LSTM(4), layers.Dense(2)])
    again.load_weights(tmp_path / "weights.hdf5")
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    keras_model = keras.Sequential([keras.Input(shape=(3, 2)), keras.layers.LSTM(4), keras.layers.Dense(2)])
    keras_model.load_weights(tmp_path / "weights.hdf5")
    np.testing.assert_allclose(keras_model.predict(x.astype(np.float32), verbose=0), model.predict(x),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Keras's .keras whole-model format"):
        model.save(tmp_path / "model.keras")
    assert not (tmp_path / "model.keras").exists()


def test_accuracy_of_a_one_unit_sigmoid_output_is_binary_accuracy():
    """Keras resolves "accuracy" to binary_accuracy for a one-unit output (argmax of one column would
    always match: a silent 1.0)."""
    x = scratchrnn.Input(shape=(2,))
    model = Model(x, layers.Dense(1, activation="sigmoid")(x))
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    model.set_weights([np.array([[1.0], [0.0]]), np.zeros(1)])
    inputs = np.array([[2.0, 0.0], [-2.0, 0.0], [3.0, 1.0], [-1.0, 5.0]])  # p > 0.5 for rows 0 and 2
    targets = np.array([1.0, 1.0, 0.0, 0.0])  # right for rows 0 and 3
    assert model.evaluate(inputs, targets, verbose=0)[1] == 0.5


def test_a_keras_layer_scratchrnn_lacks_is_named_with_the_ones_it_has():
    with pytest.raises(AttributeError, match=r"has no 'Lambda'; the layers it has are .*'LSTM'"):
        scratchrnn.layers.Lambda  # noqa: B018
    assert not hasattr(scratchrnn.layers, "Conv2D") and hasattr(scratchrnn.layers, "Bidirectional")


def test_keras_2_submodules_summary_predict_proba_and_accepted_arguments(capsys):
    from scratchrnn.layers.convolutional import Conv1D  # noqa: F401
    from scratchrnn.layers.core import Activation, Dense, Dropout, Flatten, RepeatVector, Reshape  # noqa: F401
    from scratchrnn.layers.embeddings import Embedding  # noqa: F401
    from scratchrnn.layers.pooling import GlobalMaxPooling1D, MaxPooling1D  # noqa: F401
    from scratchrnn.layers.recurrent import GRU, LSTM, SimpleRNN  # noqa: F401
    from scratchrnn.layers.wrappers import Bidirectional, TimeDistributed  # noqa: F401

    model = two_tower(scratchrnn, dtype="float32")
    model.summary()
    printed = capsys.readouterr().out
    assert "Connected to" in printed and "shared (Dense)" in printed and "(None, 5, 4)" in printed
    layer = layers.LSTM(3, unroll=True, implementation=2, input_shape=(4, 2), batch_size=5)
    assert layer.batch_input_shape == (5, 4, 2)
    sequential = Sequential([layer, layers.Dense(2, activation="softmax")])
    x = np.linspace(-1, 1, 40).reshape(5, 4, 2)
    np.testing.assert_array_equal(sequential.predict_proba(x), sequential.predict(x))
    np.testing.assert_array_equal(sequential.predict_classes(x), sequential.predict(x).argmax(axis=-1))
