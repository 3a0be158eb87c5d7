"""Conv1D and the 1-D pooling layers: finite differences, Keras 3 parity (float64) for every padding,
stride and dilation case, output shapes against Keras's, the errors, and an IMDB-CNN-LSTM-shaped stack."""

import json

import kerascheck
import numpy as np
import pytest

from scratchrnn import gradcheck, layers
from scratchrnn.layers.base import KerasTensor

keras, tf = kerascheck.import_keras()

# (options beyond Conv1D(4, 3)), over inputs (2, 7, 3): every padding, with strides 2 and dilation 2;
# kernel 4 'same' splits its padding unevenly (1 before, 2 after), kernel 2 stride 3 'same' pads after only.
CONV_CASES = {
    "valid": {},
    "same": {"padding": "same"},
    "causal": {"padding": "causal"},
    "valid_strides2": {"strides": 2},
    "same_strides2": {"padding": "same", "strides": (2,)},
    "causal_strides2": {"padding": "causal", "strides": 2},
    "valid_dilation2": {"dilation_rate": 2},
    "same_dilation2": {"padding": "same", "dilation_rate": 2},
    "causal_dilation2": {"padding": "causal", "dilation_rate": (2,)},
    "same_kernel4": {"padding": "same", "kernel_size": 4},
    "same_kernel2_strides3": {"padding": "same", "kernel_size": (2,), "strides": 3},
    "relu_no_bias": {"activation": "relu", "use_bias": False},
    "tanh_causal_dilation3": {"activation": "tanh", "padding": "causal", "dilation_rate": 3},
}

POOL_CASES = {
    "max_2": (layers.MaxPooling1D, {}),
    "max_3_stride1": (layers.MaxPooling1D, {"pool_size": 3, "strides": 1}),
    "max_2_stride3": (layers.MaxPooling1D, {"pool_size": 2, "strides": 3}),  # steps no window reads
    "max_2_same": (layers.MaxPooling1D, {"pool_size": 2, "padding": "same"}),  # T odd: one step after
    "max_4_stride1_same": (layers.MaxPooling1D, {"pool_size": 4, "strides": 1, "padding": "same"}),
    "max_3_stride2_same": (layers.MaxPooling1D, {"pool_size": (3,), "strides": (2,), "padding": "same"}),
    "global_max": (layers.GlobalMaxPooling1D, {}),
    "global_max_keepdims": (layers.GlobalMaxPooling1D, {"keepdims": True}),
    "global_average": (layers.GlobalAveragePooling1D, {}),
    "global_average_keepdims": (layers.GlobalAveragePooling1D, {"keepdims": True}),
}


def make_conv(options, dtype="float64", filters=4):
    options = {"kernel_size": 3, **options}
    return layers.Conv1D(filters, dtype=dtype, **options)


def keras_conv(options, filters=4):
    options = {"kernel_size": 3, **options}
    return keras.layers.Conv1D(filters, dtype="float64", **options)


def randomize(layer, rng):
    """Random non-zero weights (biases included) so that no gradient hides behind a zero."""
    layer.set_weights([rng.uniform(-0.7, 0.7, w.shape) for w in layer.get_weights()])


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv1d_gradcheck(case):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 7, 3))
    layer = make_conv(CONV_CASES[case])
    layer.build(x.shape)
    randomize(layer, rng)
    report = gradcheck.check_layer(layer, x)
    assert len(report) == len(layer.weights) + 1
    assert report.max_error < 1e-7, str(report)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv1d_matches_keras(case):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 7, 3))
    pairs = kerascheck.compare_layer(make_conv(CONV_CASES[case]), keras_conv(CONV_CASES[case]), x, rng)
    assert {"output[0]", "d_input[0]", "d_kernel"} <= set(pairs)


@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_gradcheck(case):
    rng = np.random.default_rng(3)
    cls, options = POOL_CASES[case]
    report = gradcheck.check_layer(cls(dtype="float64", **options), rng.standard_normal((2, 7, 3)))
    assert report.max_error < 1e-7, str(report)


@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_matches_keras(case):
    rng = np.random.default_rng(4)
    cls, options = POOL_CASES[case]
    keras_layer = getattr(keras.layers, cls.__name__)(dtype="float64", **options)
    x = rng.standard_normal((2, 7, 3))
    kerascheck.compare_layer(cls(dtype="float64", **options), keras_layer, x, rng)


