"""Initializer objects: each class's distribution (and Keras 3's, drawn side by side), seeds, the exact
matrices (Identity, Orthogonal), the original functions' draws kept bit for bit, Keras's names and
configs, errors, and initializers through a layer's config and a checkpoint (the IRNN example)."""

import json
import math

import kerascheck
import numpy as np
import pytest

from scratchrnn import initializers, rng
from scratchrnn.initializers import (
    Constant,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    Identity,
    LecunNormal,
    LecunUniform,
    Ones,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    Zeros,
)
from scratchrnn.layers import Dense, SimpleRNN
from scratchrnn.models import Sequential, load_model

SHAPE = (400, 600)  # 240,000 draws: sample std within ~0.15%, sample mean within ~0.002 std (1 sigma)
FAN_IN, FAN_OUT = SHAPE
TRUNCATED_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


def assert_stats(x, mean, std, low=None, high=None):
    assert abs(x.mean() - mean) < 0.01 * std, (x.mean(), mean)
    assert abs(x.std() - std) < 0.01 * std, (x.std(), std)
    if low is not None:
        assert x.min() >= low and x.max() <= high
        # the draws reach (close to) both bounds: the bounds are the ones meant, not wider ones
        assert x.min() < low + 0.01 * (high - low) and x.max() > high - 0.01 * (high - low)


# (initializer, mean, std of the draws, bounds or None)
def _uniform(limit):
    return 0.0, limit / math.sqrt(3.0), -limit, limit


def _truncated(std):  # std of the draws; the truncation is at 2 std / 0.8796 of the parameter
    return 0.0, std, -2 * std / TRUNCATED_STD, 2 * std / TRUNCATED_STD


