"""Keras weight files of functional models and of every layer, both layouts (scratchrnn/interop/keras_h5.py).

Two models, each built by one function from either library's classes (same arguments, names chosen by
the caller): a functional model (two id inputs, an Embedding shared by both, Conv1D + MaxPooling1D, a
Bidirectional LSTM with return_state, Concatenate, TimeDistributed(Dense), a Dense shared by two calls,
Add) and a Sequential of the newer layers (Conv1D, SpatialDropout1D, MaxPooling1D, Bidirectional(GRU),
Dropout, GlobalAveragePooling1D, RepeatVector, SimpleRNN, Flatten, Reshape, TimeDistributed(Dense),
GlobalMaxPooling1D, Dense, Activation).

* ``.weights.h5``: the file scratchrnn writes is, group for group, dataset for dataset and attribute for
  attribute, the file Keras 3 writes for the same model (same layer names on both sides).
* ``.h5``: the same layer list, weight counts, shapes and order as Keras's legacy writer, in the tf.keras 2
  naming (``bidirectional/forward_lstm/lstm_cell/kernel:0``).
* Our files loaded by Keras's ``load_weights`` into a model it built on its own (other names) give Keras
  our predictions; Keras's files (``save_weights``, its legacy weights-only writer, ``model.save("x.h5")``)
  loaded by us give us exactly Keras's weights and its predictions. float32, to ``PRED_RTOL``.
* A file of another architecture raises CheckpointError naming what differs; the weights stay as they were.
"""

from __future__ import annotations

import warnings

import kerascheck
import numpy as np
import pytest

keras, tf = kerascheck.import_keras()
h5py = pytest.importorskip("h5py")

import scratchrnn  # noqa: E402
from scratchrnn.interop import keras_h5  # noqa: E402
from scratchrnn.saving import CheckpointError  # noqa: E402

# Keras's own save_weights calls np.array on a TF variable, which NumPy 2 warns about: not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

PRED_RTOL = 1e-5  # float32 predictions of two implementations with the same weights
PRED_ATOL = 1e-6
VOCAB, STEPS, BATCH = 10, 6, 3


def functional_model(lib, prefix=""):
    """Two id inputs -> a shared Embedding; one branch Conv1D + MaxPooling1D, the other a Bidirectional
    LSTM with return_state; the sequences concatenated and TimeDistributed(Dense); the final states
    through one Dense called twice, added."""
    layers = lib.layers

    def name(text):
        return prefix + text

    ids = lib.Input((STEPS,), dtype="int32", name=name("ids"))
    other_ids = lib.Input((STEPS,), dtype="int32", name=name("other_ids"))
    embedding = layers.Embedding(VOCAB, 4, name=name("embedding"))
    conv = layers.Conv1D(5, 3, padding="same", activation="relu", name=name("conv"))(embedding(ids))
    conv = layers.MaxPooling1D(2, name=name("pool_conv"))(conv)
    lstm = layers.LSTM(3, return_sequences=True, return_state=True, name=name("lstm"))
    seq, h_f, c_f, h_b, c_b = layers.Bidirectional(lstm, name=name("bi"))(embedding(other_ids))
    seq = layers.MaxPooling1D(2, name=name("pool_seq"))(seq)
    merged = layers.Concatenate(name=name("cat_seq"))([conv, seq])
    per_step = layers.TimeDistributed(layers.Dense(2, name=name("step")), name=name("td"))(merged)
    head = layers.Dense(3, activation="tanh", name=name("head"))
    hidden = head(layers.Concatenate(name=name("cat_h"))([h_f, h_b]))
    carried = head(layers.Concatenate(name=name("cat_c"))([c_f, c_b]))
    final = layers.Add(name=name("add"))([hidden, carried])
    return lib.Model([ids, other_ids], [per_step, final], name=name("functional"))


def sequential_model(lib, prefix="", with_input=True):
    layers = lib.layers

    def name(text):
        return prefix + text

    stack = [layers.Conv1D(4, 3, name=name("conv")),
             layers.SpatialDropout1D(0.2, name=name("spatial_dropout")),
             layers.MaxPooling1D(2, name=name("pool")),
             layers.Bidirectional(layers.GRU(3, return_sequences=True, name=name("gru")), name=name("bi")),
             layers.Dropout(0.1, name=name("dropout")),
             layers.GlobalAveragePooling1D(name=name("average")),
             layers.RepeatVector(2, name=name("repeat")),
             layers.SimpleRNN(4, return_sequences=True, name=name("rnn")),
             layers.Flatten(name=name("flatten")),
             layers.Reshape((2, 4), name=name("reshape")),
             layers.TimeDistributed(layers.Dense(3, name=name("step")), name=name("td")),
             layers.GlobalMaxPooling1D(name=name("max")),
             layers.Dense(2, name=name("dense")),
             layers.Activation("softmax", name=name("softmax"))]
    if with_input:
        stack.insert(0, lib.Input((8, 3), name=name("input")))
    return lib.Sequential(stack, name=name("sequential"))


