"""Masks along the graph (Masking, Embedding(mask_zero=True), the recurrent layers, Bidirectional,
TimeDistributed, Dense, Dropout, Concatenate) and the masked losses and metrics, against Keras 3 in
float64: padded batches (left-padded, right-padded, one real step first, one real step last) through
SimpleRNN, LSTM, GRU (reset_after both ways), with and without return_sequences, Dense and
TimeDistributed(Dense) heads, alone and under Bidirectional; predictions, the loss and one SGD step's
weight change. Then what masking means without Keras (padding changes nothing), and the errors."""

import numpy as np
import pytest

import scratchrnn
from scratchrnn import gradcheck, layers, losses
from scratchrnn.models import Sequential, data

kerascheck = pytest.importorskip("kerascheck")
keras, tf = kerascheck.import_keras()

STEPS, FEATURES, UNITS, CLASSES = 5, 2, 4, 3
CELLS = ("simple_rnn", "lstm", "gru", "gru_reset_before")


def recurrent(L, cell, return_sequences, **kwargs):
    kwargs = dict(return_sequences=return_sequences, dtype="float64", **kwargs)
    if cell == "simple_rnn":
        return L.SimpleRNN(UNITS, **kwargs)
    if cell == "lstm":
        return L.LSTM(UNITS, **kwargs)
    return L.GRU(UNITS, reset_after=cell == "gru", **kwargs)


def masked_model(lib, cell, return_sequences, head, bidirectional, loss):
    """Input -> Masking(0) -> recurrent layer (or Bidirectional of it) -> Dense or TimeDistributed(Dense)."""
    L = lib.layers
    x = lib.Input(shape=(STEPS, FEATURES), dtype="float64")
    h = L.Masking(mask_value=0.0, dtype="float64")(x)
    rnn = recurrent(L, cell, return_sequences)
    h = (L.Bidirectional(rnn, dtype="float64") if bidirectional else rnn)(h)
    dense = L.Dense(CLASSES, activation="softmax" if loss == "categorical_crossentropy" else None,
                    dtype="float64")
    head_layer = L.TimeDistributed(dense, dtype="float64") if head == "time_distributed" else dense
    return lib.Model(x, head_layer(h))


def padded_batch(rng, features=FEATURES):
    """Four sequences: left-padded, right-padded, one real step first, one real step last."""
    x = rng.standard_normal((4, STEPS, features))
    x[0, :2] = 0.0
    x[1, 3:] = 0.0
    x[2, 1:] = 0.0
    x[3, :-1] = 0.0
    return x


def real_steps(x):
    return np.any(x != 0.0, axis=-1)  # (B, T)


def random_weights(model, rng):
    model.set_weights([rng.uniform(-0.7, 0.7, w.shape) for w in model.get_weights()])


def targets(rng, shape, loss):
    if loss == "categorical_crossentropy":
        return np.eye(CLASSES)[rng.integers(0, CLASSES, shape)]
    return rng.standard_normal((*shape, CLASSES))


# Every cell with and without return_sequences, alone and under Bidirectional; with return_sequences the
# head alternates between Dense on the 3-D output and TimeDistributed(Dense), and the loss between the
# fused softmax cross-entropy and the mean squared error, so that each cell meets both of each.
CASES = [(cell, rs, ("dense", "time_distributed")[(k + b) % 2] if rs else "dense", bool(b),
          ("categorical_crossentropy", "mse")[(k + b + rs) % 2])
         for k, cell in enumerate(CELLS) for rs in (True, False) for b in (0, 1)]


def compile_both(model, keras_model, loss, rate=0.5, metrics=None):
    model.compile(optimizer=scratchrnn.optimizers.SGD(rate), loss=loss, metrics=metrics)
    keras_model.compile(optimizer=keras.optimizers.SGD(rate), loss=loss, metrics=metrics, jit_compile=False)


