"""The demos end to end, each in a tiny configuration, as a user runs them: a subprocess in a fresh
directory."""

from __future__ import annotations

import importlib.util
import os
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMOS = REPO / "demos"
AIRLINE_CSV = (REPO / ".." / "shared" / "data" / "airline-passengers.csv").resolve()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_demo(name, *args, cwd):
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, str(DEMOS / name), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def has_matplotlib():
    return importlib.util.find_spec("matplotlib") is not None


def load_demo(name):
    spec = importlib.util.spec_from_file_location(f"demo_{name}", DEMOS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------- alphabet

PAIR = re.compile(r"^([A-Z]) -> ([A-Z])$")


def test_alphabet_tiny_prints_the_tutorials_output(tmp_path):
    result = run_demo("alphabet.py", "--epochs", 30, "--units", 16, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # the 25 training pairs, first
    pairs = [f"{a} -> {b}" for a, b in zip(string.ascii_uppercase, string.ascii_uppercase[1:])]
    start = lines.index("A -> B")
    assert lines[start:start + 25] == pairs
    # the real accuracy, after training
    accuracy = [i for i, line in enumerate(lines) if line.startswith("Model Accuracy:")]
    assert len(accuracy) == 1
    assert re.fullmatch(r"Model Accuracy: \d{1,3}\.\d\d%", lines[accuracy[0]])
    assert any(line.startswith("Training time:") for line in lines)
    # the chain from A: each prediction is the next input
    chain = lines[accuracy[0] + 1:accuracy[0] + 26]
    matches = [PAIR.match(line) for line in chain]
    assert all(matches), chain
    assert matches[0].group(1) == "A"
    for before, after in zip(matches, matches[1:]):
        assert after.group(1) == before.group(2)
    # a new start from K, five steps
    new_start = lines.index("New start:  K")
    steps = [PAIR.match(line) for line in lines[new_start + 1:new_start + 6]]
    assert all(steps) and steps[0].group(1) == "K"
    assert len(lines) == new_start + 6


def test_alphabet_is_deterministic_for_a_seed(tmp_path):
    def stripped(seed):
        result = run_demo("alphabet.py", "--epochs", 20, "--units", 8, "--seed", seed, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return [line for line in result.stdout.splitlines() if "time" not in line.lower()]

    first = stripped(3)
    assert first == stripped(3)
    assert any(line.startswith("epoch 20/20 - loss:") for line in first)


# ----------------------------------------------------------------------------------------- timeseries

def test_timeseries_tiny_prints_rmse_and_writes_the_plot(tmp_path):
    if not AIRLINE_CSV.is_file():
        pytest.skip(f"airline-passengers.csv not found at {AIRLINE_CSV}")
    result = run_demo("timeseries.py", "--csv", AIRLINE_CSV, "--epochs", 2, "--plot", "out.png",
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    scores = re.findall(r"^(Train|Test) Score: (\d+\.\d\d) RMSE$", result.stdout, flags=re.M)
    assert [name for name, _ in scores] == ["Train", "Test"]
    assert all(0.0 < float(value) < 1000.0 for _, value in scores)  # passengers (thousands), not [0, 1]
    if has_matplotlib():
        assert (tmp_path / "out.png").read_bytes()[:8] == PNG_MAGIC


def test_timeseries_missing_csv_exits_1_with_a_message(tmp_path):
    result = run_demo("timeseries.py", "--csv", tmp_path / "missing.csv", cwd=tmp_path)
    assert result.returncode == 1
    assert "missing.csv does not exist" in result.stderr
    assert "--csv" in result.stderr
    assert "Traceback" not in result.stderr


# -------------------------------------------------------------------------------- vanishing gradients

def test_vanishing_gradients_tiny_prints_the_table_and_writes_the_plot(tmp_path):
    result = run_demo("vanishing_gradients.py", "--steps", 8, "--units", 4, "--batch", 3, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("distance"))
    assert lines[header].split() == ["distance", "SimpleRNN", "LSTM", "GRU"]
    rows = [line.split() for line in lines[header + 1:] if re.match(r"^\s+\d+\s", line)]
    assert [int(row[0]) for row in rows] == [0, 1, 2, 5, 7]
    assert all(len(row) == 4 and all(float(v) > 0 for v in row[1:]) for row in rows)
    if has_matplotlib():
        assert (tmp_path / "vanishing_gradients.png").read_bytes()[:8] == PNG_MAGIC


def test_simple_rnn_gradient_vanishes_at_default_init():
    demo = load_demo("vanishing_gradients")
    norms = demo.gradient_norms(demo.SimpleRNN, units=16, steps=30, batch=4, seed=1)
    assert norms.shape == (30,)
    assert norms[0] > norms[-1] > 0
    assert norms[-1] < 1e-2 * norms[0]  # orders of magnitude over 29 steps, not a small wobble


# ------------------------------------------------------------------------------------------- masking

ACCURACY_PAIR = r"([01]\.\d{3})\s+([01]\.\d{3})"  # train, validation
MASKING_ROW = re.compile(rf"^\s*(\d+)/(\d+)\s+\|\s+{ACCURACY_PAIR}\s+\|\s+{ACCURACY_PAIR}$")
MASKING_FINAL = re.compile(r"^Final validation accuracy: masked ([01]\.\d{3}), unmasked ([01]\.\d{3}) \(")


def test_masking_tiny_prints_both_models_per_epoch_and_the_mask_helps(tmp_path):
    # seed 3 at this size: masked 0.838, unmasked 0.562 on the validation set (measured); other seeds
    # at this size are closer (seed 6: 0.487 vs 0.475), hence the fixed seed
    result = run_demo("masking.py", "--samples", 400, "--epochs", 4, "--units", 8, "--seed", 3, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = [MASKING_ROW.match(line) for line in lines]
    rows = [row for row in rows if row]
    assert [(int(row.group(1)), int(row.group(2))) for row in rows] == [(epoch, 4) for epoch in range(1, 5)]
    finals = [MASKING_FINAL.match(line) for line in lines if line.startswith("Final validation accuracy:")]
    assert len(finals) == 1 and finals[0], lines
    masked, unmasked = float(finals[0].group(1)), float(finals[0].group(2))
    # the final line repeats the last row's validation accuracies
    assert (masked, unmasked) == (float(rows[-1].group(4)), float(rows[-1].group(6)))
    assert masked >= unmasked + 0.1
    assert "(masked ahead by" in lines[-1]
