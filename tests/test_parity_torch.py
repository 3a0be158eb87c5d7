"""Parity with PyTorch in float64: same weights, same initial states, same outputs and gradients.

The layers hold their weights in the Keras layout; ``keras_to_torch`` below is the one place that
maps them onto ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` parameters (DESIGN.md, convention table).
Gradients come from torch autograd on one side and ``layer.backward`` on the other, for the loss
L = sum(P * outputs) + sum(Q * h_T) (+ sum(R * c_T) for the LSTM) with random P, Q, R, and must
agree to a relative 1e-9: float64 round-off, nothing else.
"""

import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scratchrnn import layers  # noqa: E402

RTOL, ATOL = 1e-9, 1e-12
SHAPES = [(1, 1, 1, 1), (3, 5, 4, 6), (2, 7, 3, 2)]  # (B, T, D, H), size-1 dims included
SHAPE_IDS = ["B1T1D1H1", "B3T5D4H6", "B2T7D3H2"]

# cell name -> (scratchrnn layer, its options, torch module, number of states)
CELLS = {
    "simple_rnn": (layers.SimpleRNN, {}, torch.nn.RNN, 1),
    "lstm": (layers.LSTM, {}, torch.nn.LSTM, 2),
    "gru": (layers.GRU, {"reset_after": True}, torch.nn.GRU, 1),
}
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


# -- the Keras <-> PyTorch weight mapping ----------------------------------------------------------

def keras_to_torch_gate_order(cell: str, units: int) -> np.ndarray:
    """Column indices that reorder a Keras gate axis (last axis, G*H) into PyTorch's gate order.

    SimpleRNN has one block; LSTM blocks i, f, c, o are PyTorch's i, f, g, o (same order);
    GRU blocks z, r, h (Keras) become r, z, n (PyTorch).
    """
    blocks = [1, 0, 2] if cell == "gru" else list(range(GATES[cell]))
    return np.concatenate([np.arange(b * units, (b + 1) * units) for b in blocks])


def keras_to_torch(cell: str, weights, split_rng=None) -> dict:
    """Keras-layout weights [kernel (D, G*H), recurrent_kernel (H, G*H), bias?] -> torch parameters.

        weight_ih_l0 = kernel[:, order].T               (G*H, D)
        weight_hh_l0 = recurrent_kernel[:, order].T     (G*H, H)
        SimpleRNN, LSTM: one Keras bias (G*H,); PyTorch adds two, so b_ih + b_hh = bias. With
            ``split_rng`` the bias is split at random between them (proving that only the sum
            matters), otherwise b_ih = bias and b_hh = 0.
        GRU (reset_after=True only): bias (2, 3H); row 0 (input) -> b_ih, row 1 (recurrent) -> b_hh,
            each reordered z, r, h -> r, z, n. reset_after=False has no PyTorch counterpart.

    ``order`` is ``keras_to_torch_gate_order``. Arrays are returned as NumPy, keyed by torch name.
    """
    kernel, recurrent_kernel, *rest = weights
    units = recurrent_kernel.shape[0]
    order = keras_to_torch_gate_order(cell, units)
    params = {"weight_ih_l0": kernel[:, order].T.copy(), "weight_hh_l0": recurrent_kernel[:, order].T.copy()}
    if rest:
        (bias,) = rest
        if cell == "gru":
            if bias.shape != (2, 3 * units):
                raise ValueError(f"bias: PyTorch's GRU is Keras's reset_after=True, bias shape "
                                 f"(2, {3 * units}); got {bias.shape}")
            params["bias_ih_l0"], params["bias_hh_l0"] = bias[0][order].copy(), bias[1][order].copy()
        else:
            b_ih = bias.copy() if split_rng is None else split_rng.uniform(-1.0, 1.0, bias.shape)
            params["bias_ih_l0"], params["bias_hh_l0"] = b_ih[order], (bias - b_ih)[order]
    return params


