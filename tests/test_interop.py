"""Interop: PyTorch state dicts, Keras 3 models and Keras HDF5 weight files carry the same weights, so
the same inputs give the same outputs and the same gradients on both sides.

PyTorch (float64): a 2-layer nn.RNN / nn.LSTM / nn.GRU against two stacked scratchrnn layers, both
ways; outputs to 1e-10, gradients (torch autograd mapped back to the Keras layout vs layer.backward)
to 1e-10. Keras (float32): scratchrnn-written .h5 / .hdf5 / .weights.h5 files load into Keras models
built independently (other layer names) and give the same predictions (rtol 1e-4); Keras-written files
load into scratchrnn; to_keras / from_keras keep outputs and gradients (tf.GradientTape) to 1e-4.
"""

import importlib
import os

import numpy as np
import pytest

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _optional(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


torch = _optional("torch")
h5py = _optional("h5py")
keras = _optional("keras") if h5py is not None else None
tf = _optional("tensorflow") if keras is not None else None
KERAS_OK = tf is not None and keras.backend.backend() == "tensorflow"

# Keras's own save_weights calls np.array on a TF variable, which NumPy 2 warns about: not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

needs_torch = pytest.mark.skipif(torch is None, reason="needs torch")
needs_h5py = pytest.mark.skipif(h5py is None, reason="needs h5py")
needs_keras = pytest.mark.skipif(not KERAS_OK, reason="needs h5py and Keras 3 with the TensorFlow backend")

from scratchrnn import interop, layers  # noqa: E402
from scratchrnn.interop import keras_h5, pytorch  # noqa: E402
from scratchrnn.models import Sequential  # noqa: E402
from scratchrnn.saving import CheckpointError  # noqa: E402

TORCH_TOL = 1e-10  # float64: round-off only
KERAS_RTOL = 1e-4  # float32


def max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def rel_err(got, expected) -> float:
    """Norm-relative error ||got - expected|| / ||expected||, in float64."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    return float(np.linalg.norm(got - expected) / max(np.linalg.norm(expected), 1e-30))


# == PyTorch ============================================================================================

TORCH_CELLS = {"rnn": (layers.SimpleRNN, "RNN"), "lstm": (layers.LSTM, "LSTM"), "gru": (layers.GRU, "GRU")}
B, T, D, H = 3, 5, 4, 6


def torch_module(cell, bias=True, seed=0):
    """A 2-layer torch module (float64, batch_first) with random non-zero weights and biases."""
    module = getattr(torch.nn, TORCH_CELLS[cell][1])(D, H, num_layers=2, bias=bias, batch_first=True,
                                                     dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.rand(parameter.shape, generator=generator, dtype=torch.float64) * 1.4 - 0.7)
    return module


def scratch_stack(cell, **options):
    return [TORCH_CELLS[cell][0](H, dtype="float64", return_sequences=True, **options) for _ in range(2)]


def run_stack(stack, x, projection):
    """Forward through the stack, then backward of sum(projection * output); (output, dL/dx)."""
    y = x
    for layer in stack:
        y = layer(y)
    gradient = projection
    for layer in reversed(stack):
        gradient = layer.backward(gradient)
    return y, gradient


def run_torch(module, x, projection):
    x_t = torch.tensor(x, requires_grad=True)
    out, _ = module(x_t)
    (torch.from_numpy(projection) * out).sum().backward()
    return out.detach().numpy(), x_t.grad.numpy()


def torch_parity(cell, direction, seed=0) -> dict:
    """Max abs errors between torch and scratchrnn for the outputs, dL/dx and every weight gradient.

    direction "from_torch": a random torch module's state dict -> from_torch_state_dict;
    direction "to_torch": random scratchrnn weights -> to_torch_state_dict -> load_state_dict.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, D))
    projection = rng.standard_normal((B, T, H))
    stack = scratch_stack(cell)
    if direction == "from_torch":
        module = torch_module(cell, seed=seed)
        interop.from_torch_state_dict(module.state_dict(), stack)
    else:
        for k, layer in enumerate(stack):
            layer.build((None, None, D if k == 0 else H))
            layer.set_weights([rng.uniform(-0.7, 0.7, w.shape) for w in layer.weights])
        module = torch_module(cell, seed=seed + 1)  # other weights, replaced below
        module.load_state_dict(interop.to_torch_state_dict(stack))
    out, dx = run_stack(stack, x, projection)
    out_t, dx_t = run_torch(module, x, projection)
    grads = {name: p.grad.numpy() for name, p in module.named_parameters()}
    errors = {"output": max_abs(out, out_t), "dx": max_abs(dx, dx_t)}
    kind = TORCH_CELLS[cell][0]
    for k, layer in enumerate(stack):
        mapped = pytorch.torch_arrays_to_keras(kind, grads, k, gradients=True)
        for name, got, expected in zip(layer.weight_names, layer.gradients, mapped, strict=True):
            assert got.shape == expected.shape, (k, name)
            errors[f"d_{name}_l{k}"] = max_abs(got, expected)
    return errors


