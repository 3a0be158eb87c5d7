"""The checker itself: it passes a right derivative and fails a planted wrong one."""

import numpy as np
import pytest

from scratchrnn import activations, gradcheck, layers


def test_checker_passes_a_known_derivative():
    x = np.linspace(-1.0, 1.0, 7)
    report = gradcheck.check_gradients(lambda: float(np.sum(np.sin(x))), {"x": x}, {"x": np.cos(x)})
    assert report.max_error < 1e-9
    assert report.passed()


def test_checker_fails_a_wrong_derivative_of_a_function():
    x = np.linspace(-1.0, 1.0, 7)
    report = gradcheck.check_gradients(lambda: float(np.sum(np.sin(x))), {"x": x}, {"x": -np.cos(x)})
    assert report.max_error > 0.5 and not report.passed()


def test_checker_fails_a_planted_wrong_derivative_inside_a_cell(monkeypatch):
    """tanh' written as 1 - a (instead of 1 - a^2) in the NumPy reference cell: the layer's backward
    is wrong, and the checker must say so for the weights and the input."""
    rng = np.random.default_rng(0)
    layer = layers.SimpleRNN(3, dtype="float64", return_sequences=True, backend="numpy")
    x = rng.standard_normal((2, 4, 3))
    layer.build(x.shape)
    layer.set_weights([rng.uniform(-0.7, 0.7, w.shape) for w in layer.get_weights()])
    assert gradcheck.check_layer(layer, x).max_error < 1e-6
    wrong = activations.Activation("tanh", np.tanh, lambda z, a: 1.0 - a)
    monkeypatch.setitem(activations._ACTIVATIONS, "tanh", wrong)
    report = gradcheck.check_layer(layer, x)
    assert report.max_error > 1e-2
    assert report["input"] > 1e-2 and report["kernel (3, 3)"] > 1e-2


def test_checker_fails_a_wrong_layer_backward():
    class WrongDense(layers.Dense):
        def backward(self, dy, through_activation=True):
            dx = super().backward(dy, through_activation)
            self.gradients[0][...] *= 1.01  # a 1% error in the kernel gradient
            return dx

    rng = np.random.default_rng(1)
    layer = WrongDense(4, activation="tanh", dtype="float64")
    x = rng.standard_normal((3, 5))
    layer.build(x.shape)
    report = gradcheck.check_layer(layer, x)
    assert report["kernel (5, 4)"] > 1e-3 and report["input"] < 1e-8


def test_checker_rejects_float32_and_reports_readably():
    with pytest.raises(TypeError, match="float64"):
        gradcheck.check_layer(layers.LSTM(2), np.zeros((1, 2, 2)))
    text = str(gradcheck.Report({"kernel": 1.5e-10, "input": 2e-9}))
    assert "kernel" in text and "2.000e-09" in text


def test_checker_holds_a_stateful_layers_state_fixed():
    """Without an explicit initial state, a stateful layer is checked from zero states that do not
    move between the loss evaluations (otherwise every evaluation would start somewhere else)."""
    rng = np.random.default_rng(2)
    layer = layers.LSTM(3, dtype="float64", stateful=True, return_sequences=True)
    x = rng.standard_normal((2, 4, 3))
    layer.build(x.shape)
    layer.set_weights([rng.uniform(-0.7, 0.7, w.shape) for w in layer.get_weights()])
    report = gradcheck.check_layer(layer, x)
    assert report.max_error < 1e-6 and "initial state 1" in report
    assert layer.states is None  # the layer's own carried state was never touched