def torch_to_keras(cell: str, params: dict, gradients: bool = False) -> list:
    """The inverse of ``keras_to_torch``, for parameter values or (``gradients=True``) their gradients.

    The two differ only for a SimpleRNN/LSTM bias: its value is b_ih + b_hh, while its gradient is
    dL/db_ih (= dL/db_hh, since both enter the same sum).
    """
    units = params["weight_hh_l0"].shape[1]
    inverse = np.argsort(keras_to_torch_gate_order(cell, units))
    weights = [params["weight_ih_l0"].T[:, inverse], params["weight_hh_l0"].T[:, inverse]]
    if "bias_ih_l0" in params:
        b_ih, b_hh = params["bias_ih_l0"][inverse], params["bias_hh_l0"][inverse]
        if cell == "gru":
            weights.append(np.stack([b_ih, b_hh]))
        else:
            weights.append(b_ih if gradients else b_ih + b_hh)
    return [np.ascontiguousarray(w) for w in weights]


# -- running both sides ------------------------------------------------------------------------------

def available_backends(cell: str) -> list:
    """The NumPy reference always; the Numba kernels once ``scratchrnn.kernels.<cell>`` exists."""
    backends = ["numpy"]
    try:
        if importlib.util.find_spec(f"scratchrnn.kernels.{cell}") is not None:
            backends.append("numba")
    except ModuleNotFoundError:
        pass
    return backends