MODELS = {"functional": functional_model, "sequential": sequential_model}


def inputs_for(kind, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "functional":
        return [rng.integers(0, VOCAB, (BATCH, STEPS)).astype(np.int32) for _ in range(2)]
    return [rng.standard_normal((BATCH, 8, 3)).astype(np.float32)]


def randomize(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])


def ours_predict(model, xs) -> list:
    return kerascheck.as_list(model.predict(xs if len(xs) > 1 else xs[0]))


def keras_predict(kmodel, xs) -> list:
    """An eager call: the numbers of kmodel.predict without tracing a tf.function per model."""
    tensors = [tf.constant(x) for x in xs]
    return [np.asarray(y) for y in kerascheck.as_list(kmodel(tensors if len(xs) > 1 else tensors[0],
                                                             training=False))]


def assert_same_predictions(got: list, expected: list, what: str) -> None:
    assert len(got) == len(expected), what
    for i, (a, b) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(a, b, rtol=PRED_RTOL, atol=PRED_ATOL, err_msg=f"{what}, output {i}")


def keras_legacy_weights_only(kmodel, path) -> None:
    """Keras 3's legacy weights-only writer (``save_weights`` refuses .h5; ``model.save`` calls this)."""
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, kmodel)


def tree(path) -> dict:
    """Every group and dataset of an HDF5 file: path -> (kind, shape, dtype, attributes)."""
    entries = {}

    def visit(name, obj):
        attrs = {key: (value.tolist() if isinstance(value, np.ndarray) else value)
                 for key, value in obj.attrs.items()}
        if isinstance(obj, h5py.Dataset):
            entries[name] = ("dataset", obj.shape, str(obj.dtype), attrs)
        else:
            entries[name] = ("group", None, None, attrs)

    with h5py.File(path, "r") as f:
        entries["/"] = ("group", None, None, dict(f.attrs))
        f.visititems(visit)
    return entries


def decoded(values) -> list:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


# == the files are Keras's ==============================================================================

@pytest.mark.parametrize("kind", list(MODELS))
def test_weights_h5_is_the_file_keras_writes(kind, tmp_path):
    ours, theirs = MODELS[kind](scratchrnn), MODELS[kind](keras)  # the same names on both sides
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    randomize(ours, 1)
    theirs.set_weights(ours.get_weights())
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.save_weights(tmp_path / "keras.weights.h5")
    ours_tree, keras_tree = tree(tmp_path / "ours.weights.h5"), tree(tmp_path / "keras.weights.h5")
    assert sorted(ours_tree) == sorted(keras_tree)
    assert ours_tree == keras_tree
    with h5py.File(tmp_path / "ours.weights.h5") as f, h5py.File(tmp_path / "keras.weights.h5") as g:
        datasets = [name for name, entry in ours_tree.items() if entry[0] == "dataset"]
        assert len(datasets) == len(ours.get_weights())
        for name in datasets:
            np.testing.assert_array_equal(f[name][()], g[name][()], err_msg=name)
    if kind == "functional":  # the parts a Sequential of the old layers never had
        assert ours_tree["layers/bidirectional/forward_layer/cell/vars"][3] == {"name": "lstm_cell"}
        assert ours_tree["layers/bidirectional/backward_layer/vars"][3] == {"name": "backward_lstm"}
        assert ours_tree["layers/input_layer_1/vars"][3] == {"name": "other_ids"}
        assert ours_tree["layers/concatenate_2/vars"][3] == {"name": "cat_seq"}  # Keras's layer order


