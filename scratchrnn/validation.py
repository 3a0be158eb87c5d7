"""Checks at the public API: bad input raises a ValueError or TypeError that names the argument, what
was expected and what came, before any arithmetic can fail obscurely."""

from __future__ import annotations

import numpy as np


def check_array(value, name: str, rank: int | None = None, min_rank: int | None = None,
                dtype=None, allow_empty: bool = False) -> np.ndarray:
    """``value`` as a finite floating-point array (of ``dtype`` when given) of the expected rank.

    Errors: TypeError for None, strings, objects and complex numbers; ValueError for a ragged nesting,
    a wrong rank, an empty array (unless ``allow_empty``) and NaN or infinity."""
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name}: expected a numeric array, got {type(value).__name__}")
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"{name}: expected a rectangular numeric array, got {error}") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{name}: expected a numeric array, got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise TypeError(f"{name}: expected real numbers, got dtype {array.dtype}")
    if rank is not None and array.ndim != rank:
        raise ValueError(f"{name}: expected a {rank}-D array, got shape {array.shape}")
    if min_rank is not None and array.ndim < min_rank:
        raise ValueError(f"{name}: expected at least {min_rank} dimensions, got shape {array.shape}")
    if array.size == 0 and not allow_empty:
        raise ValueError(f"{name}: expected a non-empty array, got shape {array.shape}")
    array = array.astype(dtype if dtype is not None else np.result_type(array.dtype, np.float32),
                         copy=False)
    if not np.all(np.isfinite(array)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(f"{name}: expected finite numbers, got {array[bad]} at index {bad}")
    return array


def check_targets(value, name: str, like: np.ndarray) -> np.ndarray:
    """Targets with the same shape as the predictions ``like``."""
    array = check_array(value, name, dtype=like.dtype)
    if array.shape != like.shape:
        raise ValueError(f"{name}: expected shape {like.shape} to match the predictions, got {array.shape}")
    return array


def check_positive_int(value, name: str, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def check_choice(value, name: str, choices):
    try:
        known = value in choices
    except (TypeError, ValueError):  # an unhashable value in a set, an array compared with a number
        known = False
    if not known:
        raise ValueError(f"{name}: expected one of {sorted(choices, key=repr)}, got {value!r}")
    return value


def check_fraction(value, name: str) -> float:
    """A real number in [0, 1)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a fraction in [0, 1), got {type(value).__name__} {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: expected a fraction in [0, 1), got {value!r}")
    return float(value)
