"""Optimizers: trajectories against Keras 3 and PyTorch in float64, clipping, the refusal of a
non-finite gradient, argument checks, config and exact state restore, and the Numba twins.

A trajectory is 10 steps on three tensors, shapes (3, 4), (4,) and (2, 2), with a fixed sequence of
random gradients. The error is measured on the displacement from the starting point,
max |ours - ref| / max |ref - start|, so that a wrong update cannot hide behind large weights.

Keras rounds some hyperparameters through float32 even for float64 weights:
- the learning rate lives in a float32 variable (``backend.floatx()``): 0.001 reaches a float64
  update as 0.0010000000474974513; the Adagrad accumulator starts at float32(0.1), from its
  Constant initializer; the Keras runs give scratchrnn the same rounded values (``f32``);
- ``ops.cast(python_float, "float64")`` goes through float32, so SGD's momentum and Adam's beta_1 and
  beta_2 in the bias correction (beta^t) are float32-rounded, while Adam's moment updates use
  ``1 - beta`` in full precision. No scratchrnn argument can copy that mixture, so the 1e-10
  comparisons use momenta and betas that float32 holds exactly (0.875, 0.5, 1 - 2^-10, ...), and the
  Keras defaults are compared apart, to the size of that rounding.
The PyTorch runs use plain Python floats and the usual defaults.
"""

import json
import math
import os

import numpy as np
import pytest

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import scratchrnn  # noqa: E402
from scratchrnn import optimizers  # noqa: E402
from scratchrnn.optimizers import SGD, Adagrad, Adam, NonFiniteGradientError, RMSprop  # noqa: E402

SHAPES = [(3, 4), (4,), (2, 2)]
SIZES = [math.prod(shape) for shape in SHAPES]
SEGMENTS = [slice(a, b) for a, b in zip(np.cumsum([0, *SIZES[:-1]]), np.cumsum(SIZES))]
STEPS = 10
RTOL = 1e-10  # float64 round-off over 10 steps, nothing else


def f32(x: float) -> float:
    """The float64 value Keras uses for a learning rate it stored in float32."""
    return float(np.float32(x))


def problem(steps=STEPS, scale=1.0, seed=0):
    """Starting tensors and a fixed sequence of per-tensor gradients; the gradient size changes
    from step to step (a factor 0.1 to 10) so that AMSGrad's maximum and clipping both matter."""
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(shape) for shape in SHAPES]
    factors = rng.choice([0.1, 1.0, 10.0], size=steps)
    grads = [[scale * f * rng.standard_normal(shape) for shape in SHAPES] for f in factors]
    return start, grads


def flat(arrays) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in arrays])


def run_ours(opt, start, grads, dtype=np.float64) -> np.ndarray:
    """(steps, n) flat parameters after each step."""
    params = flat(start).astype(dtype)
    trajectory = []
    for step in grads:
        opt.apply(params, flat(step).astype(dtype), SEGMENTS)
        trajectory.append(params.copy())
    return np.array(trajectory)


def error(ours, ref, start) -> float:
    start = flat(start)
    return float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref - start)))


# -- Keras -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keras():
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip(f"needs the Keras TensorFlow backend, got {keras.backend.backend()!r}")
    return keras


def run_keras(keras_opt, start, grads) -> np.ndarray:
    import tensorflow as tf

    variables = [tf.Variable(a, dtype=tf.float64) for a in start]
    trajectory = []
    for step in grads:
        keras_opt.apply_gradients([(tf.constant(g, dtype=tf.float64), v) for g, v in zip(step, variables)])
        trajectory.append(flat([v.numpy() for v in variables]))
    return np.array(trajectory)