@pytest.mark.parametrize("kind", list(MODELS))
def test_legacy_h5_lists_what_keras_lists(kind, tmp_path):
    ours, theirs = MODELS[kind](scratchrnn), MODELS[kind](keras)
    ours.save_weights(tmp_path / "ours.h5")
    keras_legacy_weights_only(theirs, tmp_path / "keras.h5")
    with h5py.File(tmp_path / "ours.h5") as f, h5py.File(tmp_path / "keras.h5") as g:
        names = decoded(f.attrs["layer_names"])
        assert names == decoded(g.attrs["layer_names"])  # every layer, InputLayers of a functional too
        assert f.attrs["keras_version"].startswith("2.")  # tf.keras 2's layout, which Keras 3 reads
        for name in [*names, "top_level_model_weights"]:
            ours_names = decoded(f[name].attrs["weight_names"])
            keras_names = decoded(g[name].attrs["weight_names"])
            assert len(set(ours_names)) == len(ours_names), ours_names
            assert [(n.split("/")[-1].removesuffix(":0"), f[name][n].shape) for n in ours_names] == \
                   [(n.split("/")[-1], g[name][n].shape) for n in keras_names], name
        if kind == "functional":
            assert decoded(f["bi"].attrs["weight_names"]) == [
                f"bi/{direction}_lstm/lstm_cell/{weight}:0" for direction in ("forward", "backward")
                for weight in ("kernel", "recurrent_kernel", "bias")]


# == both ways, both layouts ===========================================================================

