"""The small layers of Keras's core, reshaping, merging and regularization modules: Dropout,
SpatialDropout1D, RepeatVector, Flatten, Reshape, Concatenate, Add. Finite differences in float64,
Keras 3 float64 parity (outputs and input gradients), dropout's statistics and seeding, configs, and the
errors on bad arguments and inputs."""

import json

import kerascheck
import numpy as np
import pytest

from scratchrnn import gradcheck, layers, rng
from scratchrnn.layers import KerasTensor

keras, tf = kerascheck.import_keras()

# (our layer, its Keras twin, input shapes: one tuple, or a list of tuples for a list-input layer)
SINGLE = {
    "repeat_vector": (lambda: layers.RepeatVector(3, dtype="float64"),
                      lambda: keras.layers.RepeatVector(3, dtype="float64"), (2, 4)),
    "flatten_3d": (lambda: layers.Flatten(dtype="float64"),
                   lambda: keras.layers.Flatten(dtype="float64"), (2, 3, 4)),
    "flatten_4d_channels_first": (lambda: layers.Flatten(data_format="channels_first", dtype="float64"),
                                  lambda: keras.layers.Flatten(data_format="channels_first", dtype="float64"),
                                  (2, 3, 2, 4)),
    "reshape": (lambda: layers.Reshape((4, 3), dtype="float64"),
                lambda: keras.layers.Reshape((4, 3), dtype="float64"), (2, 3, 4)),
    "reshape_minus_one": (lambda: layers.Reshape((2, -1, 2), dtype="float64"),
                          lambda: keras.layers.Reshape((2, -1, 2), dtype="float64"), (2, 12)),
}
MERGING = {
    "concatenate_last": (lambda: layers.Concatenate(dtype="float64"),
                         lambda: keras.layers.Concatenate(dtype="float64"), [(2, 3, 4), (2, 3, 2)]),
    "concatenate_axis_1": (lambda: layers.Concatenate(axis=1, dtype="float64"),
                           lambda: keras.layers.Concatenate(axis=1, dtype="float64"),
                           [(2, 1, 4), (2, 3, 4), (2, 2, 4)]),
    "add_2": (lambda: layers.Add(dtype="float64"), lambda: keras.layers.Add(dtype="float64"),
              [(2, 3, 4), (2, 3, 4)]),
    "add_3": (lambda: layers.Add(dtype="float64"), lambda: keras.layers.Add(dtype="float64"),
              [(2, 5), (2, 5), (2, 5)]),
}


def list_gradcheck(layer, inputs, seed=0):
    """Finite differences of L = sum(P * layer(inputs)) against layer.backward, for each input."""
    projection = np.random.default_rng(seed).standard_normal(layer(inputs).shape)
    d_inputs = layer.backward(projection)
    assert isinstance(d_inputs, list) and len(d_inputs) == len(inputs)

    def loss():
        return float(np.sum(projection * layer(inputs)))

    names = [f"inputs[{i}]" for i in range(len(inputs))]
    return gradcheck.check_gradients(loss, dict(zip(names, inputs)), dict(zip(names, d_inputs)))


@pytest.mark.parametrize("case", SINGLE)
def test_single_input_layers_gradcheck_and_keras_parity(case):
    ours, theirs, shape = SINGLE[case]
    x = np.random.default_rng(1).standard_normal(shape)
    report = gradcheck.check_layer(ours(), x)
    assert list(report) == ["input"] and report.max_error < 1e-8, str(report)
    kerascheck.compare_layer(ours(), theirs(), x, np.random.default_rng(2))


@pytest.mark.parametrize("case", MERGING)
def test_merging_layers_gradcheck_and_keras_parity(case):
    ours, theirs, shapes = MERGING[case]
    generator = np.random.default_rng(3)
    inputs = [generator.standard_normal(shape) for shape in shapes]
    report = list_gradcheck(ours(), inputs)
    assert len(report) == len(shapes) and report.max_error < 1e-8, str(report)
    kerascheck.compare_layer(ours(), theirs(), inputs, generator)


