"""Bidirectional: Keras 3 float64 parity (outputs, dL/dx, every weight gradient) for every cell, merge
mode, return mode and initial states; finite-difference checks of the input, every weight and every
initial state; the weight list in Keras's order; the model's flat buffers reaching both directions;
stateful carry; config round trip; clear errors."""

import inspect
import json

import kerascheck
import numpy as np
import pytest

from scratchrnn import gradcheck, layers, models, optimizers

keras, tf = kerascheck.import_keras()

CELLS = {"lstm": (layers.LSTM, {}), "gru": (layers.GRU, {}), "simple_rnn": (layers.SimpleRNN, {}),
         "gru_reset_before": (layers.GRU, {"reset_after": False})}
MERGE_MODES = ["concat", "sum", "mul", "ave", None]
B, T, D, H = 2, 4, 3, 3


def as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def make_pair(cell, merge_mode="concat", **options):
    """(scratchrnn Bidirectional, Keras Bidirectional), float64, the same settings."""
    cls, extra = CELLS[cell]
    ours = layers.Bidirectional(cls(H, dtype="float64", **extra, **options), merge_mode=merge_mode)
    theirs = keras.layers.Bidirectional(getattr(keras.layers, cls.__name__)(H, dtype="float64", **extra,
                                                                             **options),
                                        merge_mode=merge_mode, dtype="float64")
    return ours, theirs


class DistinctNames:
    """``kerascheck.compare_layer`` keys each weight gradient by its name in ``weight_names``; a
    Bidirectional's names repeat (as Keras's ``w.name``: kernel, ..., kernel, ...), which would leave the
    forward direction's gradients uncompared. This view of the layer prefixes each name with its
    direction's layer name; everything else is the layer's own."""

    def __init__(self, layer):
        self._layer = layer

    def __getattr__(self, attribute):
        return getattr(self._layer, attribute)

    def __call__(self, *args, **kwargs):
        return self._layer(*args, **kwargs)

    @property
    def weight_names(self):
        return [f"{inner.name}/{name}" for inner in (self._layer.forward_layer, self._layer.backward_layer)
                for name in inner.weight_names]


def compare(ours, theirs, x, rng, call_kwargs=None):
    pairs = kerascheck.compare_layer(DistinctNames(ours), theirs, x, rng, call_kwargs=call_kwargs)
    outputs = 2 if ours.merge_mode is None else 1
    outputs += ours.state_count if ours.return_state else 0
    assert len(pairs) == outputs + 1 + len(ours.weights), sorted(pairs)  # nothing collapsed
    return pairs


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
@pytest.mark.parametrize("return_sequences", [True, False])
def test_matches_keras(cell, merge_mode, return_sequences):
    rng = np.random.default_rng(1)
    ours, theirs = make_pair(cell, merge_mode, return_sequences=return_sequences)
    compare(ours, theirs, rng.standard_normal((B, T, D)), rng)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn", "gru_reset_before"])
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
def test_return_state_matches_keras(cell, merge_mode):
    rng = np.random.default_rng(2)
    ours, theirs = make_pair(cell, merge_mode, return_sequences=merge_mode in ("concat", "mul"),
                             return_state=True)
    compare(ours, theirs, rng.standard_normal((B, T, D)), rng)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("merge_mode, return_sequences, return_state",
                         [("concat", True, False), ("mul", False, True), (None, True, True)])
def test_initial_state_matches_keras(cell, merge_mode, return_sequences, return_state):
    rng = np.random.default_rng(3)
    ours, theirs = make_pair(cell, merge_mode, return_sequences=return_sequences, return_state=return_state)
    count = 2 * CELLS[cell][0].state_count
    states = [rng.uniform(-0.9, 0.9, (B, H)) for _ in range(count)]
    compare(ours, theirs, rng.standard_normal((B, T, D)), rng, call_kwargs={"initial_state": states})