def test_max_pooling_ties_go_where_tensorflow_sends_them():
    """Equal values in a window: MaxPooling1D gives the gradient to the first, GlobalMaxPooling1D shares
    it equally (TensorFlow's MaxPoolGrad and reduce_max gradient); then parity with Keras on inputs full
    of ties."""
    x = np.array([[1.0, 1.0, 0.0, 2.0, 2.0, 2.0]])[:, :, None]  # (1, 6, 1)
    pool = layers.MaxPooling1D(3, strides=1, dtype="float64")
    np.testing.assert_array_equal(pool(x)[0, :, 0], [1, 2, 2, 2])
    np.testing.assert_array_equal(pool.backward(np.ones((1, 4, 1)))[0, :, 0], [1, 0, 0, 3, 0, 0])
    glob = layers.GlobalMaxPooling1D(dtype="float64")
    np.testing.assert_array_equal(glob(x), [[2.0]])
    np.testing.assert_allclose(glob.backward(np.ones((1, 1)))[0, :, 0], [0, 0, 0, 1 / 3, 1 / 3, 1 / 3])

    rng = np.random.default_rng(5)
    ties = rng.integers(0, 3, (2, 9, 3)).astype(np.float64)
    for cls, options in [(layers.MaxPooling1D, {"pool_size": 3, "strides": 1}),
                         (layers.MaxPooling1D, {"pool_size": 4, "strides": 2, "padding": "same"}),
                         (layers.GlobalMaxPooling1D, {})]:
        keras_layer = getattr(keras.layers, cls.__name__)(dtype="float64", **options)
        kerascheck.compare_layer(cls(dtype="float64", **options), keras_layer, ties, rng)


SHAPE_CASES = ([(f"conv_{name}", lambda o=options: make_conv(o), lambda o=options: keras_conv(o))
                for name, options in CONV_CASES.items()]
               + [(f"pool_{name}", lambda c=cls, o=options: c(**o),
                   lambda c=cls, o=options: getattr(keras.layers, c.__name__)(**o))
                  for name, (cls, options) in POOL_CASES.items()])


@pytest.mark.parametrize("name, make, make_keras", SHAPE_CASES, ids=[case[0] for case in SHAPE_CASES])
def test_output_shapes_match_keras(name, make, make_keras):
    """compute_output_shape and a call on a symbolic tensor give Keras's shapes, for a known length, a
    length just long enough and an unknown one; an eager call gives the computed shape."""
    for steps in (7, 8, 5, None):
        shape = (None, steps, 3)
        expected = tuple(make_keras().compute_output_shape(shape))
        layer = make()
        assert layer.compute_output_shape(shape) == expected
        tensor = layer(KerasTensor(shape, "float32"))
        assert isinstance(tensor, KerasTensor) and tensor.shape == expected
        if steps is not None:
            assert make()(np.ones((2, steps, 3))).shape == (2, *expected[1:])


def test_keras_spellings_are_the_same_classes():
    assert layers.MaxPool1D is layers.MaxPooling1D
    assert layers.GlobalMaxPool1D is layers.GlobalMaxPooling1D
    assert layers.GlobalAvgPool1D is layers.GlobalAveragePooling1D
    for name in ("MaxPool1D", "GlobalMaxPool1D", "GlobalAvgPool1D", "Conv1D", "GlobalAveragePooling1D"):
        assert name in layers.__all__
    # Keras's default names
    assert layers.Conv1D(2, 3).name.startswith("conv1d")
    assert layers.MaxPool1D().name.startswith("max_pooling1d")
    assert layers.GlobalAvgPool1D().name.startswith("global_average_pooling1d")


@pytest.mark.parametrize("make", [
    lambda: layers.Conv1D(4, 3, padding="same"),
    lambda: layers.MaxPooling1D(2),
    lambda: layers.GlobalMaxPooling1D(),
    lambda: layers.GlobalAveragePooling1D(),
], ids=["conv1d", "max_pooling", "global_max", "global_average"])
def test_wrong_rank_is_refused_eagerly_and_symbolically(make):
    for shape in ((2, 7), (2, 7, 3, 1)):
        with pytest.raises(ValueError, match="3-D"):
            make()(np.ones(shape))
        with pytest.raises(ValueError, match="3-D inputs"):
            make()(KerasTensor((None, *shape[1:]), "float32"))


def test_conv1d_refuses_another_channel_count_once_built():
    layer = layers.Conv1D(4, 3)
    layer(np.ones((2, 7, 3)))
    with pytest.raises(ValueError, match="expected 3 features"):
        layer(np.ones((2, 7, 5)))
    with pytest.raises(ValueError, match=r"weights are \[\(3, 3, 4\), \(4,\)\]"):
        layer(KerasTensor((None, 7, 5), "float32"))
    assert layer(KerasTensor((None, None, 3), "float32")).shape == (None, None, 4)