@pytest.mark.parametrize("case", [*SINGLE, *MERGING])
def test_output_shapes_match_keras_with_unknown_sizes(case):
    ours, theirs, shapes = {**SINGLE, **MERGING}[case]
    free_batch = [(None, *s[1:]) for s in shapes] if isinstance(shapes, list) else (None, *shapes[1:])
    assert ours().compute_output_shape(free_batch) == tuple(theirs().compute_output_shape(free_batch))


@pytest.mark.parametrize("make_ours, make_theirs, shape", [
    (lambda: layers.Dropout(0.4, dtype="float64"), lambda: keras.layers.Dropout(0.4, dtype="float64"),
     (3, 4, 5)),
    (lambda: layers.SpatialDropout1D(0.4, dtype="float64"),
     lambda: keras.layers.SpatialDropout1D(0.4, dtype="float64"), (3, 4, 5)),
], ids=["dropout", "spatial_dropout_1d"])
def test_dropout_is_keras_identity_when_not_training(make_ours, make_theirs, shape):
    x = np.random.default_rng(4).standard_normal(shape)
    for kwargs in ({}, {"training": False}):
        layer = make_ours()
        np.testing.assert_array_equal(layer(x, **kwargs), x)
        np.testing.assert_array_equal(layer.backward(2 * x), 2 * x)
    kerascheck.compare_layer(make_ours(), make_theirs(), x, np.random.default_rng(5),
                             call_kwargs={"training": False})
    assert make_ours().compute_output_shape((None, 4, 5)) == make_theirs().compute_output_shape((None, 4, 5))


@pytest.mark.parametrize("make", [
    lambda seed: layers.Dropout(0.3, seed=seed, dtype="float64"),
    lambda seed: layers.Dropout(0.5, noise_shape=(None, 1, 4), seed=seed, dtype="float64"),
    lambda seed: layers.SpatialDropout1D(0.5, seed=seed, dtype="float64"),
], ids=["dropout", "dropout_noise_shape", "spatial_dropout_1d"])
def test_dropout_backward_uses_the_drawn_mask(make):
    """FD in training: each loss evaluation remakes the layer with the same seed, so the same mask."""
    generator = np.random.default_rng(6)
    x = generator.standard_normal((3, 5, 4))
    layer = make(11)
    y = layer(x, training=True)
    assert 0 < np.count_nonzero(y) < y.size  # some dropped, some kept: the mask matters
    projection = generator.standard_normal(y.shape)
    dx = layer.backward(projection)
    report = gradcheck.check_gradients(lambda: float(np.sum(projection * make(11)(x, training=True))),
                                       {"x": x}, {"x": dx})
    assert report.max_error < 1e-8, str(report)


def test_dropout_statistics_and_scaling():
    rate, x = 0.3, np.ones((200, 500))
    y = layers.Dropout(rate, seed=0, dtype="float64")(x, training=True)
    dropped = np.mean(y == 0)
    assert abs(dropped - rate) < 0.01  # std of the fraction: 0.0014
    assert abs(y.mean() - 1.0) < 0.015  # expected value kept; std of the mean: 0.002
    np.testing.assert_array_equal(np.unique(y), [0.0, 1.0 / (1.0 - rate)])
    np.testing.assert_array_equal(layers.Dropout(0.0, dtype="float64")(x, training=True), x)


@pytest.mark.parametrize("ours, theirs", [
    (lambda: layers.Dropout(0.4, seed=1, dtype="float64"),
     lambda: keras.layers.Dropout(0.4, seed=1, dtype="float64")),
    (lambda: layers.SpatialDropout1D(0.4, seed=1, dtype="float64"),
     lambda: keras.layers.SpatialDropout1D(0.4, seed=1, dtype="float64")),
], ids=["dropout", "spatial_dropout_1d"])
def test_dropout_scaling_rule_matches_keras_in_training(ours, theirs):
    """Keras's masks come from its own generator: compare the rule, kept values are x / (1 - rate)."""
    x = np.random.default_rng(7).uniform(0.5, 1.5, (8, 6, 10))  # no zeros: a zero output is a dropped unit
    for y in (ours()(x, training=True), np.asarray(theirs()(x, training=True))):
        kept = y != 0
        assert 0.2 < 1 - kept.mean() < 0.6  # rate 0.4; 80 draws for SpatialDropout1D: std 0.055
        np.testing.assert_allclose(y[kept], x[kept] / 0.6, rtol=1e-15)


