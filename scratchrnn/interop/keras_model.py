"""Keras 3 interop: a scratchrnn Sequential <-> an equivalent ``keras.Sequential``, same weights.

The layouts are the same by design (DESIGN.md): every weight goes across unchanged through
``get_weights``/``set_weights``; only the layer configurations are translated. Supported layers:
SimpleRNN, LSTM, GRU (both reset_after variants), Dense, TimeDistributed(Dense), Activation, Embedding.

Keras is imported inside the functions, so the rest of scratchrnn never requires it.
"""

from __future__ import annotations

import warnings

from .. import layers as layers_module

_RECURRENT = ("SimpleRNN", "LSTM", "GRU")
SUPPORTED = (*_RECURRENT, "Dense", "TimeDistributed", "Activation", "Embedding")


def _keras():
    try:
        import keras
    except ImportError as error:  # pragma: no cover - keras is in the "parity" extra
        raise ImportError("to_keras/from_keras need Keras 3: pip install keras tensorflow-cpu "
                          "(or scratchrnn[parity])") from error
    return keras


# -- scratchrnn -> Keras -----------------------------------------------------------------------------

def _keras_layer(keras, layer, name):
    kind = type(layer).__name__
    common = {"dtype": str(layer.dtype)}
    if name is not None:
        common["name"] = name
    if kind in _RECURRENT:
        options = dict(units=layer.units, activation=layer.activation, use_bias=layer.use_bias,
                       return_sequences=layer.return_sequences, go_backwards=layer.go_backwards,
                       stateful=layer.stateful, **common)
        if kind == "LSTM":
            options.update(recurrent_activation=layer.recurrent_activation,
                           unit_forget_bias=layer.unit_forget_bias)
        elif kind == "GRU":
            options.update(recurrent_activation=layer.recurrent_activation, reset_after=layer.reset_after)
        return getattr(keras.layers, kind)(**options)
    if kind == "Dense":
        return keras.layers.Dense(layer.units, activation=layer.activation, use_bias=layer.use_bias, **common)
    if kind == "Activation":
        return keras.layers.Activation(layer.activation, **common)
    if kind == "Embedding":
        return keras.layers.Embedding(layer.input_dim, layer.output_dim, **common)
    if kind == "TimeDistributed":
        inner_name = None if name is None else layer.layer.name
        return keras.layers.TimeDistributed(_keras_layer(keras, layer.layer, inner_name), **common)
    raise TypeError(f"layer {layer.name!r}: to_keras supports {list(SUPPORTED)}, got {kind}")


def to_keras(model):
    """A new ``keras.Sequential`` equivalent to the built scratchrnn ``model``, holding its weights.

    Its input is ``keras.Input(batch_shape=model.build_input_shape)`` (int32 ids when the first layer
    is an Embedding); layer names (wrapped layers' too) are kept when they are unique within the model.
    """
    keras = _keras()
    if not model.built:
        raise ValueError("model: expected a built model; train it or call build(input_shape) first")
    shape = tuple(model.build_input_shape)
    stateful = [layer for layer in model.layers if getattr(layer, "stateful", False)]
    if stateful and shape[0] is None and stateful[0].stateful_batch_size is not None:
        shape = (stateful[0].stateful_batch_size, *shape[1:])
    first = model.layers[0]
    input_dtype = "int32" if isinstance(first, layers_module.Embedding) else str(model.dtype)
    names = [layer.name for layer in model.layers]
    names += [layer.layer.name for layer in model.layers if isinstance(layer, layers_module.TimeDistributed)]
    unique = len(set(names)) == len(names)
    keras_layers = [_keras_layer(keras, layer, layer.name if unique else None) for layer in model.layers]
    keras_model = keras.Sequential([keras.Input(batch_shape=shape, dtype=input_dtype), *keras_layers],
                                   name=model.name)
    for layer, keras_layer in zip(model.layers, keras_layers):
        keras_layer.set_weights(layer.get_weights())
    return keras_model


# -- Keras -> scratchrnn -----------------------------------------------------------------------------

def _dtype_of(keras_layer) -> str:
    policy = getattr(keras_layer, "dtype_policy", None)
    variable, compute = (policy.variable_dtype, policy.compute_dtype) if policy is not None else (
        keras_layer.dtype, keras_layer.dtype)
    if variable != compute or variable not in layers_module.DTYPES:
        raise ValueError(f"Keras layer {keras_layer.name!r}: scratchrnn computes in float32 or float64 "
                         f"throughout, got variable dtype {variable} and compute dtype {compute}")
    return variable


