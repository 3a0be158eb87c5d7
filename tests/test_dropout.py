"""dropout, recurrent_dropout and seed on SimpleRNN, LSTM and GRU: Keras 3's variational dropout, the masks
drawn by the layer once per batch, only in training, and used at every step; one training step equal to
Keras's in float64 with the masks this library drew put into Keras's cells; predict, evaluate and a
seeded run; the number and scale of the masks; config and errors."""

import numpy as np
import pytest

import scratchrnn
from scratchrnn import layers
from scratchrnn.models import Sequential

kerascheck = pytest.importorskip("kerascheck")
keras, tf = kerascheck.import_keras()

STEPS, FEATURES, UNITS = 4, 3, 5
CELLS = ("simple_rnn", "lstm", "gru", "gru_reset_before")
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3, "gru_reset_before": 3}
RATES = {"dropout": (0.4, 0.0), "recurrent": (0.0, 0.3), "both": (0.4, 0.3)}


def recurrent(L, cell, dropout=0.0, recurrent_dropout=0.0, **kwargs):
    kwargs = dict(dropout=dropout, recurrent_dropout=recurrent_dropout, dtype="float64", **kwargs)
    if cell == "simple_rnn":
        return L.SimpleRNN(UNITS, **kwargs)
    if cell == "lstm":
        return L.LSTM(UNITS, **kwargs)
    return L.GRU(UNITS, reset_after=cell == "gru", **kwargs)


def model_of(lib, cell, rates, masking=False, bidirectional=False):
    L = lib.layers
    x = lib.Input(shape=(STEPS, FEATURES), dtype="float64")
    h = L.Masking(dtype="float64")(x) if masking else x
    rnn = recurrent(L, cell, *rates, return_sequences=True)
    h = (L.Bidirectional(rnn, dtype="float64") if bidirectional else rnn)(h)
    return lib.Model(x, L.Dense(2, dtype="float64")(h))


def recorder(monkeypatch, layer, drawn: list):
    """Keep every set of dropout masks ``layer`` draws, in order."""
    draw = layer._dropout_masks

    def recording(batch, features):
        masks = draw(batch, features)
        drawn.append(masks)
        return masks

    monkeypatch.setattr(layer, "_dropout_masks", recording)


def inject(monkeypatch, keras_cell, masks: dict):
    """Make a Keras cell use ``masks``: one (B, D) tensor, or a list of one per gate (implementation 1)."""
    def as_keras(stack):
        return tf.constant(stack[0]) if len(stack) == 1 else [tf.constant(m) for m in stack]

    if "input_masks" in masks:
        monkeypatch.setattr(keras_cell, "get_dropout_mask", lambda _: as_keras(masks["input_masks"]))
    if "recurrent_masks" in masks:
        monkeypatch.setattr(keras_cell, "get_recurrent_dropout_mask",
                            lambda _: as_keras(masks["recurrent_masks"]))


def one_step_against_keras(monkeypatch, cell, rates, masking=False, bidirectional=False, seed=0):
    keras.config.set_floatx("float64")
    try:
        rng = np.random.default_rng(seed)
        model = model_of(scratchrnn, cell, rates, masking, bidirectional)
        keras_model = model_of(keras, cell, rates, masking, bidirectional)
        model.set_weights([rng.uniform(-0.7, 0.7, w.shape) for w in model.get_weights()])
        keras_model.set_weights(model.get_weights())
        ours, theirs = model.layers[-2], keras_model.layers[-2]
        pairs = [(ours.forward_layer, theirs.forward_layer), (ours.backward_layer, theirs.backward_layer)] \
            if bidirectional else [(ours, theirs)]
        drawn = [[] for _ in pairs]
        for (layer, _), record in zip(pairs, drawn):
            recorder(monkeypatch, layer, record)
        x = rng.standard_normal((3, STEPS, FEATURES))
        if masking:
            x[0, :2] = 0.0
            x[1, 3:] = 0.0
        y = rng.standard_normal((3, STEPS, 2))
        model.compile(optimizer=scratchrnn.optimizers.SGD(0.5), loss="mse")
        keras_model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse", jit_compile=False)
        before = model.get_weights()
        loss = model.train_on_batch(x, y)
        for (_, keras_layer), record in zip(pairs, drawn):
            assert len(record) == 1  # one draw for the batch
            inject(monkeypatch, keras_layer.cell, record[0])
        keras_loss = float(keras_model.train_on_batch(x, y))
        compared = {"loss": (loss, keras_loss)}
        after = zip(before, model.get_weights(), keras_model.get_weights(), strict=True)
        compared.update({f"change of weight {i}": (mine - w, keras_w - w)
                         for i, (w, mine, keras_w) in enumerate(after)})
        kerascheck.assert_close(compared)
        return loss, drawn
    finally:
        keras.config.set_floatx("float32")