def test_dropout_seeding():
    x = np.ones((4, 30))
    first, second = layers.Dropout(0.5, seed=3), layers.Dropout(0.5, seed=3)
    a, b = first(x, training=True), second(x, training=True)
    np.testing.assert_array_equal(a, b)  # same seed, same mask
    assert not np.array_equal(first(x, training=True), a)  # the layer's generator moves on
    saved = rng.get_state()
    try:  # without a seed: the library's generator, so set_random_seed reproduces the masks
        unseeded = layers.Dropout(0.5)
        rng.set_random_seed(8)
        c = unseeded(x, training=True)
        rng.set_random_seed(8)
        np.testing.assert_array_equal(unseeded(x, training=True), c)
        assert not np.array_equal(unseeded(x, training=True), c)
    finally:
        rng.set_state(saved)


def test_spatial_dropout_drops_whole_channels():
    x = np.ones((6, 7, 20))
    y = layers.SpatialDropout1D(0.5, seed=2)(x, training=True)
    np.testing.assert_array_equal(y, np.broadcast_to(y[:, :1, :], y.shape))  # constant over time
    assert 0 < np.count_nonzero(y[:, 0]) < y[:, 0].size
    assert layers.SpatialDropout1D(0.5).get_config().keys() >= {"rate", "seed"}
    assert "noise_shape" not in layers.SpatialDropout1D(0.5).get_config()


def test_dropout_in_a_symbolic_call_takes_training_from_the_node():
    layer = layers.Dropout(0.5, seed=1, dtype="float64")
    out = layer(KerasTensor((None, 10), "float64"))
    assert out.shape == (None, 10)
    x = np.ones((3, 10))
    np.testing.assert_array_equal(out.node.call([x], training=False)[0], x)
    assert np.any(out.node.call([x], training=True)[0] == 0)
    with pytest.raises(ValueError, match="training= and mask= are chosen by the model"):
        layer(KerasTensor((None, 10), "float64"), training=True)


def test_functional_forms_on_symbolic_tensors_and_arrays():
    a, b, c = (KerasTensor((None, 5, n), "float64") for n in (2, 3, 2))
    joined = layers.concatenate([a, b, c])
    assert joined.shape == (None, 5, 7) and isinstance(joined.node.layer, layers.Concatenate)
    assert layers.concatenate([a, c], axis=1).shape == (None, 10, 2)
    assert layers.concatenate([a, KerasTensor((None, None, 3), "float64")]).shape == (None, 5, 5)
    summed = layers.add([a, c, KerasTensor((None, None, 2), "float64")], name="sum")
    assert summed.shape == (None, 5, 2) and summed.node.layer.name == "sum"
    with pytest.raises(ValueError, match=r"expected inputs of equal shapes.*\(None, 5, 3\)"):
        layers.add([a, b])
    with pytest.raises(ValueError, match="at least 2 inputs, got 1"):
        layers.Add()(a)
    x, y = np.ones((2, 3)), np.full((2, 3), 2.0)
    np.testing.assert_array_equal(layers.add([x, y]), np.full((2, 3), 3.0))
    np.testing.assert_array_equal(layers.concatenate([x, y], axis=-1), np.c_[x, y])
    assert layers.Reshape((-1, 2))(KerasTensor((None, None, 4), "float32")).shape == (None, None, 2)
    assert layers.Flatten()(KerasTensor((None, None, 4), "float32")).shape == (None, None)