@pytest.mark.parametrize("cell, return_sequences, head, bidirectional, loss", CASES)
def test_padded_batch_predictions_loss_and_sgd_step_match_keras(cell, return_sequences, head, bidirectional,
                                                                loss):
    keras.config.set_floatx("float64")
    try:
        rng = np.random.default_rng(CELLS.index(cell) * 4 + 2 * return_sequences + bidirectional)
        model = masked_model(scratchrnn, cell, return_sequences, head, bidirectional, loss)
        keras_model = masked_model(keras, cell, return_sequences, head, bidirectional, loss)
        random_weights(model, rng)
        assert [w.shape for w in model.get_weights()] == [tuple(w.shape) for w in keras_model.get_weights()]
        keras_model.set_weights(model.get_weights())
        x = padded_batch(rng)
        y = targets(rng, (4, STEPS) if return_sequences else (4,), loss)
        compile_both(model, keras_model, loss)
        pairs = {"predictions": (model.predict(x), keras_model.predict(x, verbose=0))}
        before = model.get_weights()
        ours, theirs = model.train_on_batch(x, y), float(keras_model.train_on_batch(x, y))
        pairs["loss"] = (ours, theirs)
        pairs.update({f"change of weight {i}": (mine - w, keras_w - w) for i, (w, mine, keras_w) in enumerate(
            zip(before, model.get_weights(), keras_model.get_weights(), strict=True))})
        kerascheck.assert_close(pairs)
        if return_sequences:  # the masked loss is not the plain mean over every step
            assert abs(ours - losses.get(loss).value(y, pairs["predictions"][0])) > 1e-6
    finally:
        keras.config.set_floatx("float32")


def test_embedding_mask_zero_sequential_sparse_loss_and_accuracy_match_keras():
    """Embedding(mask_zero) -> LSTM(return_sequences) -> Dense softmax in a Sequential model, sparse
    targets per step: evaluate's loss and accuracy (over real steps only), then one SGD step."""
    keras.config.set_floatx("float64")
    try:
        rng = np.random.default_rng(5)

        def build(lib):
            L = lib.layers
            return lib.Sequential([lib.Input(shape=(STEPS,), dtype="int32"),
                                   L.Embedding(6, 3, mask_zero=True, dtype="float64"),
                                   L.LSTM(UNITS, return_sequences=True, dtype="float64"),
                                   L.Dense(CLASSES, activation="softmax", dtype="float64")])

        model, keras_model = build(scratchrnn), build(keras)
        random_weights(model, rng)
        keras_model.set_weights(model.get_weights())
        ids = rng.integers(1, 6, (4, STEPS))
        ids[0, :3] = 0
        ids[1, 2:] = 0
        ids[2, 1:] = 0
        y = rng.integers(0, CLASSES, (4, STEPS))
        compile_both(model, keras_model, "sparse_categorical_crossentropy", metrics=["accuracy"])
        ours, theirs = model.evaluate(ids, y, verbose=0), keras_model.evaluate(ids, y, verbose=0)
        assert ours == pytest.approx(theirs, rel=1e-12)
        probabilities = model.predict(ids)
        unmasked = float(np.mean(probabilities.argmax(-1) == y))
        assert ours[1] != pytest.approx(unmasked)  # the accuracy really left the padding out
        before = model.get_weights()
        model.train_on_batch(ids, y)
        keras_model.train_on_batch(ids, y)
        kerascheck.assert_close({f"change of weight {i}": (mine - w, keras_w - w) for i, (w, mine, keras_w) in
                                 enumerate(zip(before, model.get_weights(), keras_model.get_weights()))})
    finally:
        keras.config.set_floatx("float32")


def test_concatenate_of_masked_and_unmasked_branches_matches_keras():
    """Keras's rule for Concatenate: along features, a step is real where any input's is (an unmasked
    input counts as all real); along time, the masks end to end. Both models train one step alike."""
    keras.config.set_floatx("float64")
    try:
        rng = np.random.default_rng(6)

        def build(lib):
            L = lib.layers
            a = lib.Input(shape=(STEPS, FEATURES), dtype="float64")
            b = lib.Input(shape=(STEPS, FEATURES), dtype="float64")
            left = L.GRU(UNITS, return_sequences=True, dtype="float64")(L.Masking(dtype="float64")(a))
            right = L.Dense(UNITS, dtype="float64")(b)  # unmasked
            both = L.Concatenate(axis=-1, dtype="float64")([left, right])
            masked_only = L.Concatenate(axis=1, dtype="float64")([left, left])  # (B, 2T, H), masks end to end
            out = L.SimpleRNN(UNITS, return_sequences=True, dtype="float64")(both)
            out2 = L.LSTM(UNITS, dtype="float64")(masked_only)
            return lib.Model([a, b], [L.Dense(CLASSES, dtype="float64")(out),
                                      L.Dense(1, dtype="float64")(out2)])

        model, keras_model = build(scratchrnn), build(keras)
        random_weights(model, rng)
        keras_model.set_weights(model.get_weights())
        xs = [padded_batch(rng), rng.standard_normal((4, STEPS, FEATURES))]
        ys = [rng.standard_normal((4, STEPS, CLASSES)), rng.standard_normal((4, 1))]
        compile_both(model, keras_model, "mse")
        pairs = {f"output {i}": pair for i, pair in enumerate(zip(model.predict(xs),
                                                                  keras_model.predict(xs, verbose=0)))}
        before = model.get_weights()
        pairs["loss"] = (model.train_on_batch(xs, ys)[0], float(keras_model.train_on_batch(xs, ys)[0]))
        pairs.update({f"change of weight {i}": (mine - w, keras_w - w) for i, (w, mine, keras_w) in enumerate(
            zip(before, model.get_weights(), keras_model.get_weights()))})
        kerascheck.assert_close(pairs)
    finally:
        keras.config.set_floatx("float32")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("go_backwards, return_sequences, zero_output", [
    (False, True, False), (True, True, True), (True, False, False), (False, False, True)])
