"""Reliability (issue 6): bad input gets a clear error, nothing is lost on failure, every run can be
reproduced, and long runs do not grow.

1. input validation at the public API: each error names the argument, what was expected, what came;
2. files: damaged, foreign, hostile or mismatched files raise CheckpointError (or FileNotFoundError)
   and never run code; hypothesis fuzzes the bytes of a real checkpoint;
3. atomic saves: a process saving in a loop is killed with SIGKILL at random moments, many times;
4. numerics: a NaN or infinite loss or gradient stops training, naming the epoch and batch, and the
   last good checkpoint stays loadable and finite; clipping never turns an infinity into NaN weights;
5. reproducibility: the same seed gives the same bits in two processes; resuming after a kill or a
   stop inside an epoch gives the bits of an uninterrupted run;
6. long runs: memory stays flat across epochs and across thousands of generated characters.

Decisions recorded here:
- A mutated checkpoint either raises CheckpointError or loads the very same model: every array in the
  .npz carries a CRC-32, so a mutation of the file's bytes that loads can only have hit zip metadata
  (timestamps, a local header's copy of a field); the fuzz test asserts the loaded model predicts
  bit for bit what the original predicts. A header edited on purpose (with valid CRCs) loads only
  when every field still has its type and range, and the loaded model then predicts finite numbers.
- A process killed while saving may leave its temporary file (``.<name>.<random>.tmp``) beside the
  checkpoint. Loading never looks at it and saving does not delete it (a live writer's file and a
  dead one's look alike); the kill test counts them.
"""

from __future__ import annotations

import gc
import io
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scratchrnn import activations, initializers, losses, optimizers, saving, text
from scratchrnn.callbacks import LambdaCallback, ModelCheckpoint
from scratchrnn.generate import generate
from scratchrnn.layers import GRU, LSTM, Activation, Dense, Embedding, TimeDistributed
from scratchrnn.models import Sequential, load_model
from scratchrnn.saving import CheckpointError
from scratchrnn.utils import set_random_seed, to_categorical

REPO = Path(__file__).resolve().parent.parent
DATA = np.random.default_rng(0)  # the test data: fixed, apart from the library's generator
X = DATA.random((6, 3, 2))
Y = np.eye(2)[np.arange(6) % 2]