@pytest.mark.parametrize("which", list(RATES))
@pytest.mark.parametrize("cell", CELLS)
def test_a_training_step_with_the_drawn_masks_matches_keras(monkeypatch, cell, which):
    _, drawn = one_step_against_keras(monkeypatch, cell, RATES[which], seed=CELLS.index(cell))
    masks = drawn[0][0]
    count = GATES[cell] if which != "dropout" else 1  # Keras: one per gate once recurrent_dropout > 0
    assert sorted(masks) == sorted({"dropout": ["input_masks"], "recurrent": ["recurrent_masks"],
                                    "both": ["input_masks", "recurrent_masks"]}[which])
    for name, size in (("input_masks", FEATURES), ("recurrent_masks", UNITS)):
        if name in masks:
            assert masks[name].shape == (count, 3, size)


def test_dropout_with_a_mask_and_under_bidirectional_matches_keras(monkeypatch):
    one_step_against_keras(monkeypatch, "lstm", RATES["both"], masking=True, seed=11)
    _, drawn = one_step_against_keras(monkeypatch, "gru", RATES["both"], bidirectional=True, seed=12)
    forward, backward = drawn[0][0], drawn[1][0]
    assert not np.array_equal(forward["input_masks"], backward["input_masks"])  # each direction draws


def linear_rnn(dropout=0.0, recurrent_dropout=0.0, seed=None, kernel=1.0, recurrent=0.0, units=6):
    """SimpleRNN with h_t = (x_t * q) (kernel I) + (h_{t-1} * r) (recurrent I * recurrent), no bias, linear:
    its outputs show the dropout masks q and r."""
    layer = layers.SimpleRNN(units, activation="linear", use_bias=False, return_sequences=True,
                             dtype="float64", dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed)
    layer.build((None, STEPS, units))
    layer.set_weights([kernel * np.eye(units), recurrent * np.eye(units)])
    return layer


def test_input_mask_is_drawn_once_per_call_and_the_same_at_every_step():
    rate = 0.4
    layer = linear_rnn(dropout=rate)
    x = np.ones((50, STEPS, 6))
    y = layer.call(x, training=True)  # (B, T, H) = the input mask q, the same at every step
    np.testing.assert_array_equal(y, np.repeat(y[:, :1], STEPS, axis=1))
    assert set(np.unique(y)) == {0.0, 1.0 / (1.0 - rate)}  # scaled as Keras: kept / (1 - rate)
    assert not np.array_equal(layer.call(x, training=True), y)  # a new draw for the next batch
    np.testing.assert_array_equal(layer.call(x), x)  # not training: no dropout
    np.testing.assert_array_equal(layer(x), x)


def test_recurrent_mask_is_the_same_at_every_step():
    layer = linear_rnn(recurrent_dropout=0.5, recurrent=1.0)
    x = np.ones((40, STEPS, 6))
    y = layer.call(x, training=True)
    r = y[:, 1] - 1.0  # h_2 = 1 + h_1 * r with h_1 = 1
    assert set(np.unique(r)) == {0.0, 2.0}
    np.testing.assert_allclose(y[:, 2], 1.0 + y[:, 1] * r)  # the same r at step 3
    np.testing.assert_allclose(y[:, 3], 1.0 + y[:, 2] * r)


@pytest.mark.parametrize("cell", CELLS)
def test_mask_counts_scale_and_fraction_dropped(cell):
    cases = (((0.3, 0.0), None, 1), ((0.3, 0.2), None, None), ((0.3, 0.0), 1, None), ((0.0, 0.2), 2, None))
    for (dropout, recurrent_dropout), implementation, count in cases:  # count None: one per gate
        layer = recurrent(layers, cell, dropout, recurrent_dropout, implementation=implementation)
        masks = layer._dropout_masks(400, 50)
        expected = count or GATES[cell]
        for name, rate, size in (("input_masks", dropout, 50), ("recurrent_masks", recurrent_dropout, UNITS)):
            if not rate:
                assert name not in masks
                continue
            mask = masks[name]
            assert mask.shape == (expected, 400, size) and mask.dtype == np.float64
            assert set(np.unique(mask)) == {0.0, 1.0 / (1.0 - rate)}
            dropped = np.mean(mask == 0.0)
            assert abs(dropped - rate) < 4 * np.sqrt(rate * (1 - rate) / mask.size)
    float32 = layers.LSTM(3, dropout=0.5, dtype="float32")._dropout_masks(2, 4)["input_masks"]
    assert float32.dtype == np.float32 and set(np.unique(float32)) <= {0.0, 2.0}


