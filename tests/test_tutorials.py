"""The classic public Keras RNN tutorials, reconstructed in tests/tutorials/ (each file's docstring names
its source and what was reduced), run on scratchrnn as scripts.

Each runs in a subprocess of this interpreter with the working folder a fresh tmp_path (checkpoints and
data files the tutorials write land there, not in the repository) and must exit 0 and end with a line
``RESULT {json}``; the tests then check that it trained (the training loss fell) and that its outputs have
the shapes and lengths the tutorial produces.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TUTORIALS = REPO / "tests" / "tutorials"
TIMEOUT = 180  # seconds; each takes 1-4 s on 2 cores once Numba's cache is warm


def run_tutorial(name: str, tmp_path: Path) -> dict:
    """Run tests/tutorials/<name>.py in tmp_path; assert exit 0; return the JSON of its RESULT line."""
    env = dict(os.environ)
    # the scripts import this tree's scratchrnn (and offline_data beside them, from their own folder)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    process = subprocess.run([sys.executable, str(TUTORIALS / f"{name}.py")], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=TIMEOUT)
    output = f"--- stdout (end):\n{process.stdout[-3000:]}\n--- stderr (end):\n{process.stderr[-3000:]}"
    assert process.returncode == 0, f"{name}.py exited {process.returncode}\n{output}"
    lines = process.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("RESULT "), f"{name}.py printed no RESULT line last\n{output}"
    return json.loads(lines[-1][len("RESULT "):])


def assert_fell(losses, what="loss"):
    """Every epoch's loss finite, and the last one below the first."""
    assert losses and all(math.isfinite(value) for value in losses), f"{what}: {losses}"
    assert losses[-1] < losses[0], f"{what} did not fall: {losses}"


# Keras 2 examples/ (keras-team/keras, tag 2.3.1)


def test_imdb_lstm(tmp_path):
    result = run_tutorial("imdb_lstm", tmp_path)  # LSTM(dropout=0.2, recurrent_dropout=0.2)
    assert_fell(result["loss"])
    assert math.isfinite(result["test_score"])


def test_imdb_bidirectional_lstm(tmp_path):
    result = run_tutorial("imdb_bidirectional_lstm", tmp_path)
    assert_fell(result["loss"])
    assert result["x_train_shape"] == [96, 20]  # pad_sequences to maxlen
    assert result["predict_shape"] == [32, 1]


def test_imdb_cnn_lstm(tmp_path):
    result = run_tutorial("imdb_cnn_lstm", tmp_path)
    assert_fell(result["loss"])
    assert math.isfinite(result["test_score"])


def test_mnist_irnn(tmp_path):
    result = run_tutorial("mnist_irnn", tmp_path)
    assert_fell(result["loss"])
    assert result["x_train_shape"] == [64, 784, 1]  # one pixel per time step
    assert 0.0 <= result["test_accuracy"] <= 1.0 and math.isfinite(result["test_score"])


def test_addition_rnn(tmp_path):
    result = run_tutorial("addition_rnn", tmp_path)
    assert_fell(result["loss"])
    assert len(result["guesses"]) == 12  # 4 iterations x 3 decoded validation questions
    digits_and_space = set("0123456789+ ")
    for guess in result["guesses"]:  # predict_classes decoded: one character per output step
        assert len(guess) == result["answer_length"] and set(guess) <= digits_and_space


def test_lstm_seq2seq(tmp_path):
    result = run_tutorial("lstm_seq2seq", tmp_path)
    assert_fell(result["loss"])
    assert (tmp_path / "s2s.h5").is_file()  # model.save
    limit = result["max_decoder_seq_length"]
    assert len(result["decoded"]) == 3
    for sentence in result["decoded"]:  # decode_sequence stops at "\n" or past the length limit
        assert sentence.endswith("\n") or len(sentence) == limit + 1
        assert 1 <= len(sentence) <= limit + 1


def test_lstm_stateful(tmp_path):
    result = run_tutorial("lstm_stateful", tmp_path)
    assert_fell(result["stateful_loss"], "stateful loss")
    assert_fell(result["stateless_loss"], "stateless loss")
    assert result["predicted_shape"] == result["y_test_shape"] == [40, 1]


def test_lstm_text_generation(tmp_path):
    result = run_tutorial("lstm_text_generation", tmp_path)
    assert_fell(result["loss"])
    assert len(result["samples"]) == 3 * 4  # every epoch, four temperatures
    assert all(len(sample) == result["maxlen"] + 30 for sample in result["samples"])  # seed + 30


# keras-io (keras-team/keras-io)


def test_keras_io_bidirectional_lstm_imdb(tmp_path):
    result = run_tutorial("keras_io_bidirectional_lstm_imdb", tmp_path)
    assert_fell(result["loss"])
    assert result["val_loss"] and all(math.isfinite(value) for value in result["val_loss"])
    assert result["predict_shape"] == [32, 1]


def test_keras_io_lstm_character_level_text_generation(tmp_path):
    result = run_tutorial("keras_io_lstm_character_level_text_generation", tmp_path)
    assert_fell(result["loss"])
    assert len(result["samples"]) == 3 * 4
    assert all(len(sample) == 40 + 30 for sample in result["samples"])  # seed window + 30 characters


# Jason Brownlee's tutorials (machinelearningmastery.com)


def test_brownlee_airline_lstm(tmp_path):
    result = run_tutorial("brownlee_airline_lstm", tmp_path)
    shapes = {"regression": [94, 1, 1], "window": [92, 1, 3], "time_steps": [92, 3, 1]}
    assert set(result) == set(shapes)
    for framing, shape in shapes.items():
        assert_fell(result[framing]["loss"], f"{framing} loss")
        assert result[framing]["input_shape"] == shape
        assert math.isfinite(result[framing]["test_rmse"])


def test_brownlee_airline_stateful(tmp_path):
    result = run_tutorial("brownlee_airline_stateful", tmp_path)
    for variant in ("stateful", "stacked_stateful"):
        losses = result[variant]["loss"]
        # Not first vs last: the first epoch, whose early months sit near 0 where a fresh network
        # predicts, scores below the second in Keras 3 as well (0.0049, 0.0081, 0.0069, ... there).
        assert len(losses) == 3 and all(math.isfinite(value) for value in losses), losses
        assert losses[2] < losses[1], f"{variant} loss did not fall after the first epoch: {losses}"
        assert result[variant]["test_predict_shape"] == [44, 1]


def test_brownlee_alphabet_stateful(tmp_path):
    result = run_tutorial("brownlee_alphabet_stateful", tmp_path)
    for variant in ("one_char", "window_time_steps", "stateful", "variable_length"):
        assert_fell(result[variant]["loss"], f"{variant} loss")
    recited = result["stateful"]["recited"]
    assert len(recited) == 26 and recited[0] == "A" and set(recited) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert result["variable_length"]["padded_shape"] == [100, 5, 1]


def test_brownlee_alice_textgen(tmp_path):
    result = run_tutorial("brownlee_alice_textgen", tmp_path)
    assert_fell(result["loss"])
    # ModelCheckpoint(save_best_only=True) wrote the epochs that improved; load_weights read the best back
    saved = sorted(path.name for path in tmp_path.glob("weights-improvement-*.hdf5"))
    lowest = min(result["loss"])
    best = f"weights-improvement-{result['loss'].index(lowest) + 1:02d}-{lowest:.4f}.hdf5"
    assert saved and result["checkpoint"] == saved[-1] == best
    assert len(result["generated"]) == 30