# name -> (scratchrnn class, Keras class name, arguments for both; "learning_rate" rounded to float32)
KERAS_CASES = {
    "sgd": (SGD, "SGD", {"learning_rate": 0.05}),
    "sgd_momentum": (SGD, "SGD", {"learning_rate": 0.05, "momentum": 0.875}),
    "sgd_nesterov": (SGD, "SGD", {"learning_rate": 0.05, "momentum": 0.875, "nesterov": True}),
    "rmsprop": (RMSprop, "RMSprop", {"learning_rate": 0.01}),
    "rmsprop_centered": (RMSprop, "RMSprop", {"learning_rate": 0.01, "centered": True}),
    "rmsprop_momentum": (RMSprop, "RMSprop", {"learning_rate": 0.01, "momentum": 0.8, "rho": 0.7}),
    "rmsprop_centered_momentum": (RMSprop, "RMSprop", {"learning_rate": 0.01, "momentum": 0.5,
                                                       "centered": True}),
    "adagrad": (Adagrad, "Adagrad", {"learning_rate": 0.1}),
    "adam": (Adam, "Adam", {"learning_rate": 0.01, "beta_1": 0.875, "beta_2": 1 - 2**-10}),
    "adam_amsgrad": (Adam, "Adam", {"learning_rate": 0.01, "beta_1": 0.875, "beta_2": 1 - 2**-10,
                                    "amsgrad": True}),
    "adam_custom": (Adam, "Adam", {"learning_rate": 0.02, "beta_1": 0.5, "beta_2": 0.75, "epsilon": 1e-3}),
}
# Keras defaults (momentum 0.9, beta_1 0.9, beta_2 0.999): Keras's float32 beta^t against our float64
# one; the largest effect is 1 - beta_2^t on the first steps, relative float32(0.999) - 0.999 ~ 1.3e-5
DEFAULT_CASES = {
    "sgd_momentum_0.9": (SGD, "SGD", {"momentum": 0.9}, 1e-6),
    "adam_defaults": (Adam, "Adam", {}, 2e-5),
    "adam_amsgrad_defaults": (Adam, "Adam", {"amsgrad": True}, 2e-5),
}


def keras_trajectory_error(keras, case, **clip) -> tuple[float, np.ndarray, list]:
    cls, keras_name, arguments = {**KERAS_CASES, **DEFAULT_CASES}[case][:3]
    arguments = dict(arguments)
    learning_rate = f32(arguments.pop("learning_rate", cls._default_learning_rate))
    ours_arguments = dict(arguments)
    if cls is Adagrad:  # Keras's Constant initializer also rounds the starting accumulator to float32
        ours_arguments["initial_accumulator_value"] = f32(arguments.get("initial_accumulator_value", 0.1))
    start, grads = problem(scale=10.0 if clip else 1.0)
    ours = run_ours(cls(learning_rate, **ours_arguments, **clip), start, grads)
    keras_opt = getattr(keras.optimizers, keras_name)(learning_rate=learning_rate, **arguments, **clip)
    ref = run_keras(keras_opt, start, grads)
    return error(ours, ref, start), ours, grads


@pytest.mark.parametrize("case", sorted(KERAS_CASES))
def test_trajectory_matches_keras(keras, case):
    err, _, _ = keras_trajectory_error(keras, case)
    assert err < RTOL, f"{case}: relative error {err:.2e}"


@pytest.mark.parametrize("case", sorted(DEFAULT_CASES))
def test_keras_defaults_match_to_their_float32_betas(keras, case):
    err, _, _ = keras_trajectory_error(keras, case)
    assert err < DEFAULT_CASES[case][3], f"{case}: relative error {err:.2e}"


@pytest.mark.parametrize("clip", [{"clipvalue": 3.0}, {"clipnorm": 4.0}, {"global_clipnorm": 8.0}],
                         ids=["clipvalue", "clipnorm", "global_clipnorm"])
@pytest.mark.parametrize("case", ["sgd_momentum", "adam", "rmsprop"])
def test_clipping_matches_keras(keras, case, clip):
    err, _, grads = keras_trajectory_error(keras, case, **clip)
    assert err < RTOL, f"{case} {clip}: relative error {err:.2e}"
    # the clip both acts on some steps and leaves others alone
    (option, c), = clip.items()
    if option == "clipvalue":
        active = [max(np.max(np.abs(g)) for g in step) > c for step in grads]
    elif option == "clipnorm":
        active = [max(np.linalg.norm(g) for g in step) > c for step in grads]
    else:
        active = [np.linalg.norm(flat(step)) > c for step in grads]
    assert any(active) and not all(active)