def sequence_model(dropout, recurrent_dropout, seed=None):
    model = Sequential([layers.LSTM(UNITS, dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed,
                                    input_shape=(STEPS, FEATURES), return_sequences=True, dtype="float64"),
                        layers.GRU(4, dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed,
                                   dtype="float64"),
                        layers.Dense(2, dtype="float64")])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_predict_and_evaluate_use_no_dropout_and_training_does():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((6, STEPS, FEATURES)), rng.standard_normal((6, 2))
    dropping, plain = sequence_model(0.5, 0.5), sequence_model(0.0, 0.0)
    plain.set_weights(dropping.get_weights())
    np.testing.assert_array_equal(dropping.predict(x), plain.predict(x))
    assert dropping.evaluate(x, y, verbose=0) == plain.evaluate(x, y, verbose=0)
    assert dropping.train_on_batch(x, y) != pytest.approx(plain.train_on_batch(x, y), rel=1e-6)
    assert not any(step.plain for step in dropping._steps[:2])  # the Node passes training=True in fit
    assert all(step.plain for step in plain._steps)  # without dropout: the plain (batch-1) path


def test_the_same_seed_gives_the_same_training_run():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((8, STEPS, FEATURES)), rng.standard_normal((8, 2))

    def run(global_seed, layer_seed=None):
        scratchrnn.utils.set_random_seed(global_seed)
        model = sequence_model(0.3, 0.3, seed=layer_seed)
        history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
        return model.get_weights(), history.history["loss"]

    first, again = run(7), run(7)
    for a, b in zip(first[0], again[0], strict=True):
        np.testing.assert_array_equal(a, b)
    assert first[1] == again[1]
    # layer seeds fix the masks whatever the library's generator does (it still draws the weights)
    seeded = [linear_rnn(dropout=0.5, recurrent_dropout=0.5, seed=3, recurrent=1.0) for _ in range(2)]
    scratchrnn.utils.set_random_seed(99)
    ones = np.ones((4, STEPS, 6))
    np.testing.assert_array_equal(seeded[0].call(ones, training=True), seeded[1].call(ones, training=True))


def test_config_keeps_dropout_and_seed_and_bidirectional_copies_them():
    layer = layers.GRU(3, dropout=0.25, recurrent_dropout=0.5, seed=4, implementation=1)
    config = layer.get_config()
    assert (config["dropout"], config["recurrent_dropout"], config["seed"], config["implementation"]) == \
        (0.25, 0.5, 4, 1)
    again = layers.deserialize({"class_name": "GRU", "config": config})
    assert (again.dropout, again.recurrent_dropout, again.seed) == (0.25, 0.5, 4)
    wrapped = layers.Bidirectional(layer)
    for direction in (wrapped.forward_layer, wrapped.backward_layer):
        assert (direction.dropout, direction.recurrent_dropout, direction.seed) == (0.25, 0.5, 4)
    assert wrapped.takes_training and not layers.Bidirectional(layers.GRU(3)).takes_training
    keras_config = keras.layers.GRU(3, dropout=0.25, recurrent_dropout=0.5, seed=4).get_config()
    assert {k: keras_config[k] for k in ("dropout", "recurrent_dropout", "seed")} == \
        {k: config[k] for k in ("dropout", "recurrent_dropout", "seed")}


@pytest.mark.parametrize("kwargs, error, match", [
    ({"dropout": 1.0}, ValueError, r"dropout: expected a fraction in \[0, 1\), got 1.0"),
    ({"dropout": -0.1}, ValueError, "dropout: expected a fraction"),
    ({"recurrent_dropout": 1.5}, ValueError, "recurrent_dropout: expected a fraction"),
    ({"dropout": "0.5"}, TypeError, "dropout: expected a fraction"),
    ({"seed": -1}, ValueError, "seed: expected a non-negative integer"),
    ({"seed": 1.5}, ValueError, "seed: expected a non-negative integer"),
])
@pytest.mark.parametrize("cls", [layers.SimpleRNN, layers.LSTM, layers.GRU])
def test_bad_dropout_arguments_are_named(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(3, **kwargs)
