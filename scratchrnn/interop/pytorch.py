"""PyTorch interop: a stack of scratchrnn recurrent layers <-> the state dict of one ``torch.nn.RNN``,
``torch.nn.LSTM`` or ``torch.nn.GRU`` with ``batch_first=True``.

The mapping (DESIGN.md, convention table), for layer k of the stack:

    weight_ih_l{k} = kernel[:, order].T               (G*H, D)      G gates: 1 RNN, 4 LSTM, 3 GRU
    weight_hh_l{k} = recurrent_kernel[:, order].T     (G*H, H)
    SimpleRNN, LSTM: PyTorch adds two biases where Keras has one, so bias = bias_ih + bias_hh;
        scratchrnn -> PyTorch writes bias_ih = bias, bias_hh = 0.
    GRU (reset_after=True only): bias (2, 3H); row 0 (input side) = bias_ih, row 1 (recurrent side)
        = bias_hh. A GRU with reset_after=False applies the reset gate before U_h, which PyTorch's GRU
        cannot express: it raises a ValueError.
    use_bias=False is PyTorch's bias=False (no bias_* keys).

``order`` reorders the gate blocks: LSTM i, f, c, o is PyTorch's i, f, g, o (unchanged); GRU z, r, h
(Keras) is r, z, n (PyTorch); it is its own inverse. The torch module that matches is
``torch.nn.LSTM(D, H, num_layers=len(layers), bias=use_bias, batch_first=True, dtype=...)``
(``to_torch_module`` builds it); its outputs equal the last layer's outputs when every layer returns
sequences, and its final states are the layers' final states.

PyTorch is imported inside the functions that need it: the rest of scratchrnn never requires it.
"""

from __future__ import annotations

import numpy as np

from .. import layers as layers_module

_TORCH_CLASS = {layers_module.SimpleRNN: "RNN", layers_module.LSTM: "LSTM", layers_module.GRU: "GRU"}
_GATES = {layers_module.SimpleRNN: 1, layers_module.LSTM: 4, layers_module.GRU: 3}


def recurrent_layers(layers_or_model) -> list:
    """The recurrent layers to map, in order.

    Accepts one recurrent layer, a list/tuple of them, or a Sequential, whose SimpleRNN/LSTM/GRU
    layers are taken in order (its Dense, Embedding, ... layers are not part of a torch RNN module
    and are skipped). All must be of one type, with one width and the options PyTorch can express.
    """
    if isinstance(layers_or_model, layers_module.Layer):
        candidates = [layers_or_model]
        explicit = True
    elif hasattr(layers_or_model, "layers") and not isinstance(layers_or_model, (list, tuple)):
        candidates = [layer for layer in layers_or_model.layers if type(layer) in _TORCH_CLASS]
        explicit = False
    else:
        candidates = list(layers_or_model)
        explicit = True
    if not candidates:
        raise ValueError("layers: expected at least one SimpleRNN, LSTM or GRU layer, got none")
    for i, layer in enumerate(candidates):
        if explicit and type(layer) not in _TORCH_CLASS:
            raise TypeError(f"layers[{i}]: expected a scratchrnn SimpleRNN, LSTM or GRU layer, "
                            f"got {type(layer).__name__}")
    kind = type(candidates[0])
    for layer in candidates[1:]:
        if type(layer) is not kind:
            raise ValueError(f"layers: a torch.nn.{_TORCH_CLASS[kind]} stacks one layer type; got "
                             f"{kind.__name__} {candidates[0].name!r} and "
                             f"{type(layer).__name__} {layer.name!r}")
        if layer.units != candidates[0].units:
            raise ValueError(f"layers: a torch.nn.{_TORCH_CLASS[kind]} has one hidden_size for all its "
                             f"layers; got units {candidates[0].units} ({candidates[0].name!r}) and "
                             f"{layer.units} ({layer.name!r})")
        if layer.use_bias != candidates[0].use_bias:
            raise ValueError(f"layers: a torch.nn.{_TORCH_CLASS[kind]} has one bias setting for all its "
                             f"layers; {candidates[0].name!r} and {layer.name!r} differ in use_bias")
        if layer.dtype != candidates[0].dtype:
            raise ValueError(f"layers: expected one dtype; {candidates[0].name!r} is {candidates[0].dtype}, "
                             f"{layer.name!r} is {layer.dtype}")
    for layer in candidates:
        _check_expressible(layer)
    return candidates