def _check_config(config, name, kind) -> None:
    if config.get("mask_zero"):
        raise ValueError(f"Keras layer {name!r} ({kind}) has mask_zero=True; scratchrnn has no masking")
    if config.get("return_state"):
        raise ValueError(f"Keras layer {name!r} ({kind}) has return_state=True, which a Sequential "
                         "cannot pass on")
    dropped = [key for key in ("dropout", "recurrent_dropout") if config.get(key)]
    dropped += [key for key, value in config.items()
                if value is not None and key.endswith(("_regularizer", "_constraint"))]
    if dropped:
        warnings.warn(f"from_keras: Keras layer {name!r} ({kind}) sets {dropped}, which scratchrnn's "
                      f"{kind} does not have; the converted layer computes the same inference outputs "
                      "but trains without them", UserWarning, stacklevel=4)


def _scratch_layer(keras_layer, **extra):
    kind = type(keras_layer).__name__
    if kind not in SUPPORTED:
        raise TypeError(f"Keras layer {keras_layer.name!r}: from_keras supports {list(SUPPORTED)}, "
                        f"got {kind}")
    config = keras_layer.get_config()
    _check_config(config, keras_layer.name, kind)
    common = dict(name=keras_layer.name, dtype=_dtype_of(keras_layer), **extra)
    if kind in _RECURRENT:
        options = {key: config[key] for key in ("units", "activation", "use_bias", "return_sequences",
                                                 "go_backwards", "stateful")}
        if kind in ("LSTM", "GRU"):
            options["recurrent_activation"] = config["recurrent_activation"]
        if kind == "LSTM":
            options["unit_forget_bias"] = config.get("unit_forget_bias", True)
        if kind == "GRU":
            options["reset_after"] = config.get("reset_after", True)
        return getattr(layers_module, kind)(**options, **common)
    if kind == "Dense":
        return layers_module.Dense(config["units"], activation=config["activation"],
                                   use_bias=config["use_bias"], **common)
    if kind == "Activation":
        return layers_module.Activation(config["activation"], **common)
    if kind == "Embedding":
        return layers_module.Embedding(config["input_dim"], config["output_dim"], **common)
    inner = keras_layer.layer
    if type(inner).__name__ not in ("Dense", "Activation"):
        raise TypeError(f"Keras layer {keras_layer.name!r}: from_keras supports TimeDistributed(Dense) "
                        f"and TimeDistributed(Activation), got TimeDistributed({type(inner).__name__})")
    return layers_module.TimeDistributed(_scratch_layer(inner), **common)


def _input_shape(keras_model) -> tuple:
    try:
        inputs = keras_model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if inputs:
        return tuple(inputs[0].shape)
    raise ValueError("keras_model: expected a built Keras Sequential with a known input shape "
                     "(start it with keras.Input(shape=...) or call build(input_shape)), got an unbuilt one")


def from_keras(keras_model):
    """A new scratchrnn Sequential equivalent to the Keras 3 ``keras_model``, holding its weights.

    ``keras_model`` is a built ``keras.Sequential`` of the SUPPORTED layer types; the first scratchrnn
    layer gets the Keras input shape as ``batch_input_shape`` (so stateful models keep their batch size)
    and every layer keeps its Keras name.
    """
    from ..models import Sequential

    _keras()
    if not hasattr(keras_model, "layers") or type(keras_model).__name__ != "Sequential":
        raise TypeError(f"keras_model: expected a keras.Sequential, got {type(keras_model).__name__}")
    shape = _input_shape(keras_model)
    keras_layers = list(keras_model.layers)
    if not keras_layers:
        raise ValueError("keras_model: expected at least one layer, got none")
    scratch_layers = [_scratch_layer(layer, **({"batch_input_shape": shape} if i == 0 else {}))
                      for i, layer in enumerate(keras_layers)]
    model = Sequential(scratch_layers, name=keras_model.name)
    model.build(shape)
    for layer, keras_layer in zip(scratch_layers, keras_layers):
        layer.set_weights(keras_layer.get_weights())
    return model