@needs_torch
@pytest.mark.parametrize("direction", ["from_torch", "to_torch"])
@pytest.mark.parametrize("cell", list(TORCH_CELLS))
def test_torch_outputs_and_gradients_agree(cell, direction):
    errors = torch_parity(cell, direction)
    assert len(errors) == 2 + 2 * 3
    assert max(errors.values()) <= TORCH_TOL, errors


@needs_torch
@pytest.mark.parametrize("cell", list(TORCH_CELLS))
def test_torch_state_dict_round_trips_exactly(cell):
    module = torch_module(cell, seed=3)
    stack = scratch_stack(cell)
    interop.from_torch_state_dict(module, stack)  # a module is accepted for its state_dict()
    state = interop.to_torch_state_dict(stack)
    assert sorted(state) == sorted(module.state_dict())
    assert all(value.dtype == torch.float64 for value in state.values())
    copy = scratch_stack(cell)
    interop.from_torch_state_dict(state, copy)
    for a, b in zip(stack, copy):
        for wa, wb in zip(a.weights, b.weights, strict=True):
            np.testing.assert_array_equal(wa, wb)
    if cell != "gru":  # torch's two biases become one Keras bias: their sum
        np.testing.assert_allclose(stack[0].weights[2], (module.bias_ih_l0 + module.bias_hh_l0).detach()
                                   .numpy()[pytorch.gate_order(type(stack[0]), H)], rtol=0, atol=1e-15)


@needs_torch
@pytest.mark.parametrize("cell", list(TORCH_CELLS))
def test_torch_without_bias_and_from_a_model(cell):
    rng = np.random.default_rng(5)
    kind = TORCH_CELLS[cell][0]
    options = {"return_sequences": True, "use_bias": False, "dtype": "float64"}
    model = Sequential([kind(H, input_shape=(None, D), **options), kind(H, **options),
                        layers.Dense(2, dtype="float64")])
    model.build()
    model.set_weights([rng.uniform(-0.7, 0.7, w.shape) for w in model.get_weights()])
    state = interop.to_torch_state_dict(model)  # the recurrent layers in order; the Dense is skipped
    assert sorted(state) == ["weight_hh_l0", "weight_hh_l1", "weight_ih_l0", "weight_ih_l1"]
    module = interop.to_torch_module(model)
    assert module.bias is False and module.num_layers == 2
    x = rng.standard_normal((B, T, D))
    out_t, _ = module(torch.from_numpy(x))
    hidden = model.layers[1](model.layers[0](x))
    assert max_abs(hidden, out_t.detach().numpy()) <= TORCH_TOL


@needs_torch
def test_torch_gru_reset_before_raises():
    stack = scratch_stack("gru", reset_after=False)
    for layer in stack:
        layer.build((None, None, D))
    with pytest.raises(ValueError, match="reset_after=False.*PyTorch"):
        interop.to_torch_state_dict(stack)
    with pytest.raises(ValueError, match="reset_after=False.*PyTorch"):
        interop.from_torch_state_dict(torch_module("gru"), scratch_stack("gru", reset_after=False))