@pytest.mark.parametrize("make, inputs", [
    (lambda: layers.Dropout(0.2, noise_shape=[None, 1, 3], seed=5), [np.ones((2, 4, 3))]),
    (lambda: layers.SpatialDropout1D(0.2, seed=5), [np.ones((2, 4, 3))]),
    (lambda: layers.RepeatVector(2), [np.arange(6.0).reshape(2, 3)]),
    (lambda: layers.Flatten(data_format="channels_first"), [np.arange(24.0).reshape(2, 3, 4)]),
    (lambda: layers.Reshape((3, -1)), [np.arange(24.0).reshape(2, 12)]),
    (lambda: layers.Concatenate(axis=1), [np.ones((2, 1, 3)), np.zeros((2, 2, 3))]),
    (lambda: layers.Add(), [np.ones((2, 3)), np.arange(6.0).reshape(2, 3)]),
], ids=["dropout", "spatial_dropout_1d", "repeat_vector", "flatten", "reshape", "concatenate", "add"])
def test_config_round_trip_gives_the_same_layer(make, inputs):
    layer = make()
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config
    rebuilt = [type(layer)(**json.loads(json.dumps(config))),
               layers.deserialize({"class_name": type(layer).__name__, "config": config})]
    arg = inputs if layer.takes_list else inputs[0]
    kwargs = {"training": True} if layer.takes_training else {}
    expected = layer(arg, **kwargs)
    for other in rebuilt:
        assert other.get_config() == config
        np.testing.assert_array_equal(other(arg, **kwargs), expected)


