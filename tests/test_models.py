"""Sequential: the two Keras 2 tutorials' code shapes, stateful semantics, checkpoints and resuming."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from scratchrnn import saving
from scratchrnn.layers import LSTM, Activation, Dense, TimeDistributed
from scratchrnn.models import Sequential, load_model
from scratchrnn.optimizers import Adam
from scratchrnn.utils import np_utils, set_random_seed, to_categorical

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def alphabet_data():
    char_to_int = {c: i for i, c in enumerate(ALPHABET)}
    data_x = [char_to_int[c] for c in ALPHABET[:-1]]
    data_y = [char_to_int[c] for c in ALPHABET[1:]]
    x = np.reshape(data_x, (len(data_x), 1, 1)) / float(len(ALPHABET))
    y = np_utils.to_categorical(data_y)
    return x, y


def alphabet_model():
    model = Sequential()
    model.add(LSTM(16, batch_input_shape=(1, 1, 1), stateful=True))
    model.add(Dense(y_dim := 26, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    assert y_dim == 26
    return model


def test_stateful_alphabet_tutorial_shape_learns_and_feeds_predictions_back():
    set_random_seed(1)
    x, y = alphabet_data()
    model = alphabet_model()
    first_loss = None
    for _ in range(40):
        history = model.fit(x, y, epochs=1, batch_size=1, verbose=0, shuffle=False)
        first_loss = first_loss or history.history["loss"][0]
        model.reset_states()
    last_loss = history.history["loss"][0]
    assert last_loss < 0.8 * first_loss
    loss, accuracy = model.evaluate(x, y, batch_size=1, verbose=0)
    assert 0.0 <= accuracy <= 1.0 and np.isfinite(loss)
    model.reset_states()
    # The tutorial's loop: each prediction becomes the next input, with the state carried.
    seed = [0]
    chain = []
    for _ in range(5):
        pred = model.predict(np.reshape(seed, (1, 1, 1)) / 26.0, verbose=0)
        assert pred.shape == (1, 26)
        seed = [int(np.argmax(pred))]
        chain.append(ALPHABET[seed[0]])
    assert len(chain) == 5


def test_stateful_predict_advances_state_and_reset_restores_it():
    set_random_seed(2)
    model = alphabet_model()
    x = np.full((1, 1, 1), 0.3)
    first = model.predict(x)
    second = model.predict(x)
    assert not np.allclose(first, second)
    model.reset_states()
    np.testing.assert_array_equal(model.predict(x), first)


def test_stateful_batch_mismatch_is_a_clear_error():
    model = alphabet_model()
    x, y = alphabet_data()
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, batch_size=5, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="batch size 1"):
        model.predict_on_batch(x[:2])


def test_parameter_count_and_summary(capsys):
    model = Sequential([LSTM(50, batch_input_shape=(1, 1, 1), stateful=True),
                        Dense(26, activation="softmax")])
    model.build()
    assert model.count_params() == 11726
    model.summary()
    out = capsys.readouterr().out
    assert "10,400" in out and "1,326" in out and "Total params: 11,726" in out


def chargen_model(vocab, hidden=32):
    model = Sequential()
    model.add(LSTM(hidden, input_shape=(None, vocab), return_sequences=True))
    model.add(LSTM(hidden, return_sequences=True))
    model.add(TimeDistributed(Dense(vocab)))
    model.add(Activation("softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    return model


def char_data(steps=20, windows=12):
    text = ("the quick brown fox jumps over the lazy dog. " * 20)[: steps * windows + 1]
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    x = to_categorical(ids[:-1].reshape(windows, steps), len(chars))
    y = to_categorical(ids[1:].reshape(windows, steps), len(chars))
    return x, y, chars


def test_char_model_tutorial_shape_trains():
    set_random_seed(3)
    x, y, chars = char_data()
    model = chargen_model(len(chars))
    history = model.fit(x, y, batch_size=4, nb_epoch=2, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 2 and losses[0] == pytest.approx(np.log(len(chars)), rel=0.1)
    assert losses[1] < losses[0]
    assert model.predict(x[:1]).shape == (1, 20, len(chars))


def test_fit_verbose_modes_print_progress(capsys):
    set_random_seed(4)
    x, y, chars = char_data(steps=5, windows=4)
    model = chargen_model(len(chars), hidden=4)
    model.fit(x, y, batch_size=2, epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "loss:" in out
    model.fit(x, y, batch_size=2, epochs=1, verbose=1)
    assert "2/2" in capsys.readouterr().out  # the progress bar's count of batches
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_train_on_batch_and_evaluate_return_lists_with_metrics():
    set_random_seed(5)
    x, y = alphabet_data()
    model = Sequential([LSTM(4, input_shape=(1, 1)), Dense(26, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=Adam(learning_rate=0.01), metrics=["accuracy"])
    loss, accuracy = model.train_on_batch(x, y)
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0
    assert len(model.evaluate(x, y, verbose=0)) == 2


def test_native_weights_round_trip_and_wrong_architecture(tmp_path):
    set_random_seed(6)
    x, y, chars = char_data(steps=5, windows=4)
    model = chargen_model(len(chars), hidden=4)
    model.build()
    path = tmp_path / "weights.ckpt"
    model.save_weights(path)
    other = chargen_model(len(chars), hidden=4)
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    wrong = chargen_model(len(chars), hidden=5)
    with pytest.raises(saving.CheckpointError, match="another architecture"):
        wrong.load_weights(path)


def test_checkpoint_is_npz_with_json_header_and_no_temporary_left(tmp_path):
    set_random_seed(7)
    x, y, chars = char_data(steps=5, windows=4)
    model = chargen_model(len(chars), hidden=4)
    model.vocabulary = chars
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    path = tmp_path / "model.ckpt"
    model.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.ckpt"]
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(archive["header"].tobytes())
    assert header["format"] == "scratchrnn-checkpoint" and header["version"] == 1
    assert header["epoch"] == 1 and header["vocabulary"] == chars
    loaded = load_model(path)
    assert loaded.vocabulary == chars and loaded.epoch == 1
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


RESUME_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_models import char_data, chargen_model
    from scratchrnn.models import load_model
    from scratchrnn.utils import set_random_seed
    mode, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
    x, y, chars = char_data(steps=10, windows=8)
    if mode == "start":
        set_random_seed(11)
        model = chargen_model(len(chars), hidden=8)
        model.fit(x, y, batch_size=2, epochs=2, verbose=0)
        model.save(path)
    elif mode == "resume":
        model = load_model(path)
        model.fit(x, y, batch_size=2, epochs=4, initial_epoch=model.epoch, verbose=0)
    else:
        set_random_seed(11)
        model = chargen_model(len(chars), hidden=8)
        model.fit(x, y, batch_size=2, epochs=4, verbose=0)
    np.savez(out, *model.get_weights())
""")