@needs_torch
def test_torch_mismatches_raise():
    with pytest.raises(ValueError, match="missing.*unexpected"):  # 2 torch layers, 1 scratchrnn layer
        interop.from_torch_state_dict(torch_module("lstm"), scratch_stack("lstm")[:1])
    with pytest.raises(ValueError, match="bias"):
        interop.from_torch_state_dict(torch_module("lstm", bias=False), scratch_stack("lstm"))
    with pytest.raises(ValueError, match="weight_hh_l0 of shape"):  # an LSTM state dict into GRUs
        interop.from_torch_state_dict(torch_module("lstm"), scratch_stack("gru"))
    with pytest.raises(ValueError, match="one layer type"):
        interop.to_torch_state_dict([layers.LSTM(3), layers.GRU(3)])
    with pytest.raises(ValueError, match="go_backwards"):
        interop.to_torch_state_dict([layers.LSTM(3, go_backwards=True)])


# == Keras ==============================================================================================

# A model is a list of (class name, options); TimeDistributed wraps ("Dense", options).
KERAS_MODELS = {
    "lstm_td_softmax": ([("LSTM", {"units": 8, "return_sequences": True}),
                         ("TimeDistributed", ("Dense", {"units": 5})),
                         ("Activation", {"activation": "softmax"})], (None, 7, 4)),
    "rnn_lstm_dense": ([("SimpleRNN", {"units": 5, "return_sequences": True}),
                        ("LSTM", {"units": 6}),
                        ("Dense", {"units": 3, "activation": "softmax"})], (None, 7, 4)),
    "embedding_gru": ([("Embedding", {"input_dim": 12, "output_dim": 4}),
                       ("GRU", {"units": 6, "return_sequences": True}),
                       ("GRU", {"units": 5, "reset_after": False}),
                       ("Dense", {"units": 3, "activation": "tanh"})], (None, 7)),
}
SUFFIXES = ["x.h5", "x.hdf5", "x.weights.h5"]


def scratch_model(spec, input_shape=None, names=None):
    built = []
    for i, (kind, options) in enumerate(spec):
        extra = {"name": names[i]} if names else {}
        if kind == "TimeDistributed":
            built.append(layers.TimeDistributed(getattr(layers, options[0])(**options[1]), **extra))
        else:
            built.append(getattr(layers, kind)(**options, **extra))
    model = Sequential(built)
    if input_shape is not None:
        model.build(input_shape)
    return model


def keras_model(spec, input_shape, prefix="renamed"):
    """The equivalent Keras model, built on its own, with layer names unlike scratchrnn's."""
    built = []
    for i, (kind, options) in enumerate(spec):
        if kind == "TimeDistributed":
            inner = getattr(keras.layers, options[0])(**options[1], name=f"{prefix}_inner_{i}")
            built.append(keras.layers.TimeDistributed(inner, name=f"{prefix}_{i}"))
        else:
            built.append(getattr(keras.layers, kind)(**options, name=f"{prefix}_{i}"))
    dtype = "int32" if spec[0][0] == "Embedding" else "float32"
    return keras.Sequential([keras.Input(batch_shape=input_shape, dtype=dtype), *built])


def inputs_for(input_shape, rng):
    shape = (3, *input_shape[1:])
    return rng.integers(0, 12, shape) if len(shape) == 2 else rng.standard_normal(shape).astype(np.float32)


def randomize(weights, rng):
    return [rng.uniform(-0.6, 0.6, w.shape).astype(np.float32) for w in weights]


def keras_predict(kmodel, x):
    """An eager call: same numbers as kmodel.predict without tracing a tf.function per model."""
    return np.asarray(kmodel(tf.constant(x), training=False))


def random_scratch_model(name, seed=0):
    spec, input_shape = KERAS_MODELS[name]
    model = scratch_model(spec, input_shape)
    model.set_weights(randomize(model.get_weights(), np.random.default_rng(seed)))
    return model


def scratch_gradients(model, x, projection) -> list:
    """dL/dweights for L = sum(projection * model(x)), by the layers' own backward."""
    gradient = projection
    out = model.predict_on_batch(x)
    for layer in reversed(model.layers):
        gradient = layer.backward(gradient)
    return out, [g.copy() for layer in model.layers for g in layer.gradients]


