"""The library's one source of randomness: weight initialisation, shuffling and sampling all draw from
``generator()``, so ``set_random_seed`` makes a whole run reproducible and a checkpoint can store and
restore the exact position in the stream."""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def generator() -> np.random.Generator:
    return _generator


def set_random_seed(seed: int) -> None:
    """Reseed the library's generator (weights, shuffling, sampling)."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    _generator = np.random.default_rng(int(seed))


def get_state() -> dict:
    """The generator's state as plain JSON-able data."""
    return _generator.bit_generator.state


def set_state(state: dict) -> None:
    bit_generator = np.random.PCG64()
    bit_generator.state = state
    global _generator
    _generator = np.random.Generator(bit_generator)