def test_recurrent_layer_with_a_mask_matches_keras_outputs_and_every_gradient(cell, go_backwards,
                                                                           return_sequences, zero_output):
    rng = np.random.default_rng(CELLS.index(cell))
    x = padded_batch(rng)
    options = dict(go_backwards=go_backwards, zero_output_for_mask=zero_output)
    kerascheck.compare_layer(recurrent(layers, cell, return_sequences, **options),
                             recurrent(keras.layers, cell, return_sequences, **options), x, rng,
                             call_kwargs={"mask": real_steps(x)})


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_bidirectional_skips_the_padding_on_either_side(cell, return_sequences):
    """Each padded sequence gives what its real steps alone give (zeros at the padding, with
    return_sequences), whether the padding comes first or last: the backward direction starts at the
    last real step."""
    rng = np.random.default_rng(3)
    layer = layers.Bidirectional(recurrent(layers, cell, return_sequences))
    x = padded_batch(rng)
    real = real_steps(x)
    layer(x[:1, real[0]])  # builds
    layer.set_weights([rng.uniform(-0.7, 0.7, w.shape) for w in layer.get_weights()])
    padded = layer(x, mask=real)
    for row in range(len(x)):
        alone = layer(x[row:row + 1, real[row]])[0]
        if return_sequences:
            np.testing.assert_allclose(padded[row, real[row]], alone, rtol=1e-12, atol=1e-14)
            assert np.all(padded[row, ~real[row]] == 0.0)
        else:
            np.testing.assert_allclose(padded[row], alone, rtol=1e-12, atol=1e-14)


def test_a_masked_step_repeats_the_last_output_and_keeps_the_state():
    """Without zero_output_for_mask a masked step's output is the last real step's (zeros before the
    first), and return_state gives the state of the last real step."""
    rng = np.random.default_rng(4)
    layer = layers.LSTM(UNITS, return_sequences=True, return_state=True, dtype="float64")
    x = padded_batch(rng)
    real = real_steps(x)
    outputs, h, c = layer(x, mask=real)
    np.testing.assert_array_equal(outputs[0, :2], 0.0)  # left padding: nothing real yet
    np.testing.assert_array_equal(outputs[1, 3:], np.stack([outputs[1, 2]] * 2))  # right padding repeats
    alone, h_alone, c_alone = layer(x[1:2, :3])
    np.testing.assert_allclose(h[1], h_alone[0], rtol=1e-12)
    np.testing.assert_allclose(c[1], c_alone[0], rtol=1e-12)


def test_masks_travel_along_the_graph_and_stop_where_keras_stops_them():
    x = scratchrnn.Input(shape=(STEPS,), dtype="int32")
    embedded = layers.Embedding(6, 3, mask_zero=True)(x)
    sequence = layers.LSTM(4, return_sequences=True)(embedded)
    per_step = layers.TimeDistributed(layers.Dense(2))(layers.Dropout(0.5)(layers.Dense(3)(sequence)))
    last, h, c = layers.LSTM(4, return_state=True)(per_step)
    both = layers.Bidirectional(layers.SimpleRNN(2, return_sequences=True), merge_mode=None)(per_step)
    for tensor in (embedded, sequence, per_step, *both):
        assert tensor._keras_mask is not None, tensor
    for tensor in (x, last, h, c):
        assert tensor._keras_mask is None, tensor
    unmasked = scratchrnn.Input(shape=(STEPS, 3))
    assert layers.Embedding(6, 3)(x)._keras_mask is None
    assert layers.LSTM(4, return_sequences=True)(unmasked)._keras_mask is None
    model = scratchrnn.Model(x, layers.Dense(2)(per_step))
    assert model._masked
    ids = np.array([[0, 0, 1, 2, 3], [4, 5, 0, 0, 0]])
    model.predict(ids)
    np.testing.assert_array_equal(model._output_masks[0], ids != 0)
    plain = Sequential([layers.LSTM(3, input_shape=(STEPS, 2)), layers.Dense(2)])
    assert not plain._masked and all(step.plain for step in plain._steps)  # no mask: the plain path