def rel_err(got, expected) -> float:
    """Norm-relative error ||got - expected|| / ||expected||."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return float(np.linalg.norm(got - expected) / max(np.linalg.norm(expected), 1e-300))


def run_pair(cell, batch, steps, features, units, *, go_backwards=False, use_bias=True, backend=None,
             seed=0) -> dict:
    """Run the scratchrnn layer and the mapped torch module on the same data.

    Returns {quantity: (scratchrnn value, torch value)} for the outputs, final states, dL/dx,
    dL/d(initial states) and every weight gradient in the Keras layout.
    """
    layer_cls, options, torch_cls, n_states = CELLS[cell]
    rng = np.random.default_rng(seed)
    layer = layer_cls(units, dtype="float64", return_sequences=True, return_state=True,
                      go_backwards=go_backwards, use_bias=use_bias, backend=backend, **options)
    x = rng.standard_normal((batch, steps, features))
    layer.build(x.shape)
    layer.set_weights([rng.uniform(-0.8, 0.8, w.shape) for w in layer.get_weights()])
    states = [rng.uniform(-0.9, 0.9, (batch, units)) for _ in range(n_states)]
    out, *finals = layer(x, initial_state=states)
    projections = [rng.standard_normal(out.shape)] + [rng.standard_normal(f.shape) for f in finals]
    dx = layer.backward(projections)

    module = torch_cls(features, units, batch_first=True, bias=use_bias, dtype=torch.float64)
    with torch.no_grad():
        for name, value in keras_to_torch(cell, layer.get_weights(), split_rng=rng).items():
            getattr(module, name).copy_(torch.from_numpy(value))
    x_t = torch.tensor(x, requires_grad=True)
    states_t = [torch.tensor(s[None], requires_grad=True) for s in states]  # (1, B, H) each
    hx = tuple(states_t) if cell == "lstm" else states_t[0]
    # Keras go_backwards reads the sequence from its end and returns outputs in that order.
    out_t, finals_t = module(x_t.flip(1) if go_backwards else x_t, hx)
    finals_t = [f[0] for f in (finals_t if cell == "lstm" else (finals_t,))]
    loss = sum((torch.from_numpy(p) * a).sum() for p, a in zip(projections, [out_t, *finals_t], strict=True))
    loss.backward()

    if use_bias and cell != "gru":  # both torch biases enter one sum: equal gradients
        np.testing.assert_allclose(module.bias_ih_l0.grad.numpy(), module.bias_hh_l0.grad.numpy(),
                                   rtol=1e-12, atol=1e-14)
    torch_grads = torch_to_keras(cell, {name: p.grad.numpy() for name, p in module.named_parameters()},
                                 gradients=True)
    names = ["h_T", "c_T"][:n_states]
    pairs = {"output": (out, out_t.detach().numpy())}
    pairs.update({name: (f, f_t.detach().numpy())
                  for name, f, f_t in zip(names, finals, finals_t, strict=True)})
    pairs["dx"] = (dx, x_t.grad.numpy())
    pairs.update({f"d{n[0]}0": (g, s.grad.numpy()[0])
                  for n, g, s in zip(names, layer.initial_state_gradients, states_t, strict=True)})
    pairs.update({f"d_{name}": (g, tg)
                  for name, g, tg in zip(layer.weight_names, layer.gradients, torch_grads, strict=True)})
    return pairs


def assert_parity(pairs):
    for name, (got, expected) in pairs.items():
        assert got.shape == expected.shape, name
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL, err_msg=name)
        assert rel_err(got, expected) <= RTOL, name


CASES = [(cell, backend) for cell in CELLS for backend in available_backends(cell)]
CASE_IDS = [f"{cell}-{backend}" for cell, backend in CASES]


# -- the tests ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("cell, backend", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_outputs_and_gradients_match_torch(cell, backend, shape):
    pairs = run_pair(cell, *shape, backend=backend, seed=sum(shape))
    expected = {"output", "h_T", "dx", "dh0", "d_kernel", "d_recurrent_kernel", "d_bias"}
    if cell == "lstm":
        expected |= {"c_T", "dc0"}
    assert set(pairs) == expected
    assert_parity(pairs)


@pytest.mark.parametrize("cell, backend", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("shape", SHAPES[1:], ids=SHAPE_IDS[1:])
def test_go_backwards_matches_torch_on_flipped_input(cell, backend, shape):
    assert_parity(run_pair(cell, *shape, go_backwards=True, backend=backend, seed=7))


@pytest.mark.parametrize("cell, backend", CASES, ids=CASE_IDS)
def test_without_bias_matches_torch(cell, backend):
    pairs = run_pair(cell, 2, 4, 3, 5, use_bias=False, backend=backend, seed=11)
    assert "d_bias" not in pairs
    assert_parity(pairs)


@pytest.mark.parametrize("cell", list(CELLS))
def test_keras_torch_mapping_helper_round_trips(cell):
    """The mapping helper is documented and exact: Keras -> torch -> Keras gives the weights back,
    with the torch shapes, whichever way a SimpleRNN/LSTM bias is split between b_ih and b_hh."""
    assert "weight_ih_l0 = kernel[:, order].T" in keras_to_torch.__doc__
    assert "r, z, n" in keras_to_torch_gate_order.__doc__
    layer_cls, options, torch_cls, _ = CELLS[cell]
    rng = np.random.default_rng(3)
    layer = layer_cls(4, dtype="float64", **options)
    layer.build((2, 3, 5))
    weights = [rng.uniform(-1, 1, w.shape) for w in layer.get_weights()]
    module = torch_cls(5, 4, batch_first=True, dtype=torch.float64)
    for split_rng in (None, rng):
        params = keras_to_torch(cell, weights, split_rng=split_rng)
        assert {k: v.shape for k, v in params.items()} == {
            name: tuple(p.shape) for name, p in module.named_parameters()}
        for original, back in zip(weights, torch_to_keras(cell, params), strict=True):
            np.testing.assert_allclose(back, original, rtol=0, atol=1e-15)
    if cell == "gru":  # the z block of Keras is PyTorch's second block, r its first
        np.testing.assert_array_equal(params["weight_ih_l0"][:4], weights[0][:, 4:8].T)
        np.testing.assert_array_equal(params["weight_ih_l0"][4:8], weights[0][:, :4].T)
        np.testing.assert_array_equal(params["bias_hh_l0"][8:], weights[2][1, 8:])


def test_mapping_helper_refuses_gru_reset_before():
    layer = layers.GRU(3, reset_after=False, dtype="float64")
    layer.build((1, 2, 2))
    with pytest.raises(ValueError, match="reset_after=True"):
        keras_to_torch("gru", layer.get_weights())