def test_defaults_match_keras(keras):
    for cls in (SGD, RMSprop, Adagrad, Adam):
        ours = cls().get_config()
        theirs = getattr(keras.optimizers, cls.__name__)().get_config()
        shared = set(ours) & set(theirs) - {"name"}
        assert shared >= {"learning_rate", "clipnorm", "clipvalue", "global_clipnorm"}
        for key in shared:
            if ours[key] is None or isinstance(ours[key], bool):
                assert ours[key] == theirs[key], (cls.__name__, key)
            else:
                assert ours[key] == pytest.approx(theirs[key], rel=1e-7), (cls.__name__, key)


def test_from_keras_config(keras):
    keras_opt = keras.optimizers.Adam(learning_rate=0.003, beta_1=0.8, amsgrad=True, clipnorm=2.0)
    opt = optimizers.from_config(keras.optimizers.serialize(keras_opt))
    assert isinstance(opt, Adam) and opt.amsgrad and opt.beta_1 == 0.8 and opt.clipnorm == 2.0
    assert opt.learning_rate == pytest.approx(0.003)
    with pytest.raises(TypeError, match="weight_decay"):
        optimizers.from_config(keras.optimizers.serialize(keras.optimizers.Adam(weight_decay=0.1)))


# -- PyTorch ---------------------------------------------------------------------------------------

def run_torch(make_opt, start, grads, clip_norm=None) -> np.ndarray:
    torch = pytest.importorskip("torch")
    params = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in start]
    opt = make_opt(params)
    trajectory = []
    for step in grads:
        for p, g in zip(params, step):
            p.grad = torch.tensor(g, dtype=torch.float64)
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, clip_norm)
        opt.step()
        trajectory.append(flat([p.detach().numpy() for p in params]))
    return np.array(trajectory)


# name -> (scratchrnn optimizer, torch optimizer factory)
TORCH_CASES = {
    "adam_paper": (lambda: Adam(0.01, epsilon=1e-8, form="paper"),
                   lambda t, p: t.optim.Adam(p, lr=0.01, eps=1e-8)),
    "adam_paper_amsgrad": (lambda: Adam(0.01, epsilon=1e-8, amsgrad=True, form="paper"),
                           lambda t, p: t.optim.Adam(p, lr=0.01, eps=1e-8, amsgrad=True)),
    "adam_paper_custom": (lambda: Adam(0.02, beta_1=0.5, beta_2=0.9, epsilon=1e-3, form="paper"),
                          lambda t, p: t.optim.Adam(p, lr=0.02, betas=(0.5, 0.9), eps=1e-3)),
    # torch keeps b = mu * b + g and steps by -lr * b; Keras keeps m = -lr * b: same trajectory
    "sgd_momentum": (lambda: SGD(0.05, momentum=0.9),
                     lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.9)),
    "sgd_nesterov": (lambda: SGD(0.05, momentum=0.9, nesterov=True),
                     lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_trajectory_matches_torch(case):
    torch = pytest.importorskip("torch")
    make_ours, make_torch = TORCH_CASES[case]
    start, grads = problem()
    err = error(run_ours(make_ours(), start, grads), run_torch(lambda p: make_torch(torch, p), start, grads),
                start)
    assert err < RTOL, f"{case}: relative error {err:.2e}"


def test_adam_forms_differ_only_by_epsilon():
    start, grads = problem()
    keras_form = run_ours(Adam(0.01, epsilon=1e-3), start, grads)
    paper_form = run_ours(Adam(0.01, epsilon=1e-3, form="paper"), start, grads)
    assert error(keras_form, paper_form, start) > 1e-4
    tiny = [run_ours(Adam(0.01, epsilon=1e-300, form=form), start, grads) for form in ("keras", "paper")]
    assert error(*tiny, start) < 1e-13


def test_global_clipnorm_matches_torch_clip_grad_norm():
    torch = pytest.importorskip("torch")
    start, grads = problem(scale=1000.0)
    norms = [np.linalg.norm(flat(step)) for step in grads]
    c = float(np.median(norms))
    ours = run_ours(SGD(0.05, momentum=0.9, global_clipnorm=c), start, grads)
    ref = run_torch(lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), start, grads, clip_norm=c)
    # torch scales by c / (norm + 1e-6), Keras and scratchrnn by c / norm: a relative 1e-6 / norm
    assert error(ours, ref, start) < 10 * RTOL + 2e-6 / min(n for n in norms if n > c)


# -- clipping and the global norm on their own -------------------------------------------------------