def _check_expressible(layer) -> None:
    name = f"{type(layer).__name__} {layer.name!r}"
    if isinstance(layer, layers_module.GRU) and not layer.reset_after:
        raise ValueError(f"{name} has reset_after=False (reset gate applied before the recurrent "
                         "kernel), which PyTorch's nn.GRU cannot express: it implements reset_after=True "
                         "only. Use GRU(..., reset_after=True).")
    if layer.go_backwards:
        raise ValueError(f"{name} has go_backwards=True, which torch.nn RNN modules have no option for; "
                         "flip the input along time (and the outputs back) yourself")
    if isinstance(layer, layers_module.SimpleRNN):
        if layer.activation not in ("tanh", "relu"):
            raise ValueError(f"{name} has activation {layer.activation!r}; torch.nn.RNN offers "
                             "nonlinearity 'tanh' or 'relu' only")
    elif layer.activation != "tanh" or layer.recurrent_activation != "sigmoid":
        raise ValueError(f"{name} has activation {layer.activation!r} and recurrent_activation "
                         f"{layer.recurrent_activation!r}; torch.nn.{_TORCH_CLASS[type(layer)]} computes "
                         "tanh and sigmoid only")


def gate_order(kind, units: int) -> np.ndarray:
    """Column indices that reorder a Keras gate axis (G*H) into PyTorch's gate order (and back)."""
    blocks = [1, 0, 2] if kind is layers_module.GRU else list(range(_GATES[kind]))
    return np.concatenate([np.arange(b * units, (b + 1) * units) for b in blocks])


def keras_arrays_to_torch(kind, arrays, index: int = 0) -> dict:
    """One layer's Keras-layout arrays [kernel, recurrent_kernel, bias?] -> NumPy arrays by torch name."""
    kernel, recurrent_kernel, *rest = arrays
    order = gate_order(kind, recurrent_kernel.shape[0])
    params = {f"weight_ih_l{index}": kernel[:, order].T, f"weight_hh_l{index}": recurrent_kernel[:, order].T}
    if rest:
        (bias,) = rest
        if kind is layers_module.GRU:
            b_ih, b_hh = bias[0][order], bias[1][order]
        else:
            b_ih, b_hh = bias[order], np.zeros_like(bias)
        params[f"bias_ih_l{index}"], params[f"bias_hh_l{index}"] = b_ih, b_hh
    return {key: np.ascontiguousarray(value) for key, value in params.items()}


def torch_arrays_to_keras(kind, params: dict, index: int = 0, gradients: bool = False) -> list:
    """The inverse of ``keras_arrays_to_torch`` for layer ``index``, for parameter values or, with
    ``gradients=True``, for their gradients.

    The two differ only for a SimpleRNN/LSTM bias: its value is bias_ih + bias_hh, its gradient is
    dL/dbias_ih (= dL/dbias_hh: both enter the same sum).
    """
    w_ih, w_hh = params[f"weight_ih_l{index}"], params[f"weight_hh_l{index}"]
    order = gate_order(kind, w_hh.shape[1])  # an involution: it is also the inverse
    arrays = [w_ih.T[:, order], w_hh.T[:, order]]
    if f"bias_ih_l{index}" in params:
        b_ih, b_hh = params[f"bias_ih_l{index}"][order], params[f"bias_hh_l{index}"][order]
        if kind is layers_module.GRU:
            arrays.append(np.stack([b_ih, b_hh]))
        else:
            arrays.append(b_ih if gradients else b_ih + b_hh)
    return [np.ascontiguousarray(a) for a in arrays]


def _as_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor or parameter
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def to_torch_state_dict(layers_or_model) -> dict:
    """The state dict of the matching torch.nn.RNN/LSTM/GRU (see the module docstring): torch tensors
    keyed ``weight_ih_l{k}``, ``weight_hh_l{k}`` (and ``bias_ih_l{k}``, ``bias_hh_l{k}``), in the
    layers' dtype. Requires torch."""
    import torch

    stack = recurrent_layers(layers_or_model)
    state = {}
    for k, layer in enumerate(stack):
        if not layer.built:
            raise ValueError(f"layers[{k}]: {layer.name!r} is not built; build it (or run it once) first")
        for key, value in keras_arrays_to_torch(type(layer), layer.get_weights(), k).items():
            state[key] = torch.from_numpy(value)
    return state


