"""scratchrnn: SimpleRNN, LSTM and GRU written from scratch, with hand-written backpropagation through
time, a finite-difference checker, and a Keras-shaped API.

The top level carries the names tf.keras users reach for, so that ``import scratchrnn as keras`` serves
``keras.Sequential``, ``keras.Model``, ``keras.Input``, ``keras.layers.LSTM``, ``keras.optimizers.Adam``.
"""

__version__ = "0.1.0"

from . import (  # noqa: E402
    activations,
    callbacks,
    cells,
    generate,
    gradcheck,
    initializers,
    layers,
    losses,
    models,
    optimizers,
    preprocessing,
    text,
    utils,
)
from .backend import get_backend, set_backend  # noqa: E402
from .layers import Input  # noqa: E402
from .models import Model, Sequential  # noqa: E402
from .rng import set_random_seed  # noqa: E402

__all__ = ["activations", "callbacks", "cells", "generate", "gradcheck", "initializers", "layers", "losses",
           "models", "optimizers", "preprocessing", "text", "utils", "get_backend", "set_backend", "Input",
           "Model", "Sequential", "set_random_seed", "__version__"]
