"""Which implementation of the cell math the layers call: the NumPy reference (``cells/``) or the
Numba kernels (``kernels/``), globally or per layer (``LSTM(..., backend="numpy")``)."""

from __future__ import annotations

import importlib

BACKENDS = ("numpy", "numba")
_default = "numba"  # the kernels; "numpy" runs the reference cells


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
    package = "cells" if _check(backend or _default) == "numpy" else "kernels"
    return importlib.import_module(f"scratchrnn.{package}.{cell_name}")