def test_resume_in_a_fresh_process_is_bit_for_bit(tmp_path):
    script = tmp_path / "resume.py"
    script.write_text(RESUME_SCRIPT.format(tests=str(__import__("pathlib").Path(__file__).parent)))
    ckpt = str(tmp_path / "ckpt")

    def run(mode, out):
        subprocess.run([sys.executable, str(script), mode, ckpt, str(tmp_path / out)], check=True)
        with np.load(tmp_path / out) as archive:
            return [archive[k] for k in sorted(archive.files, key=lambda k: int(k.split("_")[1]))]

    run("start", "start.npz")
    resumed = run("resume", "resumed.npz")
    uninterrupted = run("whole", "whole.npz")
    for a, b in zip(resumed, uninterrupted):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_non_finite_loss_stops_training_with_epoch_and_batch_named():
    set_random_seed(8)
    x, y, chars = char_data(steps=5, windows=4)
    model = chargen_model(len(chars), hidden=4)
    model.build()
    before = model.get_weights()
    model.layers[0].weights[0][0, 0] = np.inf
    poisoned = model.get_weights()
    with pytest.warns(RuntimeWarning, match="epoch 1, batch 1"):
        history = model.fit(x, y, batch_size=2, epochs=3, verbose=0)
    assert model.stop_training and history.history == {}
    for a, b in zip(model.get_weights(), poisoned):
        np.testing.assert_array_equal(a, b)
    assert len(before) == len(poisoned)