def keras_gradients(kmodel, x, projection) -> list:
    with tf.GradientTape() as tape:
        out = kmodel(tf.constant(x), training=False)
        loss = tf.reduce_sum(tf.constant(projection) * out)
    grads = tape.gradient(loss, kmodel.trainable_weights)
    return out.numpy(), [tf.convert_to_tensor(g).numpy() for g in grads]


def keras_parity(model, kmodel, seed=0) -> dict:
    """Max norm-relative errors (outputs, each weight gradient) between a scratchrnn model and a Keras one."""
    rng = np.random.default_rng(seed + 100)
    x = inputs_for(model.build_input_shape, rng)
    shape = model.predict_on_batch(x).shape
    projection = rng.standard_normal(shape).astype(np.float32)
    out, grads = scratch_gradients(model, x, projection)
    out_k, grads_k = keras_gradients(kmodel, x, projection)
    assert [w.shape for w in kmodel.trainable_weights] == [g.shape for g in grads]
    errors = {"output": rel_err(out, out_k)}
    errors.update({f"grad_{i}": rel_err(g, gk) for i, (g, gk) in enumerate(zip(grads, grads_k, strict=True))})
    return errors


@needs_keras
@pytest.mark.parametrize("name", list(KERAS_MODELS))
def test_keras_files_written_by_scratchrnn_load_into_keras(name, tmp_path):
    spec, input_shape = KERAS_MODELS[name]
    model = random_scratch_model(name)
    x = inputs_for(input_shape, np.random.default_rng(1))
    expected = model.predict(x)
    for suffix in SUFFIXES:
        path = tmp_path / suffix
        model.save_weights(path)
        kmodel = keras_model(spec, input_shape)  # built on its own: other layer names
        kmodel.load_weights(path)
        np.testing.assert_allclose(keras_predict(kmodel, x), expected, rtol=KERAS_RTOL, atol=1e-6,
                                   err_msg=suffix)
        # and back into scratchrnn: unbuilt, without an input shape, other names; exactly the same weights
        copy = scratch_model(spec)
        copy.load_weights(path)
        for a, b in zip(model.get_weights(), copy.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=suffix)
        np.testing.assert_array_equal(copy.predict(x), expected)


@needs_keras
@pytest.mark.parametrize("name", list(KERAS_MODELS))
def test_keras_written_files_load_into_scratchrnn(name, tmp_path):
    spec, input_shape = KERAS_MODELS[name]
    kmodel = keras_model(spec, input_shape)
    kmodel.set_weights(randomize(kmodel.get_weights(), np.random.default_rng(2)))
    x = inputs_for(input_shape, np.random.default_rng(3))
    expected = keras_predict(kmodel, x)
    kmodel.save_weights(tmp_path / "k.weights.h5")
    files = ["k.weights.h5"]
    try:  # the legacy weights-only writer is internal to Keras 3; the full-model .h5 save is public
        from keras.src.legacy.saving import legacy_h5_format

        with h5py.File(tmp_path / "k_legacy.h5", "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, kmodel)
        files.append("k_legacy.h5")
    except ImportError:
        pass
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kmodel.save(tmp_path / "k_full.h5")  # weights under /model_weights
    files.append("k_full.h5")
    for file in files:
        model = scratch_model(spec, input_shape)
        model.load_weights(tmp_path / file)
        for a, b in zip(model.get_weights(), kmodel.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=file)
        np.testing.assert_allclose(model.predict(x), expected, rtol=KERAS_RTOL, atol=1e-6, err_msg=file)


@needs_keras
@pytest.mark.parametrize("name", list(KERAS_MODELS))
def test_to_keras_and_from_keras_keep_outputs_and_gradients(name):
    spec, input_shape = KERAS_MODELS[name]
    model = random_scratch_model(name, seed=4)
    kmodel = interop.to_keras(model)
    assert [type(k).__name__ for k in kmodel.layers] == [type(s).__name__ for s in model.layers]
    errors = keras_parity(model, kmodel, seed=4)
    assert max(errors.values()) <= KERAS_RTOL, errors

    back = interop.from_keras(kmodel)
    configs = back.get_config()["layers"]
    assert configs[0]["config"].pop("batch_input_shape") == list(input_shape)  # the Keras input shape
    assert configs == model.get_config()["layers"]  # same names and options too
    for a, b in zip(model.get_weights(), back.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

    # and a Keras model built and initialised by Keras, converted the other way
    kmodel = keras_model(spec, input_shape, prefix=f"other_{name}")
    kmodel.set_weights(randomize(kmodel.get_weights(), np.random.default_rng(6)))
    errors = keras_parity(interop.from_keras(kmodel), kmodel, seed=6)
    assert max(errors.values()) <= KERAS_RTOL, errors


@needs_keras
def test_from_keras_rejects_what_scratchrnn_cannot_compute():
    masked = keras.Sequential([keras.Input((5,), dtype="int32"), keras.layers.Embedding(4, 3, mask_zero=True),
                               keras.layers.LSTM(2)])
    with pytest.raises(ValueError, match="mask_zero"):
        interop.from_keras(masked)
    other = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(2), keras.layers.Dropout(0.5)])
    with pytest.raises(TypeError, match="Dropout"):
        interop.from_keras(other)
    dropout = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(2, dropout=0.2)])
    with pytest.warns(UserWarning, match="dropout"):
        interop.from_keras(dropout)