def test_last_global_norm_is_the_norm_before_clipping():
    start, grads = problem(scale=10.0)
    for opt in (Adam(global_clipnorm=1.0), SGD(clipnorm=0.5), RMSprop(clipvalue=0.1), Adagrad()):
        params = flat(start)
        assert opt.last_global_norm is None
        for step in grads:
            g = flat(step)
            before = g.copy()
            opt.apply(params, g, SEGMENTS)
            assert opt.last_global_norm == pytest.approx(np.linalg.norm(before), rel=1e-14)
            np.testing.assert_array_equal(g, before)  # the caller's gradients are never clipped in place


def test_clipping_by_hand():
    g = np.array([3.0, 4.0, 0.0, 12.0, -5.0, 1e-3])
    segments = [slice(0, 3), slice(3, 5), slice(5, 6)]
    cases = {
        "clipvalue": (2.0, np.clip(g, -2.0, 2.0)),
        "clipnorm": (10.0, np.concatenate([g[:3], g[3:5] * 10.0 / 13.0, g[5:]])),
        "global_clipnorm": (7.0, g * 7.0 / np.linalg.norm(g)),
    }
    for option, (c, expected) in cases.items():
        params = np.zeros(6)
        SGD(1.0, **{option: c}).apply(params, g.copy(), segments)
        np.testing.assert_allclose(-params, expected, rtol=1e-15, err_msg=option)
    params = np.zeros(6)  # clipnorm without segments: the whole buffer is one tensor
    SGD(1.0, clipnorm=7.0).apply(params, g.copy())
    np.testing.assert_allclose(-params, g * 7.0 / np.linalg.norm(g), rtol=1e-15)


@pytest.mark.filterwarnings("ignore:overflow encountered in dot:RuntimeWarning")
def test_float32_norm_overflow_is_not_an_infinity():
    g = np.full(100, 1e20, dtype=np.float32)  # finite, but the float32 sum of squares overflows
    params = np.zeros(100, dtype=np.float32)
    opt = Adam(global_clipnorm=1.0)
    opt.apply(params, g)
    assert opt.last_global_norm == pytest.approx(1e21, rel=1e-6)
    assert np.all(np.isfinite(params)) and opt.iterations == 1


# -- a non-finite gradient changes nothing -----------------------------------------------------------

NON_FINITE_OPTS = [
    lambda: Adam(), lambda: Adam(global_clipnorm=1.0), lambda: Adam(amsgrad=True, clipnorm=1.0),
    lambda: SGD(momentum=0.9, clipvalue=0.5), lambda: RMSprop(centered=True, momentum=0.5), lambda: Adagrad(),
]


@pytest.mark.parametrize("make", NON_FINITE_OPTS)
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_non_finite_gradient_is_refused(make, bad, backend):
    start, grads = problem()
    previous = scratchrnn.get_backend()
    scratchrnn.set_backend(backend)
    try:
        opt = make()
        params = flat(start)
        first = flat(grads[0])
        first[5] = bad
        with pytest.raises(NonFiniteGradientError, match="grads"):  # before any slot exists
            opt.apply(params, first, SEGMENTS)
        np.testing.assert_array_equal(params, flat(start))
        assert opt.iterations == 0 and opt.get_state().keys() == {"iterations"}
        for step in grads[:3]:
            opt.apply(params, flat(step), SEGMENTS)
        params_before, state_before = params.copy(), opt.get_state()
        for position in (0, 13, params.size - 1):
            g = flat(grads[3])
            g[position] = bad
            with pytest.raises(FloatingPointError):
                opt.apply(params, g, SEGMENTS)
            assert not math.isfinite(opt.last_global_norm)
            np.testing.assert_array_equal(params, params_before)
            state = opt.get_state()
            assert state.keys() == state_before.keys()
            for key in state:
                np.testing.assert_array_equal(state[key], state_before[key], err_msg=key)
            assert opt.iterations == 3
        opt.apply(params, flat(grads[3]), SEGMENTS)  # a good step still goes through
        assert opt.iterations == 4 and np.all(np.isfinite(params))
    finally:
        scratchrnn.set_backend(previous)