def test_regression_targets_of_one_unit_output_are_reshaped_like_keras():
    """(N,) targets for a Dense(1) output become (N, 1): any batch size trains, and evaluate's loss
    is the mean squared error over all samples."""
    set_random_seed(9)
    x = np.linspace(0, 1, 12).reshape(12, 1, 1)
    y = np.linspace(0, 1, 12)
    model = Sequential([LSTM(3, input_shape=(1, 1)), Dense(1)])
    model.compile(loss="mean_squared_error", optimizer="adam")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    predictions = model.predict(x)
    assert predictions.shape == (12, 1)
    expected = float(np.mean((predictions[:, 0] - y) ** 2))
    assert model.evaluate(x, y, batch_size=8, verbose=0) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match=r"y: expected shape \(12, 1\)"):
        model.fit(x, np.zeros((12, 2)), verbose=0)


def test_the_first_recurrent_layer_skips_the_gradient_of_the_data(monkeypatch):
    """The model never uses dLoss/dx of its input data, so its first recurrent layer is not asked
    for it (one GEMM less per batch); the weight gradients are those of a full backward."""
    from scratchrnn.layers import LSTM, Dense, recurrent
    from scratchrnn.models import Sequential

    asked = []
    original = recurrent._Recurrent.backward

    def spy(self, dy, d_inputs=True):
        asked.append((self.name, d_inputs))
        return original(self, dy, d_inputs)

    monkeypatch.setattr(recurrent._Recurrent, "backward", spy)
    model = Sequential([LSTM(3, input_shape=(4, 2), return_sequences=True), LSTM(3), Dense(2)])
    model.compile(loss="mse", optimizer="sgd")
    x = np.linspace(-1, 1, 24).reshape(3, 4, 2)
    model.train_on_batch(x, np.ones((3, 2)))
    assert asked == [(model.layers[1].name, True), (model.layers[0].name, False)]


def every_layer_model(dtype="float64"):
    """Embedding -> GRU -> SimpleRNN -> LSTM -> TimeDistributed(Dense) -> Dense(softmax): every layer
    with weights that a model can hold, in both backends (the GRU on the NumPy cells)."""
    from scratchrnn.layers import GRU, Embedding, SimpleRNN
    model = Sequential([
        Embedding(7, 3, input_length=5, dtype=dtype),
        GRU(4, return_sequences=True, backend="numpy", dtype=dtype),
        SimpleRNN(3, return_sequences=True, dtype=dtype),
        LSTM(4, return_sequences=True, dtype=dtype),
        TimeDistributed(Dense(3, activation="tanh", dtype=dtype)),
        Dense(6, activation="softmax", dtype=dtype),
    ])
    model.compile(loss="categorical_crossentropy", optimizer=Adam(clipnorm=0.5))
    return model


def test_gradients_in_parts_train_as_the_one_buffer(monkeypatch):
    """With the gradients made per layer for each backward pass (as for large models), training goes
    exactly as with the one buffer: each part is filled with NaN first, so an element that a backward
    pass left unwritten would stop the step; and layer.gradients show the last step's gradients."""
    from scratchrnn.models import training
    rng = np.random.default_rng(0)
    x = rng.integers(0, 7, (4, 5)).astype(float)
    y = np.eye(6)[rng.integers(0, 6, (4, 5))]
    runs = []
    for threshold in (np.inf, 0):
        monkeypatch.setattr(training, "TRANSIENT_GRADIENT_BYTES", threshold)
        set_random_seed(3)
        model = every_layer_model()
        model.build((None, 5))
        made = model._gradient_part

        def poisoned(layer, made=made):
            part = made(layer)
            if part is not None:
                part[1][:] = np.nan
            return part

        monkeypatch.setattr(model, "_gradient_part", poisoned)
        logs = [model.train_on_batch(x, y) for _ in range(3)]
        assert model._transient_gradients == (threshold == 0)
        gradients = [g.copy() for layer in model.layers for g in layer.gradients]
        runs.append((logs, model.get_weights(), gradients))
    (logs_flat, weights_flat, grads_flat), (logs_parts, weights_parts, grads_parts) = runs
    np.testing.assert_allclose(logs_parts, logs_flat, rtol=1e-13)
    for got, expected in zip(weights_parts + grads_parts, weights_flat + grads_flat, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert np.abs(grads_parts[0]).max() > 0  # the embeddings' gradient, written by the last step
