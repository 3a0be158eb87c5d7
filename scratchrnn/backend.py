"""Which implementation of the cell math the layers call: the NumPy reference (``cells/``) or the
Numba kernels (``kernels/``), globally or per layer (``LSTM(..., backend="numpy")``)."""

from __future__ import annotations

import importlib

BACKENDS = ("numpy", "numba")
_default = "numba"  # the kernels; "numpy" runs the reference cells
_modules: dict = {}


def set_backend(name: str) -> None:
    """Choose the default implementation for layers that do not name one."""
    global _default
    _default = _check(name)


def get_backend() -> str:
    return _default


def _check(name):
    if name not in BACKENDS:
        raise ValueError(f"backend: expected one of {list(BACKENDS)}, got {name!r}")
    return name


def cell_module(cell_name: str, backend: str | None = None):
    """The module with ``forward``/``backward`` for ``cell_name`` under ``backend`` (None: default)."""
    key = (cell_name, backend or _default)
    module = _modules.get(key)
    if module is None:  # first use: check the name once, then the lookup is one dict access per call
        package = "cells" if _check(key[1]) == "numpy" else "kernels"
        module = _modules[key] = importlib.import_module(f"scratchrnn.{package}.{cell_name}")
    return module
