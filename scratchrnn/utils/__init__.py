"""Keras-shaped utilities: ``to_categorical``, ``np_utils`` (the Keras 2 home of it),
``pad_sequences`` (Keras 3's ``keras.utils.pad_sequences``), ``get_file`` (also in ``data_utils``, its
Keras 2 home) and ``set_random_seed``."""

from __future__ import annotations

from ..preprocessing.sequence import pad_sequences
from ..rng import set_random_seed
from . import data_utils, np_utils
from .data_utils import get_file
from .np_utils import to_categorical

__all__ = ["data_utils", "get_file", "np_utils", "pad_sequences", "set_random_seed", "to_categorical"]