def test_masking_layer_zeroes_the_padding_and_passes_gradients_only_at_real_steps():
    layer = layers.Masking(mask_value=-1.0, dtype="float64")
    x = np.array([[[1.0, -1.0], [-1.0, -1.0], [0.0, 2.0]]])
    y = layer(x)
    np.testing.assert_array_equal(y, [[[1.0, -1.0], [0.0, 0.0], [0.0, 2.0]]])
    np.testing.assert_array_equal(layer.compute_mask(x), [[True, False, True]])
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), [[[1, 1], [0, 0], [1, 1]]])
    keras_layer = keras.layers.Masking(mask_value=-1.0, dtype="float64")
    np.testing.assert_array_equal(y, keras_layer(x))
    np.testing.assert_array_equal(layer.compute_mask(x), keras_layer.compute_mask(tf.constant(x)))
    again = layers.deserialize({"class_name": "Masking", "config": layer.get_config()})
    assert again.mask_value == -1.0
    with pytest.raises(TypeError, match="mask_value"):
        layers.Masking(mask_value="0")
    with pytest.raises(ValueError, match="mask_value"):
        layers.Masking(mask_value=float("nan"))


def test_concatenate_and_embedding_masks_are_keras_s():
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 2, 4))
    m_a = np.array([[True, False, True], [False, False, True]])
    m_b = np.array([[False, False], [True, False]])
    for axis, inputs, masks in ((-1, [a, a], [m_a, None]), (-1, [a, a], [m_a, m_a[::-1]]),
                                (1, [a, b], [m_a, m_b]), (1, [a, b], [None, m_b])):
        ours = layers.Concatenate(axis=axis).compute_mask(inputs, masks)
        theirs = keras.layers.Concatenate(axis=axis).compute_mask(
            [tf.constant(i) for i in inputs], [None if m is None else tf.constant(m) for m in masks])
        np.testing.assert_array_equal(ours, theirs)
    assert layers.Concatenate().compute_mask([a, a], [None, None]) is None
    ids = np.array([[0, 3, 0, 1]])
    embedding = layers.Embedding(4, 2, mask_zero=True)
    np.testing.assert_array_equal(embedding.compute_mask(ids), keras.layers.Embedding(4, 2, mask_zero=True)
                                  .compute_mask(tf.constant(ids)))
    assert layers.deserialize({"class_name": "Embedding", "config": embedding.get_config()}).mask_zero
    with pytest.raises(ValueError, match=r"ids in \[0, 4\)"):
        embedding(np.array([[4, 0]]))  # input_dim counts the padding id


@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy",
                                  "binary_crossentropy", "mse"])
def test_masked_loss_value_and_gradients_match_keras(name):
    rng = np.random.default_rng(8)
    p = rng.uniform(0.05, 0.95, (3, 4, 5))
    if name != "binary_crossentropy":
        p /= p.sum(-1, keepdims=True)
    y = {"categorical_crossentropy": np.eye(5)[rng.integers(0, 5, (3, 4))],
         "sparse_categorical_crossentropy": rng.integers(0, 5, (3, 4)),
         "binary_crossentropy": rng.integers(0, 2, (3, 4, 5)).astype(float),
         "mse": rng.standard_normal((3, 4, 5))}[name]
    loss = losses.get(name)
    keras_loss = {"categorical_crossentropy": keras.losses.CategoricalCrossentropy,
                  "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
                  "binary_crossentropy": keras.losses.BinaryCrossentropy,
                  "mse": keras.losses.MeanSquaredError}[name](dtype="float64")
    for mask in (rng.random((3, 4)) < 0.6, np.zeros((3, 4), bool), np.ones((3, 4), bool)):
        tensor = tf.constant(p)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            expected = keras_masked_loss(keras_loss, y, tensor, mask)
        pairs = {"value": (loss.value(y, p, mask), float(expected))}
        gradient = loss.gradient(y, p, mask)
        if not mask.any():  # no real step: Keras's divide_no_nan gives 0, and no gradient
            assert pairs["value"] == (0.0, 0.0)
            assert not gradient.any()
            continue
        if name in ("binary_crossentropy", "mse"):  # (Keras's categorical ones renormalise p first)
            pairs["gradient"] = (gradient, tape.gradient(expected, tensor).numpy())
        kerascheck.assert_close(pairs)
        point = p.copy()
        report = gradcheck.check_gradients(lambda point=point, mask=mask: loss.value(y, point, mask),
                                           {"p": point}, {"p": gradient})
        assert report.max_error < 1e-7
        if mask.all():
            assert loss.value(y, p, mask) == pytest.approx(loss.value(y, p), rel=1e-12)
    if name == "mse":
        return
    mask = rng.random((3, 4)) < 0.6
    activation = tf.nn.sigmoid if name == "binary_crossentropy" else tf.nn.softmax
    logits = tf.constant(rng.standard_normal((3, 4, 5)))
    with tf.GradientTape() as tape:
        tape.watch(logits)
        probabilities = activation(logits)
        expected = keras_masked_loss(keras_loss, y, probabilities, mask)
    value, gradient = loss.value_and_logits_gradient(y, probabilities.numpy(), mask)
    kerascheck.assert_close({"value": (value, float(expected)),
                             "logits gradient": (gradient, tape.gradient(expected, logits).numpy())})