# == HDF5 files without Keras ==========================================================================

@needs_h5py
def test_h5_layouts_are_keras_shaped(tmp_path):
    model = scratch_model(KERAS_MODELS["embedding_gru"][0], (None, 7), names=["emb", "g1", "g2", "out"])
    model.save_weights(tmp_path / "x.h5")
    with h5py.File(tmp_path / "x.h5", "r") as f:
        assert [n.decode() for n in f.attrs["layer_names"]] == ["emb", "g1", "g2", "out"]
        assert f.attrs["backend"] == "tensorflow" and f.attrs["keras_version"].startswith("2.")
        assert [n.decode() for n in f["g1"].attrs["weight_names"]] == [
            "g1/gru_cell/kernel:0", "g1/gru_cell/recurrent_kernel:0", "g1/gru_cell/bias:0"]
        assert f["g1/g1/gru_cell/bias:0"].shape == (2, 18) and f["g2/g2/gru_cell/bias:0"].shape == (15,)
        assert [n.decode() for n in f["out"].attrs["weight_names"]] == ["out/kernel:0", "out/bias:0"]
    model.save_weights(tmp_path / "x.weights.h5")
    with h5py.File(tmp_path / "x.weights.h5", "r") as f:
        assert sorted(f["layers"]) == ["dense", "embedding", "gru", "gru_1"]  # by class, not by name
        assert f["layers/embedding/vars/0"].shape == (12, 4)
        assert f["layers/gru/cell/vars/2"].shape == (2, 18) and f["layers/gru_1/cell/vars/2"].shape == (15,)
        assert f["layers/dense/vars/0"].shape == (5, 3)
        assert f["layers/gru/vars"].attrs["name"] == "g1"


@needs_h5py
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_h5_wrong_architecture_raises_and_leaves_weights(suffix, tmp_path):
    path = tmp_path / suffix
    random_scratch_model("lstm_td_softmax").save_weights(path)
    other = random_scratch_model("rnn_lstm_dense", seed=9)
    before = other.get_weights()
    with pytest.raises(CheckpointError, match="another architecture"):
        other.load_weights(path)
    for a, b in zip(before, other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    wider = scratch_model([("LSTM", {"units": 9, "return_sequences": True}),
                           ("TimeDistributed", ("Dense", {"units": 5})),
                           ("Activation", {"activation": "softmax"})], (None, 7, 4))
    with pytest.raises(CheckpointError, match=r"expects 3 weight array.*\(4, 36\).*\(4, 32\)"):
        wider.load_weights(path)


@needs_h5py
def test_h5_files_that_are_not_keras_weights_raise(tmp_path):
    model = random_scratch_model("rnn_lstm_dense")
    (tmp_path / "text.h5").write_text("not HDF5")
    with pytest.raises(CheckpointError, match="not a readable HDF5"):
        model.load_weights(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(CheckpointError, match="not a Keras weight file"):
        model.load_weights(tmp_path / "other.h5")
    with pytest.raises(ValueError, match="layout"):
        keras_h5.save_weights(model, tmp_path / "y.h5", layout="v2")
