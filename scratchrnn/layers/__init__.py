"""Layers: objects that own parameters, their gradients and (for stateful RNNs) the carried state.

They never hold the math of the cells: recurrent layers call a cell's forward/backward (``cells/`` or
the Numba ``kernels/``), and the few lines of math of the other layers sit beside them. The modules
follow Keras's split; ``base`` holds the contract every layer keeps.
"""

from __future__ import annotations

from .base import DTYPES, KerasTensor, Layer, Node
from .convolutional import Conv1D
from .core import Activation, Dense
from .embeddings import Embedding
from .input_layer import Input, InputLayer
from .masking import Masking
from .merging import Add, Concatenate, add, concatenate
from .pooling import (
    GlobalAveragePooling1D,
    GlobalAvgPool1D,
    GlobalMaxPool1D,
    GlobalMaxPooling1D,
    MaxPool1D,
    MaxPooling1D,
)
from .recurrent import GRU, LSTM, SimpleRNN
from .regularization import Dropout, SpatialDropout1D
from .reshaping import Flatten, RepeatVector, Reshape
from .wrappers import Bidirectional, TimeDistributed

_CLASSES = (SimpleRNN, LSTM, GRU, Dense, Activation, TimeDistributed, Bidirectional, Embedding, Conv1D,
            MaxPooling1D, GlobalMaxPooling1D, GlobalAveragePooling1D,
            Dropout, SpatialDropout1D, RepeatVector, Flatten, Reshape, Concatenate, Add, Masking)
LAYER_CLASSES = {cls.__name__: cls for cls in _CLASSES}


def deserialize(spec: dict) -> Layer:
    """Rebuild a layer from ``{"class_name": ..., "config": layer.get_config()}`` (checkpoints)."""
    class_name = spec["class_name"]
    if class_name not in LAYER_CLASSES:
        raise ValueError(f"class_name: expected one of {sorted(LAYER_CLASSES)}, got {class_name!r}")
    return LAYER_CLASSES[class_name].from_config(dict(spec["config"]))


def __getattr__(name: str):
    """A Keras layer scratchrnn does not have yet: say so, with the ones it has."""
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(f"scratchrnn.layers has no {name!r}; the layers it has are {sorted(LAYER_CLASSES)} "
                         "(the README's 'What runs' lists what is not supported yet)")


__all__ = ["DTYPES", "Input", "InputLayer", "KerasTensor", "Layer", "Node", "LAYER_CLASSES", "deserialize",
           *LAYER_CLASSES, "MaxPool1D", "GlobalMaxPool1D", "GlobalAvgPool1D",
           "concatenate", "add"]