def test_too_short_inputs_for_valid_windows_are_refused():
    with pytest.raises(ValueError, match="at least 5 steps"):
        layers.Conv1D(4, 3, dilation_rate=2)(np.ones((2, 4, 3)))
    with pytest.raises(ValueError, match="at least 3 steps"):
        layers.MaxPooling1D(3)(KerasTensor((None, 2, 3), "float32"))
    with pytest.raises(ValueError, match="at least 3 steps"):
        layers.Conv1D(4, 3).compute_output_shape((None, 2, 3))
    assert layers.Conv1D(4, 3, padding="same")(np.ones((2, 1, 3))).shape == (2, 1, 4)  # padding makes room


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match=r"padding: expected one of \['valid', 'same', 'causal'\], got 'fu"):
        layers.Conv1D(4, 3, padding="full")
    with pytest.raises(ValueError, match="padding: expected one of"):
        layers.Conv1D(4, 3, padding=None)
    with pytest.raises(ValueError, match=r"padding: expected one of \['valid', 'same'\], got 'causal'"):
        layers.MaxPooling1D(2, padding="causal")
    assert layers.Conv1D(4, 3, padding="SAME").padding == "same"  # Keras lower-cases it too
    with pytest.raises(ValueError, match="data_format: expected 'channels_last'"):
        layers.Conv1D(4, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="data_format: expected 'channels_last'"):
        layers.GlobalAveragePooling1D(data_format="channels_first")
    with pytest.raises(ValueError, match="strides=1 or dilation_rate=1"):
        layers.Conv1D(4, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="kernel_size: expected a positive integer or a 1-tuple"):
        layers.Conv1D(4, (3, 3))
    with pytest.raises(ValueError, match="strides: expected a positive integer"):
        layers.MaxPooling1D(2, strides=0)
    with pytest.raises(ValueError, match="filters: expected a positive integer"):
        layers.Conv1D(0, 3)
    with pytest.raises(ValueError, match="activation|expected one of"):
        layers.Conv1D(4, 3, activation="swishy")
    with pytest.raises(TypeError, match="keepdims: expected True or False"):
        layers.GlobalMaxPooling1D(keepdims="yes")
    with pytest.raises(TypeError, match="x: expected a numeric array"):
        layers.Conv1D(4, 3)(None)


@pytest.mark.parametrize("layer", [
    layers.Conv1D(4, (3,), strides=2, padding="causal", activation="relu", use_bias=False),
    layers.MaxPool1D(3, strides=1, padding="same"),
    layers.GlobalMaxPooling1D(keepdims=True),
    layers.GlobalAvgPool1D(),
], ids=["conv1d", "max_pooling", "global_max", "global_average"])
def test_config_rebuilds_the_layer(layer):
    config = json.loads(json.dumps(layer.get_config()))
    rebuilt = layers.deserialize({"class_name": type(layer).__name__, "config": config})
    assert type(rebuilt) is type(layer) and rebuilt.get_config() == layer.get_config()
    assert rebuilt.compute_output_shape((None, 9, 3)) == layer.compute_output_shape((None, 9, 3))


def test_conv1d_initializer_objects_survive_the_config_and_kernel_fans_follow_keras():
    from scratchrnn import initializers

    layer = layers.Conv1D(4, 3, kernel_initializer=initializers.GlorotNormal(seed=3), bias_initializer="ones")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["kernel_initializer"]["class_name"] == "GlorotNormal"
    rebuilt = layers.Conv1D.from_config(config)
    for one in (layer, rebuilt):
        one.build((None, 7, 3))
    np.testing.assert_array_equal(rebuilt.weights[0], layer.weights[0])  # the same seeded draw
    np.testing.assert_array_equal(rebuilt.weights[1], np.ones(4))
    # glorot_uniform's limit for a (k, C, F) kernel counts the receptive field in both fans, as Keras:
    # sqrt(6 / (k C + k F)), not sqrt(6 / (k C + F))
    wide = layers.Conv1D(64, 5)
    wide.build((None, 10, 128))
    limit = np.sqrt(6 / (5 * 128 + 5 * 64))
    assert 0.99 * limit < np.abs(wide.weights[0]).max() <= limit


