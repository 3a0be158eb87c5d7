"""Models: ``Model(inputs, outputs)`` over a graph of layer calls, ``Sequential`` as a chain of them,
one training engine for both, and ``load_model`` for the native checkpoints.

    functional.py   the graph: nodes in topological order, forward and backward over them
    sequential.py   a stack of layers made into a chain-shaped graph
    training.py     compile, fit, evaluate, predict, train_on_batch, the flat parameter buffer
    fitting.py      the epoch loop of fit
    data.py         inputs and targets as the engine takes them
    summary.py      model.summary()
"""

from __future__ import annotations

from ..layers.input_layer import Input
from .functional import Model
from .sequential import Sequential
from .training import TRANSIENT_GRADIENT_BYTES


def load_model(filepath, restore_rng: bool = True):
    """Rebuild a model from a checkpoint written by ``model.save``: architecture, weights, and, when
    saved, the compiled optimizer with its state, the epoch and step counters, the vocabulary, and
    (``restore_rng``) the library's random-number state, so that training resumes bit for bit.

    Errors: FileNotFoundError when there is no file; ``saving.CheckpointError`` (a ValueError) for
    anything that is not a loadable checkpoint: empty, truncated or corrupted (each array carries a
    CRC-32), a foreign file, a pickle (never unpickled), a newer format version, a header with wrong
    fields, weights that are not finite. Nothing in the file is ever executed."""
    from .. import saving

    return saving.load_checkpoint(filepath, restore_rng=restore_rng)


__all__ = ["Input", "Model", "Sequential", "TRANSIENT_GRADIENT_BYTES", "load_model"]