@pytest.mark.parametrize("layout", ["x.weights.h5", "x.h5"])
@pytest.mark.parametrize("kind", list(MODELS))
def test_our_files_give_keras_our_predictions(kind, layout, tmp_path):
    model = MODELS[kind](scratchrnn)
    randomize(model, 2)
    xs = inputs_for(kind, 3)
    expected = ours_predict(model, xs)
    model.save_weights(tmp_path / layout)
    kmodel = MODELS[kind](keras, prefix="k_")  # built on its own: other layer names
    kmodel.load_weights(tmp_path / layout)
    for a, b in zip(kmodel.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert_same_predictions(keras_predict(kmodel, xs), expected, f"{kind} {layout}")


@pytest.mark.parametrize("kind", list(MODELS))
def test_keras_files_give_us_keras_predictions(kind, tmp_path):
    kmodel = MODELS[kind](keras)
    randomize(kmodel, 4)
    xs = inputs_for(kind, 5)
    expected = keras_predict(kmodel, xs)
    kmodel.save_weights(tmp_path / "k.weights.h5")
    keras_legacy_weights_only(kmodel, tmp_path / "k.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras calls the .h5 model format legacy
        kmodel.save(tmp_path / "k_full.h5")  # weights under /model_weights
    for file in ("k.weights.h5", "k.h5", "k_full.h5"):
        model = MODELS[kind](scratchrnn, prefix="ours_")
        model.load_weights(tmp_path / file)
        for a, b in zip(model.get_weights(), kmodel.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=file)
        assert_same_predictions(ours_predict(model, xs), expected, f"{kind} {file}")


@pytest.mark.parametrize("file", ["k.weights.h5", "k.h5"])
def test_an_unbuilt_sequential_builds_from_the_file(file, tmp_path):
    """No input shape anywhere: the first layer's kernel tells it (Conv1D: (k, C, F))."""
    kmodel = sequential_model(keras)
    randomize(kmodel, 6)
    if file.endswith(".weights.h5"):
        kmodel.save_weights(tmp_path / file)
    else:
        keras_legacy_weights_only(kmodel, tmp_path / file)
    model = sequential_model(scratchrnn, with_input=False)
    assert not model.built
    model.load_weights(tmp_path / file)
    xs = inputs_for("sequential", 7)
    assert_same_predictions(ours_predict(model, xs), keras_predict(kmodel, xs), file)
    bidirectional_first = scratchrnn.Sequential([scratchrnn.layers.Bidirectional(scratchrnn.layers.LSTM(2)),
                                                 scratchrnn.layers.Dense(1)])
    keras_first = keras.Sequential([keras.Input((4, 3)), keras.layers.Bidirectional(keras.layers.LSTM(2)),
                                    keras.layers.Dense(1)])
    keras_first.save_weights(tmp_path / "b.weights.h5")
    bidirectional_first.load_weights(tmp_path / "b.weights.h5")
    assert bidirectional_first.layers[0].forward_layer.weights[0].shape == (3, 8)


# == other architectures ===============================================================================

def assert_refused(model, path, match) -> None:
    before = model.get_weights()
    with pytest.raises(CheckpointError, match=match):
        model.load_weights(path)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layout", ["x.weights.h5", "x.h5"])
def test_a_file_of_another_architecture_is_refused(layout, tmp_path):
    functional, sequential = functional_model(scratchrnn), sequential_model(scratchrnn)
    functional.save_weights(tmp_path / f"f_{layout}")
    sequential.save_weights(tmp_path / f"s_{layout}")
    assert_refused(sequential, tmp_path / f"f_{layout}", "another architecture")
    assert_refused(functional, tmp_path / f"s_{layout}", "another architecture")

    # Same layers and keys, wider LSTM: the layer and both shapes are named
    def wider(lib):
        ids = lib.Input((STEPS,), dtype="int32")
        x = lib.layers.Embedding(VOCAB, 4)(ids)
        return lib.Model(ids, lib.layers.Bidirectional(lib.layers.LSTM(units))(x))

    units = 3
    wider(scratchrnn).save_weights(tmp_path / f"w_{layout}")
    units = 5
    assert_refused(wider(scratchrnn), tmp_path / f"w_{layout}",
                   r"Bidirectional\) expects 6 weight array.*\(4, 20\).*\(4, 12\).*another architecture")
    units = 3

    # Bidirectional(GRU) where the file holds Bidirectional(LSTM): same counts, other shapes
    ids = scratchrnn.Input((STEPS,), dtype="int32")
    x = scratchrnn.layers.Embedding(VOCAB, 4)(ids)
    gru = scratchrnn.Model(ids, scratchrnn.layers.Bidirectional(scratchrnn.layers.GRU(3))(x))
    assert_refused(gru, tmp_path / f"w_{layout}", r"\(4, 9\).*\(4, 12\)")


def test_a_damaged_weights_h5_is_refused_clearly(tmp_path):
    model = functional_model(scratchrnn)
    model.save_weights(tmp_path / "x.weights.h5")
    with h5py.File(tmp_path / "x.weights.h5", "a") as f:
        del f["layers/bidirectional/backward_layer"]  # half a Bidirectional
    assert_refused(model, tmp_path / "x.weights.h5",
                   r"'bi' \(Bidirectional\) expects 3 weight array\(s\) in "
                   r"layers/bidirectional/backward_layer/cell/vars; the file has 0")
    model.save_weights(tmp_path / "y.weights.h5")
    with h5py.File(tmp_path / "y.weights.h5", "a") as f:
        f["layers/max_pooling1d/vars/0"] = np.zeros(3, np.float32)  # a weight a pooling layer cannot have
    assert_refused(model, tmp_path / "y.weights.h5",
                   r"'pool_conv' \(MaxPooling1D\) expects 0 weight array\(s\) in layers/max_pooling1d/vars; "
                   r"the file has 1 there \(saved from another architecture")
    with h5py.File(tmp_path / "y.weights.h5", "a") as f:
        del f["layers/max_pooling1d/vars/0"]
        f["layers/dense/cell/vars/0"] = np.zeros(3, np.float32)  # where no layer of this model keeps any
    assert_refused(model, tmp_path / "y.weights.h5",
                   r"weights at \['/layers/dense/cell/vars/0'\] where this model's layers have none.*"
                   "another architecture")
    model.save_weights(tmp_path / "z.h5")
    with h5py.File(tmp_path / "z.h5", "a") as f:
        del f["bi/bi/backward_lstm"]
    assert_refused(model, tmp_path / "z.h5", r"dataset 'bi/backward_lstm/lstm_cell/kernel:0' is missing")
    with h5py.File(tmp_path / "z.h5", "a") as f:
        f.attrs["layer_names"] = 3.0  # not a list of names
    assert_refused(model, tmp_path / "z.h5", r"layer group '3.0'.*is missing")


def test_long_layer_lists_are_split_as_keras_splits_them(tmp_path):
    """Over 64 KB of names: layer_names0, layer_names1, ... which Keras's reader joins."""
    from keras.src.legacy.saving import legacy_h5_format

    names = [f"activation_with_a_long_name_{i:04d}_" + "x" * 200 for i in range(300)]
    model = scratchrnn.Sequential([scratchrnn.Input((2,)), scratchrnn.layers.Dense(2, name="first"),
                                   *[scratchrnn.layers.Activation("tanh", name=n) for n in names]])
    randomize(model, 8)
    model.save_weights(tmp_path / "x.h5")
    with h5py.File(tmp_path / "x.h5") as f:
        assert "layer_names" not in f.attrs and "layer_names1" in f.attrs
        assert legacy_h5_format.load_attributes_from_hdf5_group(f, "layer_names") == ["first", *names]
    copy = scratchrnn.Sequential([scratchrnn.Input((2,)), scratchrnn.layers.Dense(2),
                                  *[scratchrnn.layers.Activation("tanh") for _ in names]])
    copy.load_weights(tmp_path / "x.h5")
    for a, b in zip(model.get_weights(), copy.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert keras_h5.v3_keys(model.layers)[:3] == ["dense", "activation", "activation_1"]