def keras_masked_loss(keras_loss, y, tensor, mask):
    """A Keras 3 loss object called on y_pred carrying ``mask``, as on a model's output."""
    keras.src.backend.set_keras_mask(tensor, tf.constant(mask))
    return keras_loss(y, tensor)


def test_loss_call_takes_sample_weights_and_a_mask_as_keras_does():
    rng = np.random.default_rng(9)
    p = rng.uniform(0.05, 0.95, (3, 4, 5))
    p /= p.sum(-1, keepdims=True)
    y = np.eye(5)[rng.integers(0, 5, (3, 4))]
    mask = rng.random((3, 4)) < 0.6
    mask[0, 0] = True
    keras_loss = keras.losses.CategoricalCrossentropy(dtype="float64")
    for weights in (rng.uniform(0, 2, (3, 4)), rng.uniform(0, 2, (3, 4, 1))):
        tensor = tf.constant(p)
        keras.src.backend.set_keras_mask(tensor, tf.constant(mask))
        assert losses.categorical_crossentropy(y, p, sample_weight=weights, mask=mask) == pytest.approx(
            float(keras_loss(y, tensor, sample_weight=weights)), rel=1e-12)
        assert losses.categorical_crossentropy(y, p, sample_weight=weights) == pytest.approx(
            float(keras_loss(y, p, sample_weight=weights)), rel=1e-12)
    with pytest.raises(ValueError, match=r"mask: expected shape \(3, 4\)"):
        losses.categorical_crossentropy(y, p, mask=mask[:, :2])


def test_masked_accuracy_counts_real_steps_only_as_keras_does():
    rng = np.random.default_rng(10)
    p = rng.random((4, 5, 3))
    y = rng.integers(0, 3, (4, 5))
    mask = rng.random((4, 5)) < 0.5
    metric = keras.metrics.SparseCategoricalAccuracy(dtype="float64")
    tensor = tf.constant(p)
    keras.src.backend.set_keras_mask(tensor, tf.constant(mask))
    metric.update_state(y, tensor)
    assert data.accuracy(y, p, mask) == pytest.approx(float(metric.result()), rel=1e-12)
    assert data.accuracy(y, p, np.zeros_like(mask)) == 0.0


def test_clear_errors_for_masks_that_cannot_be_used():
    x = scratchrnn.Input(shape=(STEPS, 2))
    masked = layers.Masking()(x)
    for layer in (layers.Conv1D(2, 2), layers.Flatten(), layers.GlobalMaxPooling1D(),
                  layers.Reshape((STEPS * 2,))):
        with pytest.raises(ValueError, match=rf"layer {layer.name!r} .* cannot use a mask.*layer 'masking"):
            layer(masked)
    with pytest.raises(ValueError, match="cannot use a mask"):
        layers.Add()([masked, masked])
    lstm = layers.LSTM(3)
    sequences = np.ones((2, STEPS, 2))
    with pytest.raises(ValueError, match=r"mask: layer 'lstm.*' expected shape \(2, 5\)"):
        lstm(sequences, mask=np.ones((2, 4), bool))
    with pytest.raises(TypeError, match="mask: .* expected booleans"):
        lstm(sequences, mask=np.full((2, STEPS), 0.5))
    with pytest.raises(ValueError, match="cannot use a mask"):
        layers.Dense(2)(sequences, mask=np.ones((2, STEPS), bool))
    with pytest.raises(ValueError, match="mask: .* expected shape"):
        layers.TimeDistributed(layers.Dense(2))(sequences, mask=np.ones((3, STEPS), bool))
    with pytest.raises(ValueError, match="mask_zero"):
        layers.Embedding(3, 2, mask_zero="yes")
