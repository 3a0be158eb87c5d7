"""Keras-shaped utilities: ``to_categorical``, ``np_utils`` (the Keras 2 home of it) and
``set_random_seed``."""

from __future__ import annotations

from ..rng import set_random_seed
from . import np_utils
from .np_utils import to_categorical

__all__ = ["np_utils", "set_random_seed", "to_categorical"]