def small_model(stateful=False, optimizer="adam"):
    first = (LSTM(4, batch_input_shape=(2, 3, 2), stateful=True) if stateful
             else LSTM(4, input_shape=(3, 2)))
    model = Sequential([first, Dense(2, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=optimizer)
    return model


def run_python(script: str, *args, **kwargs):
    return subprocess.run([sys.executable, "-c", script, *map(str, args)], check=True, cwd=REPO,
                          capture_output=True, text=True, **kwargs)


# =========================================================================== 1. input validation

def _with_nan(array, value=np.nan):
    array = np.array(array, dtype=float)
    array[4, 0, 0] = value
    return array


def _stateful():
    return small_model(stateful=True)


def _sparse():
    model = Sequential([LSTM(3, input_shape=(3, 2)), Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    return model


def _built():
    model = small_model()
    model.build()
    return model


# (call, exception, fragments the message must contain: the argument, what was expected, what came)
INPUT_CASES = {
    "x rank 2": (lambda: small_model().fit(X[:, 0], Y, verbose=0), ValueError,
                 ["x:", "expected at least 3 dimensions", "got shape (6, 2)"]),
    "x rank 4": (lambda: small_model().fit(X[..., None], Y, verbose=0), ValueError,
                 ["x:", "expected a 3-D array", "got shape (6, 3, 2, 1)"]),
    "x features": (lambda: small_model().fit(DATA.random((6, 3, 5)), Y, verbose=0), ValueError,
                   ["x:", "expected 2 features", "got shape (6, 3, 5)"]),
    "x objects": (lambda: small_model().fit(X.astype(object), Y, verbose=0), TypeError,
                  ["x:", "expected a numeric array", "got dtype object"]),
    "x strings": (lambda: small_model().fit(np.full((6, 3, 2), "a"), Y, verbose=0), TypeError,
                  ["x:", "expected a numeric array", "got dtype <U1"]),
    "x a string": (lambda: small_model().predict("abc"), TypeError,
                   ["x:", "expected a numeric array", "got str"]),
    "x None": (lambda: small_model().predict(None), TypeError,
               ["x:", "expected a numeric array", "got NoneType"]),
    "x complex": (lambda: small_model().fit(X + 1j, Y, verbose=0), TypeError,
                  ["x:", "expected real numbers", "got dtype complex128"]),
    "x ragged": (lambda: small_model().predict([[[1.0, 2.0]], [[1.0]]]), ValueError,
                 ["x:", "expected a rectangular numeric array", "got"]),
    "x NaN": (lambda: small_model().fit(_with_nan(X), Y, verbose=0), ValueError,
              ["x:", "expected finite numbers", "got nan at index (4, 0, 0)"]),
    "x inf": (lambda: small_model().predict(_with_nan(X, np.inf)), ValueError,
              ["x:", "expected finite numbers", "got inf at index (4, 0, 0)"]),
    "x empty fit": (lambda: small_model().fit(X[:0], Y[:0], verbose=0), ValueError,
                    ["x:", "expected a non-empty array", "got shape (0, 3, 2)"]),
    "x empty evaluate": (lambda: small_model().evaluate(X[:0], Y[:0], verbose=0), ValueError,
                         ["x:", "expected a non-empty array", "got shape (0, 3, 2)"]),
    "y NaN": (lambda: small_model().fit(X, np.where(Y > 0, np.nan, Y), verbose=0), ValueError,
              ["y:", "expected finite numbers", "got nan at index (0, 0)"]),
    "y inf": (lambda: small_model().evaluate(X, np.where(Y > 0, np.inf, Y), verbose=0), ValueError,
              ["y:", "expected finite numbers", "got inf"]),
    "y objects": (lambda: small_model().fit(X, Y.astype(object), verbose=0), TypeError,
                  ["y:", "expected a numeric array", "got dtype object"]),
    "y strings": (lambda: small_model().fit(X, np.full((6, 2), "a"), verbose=0), TypeError,
                  ["y:", "expected a numeric array", "got dtype <U1"]),
    "y complex": (lambda: small_model().fit(X, Y + 1j, verbose=0), TypeError,
                  ["y:", "expected real numbers", "got dtype complex128"]),
    "y shape": (lambda: small_model().fit(X, Y[:, :1], verbose=0), ValueError,
                ["y:", "expected shape (6, 2)", "got (6, 1)"]),
    "y count": (lambda: small_model().fit(X, Y[:5], verbose=0), ValueError,
                ["y:", "expected 6 samples", "got 5"]),
    "y None": (lambda: small_model().fit(X, None, verbose=0), ValueError,
               ["y:", "expected targets", "got None"]),
    "sparse ids out of range": (lambda: _sparse().fit(X, np.array([0, 1, 2, 0, 1, 0]), verbose=0),
                                ValueError, ["y_true:", "expected class ids in [0, 2)", "got 0..2"]),
    "stateful batch_size": (lambda: _stateful().fit(X, Y, batch_size=3, verbose=0), ValueError,
                            ["batch_size:", "needs batch_size=2", "got batch_size=3"]),
    "stateful sample count": (lambda: _stateful().predict(X[:5], batch_size=2), ValueError,
                              ["batch_size:", "divisible", "with 5 samples"]),
    "stateful layer batch": (lambda: _stateful().predict_on_batch(X[:3]), ValueError,
                             ["x:", "expects batch size 2", "got 3"]),
    "epochs 0": (lambda: small_model().fit(X, Y, epochs=0, verbose=0), ValueError,
                 ["epochs:", "expected a positive integer", "got 0"]),
    "epochs float": (lambda: small_model().fit(X, Y, epochs=1.5, verbose=0), ValueError,
                     ["epochs:", "expected a positive integer", "got 1.5"]),
    "batch_size -1": (lambda: small_model().fit(X, Y, batch_size=-1, verbose=0), ValueError,
                      ["batch_size:", "expected a positive integer", "got -1"]),
    "batch_size 0 predict": (lambda: small_model().predict(X, batch_size=0), ValueError,
                             ["batch_size:", "expected a positive integer", "got 0"]),
    "verbose 5 fit": (lambda: small_model().fit(X, Y, verbose=5), ValueError,
                      ["verbose:", "expected one of [0, 1, 2]", "got 5"]),
    "verbose 5 predict": (lambda: small_model().predict(X, verbose=5), ValueError,
                          ["verbose:", "expected one of [0, 1, 2]", "got 5"]),
    "verbose 5 evaluate": (lambda: small_model().evaluate(X, Y, verbose=5), ValueError,
                           ["verbose:", "expected one of [0, 1, 2]", "got 5"]),
    "validation_split 1.5": (lambda: small_model().fit(X, Y, validation_split=1.5, verbose=0), ValueError,
                             ["validation_split:", "expected a fraction in [0, 1)", "got 1.5"]),
    "validation_split str": (lambda: small_model().fit(X, Y, validation_split="a", verbose=0), TypeError,
                             ["validation_split:", "expected a fraction", "got str 'a'"]),
    "validation_split empties": (lambda: small_model().fit(X, Y, validation_split=0.99, verbose=0),
                                 ValueError, ["validation_split:", "leaves samples", "got 0.99"]),
    "validation_data": (lambda: small_model().fit(X, Y, validation_data=(X,), verbose=0), ValueError,
                        ["validation_data:", "expected a tuple (x_val, y_val)", "got tuple of length 1"]),
    "validation_data NaN": (lambda: small_model().fit(X, Y, validation_data=(_with_nan(X), Y), verbose=0),
                            ValueError, ["x:", "expected finite numbers", "got nan"]),
    "initial_epoch": (lambda: small_model().fit(X, Y, initial_epoch=-1, verbose=0), ValueError,
                      ["initial_epoch:", "expected a non-negative integer", "got -1"]),
    "shuffle": (lambda: small_model().fit(X, Y, shuffle="yes", verbose=0), ValueError,
                ["shuffle:", "expected one of", "got 'yes'"]),
    "activation": (lambda: Dense(2, activation="swishy"), ValueError,
                   ["activation:", "expected one of", "got 'swishy'"]),
    "recurrent activation": (lambda: LSTM(2, recurrent_activation="swishy"), ValueError,
                             ["activation:", "expected one of", "got 'swishy'"]),
    "Activation layer": (lambda: Activation(3), ValueError, ["activation:", "expected one of", "got 3"]),
    "loss": (lambda: small_model().compile(loss="hinge-ish", optimizer="adam"), ValueError,
             ["loss:", "expected one of", "got 'hinge-ish'"]),
    "optimizer": (lambda: small_model().compile(loss="mse", optimizer="adamw-ish"), ValueError,
                  ["optimizer:", "expected one of", "got 'adamw-ish'"]),
    "initializer": (lambda: GRU(2, kernel_initializer="lecun-ish"), ValueError,
                    ["initializer:", "expected one of", "got 'lecun-ish'"]),
    "dtype": (lambda: LSTM(2, dtype="int32"), ValueError, ["dtype:", "expected one of", "got 'int32'"]),
    "units": (lambda: LSTM(0), ValueError, ["units:", "expected a positive integer", "got 0"]),
    "input_shape": (lambda: LSTM(2, input_shape=(3, "a")), ValueError,
                    ["input_shape:", "expected a tuple of positive integers", "got (3, 'a')"]),
    "backend": (lambda: LSTM(2, backend="cuda"), ValueError, ["backend:", "expected one of", "got 'cuda'"]),
    "clipping conflict": (lambda: optimizers.Adam(clipnorm=1.0, clipvalue=0.5), ValueError,
                          ["clipvalue, clipnorm, global_clipnorm", "expected at most one",
                           "got clipvalue=0.5, clipnorm=1.0"]),
    "clipping three": (lambda: optimizers.SGD(clipnorm=1.0, global_clipnorm=1.0, clipvalue=1.0), ValueError,
                       ["expected at most one", "global_clipnorm=1.0"]),
    "model set_weights count": (lambda: _built().set_weights(_built().get_weights()[:-1]), ValueError,
                                ["weights:", "expected 5 arrays", "got 4"]),
    "model set_weights shape": (
        lambda: _built().set_weights([w.T for w in _built().get_weights()]), ValueError,
        ["weights[kernel]:", "expected shape (2, 16)", "got (16, 2)"]),
    "model set_weights NaN": (lambda: _built().set_weights([w * np.nan for w in _built().get_weights()]),
                              ValueError, ["weights[kernel]:", "expected finite numbers", "got nan"]),
    "model set_weights not a list": (lambda: _built().set_weights(5), TypeError,
                                     ["weights:", "expected a list of arrays", "got int"]),
    "layer set_weights count": (lambda: _built().layers[0].set_weights([np.zeros((2, 16))]), ValueError,
                                ["weights:", "expected 3 arrays (kernel, recurrent_kernel, bias)", "got 1"]),
    "layer set_weights shape": (
        lambda: _built().layers[1].set_weights([np.zeros((4, 2)), np.zeros(3)]), ValueError,
        ["weights[bias]:", "expected shape (2,)", "got (3,)"]),
    "layer set_weights strings": (
        lambda: _built().layers[1].set_weights([np.zeros((4, 2)), np.array(["a", "b"])]), TypeError,
        ["weights[bias]:", "expected a numeric array", "got dtype <U1"]),
    "layer set_weights unbuilt": (lambda: Dense(2).set_weights([]), ValueError,
                                  ["weights:", "expected to be built", "got an unbuilt layer"]),
    "forward rank": (lambda: LSTM(3)(np.zeros((2, 3))), ValueError,
                     ["x:", "expected at least 3 dimensions", "got shape (2, 3)"]),
    "forward objects": (lambda: Dense(3)(np.array([[None]])), TypeError,
                        ["x:", "expected a numeric array", "got dtype object"]),
    "forward NaN": (lambda: GRU(3)(np.full((1, 2, 1), np.nan)), ValueError,
                    ["x:", "expected finite numbers", "got nan"]),
    "forward empty": (lambda: LSTM(3)(np.zeros((2, 0, 1))), ValueError,
                      ["x:", "expected a non-empty array", "got shape (2, 0, 1)"]),
    "forward features": (lambda: (lambda layer: (layer(np.zeros((1, 2, 2))), layer(np.zeros((1, 2, 3)))))(
        LSTM(2)), ValueError, ["x:", "expected 2 features", "got shape (1, 2, 3)"]),
    "embedding non-integer ids": (lambda: Embedding(5, 2)(np.array([[1.5]])), TypeError,
                                  ["x:", "expected integer ids", "got non-integer values such as 1.5"]),
    "embedding ids out of range": (lambda: Embedding(5, 2)(np.array([[1, 7]])), ValueError,
                                   ["x:", "expected ids in [0, 5)", "got 1..7"]),
    "embedding huge ids": (lambda: Embedding(5, 2)(np.array([[1e30]])), ValueError,
                           ["x:", "expected ids in [0, 5)", "got 1e+30"]),
    "embedding 1-D ids": (lambda: Embedding(5, 2)(np.array([1, 2])), ValueError,
                          ["x:", "expected at least 2 dimensions", "got shape (2,)"]),
    "model rank after build": (lambda: (lambda m: (m.predict(X), m.predict(X[None])))(small_model()),
                               ValueError, ["x:", "expected", "got shape (1, 6, 3, 2)"]),
    "loss NaN": (lambda: losses.get("mse")(np.array([np.nan]), np.array([1.0])), ValueError,
                 ["y_true:", "expected finite numbers", "got nan"]),
    "corpus shorter than a window": (lambda: text.windows(np.arange(5), 10), ValueError,
                                     ["seq_length", "needs at least 11 characters", "has 5"]),
    "character outside the vocabulary": (
        lambda: text.Vocab.from_text("abc").encode("abxc"), ValueError,
        ["text:", "'x'", "position 2", "not in the vocabulary of 3 characters"]),
    "on_unknown": (lambda: text.Vocab.from_text("abc").encode("ab", on_unknown="skip"), ValueError,
                   ["on_unknown:", "expected 'error' or 'drop'", "got 'skip'"]),
}


@pytest.mark.parametrize("case", sorted(INPUT_CASES))
def test_bad_input_raises_a_clear_error(case):
    call, error, fragments = INPUT_CASES[case]
    with pytest.raises(error) as raised:
        call()
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, f"{case}: {fragment!r} not in {message!r}"


def test_fixable_inputs_are_accepted():
    """Integers where floats are needed, and Python lists, are cast; dropping unknown characters is an
    explicit option."""
    set_random_seed(1)
    model = small_model()
    history = model.fit((X * 10).astype(np.int64), Y.astype(np.int64), verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.predict(X.tolist()).shape == (6, 2)
    np.testing.assert_array_equal(text.Vocab.from_text("abc").encode("axbyc", on_unknown="drop"), [0, 1, 2])
    for name, module in (("tanh", activations), ("orthogonal", initializers)):
        assert module.get(name) is not None


def test_nothing_changes_when_set_weights_fails():
    model = _built()
    before = model.get_weights()
    bad = [w + 1.0 for w in before]
    bad[-1] = np.zeros(7)  # the last array is wrong: the first ones must not have been written
    with pytest.raises(ValueError, match="expected shape"):
        model.set_weights(bad)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_public_entry_points_document_their_errors():
    for function in (Sequential.fit, Sequential.predict, Sequential.evaluate, LSTM.forward, load_model):
        assert "Errors:" in function.__doc__, function.__qualname__


# ====================================================================================== 2. files

def _checkpoint(tmp_path, stateful=False) -> Path:
    set_random_seed(21)
    model = small_model(stateful=stateful)
    model.fit(X, Y, batch_size=2, verbose=0)
    model.vocabulary = ["a", "b"]
    path = tmp_path / "good.ckpt"
    model.save(path)
    return path


def _arrays(path) -> dict:
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _repack(arrays: dict, header: dict | None = None) -> bytes:
    arrays = dict(arrays)
    if header is not None:
        arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _header(path) -> dict:
    return json.loads(_arrays(path)["header"].tobytes())


class _Marker:
    """Unpickling this creates the file ``path``: proof that a loader ran code from a file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _edited(path, edit) -> bytes:
    header = _header(path)
    edit(header)
    return _repack(_arrays(path), header)


FILE_CASES = {
    "empty": (lambda p: b"", "got an empty file"),
    "truncated": (lambda p: p.read_bytes()[: len(p.read_bytes()) // 2], "not a readable"),
    "truncated tail": (lambda p: p.read_bytes()[:-20], "not a readable"),
    "bit-flipped": (lambda p: _flip(p.read_bytes(), len(p.read_bytes()) // 2), "not a readable"),
    "text": (lambda p: b"epoch,loss\n1,0.5\n" * 20, "got a file starting with b'epoc'"),
    "png": (lambda p: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "got a file starting with b'\\x89PNG'"),
    "npy": (lambda p: _npy(np.zeros(3)), "expected an .npz archive"),
    "future version": (lambda p: _edited(p, lambda h: h.update(version=99)),
                       "format version 99; this scratchrnn"),
    "other format": (lambda p: _edited(p, lambda h: h.update(format="keras")), "format 'keras'"),
    "epoch not a number": (lambda p: _edited(p, lambda h: h.update(epoch="x")),
                           "header field 'epoch': expected a non-negative integer, got 'x'"),
    "step missing": (lambda p: _edited(p, lambda h: h.pop("step")), "lacks 'step'"),
    "unknown layer key": (lambda p: _edited(p, lambda h: h["model"]["layers"][0]["config"].update(foo=1)),
                          "unexpected keyword arguments ['foo']"),
    "unknown layer class": (lambda p: _edited(p, lambda h: h["model"]["layers"][0].update(class_name="Conv")),
                            "class_name: expected one of"),
    "layers not a list": (lambda p: _edited(p, lambda h: h["model"].update(layers={"a": 1})),
                          "header field 'model'"),
    "huge units": (lambda p: _edited(p, lambda h: h["model"]["layers"][0]["config"].update(units=10**9)),
                   "another architecture"),
    "huge input shape": (lambda p: _edited(p, lambda h: h.update(build_input_shape=[None, 3, 10**12])),
                         "another architecture"),
    "input shape of the wrong rank": (lambda p: _edited(p, lambda h: h.update(build_input_shape=[None, 2])),
                                      "expected (batch, time, features)"),
    "bad dtype": (lambda p: _edited(p, lambda h: h.update(dtype="float16")), "header field 'dtype'"),
    "bad vocabulary": (lambda p: _edited(p, lambda h: h.update(vocabulary=7)), "header field 'vocabulary'"),
    "bad optimizer config": (lambda p: _edited(p, lambda h: h["compile"]["optimizer"].update(beta_1="x")),
                             "compile settings or optimizer state cannot be restored"),
    "bad random state": (lambda p: _edited(p, lambda h: h.update(rng={"state": 1})),
                         "random-number state cannot be restored"),
    "weights with NaN": (lambda p: _repack({**_arrays(p), "weight_0": _arrays(p)["weight_0"] * np.nan}),
                         "weight lstm"),
    "optimizer slot with NaN": (
        lambda p: _repack({**_arrays(p), "optimizer_momentum": _arrays(p)["optimizer_momentum"] * np.nan}),
        "optimizer array 'momentum' is not finite"),
    "missing weight": (lambda p: _repack({k: v for k, v in _arrays(p).items() if k != "weight_2"}),
                       "weight array 'weight_2' is missing"),
    "member that is not an array": (lambda p: _zip_with_member(p, "weight_0.npy", b"just bytes"),
                                    "member 'weight_0' is not a NumPy array"),
}


def _flip(data: bytes, position: int) -> bytes:
    mutable = bytearray(data)
    mutable[position] ^= 0x04
    return bytes(mutable)


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _zip_with_member(path, name, content) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(buffer, "w") as target:
        for member in source.namelist():
            target.writestr(member, content if member == name else source.read(member))
    return buffer.getvalue()


# What only rebuilding the model reads: a built model's load_weights rightly ignores these fields.
ONLY_FOR_LOAD_MODEL = {"unknown layer key", "unknown layer class", "huge units", "huge input shape",
                       "input shape of the wrong rank", "bad optimizer config", "bad random state",
                       "optimizer slot with NaN"}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_bad_checkpoint_files_raise_checkpoint_error(tmp_path, case):
    make, fragment = FILE_CASES[case]
    good = _checkpoint(tmp_path)
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(make(good))
    with pytest.raises(CheckpointError) as raised:
        load_model(bad)
    assert fragment in str(raised.value) and str(bad) in str(raised.value)
    if case not in ONLY_FOR_LOAD_MODEL:  # load_weights into a built model reads the rest of the file too
        model = small_model()
        model.build()
        with pytest.raises(CheckpointError):
            model.load_weights(bad)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        load_model(tmp_path / "nothing.ckpt")
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        load_model(tmp_path)  # a folder is not a checkpoint
    model = _built()
    with pytest.raises(FileNotFoundError, match="expected an existing folder"):
        model.save(tmp_path / "missing" / "model.ckpt")


def test_wrong_architecture_and_wrong_vocabulary(tmp_path):
    good = _checkpoint(tmp_path)
    other = Sequential([LSTM(5, input_shape=(3, 2)), Dense(2, activation="softmax")])
    other.build()
    with pytest.raises(CheckpointError, match="another architecture"):
        other.load_weights(good)
    vocabulary = load_model(good).vocabulary
    saving.check_vocabulary(vocabulary, ["a", "b"])  # the same: no error
    with pytest.raises(CheckpointError, match=r"vocabulary of 2 characters differs .* \['c'\]"):
        saving.check_vocabulary(vocabulary, ["a", "b", "c"])
    with pytest.raises(CheckpointError, match="differs"):
        saving.check_vocabulary(vocabulary, ["b", "a"])  # same characters, another order: other ids


def test_pickles_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "MARKER"
    payload = pickle.dumps(_Marker(marker))
    # The payload is live: unpickling it does create the marker (so the checks below mean something).
    pickle.loads(payload).close()
    assert marker.exists()
    marker.unlink()

    good = _checkpoint(tmp_path)
    hostile = {}
    buffer = io.BytesIO()
    np.savez(buffer, header=np.array([_Marker(marker)], dtype=object), allow_pickle=True)
    hostile["npz with an object header"] = buffer.getvalue()
    arrays = _arrays(good)
    buffer = io.BytesIO()
    np.savez(buffer, **{**arrays, "weight_0": np.array([_Marker(marker)], dtype=object)}, allow_pickle=True)
    hostile["npz with an object weight"] = buffer.getvalue()
    hostile["raw pickle"] = payload
    hostile["npy of objects"] = _npy(np.array([_Marker(marker)], dtype=object))
    hostile["zip member that is a pickle"] = _zip_with_member(good, "header.npy", payload)
    for name, content in hostile.items():
        path = tmp_path / "hostile.ckpt"
        path.write_bytes(content)
        with pytest.raises(CheckpointError):
            load_model(path)
        model = small_model()
        model.build()
        with pytest.raises(CheckpointError):
            model.load_weights(path)
        assert not marker.exists(), name


def test_a_failed_load_leaves_the_random_state_alone(tmp_path):
    good = _checkpoint(tmp_path)
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(_edited(good, lambda h: h["compile"]["optimizer"].update(beta_1="x")))
    set_random_seed(5)
    expected = np.random.default_rng(5).random()
    with pytest.raises(CheckpointError):
        load_model(bad)
    from scratchrnn import rng

    assert rng.generator().random() == expected


@pytest.fixture(scope="module")
def fuzz_source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    path = _checkpoint(folder)
    probe = DATA.random((2, 3, 2))
    return path.read_bytes(), probe, load_model(path, restore_rng=False).predict(probe), folder


FUZZ_EXAMPLES = int(os.environ.get("SCRATCHRNN_FUZZ_EXAMPLES", "300"))  # more: set the variable


def test_fuzzed_checkpoint_bytes_raise_only_checkpoint_error(fuzz_source):
    """Truncations, bit flips and overwritten ranges of a real checkpoint's bytes: load_model raises
    CheckpointError, or (a mutation of zip metadata only) loads a model that predicts bit for bit what
    the original does. Any other exception fails the test."""
    data, probe, expected, folder = fuzz_source
    stats = Counter()
    target = folder / "mutated.ckpt"

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def run(draw):
        kind = draw.draw(st.sampled_from(["truncate", "flip", "overwrite"]), label="kind")
        mutated = bytearray(data)
        if kind == "truncate":
            mutated = mutated[:draw.draw(st.integers(0, len(data) - 1), label="length")]
        elif kind == "flip":
            for position, bit in draw.draw(st.lists(st.tuples(st.integers(0, len(data) - 1),
                                                              st.integers(0, 7)), min_size=1, max_size=8)):
                mutated[position] ^= 1 << bit
        else:
            start = draw.draw(st.integers(0, len(data) - 1), label="start")
            chunk = draw.draw(st.binary(min_size=1, max_size=64), label="bytes")
            mutated[start:start + len(chunk)] = chunk
        target.write_bytes(bytes(mutated))
        stats["examples"] += 1
        try:
            loaded = load_model(target, restore_rng=False)
        except CheckpointError:
            stats[f"CheckpointError ({kind})"] += 1
            return
        stats[f"loaded unchanged ({kind})"] += 1
        np.testing.assert_array_equal(loaded.predict(probe), expected)

    run()
    print(f"\ncheckpoint byte fuzz: {dict(sorted(stats.items()))}")
    assert stats["examples"] >= FUZZ_EXAMPLES // 2


def test_fuzzed_header_with_valid_checksums_raises_only_checkpoint_error(fuzz_source):
    """The header JSON mutated and packed again with valid CRCs (what a deliberate edit looks like):
    CheckpointError, or a model that loads and predicts finite numbers."""
    data, probe, _, folder = fuzz_source
    source = folder / "source.ckpt"
    source.write_bytes(data)
    arrays = _arrays(source)
    header_bytes = arrays["header"].tobytes()
    stats = Counter()
    target = folder / "edited.ckpt"

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def run(draw):
        mutated = bytearray(header_bytes)
        for _ in range(draw.draw(st.integers(1, 3), label="edits")):
            start = draw.draw(st.integers(0, len(mutated) - 1), label="start")
            chunk = draw.draw(st.one_of(st.binary(min_size=1, max_size=4),
                                        st.sampled_from([b"0", b"9", b"-1", b"null", b"true", b"[]", b"{}",
                                                         b'"x"', b"1e999", b"NaN", b"999999999"])),
                              label="bytes")
            mutated[start:start + len(chunk)] = chunk
        target.write_bytes(_repack({**arrays, "header": np.frombuffer(bytes(mutated), dtype=np.uint8)}))
        stats["examples"] += 1
        try:
            loaded = load_model(target, restore_rng=False)
        except CheckpointError:
            stats["CheckpointError"] += 1
            return
        stats["loaded"] += 1
        loaded.reset_states()
        assert np.all(np.isfinite(loaded.predict(probe)))

    run()
    print(f"\nheader fuzz: {dict(sorted(stats.items()))}")
    assert stats["examples"] >= FUZZ_EXAMPLES // 2


WRONG_VALUES = [None, "x", -1, 0, 1.5, 10**9, [], {}, True, [None]]


def test_every_header_field_of_the_wrong_type_raises_checkpoint_error(tmp_path):
    """Each top-level header field, and each field of each layer config, replaced in turn by values of
    other types: CheckpointError or a model that loads and predicts finite numbers, nothing else."""
    path = _checkpoint(tmp_path, stateful=True)
    arrays, header = _arrays(path), _header(path)
    probe = DATA.random((2, 3, 2))
    target = tmp_path / "edited.ckpt"
    edits = [((key,), value) for key in header for value in WRONG_VALUES]
    for index, layer in enumerate(header["model"]["layers"]):
        edits += [(("model", "layers", index, "config", key), value)
                  for key in [*layer["config"], "unknown_key"] for value in WRONG_VALUES]
    outcomes = Counter()
    for keys, value in edits:
        edited = json.loads(json.dumps(header))
        node = edited
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
        target.write_bytes(_repack(arrays, edited))
        try:
            loaded = load_model(target, restore_rng=False)
        except CheckpointError:
            outcomes["CheckpointError"] += 1
            continue
        outcomes["loaded"] += 1
        loaded.reset_states()
        assert np.all(np.isfinite(loaded.predict(probe, batch_size=2))), (keys, value)
    assert outcomes["CheckpointError"] > len(edits) // 2


# =============================================================================== 3. atomic saves

KILL_SCRIPT = textwrap.dedent("""
    import sys
    from scratchrnn.layers import LSTM, Dense
    from scratchrnn.models import Sequential
    from scratchrnn.utils import set_random_seed
    set_random_seed(0)
    model = Sequential([LSTM(512, input_shape=(2, 128), recurrent_initializer="glorot_uniform"),
                        Dense(64, activation="softmax")])  # 5 MB of weights
    model.build()
    path, epoch = sys.argv[1], int(sys.argv[2])
    while True:
        model.epoch = epoch
        model.save(path)
        if epoch == int(sys.argv[2]):
            print("saved", flush=True)
        epoch += 1
""")
KILLS = 25


def test_sigkill_while_saving_never_leaves_a_broken_checkpoint(tmp_path):
    set_random_seed(0)
    reference = Sequential([LSTM(512, input_shape=(2, 128), recurrent_initializer="glorot_uniform"),
                            Dense(64, activation="softmax")])
    reference.build()
    path = tmp_path / "model.ckpt"
    reference.save(path)
    chooser = random.Random(6)
    leftovers, started = 0, time.perf_counter()
    for kill in range(KILLS):
        first_epoch = (kill + 1) * 1_000_000
        process = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(path), str(first_epoch)],
                                   cwd=REPO, stdout=subprocess.PIPE, text=True)
        try:
            assert process.stdout.readline().strip() == "saved"  # one whole save done
            time.sleep(chooser.uniform(0.0, 0.05))  # a save takes about 20 ms: land anywhere in one
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait()
            process.stdout.close()
        assert process.returncode == -signal.SIGKILL
        loaded = load_model(path, restore_rng=False)  # never half a file
        assert loaded.epoch >= first_epoch  # the newest whole save of this process
        for a, b in zip(loaded.get_weights(), reference.get_weights()):
            np.testing.assert_array_equal(a, b)
        temporaries = sorted(tmp_path.glob(".model.ckpt.*.tmp"))
        leftovers = len(temporaries)
    seconds = time.perf_counter() - started
    print(f"\nSIGKILL test: {KILLS} kills in {seconds:.1f} s; the checkpoint loaded after every one; "
          f"{leftovers} kills landed inside a write (temporary files left behind)")
    # Stray temporaries are never mistaken for the checkpoint, and a new save still works beside them.
    reference.epoch = 7
    reference.save(path)
    assert load_model(path).epoch == 7
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["model.ckpt"]


# ================================================================================== 4. numerics

def _poison_gradient_at(model, step):
    """From the ``step``-th backward pass on (1-based), the output layer's kernel gradient holds inf."""
    layer = model.layers[-1]
    original = layer.backward
    calls = {"n": 0}

    def backward(*args, **kwargs):
        result = original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == step:
            layer.gradients[0][0, 0] = np.inf
        return result

    layer.backward = backward


def test_infinite_gradient_stops_fit_and_the_last_checkpoint_stays_good(tmp_path):
    set_random_seed(3)
    model = small_model()
    model.build()
    steps_per_epoch = 3  # 6 samples, batch 2
    _poison_gradient_at(model, 2 * steps_per_epoch + 2)  # epoch 3, batch 2
    saved, before_bad_step = {}, {}

    def on_epoch_end(epoch, logs):
        saved[epoch + 1] = model.get_weights()

    def on_batch_end(batch, logs):
        before_bad_step["weights"] = model.get_weights()

    path = tmp_path / "last.ckpt"
    callbacks = [ModelCheckpoint(str(path)),
                 LambdaCallback(on_epoch_end=on_epoch_end, on_batch_end=on_batch_end)]
    with pytest.warns(RuntimeWarning, match=r"epoch 3, batch 2: the gradient norm is inf") as caught:
        history = model.fit(X, Y, batch_size=2, epochs=5, verbose=0, shuffle=False, callbacks=callbacks)
    assert "epoch 3, batch 2" in model.stop_reason and len(history.history["loss"]) == 2
    assert "training stopped" in str(caught[0].message)
    # The refused step changed nothing: the weights are those after epoch 3, batch 1, all finite.
    for a, b in zip(model.get_weights(), before_bad_step["weights"]):
        np.testing.assert_array_equal(a, b)
        assert np.all(np.isfinite(a))
    assert model.epoch == 2
    last = load_model(path)
    assert last.epoch == 2
    for a, b in zip(last.get_weights(), saved[2]):
        np.testing.assert_array_equal(a, b)
    assert np.all(np.isfinite(last.predict(X)))


def test_nan_loss_stops_fit_and_a_nan_model_is_never_saved(tmp_path):
    set_random_seed(4)
    model = small_model()
    path = tmp_path / "last.ckpt"

    def poison(batch, logs):
        if model.epoch == 1 and batch == 1:  # epoch 2, batch 2
            model.layers[0].weights[1][0, 0] = np.nan

    with pytest.warns(RuntimeWarning, match=r"epoch 2, batch 2: the loss is nan"):
        model.fit(X, Y, batch_size=2, epochs=4, verbose=0, shuffle=False,
                  callbacks=[ModelCheckpoint(str(path)), LambdaCallback(on_batch_begin=poison)])
    good = path.read_bytes()
    assert load_model(path).epoch == 1
    with pytest.raises(ValueError, match=r"model: expected finite weights to save, got NaN or infinity in "
                                         r"lstm\w*/recurrent_kernel"):
        model.save(path)
    with pytest.raises(ValueError, match="expected finite weights"):
        model.save_weights(tmp_path / "weights.h5")
    assert path.read_bytes() == good and not (tmp_path / "weights.h5").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary left either


@pytest.mark.parametrize("clip", [{}, {"clipvalue": 1.0}, {"clipnorm": 1.0}, {"global_clipnorm": 1.0}])
@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_an_infinite_gradient_never_reaches_the_weights(name, clip, bad):
    optimizer = getattr(optimizers, name)(learning_rate=0.1, **clip)
    params = np.linspace(-1.0, 1.0, 8).astype(np.float32)
    segments = [slice(0, 5), slice(5, 8)]
    optimizer.apply(params, np.full(8, 0.5, dtype=np.float32), segments)  # slots exist now
    before, state = params.copy(), optimizer.get_state()
    grads = np.full(8, 0.5, dtype=np.float32)
    grads[6] = bad
    with pytest.raises(optimizers.NonFiniteGradientError, match="grads: expected finite numbers"):
        optimizer.apply(params, grads, segments)
    np.testing.assert_array_equal(params, before)
    for key, value in optimizer.get_state().items():
        np.testing.assert_array_equal(value, state[key])


@pytest.mark.parametrize("clip", [{"clipnorm": 1.0}, {"global_clipnorm": 1.0}])
def test_a_gradient_whose_norm_overflows_is_clipped_to_finite_weights(clip):
    """1e30 in float32: the sum of squares overflows to inf, but the gradient is finite, so the clipped
    step must be finite too (Keras's formula would turn it into NaN)."""
    optimizer = optimizers.SGD(learning_rate=0.1, **clip)
    params = np.zeros(8, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the float32 overflow of the first try
        optimizer.apply(params, np.full(8, 1e30, dtype=np.float32), [slice(0, 8)])
    assert np.all(np.isfinite(params))
    assert np.linalg.norm(params.astype(np.float64)) == pytest.approx(0.1, rel=1e-5)


# =========================================================================== 5. reproducibility

REPRO_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from scratchrnn.callbacks import LambdaCallback, ModelCheckpoint
    from scratchrnn.layers import LSTM, Activation, Dense, TimeDistributed
    from scratchrnn.models import Sequential, load_model
    from scratchrnn.utils import set_random_seed, to_categorical

    mode, checkpoint, out, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    ids = np.random.default_rng(0).integers(0, 8, size=(96, 13))
    x, y = to_categorical(ids[:, :-1], 8), to_categorical(ids[:, 1:], 8)
    EPOCHS = 10

    def build():
        model = Sequential([LSTM(24, input_shape=(None, 8), return_sequences=True),
                            TimeDistributed(Dense(8)), Activation("softmax")])
        model.compile(loss="categorical_crossentropy", optimizer="adam")
        return model

    if mode == "resume":
        model = load_model(checkpoint)
        print("resuming after epoch", model.epoch, flush=True)
        history = model.fit(x, y, batch_size=4, epochs=EPOCHS, initial_epoch=model.epoch, verbose=0)
    else:
        set_random_seed(seed)
        model = build()
        report = LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch + 1, flush=True))
        callbacks = [ModelCheckpoint(checkpoint), report] if mode == "killed" else []
        history = model.fit(x, y, batch_size=4, epochs=EPOCHS, verbose=0, callbacks=callbacks)
    np.savez(out, *model.get_weights(), losses=np.array(history.history["loss"]))
""")


def _results(path):
    with np.load(path) as archive:
        weights = [archive[f"arr_{i}"] for i in range(len(archive.files) - 1)]
        return weights, archive["losses"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("repro")
    run_python(REPRO_SCRIPT, "whole", folder / "unused", folder / "whole.npz", 123)
    return _results(folder / "whole.npz")


def test_same_seed_same_bits_in_two_processes(uninterrupted, tmp_path):
    run_python(REPRO_SCRIPT, "whole", tmp_path / "unused", tmp_path / "again.npz", 123)
    weights, losses_ = _results(tmp_path / "again.npz")
    expected_weights, expected_losses = uninterrupted
    assert losses_.tobytes() == expected_losses.tobytes() and len(losses_) == 10
    for a, b in zip(weights, expected_weights):
        assert a.tobytes() == b.tobytes()
    run_python(REPRO_SCRIPT, "whole", tmp_path / "unused", tmp_path / "other.npz", 124)
    assert _results(tmp_path / "other.npz")[1].tobytes() != expected_losses.tobytes()  # the seed matters


def test_resume_after_sigkill_is_bit_for_bit(uninterrupted, tmp_path):
    checkpoint = tmp_path / "last.ckpt"
    process = subprocess.Popen([sys.executable, "-c", REPRO_SCRIPT, "killed", str(checkpoint),
                                str(tmp_path / "unused.npz"), "123"], cwd=REPO, stdout=subprocess.PIPE,
                               text=True)
    try:
        while process.stdout.readline().strip() != "2":  # two epochs done and checkpointed
            pass
        time.sleep(random.Random(2).uniform(0.0, 0.05))  # an epoch takes about 60 ms: inside epoch 3 or 4
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    interrupted_at = load_model(checkpoint, restore_rng=False).epoch
    assert 2 <= interrupted_at < 10
    run_python(REPRO_SCRIPT, "resume", checkpoint, tmp_path / "resumed.npz", 0)
    weights, losses_ = _results(tmp_path / "resumed.npz")
    expected_weights, expected_losses = uninterrupted
    for a, b in zip(weights, expected_weights):
        assert a.tobytes() == b.tobytes()
    assert losses_.tobytes() == expected_losses[interrupted_at:].tobytes()


def test_resume_after_a_stop_inside_an_epoch_is_bit_for_bit(tmp_path):
    """A callback stops training in the middle of epoch 2; ModelCheckpoint saves at that epoch's end
    (the Keras protocol); the checkpoint records the partial epoch, and fit(initial_epoch=model.epoch)
    in a fresh model finishes it with the same shuffle: the bits of an uninterrupted run."""
    x, y = DATA.random((20, 4, 3)), np.eye(3)[DATA.integers(0, 3, 20)]

    def build():
        model = Sequential([GRU(5, input_shape=(4, 3)), Dense(3, activation="softmax")])
        model.compile(loss="categorical_crossentropy", optimizer="adam")
        return model

    set_random_seed(5)
    whole = build()
    expected_losses = whole.fit(x, y, batch_size=3, epochs=4, verbose=0).history["loss"]

    set_random_seed(5)
    model = build()

    def stop(batch, logs):
        if model.epoch == 1 and batch == 2:
            model.stop_training = True

    path = tmp_path / "last.ckpt"
    model.fit(x, y, batch_size=3, epochs=4, verbose=0,
              callbacks=[ModelCheckpoint(str(path)), LambdaCallback(on_batch_end=stop)])
    assert model.epoch == 1 and model.partial_epoch["epoch"] == 1 and model.partial_epoch["batches"] == 3

    set_random_seed(999)  # whatever the process did meanwhile
    resumed = load_model(path)
    assert resumed.epoch == 1 and resumed.partial_epoch["batches"] == 3
    history = resumed.fit(x, y, batch_size=3, epochs=4, initial_epoch=resumed.epoch, verbose=0)
    assert resumed.epoch == 4 and resumed.partial_epoch is None and resumed.step == whole.step
    for a, b in zip(resumed.get_weights(), whole.get_weights()):
        assert a.tobytes() == b.tobytes()
    assert history.history["loss"][1:] == expected_losses[2:]  # epoch 2's mean covers only its rest


# ================================================================================ 6. long runs

def test_memory_does_not_grow_across_epochs():
    set_random_seed(6)
    ids = DATA.integers(0, 6, size=(16, 9))
    x, y = to_categorical(ids[:, :-1], 6), to_categorical(ids[:, 1:], 6)
    model = Sequential([LSTM(16, input_shape=(8, 6), return_sequences=True),
                        TimeDistributed(Dense(6)), Activation("softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # warm-up: lazy imports and buffers
    traced = {}

    def record(epoch, logs):
        gc.collect()  # count what is kept, not garbage that awaits the cycle collector
        traced[epoch + 1] = tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    try:
        model.fit(x, y, batch_size=4, epochs=30, verbose=0, callbacks=[LambdaCallback(on_epoch_end=record)])
    finally:
        tracemalloc.stop()
    growth = traced[30] - traced[5]
    print(f"\ntraced memory: epoch 5 {traced[5]} B, epoch 30 {traced[30]} B, growth {growth} B")
    assert growth < 32 * 1024  # the History's few floats per epoch, nothing per batch or per array


def test_memory_is_bounded_across_thousands_of_generated_characters():
    set_random_seed(7)
    chars = list("abcdefgh ")
    model = Sequential([LSTM(16, input_shape=(None, len(chars)), return_sequences=True),
                        TimeDistributed(Dense(len(chars))), Activation("softmax")])
    model.build()
    model.vocabulary = chars
    generate(model, 50, prime="ab", seed=0)  # warm-up
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        generated = generate(model, 3000, prime="abc", seed=1)
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(generated) == 3000
    print(f"\ngeneration of 3000 characters: peak {peak - before} B above the start, "
          f"{after - before} B kept")
    assert peak - before < 5 * 1024 * 1024
    assert after - before < 64 * 1024  # the 3000-character result and little else


def test_memory_of_repeated_checkpoints_is_flat(tmp_path):
    model = _built()
    path = tmp_path / "model.ckpt"
    traced = []
    tracemalloc.start()
    try:
        for _ in range(40):
            model.save(path)
            load_model(path, restore_rng=False)
            gc.collect()  # ast.literal_eval (numpy's .npy header parser) leaves closures in cycles
            traced.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert traced[-1] - traced[9] < 32 * 1024  # after a warm-up of 10 rounds, 30 more keep nothing
    assert os.listdir(tmp_path) == ["model.ckpt"]