@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_given_backward_layer_matches_keras(merge_mode):
    """A backward layer of its own: other units (concat splits the gradient at the forward's units), its
    own activation; used as it is, not copied."""
    rng = np.random.default_rng(4)
    backward = layers.LSTM(2, activation="relu", go_backwards=True, return_sequences=True, dtype="float64")
    ours = layers.Bidirectional(layers.LSTM(H, return_sequences=True, dtype="float64"),
                                merge_mode=merge_mode, backward_layer=backward)
    assert ours.backward_layer is backward and ours.backward_layer.name == backward.name
    theirs = keras.layers.Bidirectional(
        keras.layers.LSTM(H, return_sequences=True, dtype="float64"), merge_mode=merge_mode,
        backward_layer=keras.layers.LSTM(2, activation="relu", go_backwards=True, return_sequences=True,
                                         dtype="float64"), dtype="float64")
    pairs = compare(ours, theirs, rng.standard_normal((B, T, D)), rng)
    assert pairs["output[0]"][0].shape == ((B, T, H + 2) if merge_mode == "concat" else (B, T, H))


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_weights_in_keras_order(cell):
    ours, theirs = make_pair(cell, name="enc")
    ours.build((B, T, D))
    theirs.build((B, T, D))
    assert ours.weight_names == [w.name for w in theirs.weights]
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.weights]
    # forward's weights first, then backward's, under Keras's names of the two directions
    assert (ours.forward_layer.name, ours.backward_layer.name) == ("forward_enc", "backward_enc")
    inner = [w.path.split("/")[1] for w in theirs.weights]
    assert inner == [ours.forward_layer.name] * 3 + [ours.backward_layer.name] * 3
    assert ours.count_params() == theirs.count_params()


def fd_check(layer, x, rng, states=None):
    """Finite differences of L = sum(P * outputs) w.r.t. x, every weight (both directions) and every
    initial state, against the analytic backward."""
    def run():
        return layer.forward(x, initial_state=states) if states is not None else layer.forward(x)

    projections = [rng.standard_normal(o.shape) for o in as_list(run())]

    def loss():
        return float(sum(np.sum(p * o) for p, o in zip(projections, as_list(run()), strict=True)))

    d_x = layer.backward(projections if layer.returns_list(None) else projections[0])
    arrays, analytic = {"x": x}, {"x": d_x}
    for i, (name, weight, gradient) in enumerate(zip(layer.weight_names, layer.weights, layer.gradients)):
        arrays[f"{i} {name}"], analytic[f"{i} {name}"] = weight, gradient
    for i, (state, gradient) in enumerate(zip(states or [], layer.initial_state_gradients)):
        arrays[f"state {i}"], analytic[f"state {i}"] = state, gradient
    report = gradcheck.check_gradients(loss, arrays, analytic)
    assert len(report) == 1 + len(layer.weights) + len(states or [])
    assert report.max_error < 1e-6, str(report)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
@pytest.mark.parametrize("return_sequences, return_state", [(True, False), (False, True)])
def test_gradients_match_finite_differences(cell, merge_mode, return_sequences, return_state):
    rng = np.random.default_rng(5)
    cls, extra = CELLS[cell]
    layer = layers.Bidirectional(cls(2, dtype="float64", return_sequences=return_sequences,
                                     return_state=return_state, **extra), merge_mode=merge_mode)
    layer.build((2, 3, 2))
    layer.set_weights([rng.uniform(-0.8, 0.8, w.shape) for w in layer.weights])  # non-zero biases
    states = [rng.uniform(-0.9, 0.9, (2, 2)) for _ in range(layer.state_count)]
    fd_check(layer, rng.standard_normal((2, 3, 2)), rng, states)


def test_wrong_derivative_is_caught():
    """The check above can fail: a planted wrong mul gradient (dy instead of dy * y_other)."""
    rng = np.random.default_rng(6)
    layer = layers.Bidirectional(layers.SimpleRNN(2, dtype="float64", return_sequences=True),
                                 merge_mode="mul")
    layer.build((2, 3, 2))
    layer.set_weights([rng.uniform(-0.8, 0.8, w.shape) for w in layer.weights])
    layer._split_gradient = lambda d, outputs: (d, d)
    with pytest.raises(AssertionError, match="relative error|max_error|<"):
        fd_check(layer, rng.standard_normal((2, 3, 2)), rng)