# -- arguments -------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, error, words", [
    (lambda: Adam(clipnorm=1.0, global_clipnorm=1.0), ValueError, ["clipnorm", "global_clipnorm"]),
    (lambda: SGD(clipvalue=1.0, clipnorm=2.0), ValueError, ["clipvalue", "clipnorm"]),
    (lambda: Adam(foo=1, bar=2), TypeError, ["foo", "bar"]),
    (lambda: Adam(decay=0.1), TypeError, ["decay"]),
    (lambda: Adam(learning_rate=0.5, lr=0.1), TypeError, ["learning_rate", "lr"]),
    (lambda: Adam(learning_rate=0), ValueError, ["learning_rate", "> 0", "0.0"]),
    (lambda: Adam(learning_rate=-1e-3), ValueError, ["learning_rate"]),
    (lambda: Adam(learning_rate=float("nan")), ValueError, ["learning_rate", "nan"]),
    (lambda: Adam(learning_rate=float("inf")), ValueError, ["learning_rate", "inf"]),
    (lambda: Adam(learning_rate="fast"), TypeError, ["learning_rate", "'fast'"]),
    (lambda: Adam(learning_rate=True), TypeError, ["learning_rate"]),
    (lambda: Adam(clipvalue=0.0), ValueError, ["clipvalue"]),
    (lambda: Adam(clipnorm=-1.0), ValueError, ["clipnorm"]),
    (lambda: Adam(global_clipnorm=float("nan")), ValueError, ["global_clipnorm"]),
    (lambda: Adam(beta_1=1.0), ValueError, ["beta_1", "< 1"]),
    (lambda: Adam(beta_2=-0.1), ValueError, ["beta_2"]),
    (lambda: Adam(epsilon=0.0), ValueError, ["epsilon"]),
    (lambda: Adam(form="torch"), ValueError, ["form", "'keras'", "'paper'", "'torch'"]),
    (lambda: Adam(amsgrad="yes"), TypeError, ["amsgrad"]),
    (lambda: SGD(momentum=-0.5), ValueError, ["momentum"]),
    (lambda: SGD(momentum=1.5), ValueError, ["momentum"]),
    (lambda: RMSprop(rho=1.0), ValueError, ["rho"]),
    (lambda: Adagrad(initial_accumulator_value=-1.0), ValueError, ["initial_accumulator_value"]),
    (lambda: Adam(name=3), TypeError, ["name"]),
    (lambda: optimizers.get("adamw"), ValueError, ["adam", "adagrad", "rmsprop", "sgd", "adamw"]),
    (lambda: optimizers.get(None), ValueError, ["adam", "None"]),
    (lambda: optimizers.from_config({"class_name": "Nadam"}), ValueError, ["class_name", "Nadam"]),
])
def test_bad_arguments_are_named(make, error, words):
    with pytest.raises(error) as info:
        make()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_bad_buffers_are_named():
    opt = Adam()
    with pytest.raises(TypeError, match="params"):
        opt.apply([1.0, 2.0], np.zeros(2))
    with pytest.raises(ValueError, match="params.*1-D"):
        opt.apply(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="grads.*float32"):
        opt.apply(np.zeros(3), np.zeros(3, dtype=np.float32))
    with pytest.raises(TypeError, match="params.*int64"):
        opt.apply(np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="segments.*overlapping"):
        opt.apply(np.zeros(4), np.ones(4), [slice(0, 3), slice(2, 4)])
    with pytest.raises(ValueError, match="segments"):
        opt.apply(np.zeros(4), np.ones(4), [slice(0, 2), slice(2, 9)])
    opt.apply(np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match="params.*4 float64"):  # state built for another model
        opt.apply(np.zeros(5), np.ones(5))
    assert opt.iterations == 1


def test_get_names_instances_and_keras_2_alias():
    assert type(optimizers.get("Adam")) is Adam and type(optimizers.get("RMSprop")) is RMSprop
    assert type(optimizers.get("SGD")) is SGD and type(optimizers.get("ADAGRAD")) is Adagrad
    opt = SGD(0.3)
    assert optimizers.get(opt) is opt
    assert Adam(lr=0.02).learning_rate == 0.02 and SGD(lr=0.5).learning_rate == 0.5
    opt.lr = 0.125
    assert opt.learning_rate == 0.125 == opt.lr
    assert SGD().learning_rate == 0.01 and RMSprop().learning_rate == 0.001 and Adam().epsilon == 1e-7
    assert Adagrad().initial_accumulator_value == 0.1