CASES = {
    "RandomNormal": (RandomNormal(mean=0.3, stddev=0.2, seed=1), 0.3, 0.2, None, None),
    "RandomUniform": (RandomUniform(minval=-0.3, maxval=0.7, seed=2), 0.2, 1.0 / math.sqrt(12), -0.3, 0.7),
    "TruncatedNormal": (TruncatedNormal(mean=1.0, stddev=0.5, seed=3), 1.0, 0.5 * TRUNCATED_STD, 0.0, 2.0),
    "GlorotUniform": (GlorotUniform(seed=4), *_uniform(math.sqrt(6 / (FAN_IN + FAN_OUT)))),
    "GlorotNormal": (GlorotNormal(seed=5), *_truncated(math.sqrt(2 / (FAN_IN + FAN_OUT)))),
    "HeUniform": (HeUniform(seed=6), *_uniform(math.sqrt(6 / FAN_IN))),
    "HeNormal": (HeNormal(seed=7), *_truncated(math.sqrt(2 / FAN_IN))),
    "LecunUniform": (LecunUniform(seed=8), *_uniform(math.sqrt(3 / FAN_IN))),
    "LecunNormal": (LecunNormal(seed=9), *_truncated(math.sqrt(1 / FAN_IN))),
    "VarianceScaling fan_out untruncated": (
        VarianceScaling(scale=3.0, mode="fan_out", distribution="untruncated_normal", seed=10),
        0.0, math.sqrt(3.0 / FAN_OUT), None, None),
    "VarianceScaling fan_avg normal": (  # "normal" is Keras's alias of truncated_normal
        VarianceScaling(scale=0.5, mode="fan_avg", distribution="normal", seed=11),
        *_truncated(math.sqrt(0.5 / ((FAN_IN + FAN_OUT) / 2)))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_statistics(name):
    init, mean, std, low, high = CASES[name]
    x = init(SHAPE)
    assert x.shape == SHAPE and x.dtype == np.float64
    assert_stats(x, mean, std, low, high)


def test_constants_and_dtypes():
    np.testing.assert_array_equal(Zeros()((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(Ones()((4,)), np.ones(4))
    np.testing.assert_array_equal(Constant(0.25)((2, 2)), np.full((2, 2), 0.25))
    for init in (Zeros(), Constant(-1.5), GlorotUniform(seed=1), TruncatedNormal(seed=1), Orthogonal(seed=1)):
        assert init((3, 4), dtype="float32").dtype == np.float32
        assert init((3, 4), dtype=np.float64).dtype == np.float64
    # float32 draws are the float64 draws rounded: the same numbers whatever the layer's dtype
    np.testing.assert_array_equal(HeNormal(seed=3)((5, 6), "float32"),
                                  HeNormal(seed=3)((5, 6)).astype(np.float32))


def test_fans_of_kernels_of_more_than_two_dimensions_follow_keras():
    # (kernel_size, in, out) = (3, 40, 50): fan_in 120, fan_out 150 (Keras's receptive-field rule)
    assert initializers.compute_fans((3, 40, 50)) == (120, 150)
    assert initializers.compute_fans((7,)) == (7, 7) and initializers.compute_fans(()) == (1, 1)
    x = GlorotUniform(seed=1)((3, 400, 500))
    assert_stats(x, *_uniform(math.sqrt(6 / (1200 + 1500))))


def test_seeds():
    before = rng.get_state()
    a, b = RandomNormal(seed=42)((50, 40)), RandomNormal(seed=42)((50, 40))
    np.testing.assert_array_equal(a, b)
    init = GlorotNormal(seed=42)
    np.testing.assert_array_equal(init((30, 20)), init((30, 20)))  # every call: the same array
    assert not np.array_equal(RandomNormal(seed=43)((50, 40)), a)
    assert rng.get_state() == before  # a seeded initializer leaves the library's generator alone
    # without a seed: the library's generator, so set_random_seed reproduces the draws
    rng.set_random_seed(5)
    first = HeUniform()((20, 30))
    second = HeUniform()((20, 30))
    rng.set_random_seed(5)
    np.testing.assert_array_equal(HeUniform()((20, 30)), first)
    assert not np.array_equal(first, second)


def test_original_functions_draw_what_they_drew():
    """The formulas of the original module-level functions, written out: the functions, their names
    through ``get`` and the classes all take exactly these numbers from the generator."""
    shape = (7, 5)
    limit_glorot, limit_he = np.sqrt(6.0 / (7 + 5)), np.sqrt(6.0 / 7)

    def old_orthogonal(generator):
        q, r = np.linalg.qr(generator.standard_normal((7, 5)))
        return q * np.sign(np.diag(r))

    expected = {
        "glorot_uniform": (GlorotUniform, lambda g: g.uniform(-limit_glorot, limit_glorot, shape)),
        "he_uniform": (HeUniform, lambda g: g.uniform(-limit_he, limit_he, shape)),
        "random_normal": (RandomNormal, lambda g: g.normal(0.0, 0.05, shape)),
        "random_uniform": (RandomUniform, lambda g: g.uniform(-0.05, 0.05, shape)),
        "orthogonal": (Orthogonal, old_orthogonal),
        "zeros": (Zeros, lambda g: np.zeros(shape)),
        "ones": (Ones, lambda g: np.ones(shape)),
    }
    for name, (cls, formula) in expected.items():
        rng.set_random_seed(3)
        reference = formula(rng.generator())
        for init in (initializers.get(name), getattr(initializers, name), cls()):
            rng.set_random_seed(3)
            np.testing.assert_array_equal(init(shape), reference, err_msg=name)
    # the limits round as they did (at (1, 4) and (5, 3), 3 * (s / fan) would round differently)
    for shape in [(1, 1), (1, 4), (5, 3), (20, 7), (3, 700), (128, 512), (1000, 3), (9,)]:
        for name, limit in (("glorot_uniform", np.sqrt(6.0 / (shape[0] + shape[-1]))),
                            ("he_uniform", np.sqrt(6.0 / shape[0]))):
            rng.set_random_seed(1)
            reference = rng.generator().uniform(-limit, limit, shape)
            rng.set_random_seed(1)
            np.testing.assert_array_equal(initializers.get(name)(shape), reference, err_msg=name)


def test_identity_and_orthogonal_are_exact():
    np.testing.assert_array_equal(Identity()((4, 4)), np.eye(4))
    np.testing.assert_array_equal(Identity(gain=2.5)((4, 4)), 2.5 * np.eye(4))
    np.testing.assert_array_equal(Identity(gain=0.5)((3, 5)), 0.5 * np.eye(3, 5))
    for shape in [(6, 6), (7, 3), (3, 7)]:
        q = Orthogonal(gain=1.7, seed=2)(shape)
        small = q.T @ q if shape[0] >= shape[1] else q @ q.T
        np.testing.assert_allclose(small, 1.7**2 * np.eye(min(shape)), atol=1e-12)
        np.testing.assert_array_equal(q, 1.7 * Orthogonal(seed=2)(shape))
    q = Orthogonal(seed=1)((2, 3, 4)).reshape(6, 4)  # rows are the leading sizes' product
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-12)


KERAS_NAMES = ["Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Identity",
               "IdentityInitializer", "LecunNormal", "LecunUniform", "Ones", "Orthogonal",
               "OrthogonalInitializer", "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling",
               "Zeros", "constant",
               "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "identity", "lecun_normal",
               "lecun_uniform", "normal", "one", "ones", "orthogonal", "random_normal", "random_uniform",
               "truncated_normal", "uniform", "variance_scaling", "zero", "zeros"]


def test_keras_names():
    for name in KERAS_NAMES:
        init = initializers.get(name)
        assert isinstance(init, initializers.Initializer), name
        assert type(init).__name__.lower().replace("_", "") in (
            name.lower().replace("_", "").replace("initializer", ""),
            {"normal": "randomnormal", "uniform": "randomuniform", "one": "ones", "zero": "zeros"}.get(name))
    assert isinstance(initializers.get(GlorotNormal), GlorotNormal)  # a class: its default instance
    init = HeNormal(seed=1)
    assert initializers.get(init) is init

    def custom(shape, dtype=None):
        return np.full(shape, 3.0)

    assert initializers.get(custom) is custom


def test_every_keras_3_name_is_known_and_means_the_same_class():
    kerascheck.import_keras()
    from keras.src.initializers import ALL_OBJECTS_DICT

    names = {name for name, cls in ALL_OBJECTS_DICT.items() if cls.__name__ not in ("STFT", "Initializer")}
    assert names == set(KERAS_NAMES)
    for name in names:
        assert type(initializers.get(name)).__name__ == ALL_OBJECTS_DICT[name].__name__, name


@pytest.mark.parametrize("name", list(CASES))
def test_keras_draws_the_same_distribution(name):
    """Keras 3's initializer of the same config, drawn at the same shape: the same distribution (the
    generators differ: the quantiles from 1% to 99% agree to 4% of the standard deviation, about 3.5
    standard errors at the 1% quantile; the extremes of bounded draws to 1% of the range)."""
    keras, _ = kerascheck.import_keras()
    init, _, std, low, high = CASES[name]
    config = {key: value for key, value in init.get_config().items() if key != "seed"}
    keras_init = getattr(keras.initializers, type(init).__name__)(**config, seed=123)
    theirs = np.asarray(keras_init(SHAPE, dtype="float64"))
    ours = init(SHAPE)
    levels = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
    np.testing.assert_allclose(np.quantile(ours, levels), np.quantile(theirs, levels), atol=0.04 * std)
    if low is not None:
        np.testing.assert_allclose([ours.min(), ours.max()], [theirs.min(), theirs.max()],
                                   atol=0.01 * (high - low))


def test_keras_matrices_are_ours():
    keras, _ = kerascheck.import_keras()
    np.testing.assert_array_equal(Identity(gain=1.5)((3, 5)),
                                  np.asarray(keras.initializers.Identity(gain=1.5)((3, 5), dtype="float64")))
    theirs = np.asarray(keras.initializers.Orthogonal(gain=2.0, seed=1)((6, 4), dtype="float64"))
    ours = Orthogonal(gain=2.0)((6, 4))
    np.testing.assert_allclose(theirs.T @ theirs, 4.0 * np.eye(4), atol=1e-12)
    np.testing.assert_allclose(ours.T @ ours, 4.0 * np.eye(4), atol=1e-12)


def test_configs_round_trip_and_read_keras_configs():
    keras, _ = kerascheck.import_keras()
    inits = [init for init, *_ in CASES.values()] + [Zeros(), Ones(), Constant(0.7), Identity(gain=0.9),
                                                       Orthogonal(gain=1.3, seed=4), GlorotUniform()]
    for init in inits:
        saved = json.loads(json.dumps(initializers.serialize(init)))  # JSON-serialisable
        assert saved["class_name"] == type(init).__name__
        back = initializers.get(saved)
        assert type(back) is type(init) and back.get_config() == init.get_config()
        if init.get_config().get("seed") is not None:
            np.testing.assert_array_equal(back((6, 5)), init((6, 5)))
        if isinstance(init, Identity):
            continue  # Keras 3.15's Identity has no get_config: its saved config drops the gain
        # Keras's own config of the same initializer reads back as ours, and ours has Keras's values
        config = init.get_config()
        keras_init = getattr(keras.initializers, type(init).__name__)(**config)
        keras_saved = keras.initializers.serialize(keras_init)
        assert initializers.get(keras_saved).get_config() == config
        assert {key: keras_init.get_config()[key] for key in config} == config
    assert initializers.serialize("he_normal") == "he_normal"
    assert initializers.serialize(initializers.glorot_uniform) == "glorot_uniform"
    assert initializers.serialize(lambda shape, dtype=None: np.zeros(shape)) is None  # cannot be saved


@pytest.mark.parametrize("call, error, words", [
    (lambda: initializers.get("lecun-ish"), ValueError,
     ["initializer:", "expected one of", "got 'lecun-ish'"]),
    (lambda: initializers.get(3), ValueError, ["initializer:", "got 3"]),
    (lambda: initializers.get({"class_name": "Glorot", "config": {}}), ValueError,
     ["initializer:", "'Glorot'"]),
    (lambda: initializers.get({"class_name": "RandomNormal", "config": {"std": 1.0}}), ValueError,
     ["initializer:", "RandomNormal takes", "'std'"]),
    (lambda: initializers.get({"class_name": "Ones", "config": [1]}), ValueError, ["'config'", "dict"]),
    (lambda: Identity()((2, 3, 3)), ValueError, ["shape:", "Identity expected a 2-D shape", "rank 3"]),
    (lambda: Identity()((4,)), ValueError, ["shape:", "2-D", "rank 1"]),
    (lambda: RandomNormal(seed=-1), ValueError, ["seed:", "non-negative integer", "got -1"]),
    (lambda: GlorotUniform(seed=1.5), ValueError, ["seed:", "got 1.5"]),
    (lambda: RandomNormal(stddev=-0.1), ValueError, ["stddev:", ">= 0.0", "got -0.1"]),
    (lambda: RandomUniform(minval=1.0, maxval=0.0), ValueError, ["maxval:", "got 0.0"]),
    (lambda: Constant("a"), TypeError, ["value:", "real number", "str"]),
    (lambda: VarianceScaling(mode="fan"), ValueError, ["mode:", "fan_avg", "got 'fan'"]),
    (lambda: VarianceScaling(distribution="cauchy"), ValueError, ["distribution:", "got 'cauchy'"]),
    (lambda: VarianceScaling(scale=0.0), ValueError, ["scale:", "positive", "got 0.0"]),
    (lambda: GlorotUniform(input_axes=[0]), ValueError, ["input_axes:", "expected None", "got [0]"]),
    (lambda: Zeros()((2, -1)), ValueError, ["shape:", "non-negative integers", "(2, -1)"]),
    (lambda: Ones()((2, 2), dtype="banana"), TypeError, ["dtype:", "'banana'"]),
    (lambda: Orthogonal()(()), ValueError, ["shape:", "at least one dimension"]),
    (lambda: SimpleRNN(2, kernel_initializer="lecun-ish"), ValueError, ["initializer:", "got 'lecun-ish'"]),
])
def test_clear_errors(call, error, words):
    with pytest.raises(error) as raised:
        call()
    for word in words:
        assert word in str(raised.value), (word, str(raised.value))


def irnn(units=64, features=50):
    """The IRNN (Le et al., 2015), as the Keras example writes it."""
    return SimpleRNN(units, kernel_initializer=RandomNormal(stddev=0.001),
                     recurrent_initializer=Identity(gain=1.0), activation="relu", dtype="float64",
                     input_shape=(5, features))


def test_irnn_layer_builds_the_expected_weights():
    rng.set_random_seed(8)
    layer = irnn()
    layer.build((None, 5, 50))
    kernel, recurrent_kernel, bias = layer.get_weights()
    np.testing.assert_array_equal(recurrent_kernel, np.eye(64))
    np.testing.assert_array_equal(bias, np.zeros(64))
    rng.set_random_seed(8)
    np.testing.assert_array_equal(kernel, rng.generator().normal(0.0, 0.001, (50, 64)))
    assert abs(kernel.std() - 0.001) < 0.05 * 0.001
    config = layer.get_config()
    assert config["kernel_initializer"] == {"class_name": "RandomNormal",
                                            "config": {"mean": 0.0, "stddev": 0.001, "seed": None}}
    assert config["recurrent_initializer"] == {"class_name": "Identity", "config": {"gain": 1.0}}
    assert config["bias_initializer"] == "zeros"
    rebuilt = SimpleRNN.from_config(json.loads(json.dumps(config)))
    assert isinstance(rebuilt.recurrent_initializer, Identity)
    assert rebuilt.kernel_initializer.get_config() == layer.kernel_initializer.get_config()


def test_save_and_load_a_model_with_initializer_objects(tmp_path):
    rng.set_random_seed(2)
    model = Sequential([irnn(units=6, features=3),
                        Dense(2, activation="softmax", kernel_initializer=GlorotNormal(seed=4),
                              bias_initializer=Constant(0.1), dtype="float64")])
    model.build()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    path = tmp_path / "irnn.ckpt"
    model.save(path)
    loaded = load_model(path)
    assert loaded.get_config() == model.get_config()
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    rnn, dense = loaded.layers
    assert isinstance(rnn.kernel_initializer, RandomNormal) and rnn.kernel_initializer.stddev == 0.001
    assert isinstance(rnn.recurrent_initializer, Identity)
    assert isinstance(dense.kernel_initializer, GlorotNormal) and dense.kernel_initializer.seed == 4
    assert isinstance(dense.bias_initializer, Constant) and dense.bias_initializer.value == 0.1
    np.testing.assert_array_equal(dense.kernel_initializer((6, 2)), GlorotNormal(seed=4)((6, 2)))
    x = np.random.default_rng(0).standard_normal((3, 5, 3))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