def to_torch_module(layers_or_model):
    """A new ``torch.nn.RNN``/``LSTM``/``GRU`` (batch_first=True) holding the layers' weights."""
    import torch

    stack = recurrent_layers(layers_or_model)
    state = to_torch_state_dict(stack)
    first = stack[0]
    kwargs = {"num_layers": len(stack), "bias": first.use_bias, "batch_first": True,
              "dtype": getattr(torch, first.dtype.name)}
    if isinstance(first, layers_module.SimpleRNN):
        kwargs["nonlinearity"] = first.activation
    module = getattr(torch.nn, _TORCH_CLASS[type(first)])(first.weights[0].shape[0], first.units, **kwargs)
    module.load_state_dict(state)
    return module


def from_torch_state_dict(state_dict, layers) -> None:
    """Set the weights of ``layers`` (see ``recurrent_layers``) from a torch RNN/LSTM/GRU state dict
    (torch tensors or NumPy arrays; a torch module is accepted too and its ``state_dict()`` used).

    Unbuilt layers are built from the state dict's shapes. Raises ValueError when the state dict does
    not describe this stack: another number of layers, bias or no bias, other shapes, keys that
    scratchrnn has no counterpart for (bidirectional ``*_reverse``, LSTM ``weight_hr`` projections).
    """
    if hasattr(state_dict, "state_dict") and callable(state_dict.state_dict):
        state_dict = state_dict.state_dict()
    params = {str(key): _as_numpy(value) for key, value in dict(state_dict).items()}
    stack = recurrent_layers(layers)
    kind = type(stack[0])
    expected = set()
    for k, layer in enumerate(stack):
        expected |= {f"weight_ih_l{k}", f"weight_hh_l{k}"}
        if layer.use_bias:
            expected |= {f"bias_ih_l{k}", f"bias_hh_l{k}"}
    missing, unexpected = sorted(expected - set(params)), sorted(set(params) - expected)
    if missing or unexpected:
        layer_count = len({key.rsplit("_l", 1)[-1] for key in params if key.startswith("weight_ih_l")})
        raise ValueError(
            f"state_dict: expected the keys of a {len(stack)}-layer torch.nn.{_TORCH_CLASS[kind]} with "
            f"bias={stack[0].use_bias} for {[layer.name for layer in stack]}, got {layer_count} layer(s); "
            f"missing {missing}, unexpected {unexpected}")
    gates = _GATES[kind] * stack[0].units
    converted = []
    for k, layer in enumerate(stack):
        w_ih, w_hh = params[f"weight_ih_l{k}"], params[f"weight_hh_l{k}"]
        if w_ih.ndim != 2 or w_ih.shape[0] != gates or w_hh.shape != (gates, layer.units):
            raise ValueError(f"state_dict: layer {k} ({layer.name!r}, {kind.__name__}({layer.units})) "
                             f"expects weight_ih_l{k} of shape ({gates}, D) and weight_hh_l{k} of shape "
                             f"({gates}, {layer.units}); got {w_ih.shape} and {w_hh.shape}")
        for key in (f"bias_ih_l{k}", f"bias_hh_l{k}"):
            if key in params and params[key].shape != (gates,):
                raise ValueError(f"state_dict: layer {k} ({layer.name!r}) expects {key} of shape "
                                 f"({gates},), got {params[key].shape}")
        converted.append(torch_arrays_to_keras(kind, params, k))
    for layer, arrays in zip(stack, converted):
        if not layer.built:
            layer.build((None, None, arrays[0].shape[0]))
        elif layer.weights[0].shape != arrays[0].shape:
            raise ValueError(f"state_dict: {layer.name!r} was built for {layer.weights[0].shape[0]} input "
                             f"features, the state dict's layer has {arrays[0].shape[0]}")
    for layer, arrays in zip(stack, converted):
        layer.set_weights(arrays)