def test_backward_without_input_gradient_and_cache_per_use():
    """d_inputs=False gives None and the same weight gradients; the wrapper keeps both directions'
    caches in its own ``_cache``, so a second call before the backward of the first (a layer used
    twice in a model, the model swapping ``_cache``) leaves the first's backward exact."""
    rng = np.random.default_rng(7)
    layer = layers.Bidirectional(layers.LSTM(3, dtype="float64", return_sequences=True), merge_mode="mul")
    x1, x2 = rng.standard_normal((2, 4, 2)), rng.standard_normal((2, 4, 2))
    dy = rng.standard_normal((2, 4, 3))
    layer(x1)
    expected_dx = layer.backward(dy)
    expected = [g.copy() for g in layer.gradients]

    layer(x1)
    first = layer._cache
    layer(x2)
    layer._cache = first
    np.testing.assert_allclose(layer.backward(dy), expected_dx, rtol=1e-13, atol=1e-15)
    for got, want in zip(layer.gradients, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)

    layer(x1)
    assert layer.backward(dy, d_inputs=False) is None
    for got, want in zip(layer.gradients, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    with pytest.raises(RuntimeError, match="forward first"):
        layer.backward(dy)  # the caches are spent


def flat_buffer_module(model_class):
    """The module whose TRANSIENT_GRADIENT_BYTES decides how a model makes its gradient buffers."""
    for name in ("_own_weights", "_make_flat_buffers"):
        method = getattr(model_class, name, None)
        if method is not None:
            return inspect.getmodule(method)
    raise AssertionError("the model has no flat-buffer method this test knows")


def test_model_flat_buffers_reach_both_directions(monkeypatch):
    """A model rebinds ``layer.weights[i]`` and ``layer.gradients[i]`` to views into its flat buffers
    (or, for large models, to fresh gradient parts each step): for a Bidirectional those must be the
    inner layers' own list entries, which they compute with. One SGD step changes every weight of both
    directions, and exactly as much through the one buffer as through parts."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 5, 2))
    y = np.eye(3)[rng.integers(0, 3, 4)]
    before, after = None, []
    for transient in (False, True):
        monkeypatch.setattr(flat_buffer_module(models.Sequential), "TRANSIENT_GRADIENT_BYTES",
                            0 if transient else 1 << 40)
        bi = layers.Bidirectional(layers.GRU(3, dtype="float64"), input_shape=(5, 2))
        model = models.Sequential([bi, layers.Dense(3, activation="softmax", dtype="float64")])
        model.build()
        if before is None:
            before = model.get_weights()
        model.set_weights(before)  # the same starting weights in both runs
        model.compile(optimizers.SGD(0.5), "categorical_crossentropy")
        model.train_on_batch(x, y)
        assert model._transient_gradients is transient
        for inner in (bi.forward_layer, bi.backward_layer):
            for weight in inner.weights:
                assert np.shares_memory(weight, model._flat_weights)
            for gradient in inner.gradients:
                assert np.shares_memory(gradient, model._flat_gradients) is not transient
        changed = [not np.allclose(a, b, rtol=0, atol=1e-12) for a, b in zip(model.get_weights(), before)]
        assert all(changed), changed
        after.append(model.get_weights())
    for flat, parts in zip(*after, strict=True):
        np.testing.assert_allclose(parts, flat, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("cell", ["lstm", "simple_rnn"])
def test_stateful_carry_and_reset(cell):
    rng = np.random.default_rng(9)
    cls, _ = CELLS[cell]
    x = rng.standard_normal((2, 6, 2))
    stateful = layers.Bidirectional(cls(3, dtype="float64", return_sequences=True, stateful=True),
                                    merge_mode=None)
    stateless = layers.Bidirectional(cls(3, dtype="float64", return_sequences=True), merge_mode=None)
    stateful.build(x.shape)
    stateless.build(x.shape)
    stateless.set_weights(stateful.get_weights())
    assert stateful.stateful and not stateless.stateful
    forward_whole, _ = stateless(x)
    forward_1, backward_1 = stateful(x[:, :4])
    forward_2, _ = stateful(x[:, 4:])
    np.testing.assert_allclose(np.concatenate([forward_1, forward_2], axis=1), forward_whole,
                               rtol=1e-12, atol=1e-14)
    assert len(stateful.states) == 2 * cls.state_count
    assert all(np.any(s != 0) for s in stateful.states)
    stateful.reset_states()
    assert all(np.all(s == 0) for s in stateful.states)
    again_forward, again_backward = stateful(x[:, :4])  # from zero states, as the first call
    np.testing.assert_array_equal(again_forward, forward_1)
    np.testing.assert_array_equal(again_backward, backward_1)


def test_stateful_matches_keras():
    """Two consecutive calls of a stateful layer, both directions carrying their states, as Keras."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 6, 2))
    ours = layers.Bidirectional(layers.LSTM(3, dtype="float64", return_sequences=True, stateful=True))
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(3, dtype="float64", return_sequences=True,
                                                          stateful=True), dtype="float64")
    ours.build(x.shape)
    ours.set_weights([rng.uniform(-0.8, 0.8, w.shape) for w in ours.weights])
    theirs.build((2, 4, 2))
    theirs.set_weights(ours.get_weights())
    for chunk in (x[:, :4], x[:, 4:]):
        np.testing.assert_allclose(ours(chunk), np.asarray(theirs(chunk)), rtol=1e-12, atol=1e-14)
    for got, expected in zip(ours.states, theirs.states, strict=True):
        np.testing.assert_allclose(got, np.asarray(expected), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("merge_mode", MERGE_MODES)
@pytest.mark.parametrize("return_state", [False, True])
def test_symbolic_shapes_match_keras(merge_mode, return_state):
    ours = layers.Bidirectional(layers.LSTM(3, return_sequences=True, return_state=return_state),
                                merge_mode=merge_mode)
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True,
                                                          return_state=return_state), merge_mode=merge_mode)
    expected = [tuple(t.shape) for t in as_list(theirs(keras.Input((5, 2))))]
    got = ours(layers.KerasTensor((None, 5, 2), "float32"))
    assert isinstance(got, list) == (merge_mode is None or return_state)
    assert [t.shape for t in as_list(got)] == expected
    states = [layers.KerasTensor((None, 3), "float32") for _ in range(4)]
    with_states = ours(layers.KerasTensor((None, 5, 2), "float32"), initial_state=states)
    assert [t.shape for t in as_list(with_states)] == expected
    with pytest.raises(ValueError, match="expected 4 tensors"):
        ours(layers.KerasTensor((None, 5, 2), "float32"), initial_state=states[:2])
    with pytest.raises(ValueError, match=r"initial_state\[1\]: 'backward_lstm.*\(batch, 3\)"):
        ours(layers.KerasTensor((None, 5, 2), "float32"),
             initial_state=[*states[:3], layers.KerasTensor((None, 4), "float32")])