@pytest.mark.parametrize("make, inputs", [
    (lambda dtype: layers.Dropout(0.5, dtype=dtype), [np.ones((2, 3))]),
    (lambda dtype: layers.SpatialDropout1D(0.5, dtype=dtype), [np.ones((2, 3, 4))]),
    (lambda dtype: layers.RepeatVector(2, dtype=dtype), [np.ones((2, 3))]),
    (lambda dtype: layers.Flatten(dtype=dtype), [np.ones((2, 3, 4))]),
    (lambda dtype: layers.Reshape((-1,), dtype=dtype), [np.ones((2, 3, 4))]),
    (lambda dtype: layers.Concatenate(dtype=dtype), [np.ones((2, 3)), np.ones((2, 1))]),
    (lambda dtype: layers.Add(dtype=dtype), [np.ones((2, 3)), np.ones((2, 3))]),
], ids=["dropout", "spatial_dropout_1d", "repeat_vector", "flatten", "reshape", "concatenate", "add"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtypes_and_no_input_gradient(make, inputs, dtype):
    layer = make(dtype)
    arg = inputs if layer.takes_list else inputs[0]
    kwargs = {"training": True} if layer.takes_training else {}
    y = layer(arg, **kwargs)
    assert y.dtype == dtype
    dx = layer.backward(np.ones_like(y))
    for d, x in zip(dx if layer.takes_list else [dx], inputs, strict=True):
        assert d.dtype == dtype and d.shape == x.shape
    layer(arg, **kwargs)
    assert layer.backward(np.ones_like(y), d_inputs=False) is None


@pytest.mark.parametrize("make, error, match", [
    (lambda: layers.Dropout(1.0), ValueError, r"rate: expected a fraction in \[0, 1\), got 1.0"),
    (lambda: layers.Dropout(-0.1), ValueError, "rate: expected a fraction"),
    (lambda: layers.Dropout("0.5"), TypeError, "rate: expected a fraction"),
    (lambda: layers.Dropout(0.5, noise_shape=(None, 0)), ValueError, "noise_shape"),
    (lambda: layers.Dropout(0.5, noise_shape=5), TypeError, "noise_shape"),
    (lambda: layers.Dropout(0.5, seed=-1), ValueError, "seed: expected a non-negative integer"),
    (lambda: layers.Dropout(0.5, seed=1.5), ValueError, "seed: expected a non-negative integer"),
    (lambda: layers.SpatialDropout1D(0.5, noise_shape=(1, 1, 1)), TypeError, "noise_shape"),
    (lambda: layers.SpatialDropout1D(0.5, input_shape=(3, 4, 5)), ValueError, "expected 3-D inputs"),
    (lambda: layers.RepeatVector(0), ValueError, "n: expected a positive integer"),
    (lambda: layers.RepeatVector(2.0), ValueError, "n: expected a positive integer"),
    (lambda: layers.Flatten(data_format="nchw"), ValueError, "data_format: expected one of"),
    (lambda: layers.Reshape((-1, -1)), ValueError, "at most one -1"),
    (lambda: layers.Reshape((3, 0)), ValueError, "target_shape: expected a tuple of positive integers"),
    (lambda: layers.Reshape(3), TypeError, "target_shape"),
    (lambda: layers.Reshape((5,), input_shape=(2, 3)), ValueError, "cannot reshape 6 values"),
    (lambda: layers.Concatenate(axis=0), ValueError, "the batch axis"),
    (lambda: layers.Concatenate(axis="1"), TypeError, "axis: expected an integer"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_arguments_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("layer, inputs, error, match", [
    (layers.Dropout(0.5, noise_shape=(None, 2)), np.ones((2, 3)), ValueError, "has noise_shape"),
    (layers.Dropout(0.5, noise_shape=(None, 1)), np.ones((2, 3, 4)), ValueError, "same rank"),
    (layers.Dropout(0.5), np.array([1.0, np.nan]), ValueError, "x: expected finite numbers"),
    (layers.SpatialDropout1D(0.5), np.ones((2, 3)), ValueError, "x: expected at least 3 dimensions"),
    (layers.SpatialDropout1D(0.5), np.ones((2, 3, 4, 5)), ValueError,
     r"expected 3-D inputs .* \(2, 3, 4, 5\)"),
    (layers.RepeatVector(2), np.ones((2, 3, 4)), ValueError, "expected 2-D inputs"),
    (layers.Flatten(), "abc", TypeError, "x: expected a numeric array"),
    (layers.Reshape((4, 2)), np.ones((2, 3, 3)), ValueError, r"cannot reshape 9 values .* \(4, 2\)"),
    (layers.Concatenate(), np.ones((2, 3)), TypeError, "expected a list of at least 2 arrays, got ndarray"),
    (layers.Concatenate(), [np.ones((2, 3))], ValueError, "at least 2 inputs, got 1"),
    (layers.Concatenate(name="cat"), [np.ones((2, 3, 4)), np.ones((2, 2, 5))], ValueError,
     r"'cat' expected inputs whose shapes match except on the concatenation axis, "
     r"got shapes \[\(2, 3, 4\), \(2, 2, 5\)\] \(axis 1 differs\)"),
    (layers.Concatenate(), [np.ones((2, 3)), np.ones((3, 3))], ValueError, "axis 0 differs"),
    (layers.Concatenate(), [np.ones((2, 3)), np.ones((2, 3, 1))], ValueError, "same rank"),
    (layers.Concatenate(axis=2), [np.ones((2, 3)), np.ones((2, 3))], ValueError, "has axis=2"),
    (layers.Concatenate(axis=-2), [np.ones((2, 3)), np.ones((2, 3))], ValueError, "has axis=-2"),
    (layers.Concatenate(), [np.ones((2, 3)), None], TypeError, r"inputs\[1\]: expected a numeric array"),
    (layers.Add(name="plus"), [np.ones((2, 3)), np.ones((2, 4))], ValueError,
     r"'plus' expected inputs of equal shapes, got shapes \[\(2, 3\), \(2, 4\)\]"),
    (layers.Add(), [np.ones((2, 3)), np.ones((2, 3)), np.full((2, 3), np.inf)], ValueError,
     r"inputs\[2\]: expected finite numbers"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_inputs_are_refused(layer, inputs, error, match):
    with pytest.raises(error, match=match):
        layer(inputs)