@pytest.mark.parametrize("make", [
    lambda dtype: layers.Conv1D(4, 3, padding="same", activation="tanh", dtype=dtype),
    lambda dtype: layers.MaxPooling1D(3, strides=2, padding="same", dtype=dtype),
    lambda dtype: layers.GlobalMaxPooling1D(dtype=dtype),
    lambda dtype: layers.GlobalAveragePooling1D(dtype=dtype),
], ids=["conv1d", "max_pooling", "global_max", "global_average"])
def test_float32_follows_float64_and_keeps_its_dtype(make):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 7, 3))
    results = {}
    for dtype in ("float64", "float32"):
        layer = make(dtype)
        layer.build(x.shape)
        if layer.weights:
            layer.set_weights([np.linspace(-0.5, 0.5, w.size).reshape(w.shape) for w in layer.weights])
        y = layer(x)
        dx = layer.backward(np.ones_like(y))
        assert y.dtype == dtype and dx.dtype == dtype and all(g.dtype == dtype for g in layer.gradients)
        results[dtype] = (y, dx, [g.copy() for g in layer.gradients])
    for got, expected in zip(results["float32"][:2] + tuple(results["float32"][2]),
                             results["float64"][:2] + tuple(results["float64"][2])):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_conv1d_backward_without_d_inputs_gives_the_same_weight_gradients():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 7, 3))
    layer = layers.Conv1D(4, 3, padding="same", dtype="float64")
    layer.build(x.shape)
    randomize(layer, rng)
    dy = rng.standard_normal((2, 7, 4))
    layer(x)
    assert layer.backward(dy).shape == x.shape
    full = [g.copy() for g in layer.gradients]
    layer(x)
    assert layer.backward(dy, d_inputs=False) is None
    for a, b in zip(full, layer.gradients):
        np.testing.assert_array_equal(a, b)


def imdb_cnn_lstm(dtype="float64"):
    """Embedding -> Conv1D(relu) -> MaxPooling1D -> LSTM, the shape of Keras's imdb_cnn_lstm example."""
    return [layers.Embedding(20, 8, dtype=dtype), layers.Conv1D(6, 3, activation="relu", dtype=dtype),
            layers.MaxPooling1D(2, dtype=dtype), layers.LSTM(5, dtype=dtype)]


def test_imdb_cnn_lstm_stack_backward_by_hand():
    """The stack run eagerly, then each layer's backward in reverse order: finite differences of every
    weight of every layer, and parity with the same stack of Keras layers."""
    rng = np.random.default_rng(8)
    ids = rng.integers(0, 20, (2, 12))
    stack = imdb_cnn_lstm()

    def run():
        h = ids
        for layer in stack:
            h = layer(h)
        return h  # (2, 5)

    y = run()
    for layer in stack:
        randomize(layer, rng)
    y = run()
    assert [layer.compute_output_shape((2, 12, 8))[1] for layer in stack[1:3]] == [10, 6]
    projection = rng.standard_normal(y.shape)
    gradient = projection
    for layer in reversed(stack):
        gradient = layer.backward(gradient)
    assert gradient is None  # the Embedding's input is ids

    names = [f"{layer.name}.{name}" for layer in stack for name in layer.weight_names]
    arrays = dict(zip(names, [w for layer in stack for w in layer.weights]))
    analytic = dict(zip(names, [g.copy() for layer in stack for g in layer.gradients]))
    report = gradcheck.check_gradients(lambda: float(np.sum(projection * run())), arrays, analytic)
    assert len(report) == 6 and report.max_error < 1e-6, str(report)

    keras_stack = [keras.layers.Embedding(20, 8, dtype="float64"),
                   keras.layers.Conv1D(6, 3, activation="relu", dtype="float64"),
                   keras.layers.MaxPooling1D(2, dtype="float64"), keras.layers.LSTM(5, dtype="float64")]
    shape = ids.shape
    for ours, theirs in zip(stack, keras_stack):
        theirs.build(shape)
        theirs.set_weights(ours.get_weights())
        shape = theirs.compute_output_shape(shape)

    weights = [w for layer in keras_stack for w in layer.trainable_weights]
    with tf.GradientTape() as tape:
        h = tf.constant(ids)
        for layer in keras_stack:
            h = layer(h)
        loss = tf.reduce_sum(tf.constant(projection) * h)
    grads = tape.gradient(loss, weights)  # the Embedding's as IndexedSlices: made dense below
    pairs = {"output": (run(), h.numpy())}
    pairs.update({name: (analytic[name], tf.convert_to_tensor(g).numpy())
                  for name, g in zip(names, grads, strict=True)})
    kerascheck.assert_close(pairs)