def test_config_round_trip():
    layer = layers.Bidirectional(layers.GRU(3, return_sequences=True, reset_after=False, name="enc"),
                                 merge_mode="ave", name="both")
    layer.build((2, 4, 2))
    config = json.loads(json.dumps(layer.get_config()))
    assert config["merge_mode"] == "ave" and config["name"] == "both"
    assert config["layer"]["class_name"] == "GRU" and config["layer"]["config"]["name"] == "forward_enc"
    assert config["backward_layer"]["config"]["go_backwards"] is True
    rebuilt = layers.deserialize({"class_name": "Bidirectional", "config": config})
    assert isinstance(rebuilt, layers.Bidirectional)
    assert rebuilt.get_config() == config
    assert (rebuilt.forward_layer.name, rebuilt.backward_layer.name) == ("forward_enc", "backward_enc")
    rebuilt.build((2, 4, 2))
    rebuilt.set_weights(layer.get_weights())
    x = np.random.default_rng(11).standard_normal((2, 4, 2))
    np.testing.assert_array_equal(rebuilt(x), layer(x))


def test_checkpoint_keeps_weights_and_carried_states(tmp_path):
    """A model's .npz checkpoint: the config rebuilds the wrapper, the weights come back in order and a
    stateful wrapper's states (forward's then backward's, ``state_count`` of them) are restored."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 4, 2))
    model = models.Sequential([
        layers.Bidirectional(layers.LSTM(3, stateful=True, dtype="float64"), merge_mode="sum",
                             batch_input_shape=(2, 4, 2)),
        layers.Dense(2, activation="softmax", dtype="float64")])
    model.compile(optimizers.SGD(0.1), "categorical_crossentropy")
    model.train_on_batch(x, np.eye(2)[[0, 1]])
    assert model.layers[0].state_count == 4 and len(model.layers[0].states) == 4
    model.save(tmp_path / "bi.npz")
    loaded = models.load_model(tmp_path / "bi.npz")
    assert isinstance(loaded.layers[0], layers.Bidirectional) and loaded.layers[0].merge_mode == "sum"
    for got, expected in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)
    for got, expected in zip(loaded.layers[0].states, model.layers[0].states, strict=True):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(loaded.predict(x, batch_size=2, verbose=0),
                                  model.predict(x, batch_size=2, verbose=0))


def test_wrapped_layer_is_copied_not_used():
    """As Keras: both directions are fresh layers from the wrapped layer's config; it keeps its own
    name and weights, and the backend option (not in the config) carries over."""
    inner = layers.LSTM(3, backend="numpy", name="mine")
    inner.build((1, 2, 2))
    kept = inner.get_weights()
    layer = layers.Bidirectional(inner)
    assert layer.forward_layer is not inner and inner.name == "mine"
    assert layer.forward_layer.backend == layer.backward_layer.backend == "numpy"
    assert not layer.forward_layer.built
    layer(np.ones((1, 2, 2)))
    for a, b in zip(inner.get_weights(), kept, strict=True):
        np.testing.assert_array_equal(a, b)


def test_float32():
    layer = layers.Bidirectional(layers.GRU(3, return_sequences=True))
    y = layer(np.ones((2, 4, 2)))
    assert layer.dtype == np.float32 and y.dtype == np.float32 and y.shape == (2, 4, 6)
    assert layer.backward(np.ones_like(y)).dtype == np.float32


def test_clear_errors():
    with pytest.raises(TypeError, match="layer: expected a recurrent layer.*got Dense"):
        layers.Bidirectional(layers.Dense(3))
    with pytest.raises(TypeError, match="backward_layer: expected a recurrent layer.*got Dense"):
        layers.Bidirectional(layers.LSTM(3), backward_layer=layers.Dense(3))
    with pytest.raises(ValueError, match="merge_mode: expected one of .*got 'max'"):
        layers.Bidirectional(layers.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match="backward_layer: expected go_backwards=True"):
        layers.Bidirectional(layers.LSTM(3), backward_layer=layers.LSTM(3))
    with pytest.raises(ValueError, match="go_backwards=False"):
        layers.Bidirectional(layers.LSTM(3, go_backwards=True))
    for attribute in ("return_sequences", "return_state", "stateful"):
        with pytest.raises(ValueError, match=f"backward_layer: expected {attribute}=False"):
            layers.Bidirectional(layers.LSTM(3), backward_layer=layers.LSTM(3, go_backwards=True,
                                                                             **{attribute: True}))
    with pytest.raises(ValueError, match="merge_mode='sum'.*3 units, got 2"):
        layers.Bidirectional(layers.LSTM(3), merge_mode="sum",
                             backward_layer=layers.LSTM(2, go_backwards=True))

    layer = layers.Bidirectional(layers.LSTM(3), name="bi")
    with pytest.raises(RuntimeError, match="forward first"):
        layer.backward(np.ones((2, 6)))
    with pytest.raises(ValueError, match="x: expected at least 3 dimensions"):
        layer(np.ones((2, 4)))
    layer(np.ones((2, 4, 2)))
    with pytest.raises(ValueError, match="'bi' expected 2 features"):
        layer(np.ones((2, 4, 5)))
    with pytest.raises(ValueError, match="'bi' expected 4 arrays"):
        layer(np.ones((2, 4, 2)), initial_state=[np.zeros((2, 3))] * 2)
    with pytest.raises(ValueError, match=r"initial_state\[1\].*expected shape \(2, 3\)"):
        layer(np.ones((2, 4, 2)), initial_state=[np.zeros((2, 3))] * 3 + [np.zeros((2, 4))])
    with pytest.raises(ValueError, match="input_shape: 'bi' expected \\(batch, time, features\\)"):
        layer.check_input_shape((None, 2))
