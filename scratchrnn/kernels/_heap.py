"""Keeping a training step's arrays in glibc's heap from one step to the next.

A training step makes and frees the same arrays every time (caches, logits, gradients: ~12 MB for an
LSTM or GRU of 128 units at B32 T50). glibc gives the free memory at the top of its heap back to the
OS once more than its trim threshold lies there, and that threshold is twice the "mmap threshold",
which starts at 128 KiB and rises to the size of the largest block freed so far, up to 32 MiB
(mallopt(3), "dynamic mmap threshold"). Such a step's largest array is ~3 MB, so the heap shrank at the
end of each step and the next step faulted the pages back in: ~1,300 page faults per GRU(128) step.
Whether it happened depended on where small long-lived blocks landed, so the same code ran at two speeds
from process to process. Medians of 30 steps, ms, one process each, faulting / after ``prime``: GRU(128)
12.96 / 10.09, SimpleRNN(128) 6.89 / 5.33; LSTM(128) 8.45 (when it faulted) / 6.70-7.03. The peak RSS of
the 3 x LSTM(700) step stayed at 401 MB: its 12.8 MB caches already lift the threshold themselves.

``prime`` frees one block of ``PRIMED_BYTES`` at import, which lifts the threshold as a larger model's
first step would: arrays below 16 MiB come from the heap and up to 32 MiB of free heap are kept.
glibc's own rule stays in charge (unlike ``mallopt``, which would fix both thresholds for the whole
process); elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import platform

import numpy as np

PRIMED_BYTES = 16 << 20
# The request is a page short, so that with glibc's chunk header, rounded up to whole pages, the mapped
# block is PRIMED_BYTES (a block of more than 32 MiB would leave the threshold where it is).
_PAGE = 4096


def prime() -> bool:
    """Lift glibc's dynamic mmap threshold to PRIMED_BYTES; False where the C library is not glibc."""
    if platform.libc_ver()[0] != "glibc":
        return False
    block = np.empty(PRIMED_BYTES - _PAGE, dtype=np.uint8)  # mapped, never touched: no memory used
    del block  # the free that moves the threshold
    return True
