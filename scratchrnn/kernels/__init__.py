"""The speed: Numba versions of the cells, with the same functions, equation tags and results.

``kernels.simple_rnn``, ``kernels.lstm`` and ``kernels.gru`` have the same ``forward``/``backward`` as
``scratchrnn/cells`` (keyword options, cache in, ``Gradients`` out, the ledger too) and add no new math:
each line that computes an equation carries the tag of that equation in the cell module, where the
equations and their derivation are. In float64 they agree with the cells to 1e-12
(tests/test_kernels.py, with masks and dropout masks tests/test_kernels_masks.py; both also run them as
plain Python under NUMBA_DISABLE_JIT=1).
``scratchrnn.backend`` picks them by default.

The design and the measurements behind each choice (the "notes" the kernels' comments cite by number)
are in docs/performance.md.
"""

from . import _heap  # noqa: E402

_heap.prime()  # before the first training step: see _heap