# -- config, state -----------------------------------------------------------------------------------

VARIANTS = {
    "sgd": lambda: SGD(0.05), "sgd_nesterov": lambda: SGD(0.05, 0.9, True, clipnorm=3.0),
    "rmsprop": lambda: RMSprop(), "rmsprop_centered_momentum": lambda: RMSprop(centered=True, momentum=0.5),
    "adagrad": lambda: Adagrad(0.1, clipvalue=2.0), "adam": lambda: Adam(global_clipnorm=5.0),
    "adam_amsgrad_paper": lambda: Adam(0.01, amsgrad=True, form="paper", name="my_adam"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_config_round_trip(variant):
    opt = VARIANTS[variant]()
    config = json.loads(json.dumps(opt.get_config()))
    assert config["class_name"] == type(opt).__name__
    again = optimizers.from_config(config)
    assert type(again) is type(opt) and again.get_config() == opt.get_config()
    assert optimizers.get(config).get_config() == opt.get_config()
    start, grads = problem()
    np.testing.assert_array_equal(run_ours(opt, start, grads), run_ours(again, start, grads))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_state_round_trip_replays_bit_for_bit(variant, dtype, tmp_path):
    start, grads = problem(scale=3.0)
    opt = VARIANTS[variant]()
    params = flat(start).astype(dtype)
    for step in grads[:5]:
        opt.apply(params, flat(step).astype(dtype), SEGMENTS)
    np.savez(tmp_path / "state.npz", **opt.get_state())
    saved_params = params.copy()
    state = opt.get_state()
    expected = run_ours(opt, [params], grads[5:], dtype)
    # get_state made copies: the five more steps did not change it
    np.testing.assert_array_equal(np.load(tmp_path / "state.npz")["iterations"], state["iterations"])

    fresh = optimizers.from_config(opt.get_config())
    with np.load(tmp_path / "state.npz", allow_pickle=False) as loaded:
        fresh.set_state(dict(loaded))
    assert fresh.iterations == 5
    replay = run_ours(fresh, [saved_params], grads[5:], dtype)
    np.testing.assert_array_equal(replay, expected)
    assert fresh.get_state().keys() == opt.get_state().keys()


def test_set_state_checks():
    opt = Adam(amsgrad=True)
    opt.apply(np.zeros(4), np.ones(4))
    state = opt.get_state()
    assert set(state) == {"iterations", "momentum", "velocity", "velocity_hat"}
    with pytest.raises(ValueError, match="slots"):
        Adam().set_state(state)  # no velocity_hat without amsgrad
    with pytest.raises(ValueError, match="iterations"):
        Adam(amsgrad=True).set_state({k: v for k, v in state.items() if k != "iterations"})
    with pytest.raises(ValueError, match="iterations"):
        Adam(amsgrad=True).set_state({**state, "iterations": np.array(-1)})
    with pytest.raises(ValueError, match="one shape"):
        Adam(amsgrad=True).set_state({**state, "velocity": np.zeros(5)})
    restored = Adam(amsgrad=True)
    restored.set_state(state)
    with pytest.raises(ValueError, match="params.*4 float64"):
        restored.apply(np.zeros(4, dtype=np.float32), np.ones(4, dtype=np.float32))


def test_learning_rate_can_be_changed_between_steps():
    opt = SGD(0.5)
    params = np.zeros(2)
    opt.apply(params, np.ones(2))
    opt.learning_rate = 0.25
    opt.apply(params, np.ones(2))
    np.testing.assert_array_equal(params, [-0.75, -0.75])
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = 0.0


# -- the Numba twins ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_numba_kernels_match_numpy(variant, dtype):
    start, grads = problem(scale=3.0)
    previous = scratchrnn.get_backend()
    results = {}
    try:
        for backend in ("numpy", "numba"):
            scratchrnn.set_backend(backend)
            results[backend] = run_ours(VARIANTS[variant](), start, grads, dtype)
    finally:
        scratchrnn.set_backend(previous)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    assert error(results["numba"], results["numpy"], start) < tolerance


def test_base_class_has_no_update_rule():
    opt = optimizers.Optimizer(0.1)
    params = np.zeros(3)
    with pytest.raises(NotImplementedError, match="SGD"):
        opt.apply(params, np.ones(3))
    assert opt.iterations == 0 and np.all(params == 0)


# -- the gradient in parts (a model hands each layer's gradient over in its own array) ---------------

OPTIMIZERS = [
    lambda **k: SGD(0.1, momentum=0.5, nesterov=True, **k),
    lambda **k: RMSprop(centered=True, momentum=0.5, **k),
    lambda **k: Adagrad(**k),
    lambda **k: Adam(amsgrad=True, **k)]
CLIPPING = [{}, {"clipvalue": 0.5}, {"clipnorm": 1.0}, {"global_clipnorm": 2.0}]


def in_parts(g, *cuts):
    """The flat gradient g as (start, copy) parts cut at ``cuts``."""
    bounds = [0, *cuts, g.size]
    return [(a, g[a:b].copy()) for a, b in zip(bounds, bounds[1:])]


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("clipping", CLIPPING, ids=lambda c: next(iter(c), "none"))
@pytest.mark.parametrize("make", OPTIMIZERS, ids=["sgd", "rmsprop", "adagrad", "adam"])
def test_a_gradient_in_parts_steps_as_the_whole(make, clipping, backend):
    start, grads = problem(scale=10.0)
    previous = scratchrnn.get_backend()
    scratchrnn.set_backend(backend)
    try:
        whole, parts = make(**clipping), make(**clipping)
        params_whole, params_parts = flat(start), flat(start)
        for step in grads:
            g = flat(step)
            whole.apply(params_whole, g, SEGMENTS)
            given = in_parts(g, SIZES[0], SIZES[0] + SIZES[1])  # a part per tensor...
            parts.apply(params_parts, given, SEGMENTS)
            np.testing.assert_array_equal(np.concatenate([p for _, p in given]), g)  # not clipped in place
            assert parts.last_global_norm == pytest.approx(whole.last_global_norm, rel=1e-14)
            np.testing.assert_allclose(params_parts, params_whole, rtol=1e-14, atol=1e-15)
        assert parts.iterations == whole.iterations == len(grads)
    finally:
        scratchrnn.set_backend(previous)


def test_parts_are_checked():
    opt = Adam(clipnorm=1.0)
    params, g = np.zeros(6), np.ones(6)
    bad = {
        "gap": [(0, g[:2]), (3, g[3:])],
        "short": [(0, g[:4])],
        "overlap": [(0, g[:4]), (2, g[2:])],
        "dtype": [(0, g[:3]), (3, g[3:].astype(np.float32))],
        "empty": [(0, g), (6, g[:0])],
    }
    for name, parts in bad.items():
        with pytest.raises(ValueError, match="grads"):
            opt.apply(params, parts)
        assert opt.iterations == 0 and not params.any(), name
    with pytest.raises(TypeError, match="grads"):
        opt.apply(params, [(0, list(g))])
    with pytest.raises(ValueError, match="segments: expected each tensor inside one part"):
        opt.apply(params, in_parts(g, 3), [slice(0, 4), slice(4, 6)])
    assert opt.iterations == 0 and not params.any()
    with pytest.raises(ValueError, match="segments: expected each tensor inside one part"):
        opt.apply(params, in_parts(g, 2, 4), [slice(0, 2), slice(2, 5), slice(5, 6)])  # in a later part
    assert opt.iterations == 0 and not params.any()  # not even the first part was updated
    g_sub = np.ones(6).view(np.ndarray).view(type("Sub", (np.ndarray,), {}))
    opt.apply(params, g_sub)  # a subclass of ndarray is a whole gradient too
    assert opt.iterations == 1


def test_a_non_finite_part_changes_nothing():
    opt = Adam()
    params = np.zeros(6)
    opt.apply(params, in_parts(np.ones(6), 2))
    before = params.copy(), {k: v.copy() for k, v in opt._slots.items()}
    g = np.ones(6)
    g[4] = np.nan
    with pytest.raises(NonFiniteGradientError):
        opt.apply(params, in_parts(g, 2))
    np.testing.assert_array_equal(params, before[0])
    for key, value in opt._slots.items():
        np.testing.assert_array_equal(value, before[1][key])
    assert opt.iterations == 1
