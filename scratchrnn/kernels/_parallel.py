"""Two threads for the training step's products and recurrences, and no second thread pool.

With MKL installed (``_packed_gemm.mkl_available``) the LSTM's compiled loops release the GIL, so a
pass runs its batch as two blocks of rows on two threads (``in_row_blocks``); the rows of a recurrence
are independent, so the threads never wait for each other inside a pass. That pays only if nothing
else spins on the second core: OpenBLAS's idle workers busy-wait (``sched_yield``) for a while after
each threaded call, and a step calls a GEMM every few milliseconds, so with NumPy's GEMMs between the
passes the two-thread passes were slower than one (LSTM(128) B32 T50 training step 10.5 -> 13.0 ms).
Hence the step's GEMMs go through ``matrix_product`` too: MKL (sequential), split in two over the
same two threads, and OpenBLAS's pool is never woken. Training step, wall ms, medians of 30 (three
runs each), one thread -> two: LSTM(128) B32 T50 10.8-11.6 -> 7.5-8.3; 3 x LSTM(700) B12 T100
490-515 -> 397-424.

A pass of a thin batch runs instead as two blocks of units (``with_partner``): each thread needs the
other's half of h_t (or delta_z_t) before its next product, so the two meet after every step at
``step_done``, both spinning on two counters; they start together or not at all (a second calling
thread, with the helper busy, runs the pass alone in blocks of rows), and a side that fails releases
the other before its error reaches the caller.

One helper thread (a daemon, started on first use, started again in a forked child) runs the second
half of each piece of work while the calling thread runs the first. An exception in either half is
raised in the caller once both are done. The two sides hand work over through two counters that they
poll without the GIL (``_Helper``), since every sleep and wake-up through a lock or queue cost tens of
microseconds here: with a queue, the 8 splits of an LSTM(128) step spent 5.5 ms from hand-over to
hand-back, with the counters 4.6 ms. SCRATCHRNN_THREADS=1 keeps everything on the calling thread (and
the products with NumPy), as does a machine with one core, no MKL, or NUMBA_DISABLE_JIT=1.
"""

from __future__ import annotations

import os
import threading

import numba
import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from . import _packed_gemm

# Products of fewer multiply-adds than MKL_MIN_WORK are NumPy's: OpenBLAS runs them on the calling
# thread (its own threshold is 4 x 65536), so its pool is not woken. From there MKL computes them: on
# the calling thread below MIN_SPLIT_WORK, split over the two threads from there on. Per product, us,
# NumPy (OpenBLAS, 2 threads, its pool not spinning) / MKL on one thread / split: 1600x128x65
# 154 / 243 / 249; 1600x65x512 665 / 741 / 507; 128x1600x512 (a transposed) 968 / 1504 / 943;
# 1200x700x2800 18470 / 31511 / 15993. The helper can take 100 us or more to wake after it has been
# idle: splitting from 2^18 made an LSTM(64) forward and backward at B1 T16 D65 take 639 us (261 from
# 2^22), while running everything from 2^18 to 2^24 on the calling thread made the LSTM(128) training
# step slower (9.4-10.4 ms; split from 2^18 7.9-8.8, from 2^22 8.1-8.8).
MKL_MIN_WORK = 1 << 18
# A product of a few rows reads its whole matrix for little arithmetic (generating text: 1 x 700 x 2800
# per layer and character); OpenBLAS reads it with both cores, MKL sequential with one (3 x LSTM(700)
# generation, ms per character: 1.10 with NumPy's, 1.55 with MKL's), so such products stay NumPy's.
MKL_MIN_ROWS = 16
MIN_SPLIT_WORK = 1 << 22
# ``matrix_products`` deals whole products to the two threads below this many multiply-adds in all, where
# a hand-over and a thin half cost most; above, a whole product on each thread made MKL keep larger
# buffers (3 x LSTM(700) step, peak RSS 391 -> 395 MB) and saved nothing (369 against 371 ms).
TOGETHER_MAX_WORK = 1 << 28


def _thread_count() -> int:
    wanted = os.environ.get("SCRATCHRNN_THREADS", "2")
    if wanted not in ("1", "2"):
        raise ValueError(f"SCRATCHRNN_THREADS: expected 1 or 2, got {wanted!r}")
    if numba.config.DISABLE_JIT:  # the polling below would run as Python, holding the GIL
        return 1
    return min(int(wanted), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


THREADS = _thread_count()


def enabled() -> bool:
    """True when products and compiled passes are split over two threads (MKL, 2+ cores)."""
    return THREADS >= 2 and _packed_gemm.mkl_available()


# How many times each side polls before it sleeps: the helper for the next job (2^21, 0.7 ms here,
# which covers the gaps between the pieces of a training step; the core is busy meanwhile), the caller
# for the helper's half (2^24, 5 ms). Polling instead of sleeping saves the wake-ups, each tens of
# microseconds here; the 8 splits of an LSTM(128) step lost ~0.8 ms to them.
_SPINS_IDLE = 1 << 21
_SPINS_DONE = 1 << 24


@intrinsic
def _load_acquire(typingctx, counters, index):
    """counters[index], read as an atomic load (so the polling loop reads memory on every pass)."""

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        pointer = builder.gep(array.data, [args[1]])
        return builder.load_atomic(pointer, ordering="acquire", align=8)

    return types.int64(counters, index), codegen


@intrinsic
def _store_release(typingctx, counters, index, value):
    """counters[index] = value, as an atomic store."""

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        pointer = builder.gep(array.data, [args[1]])
        builder.store_atomic(args[2], pointer, ordering="release", align=8)
        return context.get_dummy_value()

    return types.void(counters, index, value), codegen


@njit(nogil=True, cache=True)
def _wait_until(counters, index, value, polls):
    """True once counters[index] >= value; False after ``polls`` reads. The GIL is free meanwhile."""
    for _ in range(polls):
        if _load_acquire(counters, index) >= value:
            return True
    return False


@njit(nogil=True, cache=True)
def _report_and_wait(counters, finished, polls):
    """The helper's side: counters[1] = finished (its last job is done), then wait for job finished + 1;
    both without the GIL, so that the caller, polling for the first, takes the GIL back at once (a
    thread that finds the GIL held sleeps, and takes tens of microseconds to wake)."""
    _store_release(counters, 1, finished)
    return _wait_until(counters, 0, finished + 1, polls)


class _Helper:
    """One daemon thread that runs the second half of each split. ``counters`` holds the jobs posted
    and the jobs done; both sides poll them without the GIL before falling back to sleeping on an
    Event. One split at a time: a second calling thread runs both halves itself."""

    def __init__(self):
        self._counters = np.zeros(2, dtype=np.int64)  # jobs posted, jobs done
        self._job = self._error = self._thread = None
        self._posted, self._done = threading.Event(), threading.Event()
        self._lock = threading.Lock()

    def _serve(self):
        counters, finished = self._counters, 0
        while True:
            if not _report_and_wait(counters, finished, _SPINS_IDLE):
                self._posted.wait()
                self._posted.clear()
                continue
            function, args = self._job
            self._job = None  # the job's arrays are not held until the next job comes
            try:
                function(*args)
                self._error = None
            except BaseException as caught:  # handed to the caller, which re-raises it
                self._error = caught
            del function, args
            finished += 1
            self._done.set()  # for a caller that stopped polling; polling callers see counters[1]

    def run(self, first, first_args, second, second_args, at_once=False):
        """first(*first_args) here and second(*second_args) on the helper; both done on return. With
        ``at_once`` (halves that wait for each other) nothing runs, and False comes back, where the helper
        is busy with another thread's split; else True."""
        if not self._lock.acquire(blocking=False):  # another thread's split is running
            if at_once:
                return False
            first(*first_args)
            second(*second_args)
            return True
        try:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="scratchrnn-helper", daemon=True)
                self._thread.start()
            counters = self._counters
            target = int(counters[0]) + 1
            self._job = (second, second_args)
            self._done.clear()
            counters[0] = target
            self._posted.set()
            try:
                first(*first_args)
            finally:
                if not _wait_until(counters, 1, target, _SPINS_DONE):
                    while counters[1] < target:
                        self._done.wait()
                error, self._error = self._error, None
        finally:
            self._lock.release()
        if error is not None:
            raise error
        return True

    def forget(self):
        """In a forked child the thread is gone: start a new one on next use."""
        self.__init__()


_HELPER = _Helper()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_HELPER.forget)


def _both(first, first_args, second, second_args):
    """first(*first_args) here and second(*second_args) on the helper, both finished on return."""
    _HELPER.run(first, first_args, second, second_args)


# What a side of ``with_partner`` stores when it fails, so that the other stops waiting for it.
_ABANDONED = 1 << 62


@njit(nogil=True, cache=True)
def step_done(barrier, me, step):
    """Inside a loop run by ``with_partner``: this side (``me``, 0 or 1) has finished ``step`` (1, 2,
    ...); return once the other side has too. A barrier of no counters (one side alone) returns at
    once. Both sides spin: they are the only two threads at work."""
    if barrier.shape[0] < 2:
        return
    _store_release(barrier, me, step)
    while _load_acquire(barrier, 1 - me) < step:
        pass


NO_BARRIER = np.zeros(0, dtype=np.int64)  # for a loop that runs alone: ``step_done`` never waits


def with_partner(loop, first_args, second_args) -> bool:
    """loop(*first_args, barrier, 0) here and loop(*second_args, barrier, 1) on the helper, running at
    the same time and meeting at each ``step_done(barrier, me, step)``; False, with nothing run, where
    they cannot run at the same time (``enabled`` false, or the helper busy with another thread's split:
    one thread would wait for itself). The loop must release the GIL."""
    if not enabled():
        return False
    barrier = np.zeros(2, dtype=np.int64)

    def side(args, me):
        try:
            loop(*args, barrier, me)
        except BaseException:
            barrier[me] = _ABANDONED  # the other side stops waiting; the error reaches the caller
            raise

    return _HELPER.run(side, (first_args, 0), side, (second_args, 1), at_once=True)


def in_row_blocks(loop, batch, *args):
    """loop(first, last, *args) over the batch rows [0, batch): in two blocks on two threads when
    ``enabled`` (the loop must release the GIL and touch only its rows), else in one call."""
    if not enabled() or batch < 2:
        loop(0, batch, *args)
        return
    half = (batch + 1) // 2
    _both(loop, (0, half, *args), loop, (half, batch, *args))


def _for_mkl(a, b, out):
    """(a, b, out) ready for ``_packed_gemm.gemm_call`` (out made, a or b copied where MKL cannot read
    them as they are), or None for a product MKL does not take here (``matrix_product``'s rules)."""
    # The size test first: the batch-1 models make many tiny products, for which this costs ~0.3 us.
    shape_a, shape_b = a.shape, b.shape
    if not (len(shape_a) == len(shape_b) == 2 and shape_a[0] * shape_a[1] * shape_b[1] >= MKL_MIN_WORK
            and shape_a[0] >= MKL_MIN_ROWS
            and THREADS >= 2 and _packed_gemm._MKL is not None and shape_a[1] == shape_b[0]
            and a.dtype == b.dtype and a.dtype in (np.float32, np.float64)
            and (out is None or (out.shape == (shape_a[0], shape_b[1]) and out.dtype == a.dtype
                                 and out.flags.c_contiguous))):
        return None
    if out is None:
        out = np.empty((shape_a[0], shape_b[1]), dtype=a.dtype)
    if _packed_gemm.blas_layout(a) is None or _packed_gemm.blas_layout(b) is None:
        a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a, b, out


def _run_calls(calls):
    for function, arguments in calls:
        function(*arguments)


def matrix_products(products) -> list:
    """[a @ b for (a, b, out) in products], each into its ``out`` where given (as ``matrix_product``),
    with one hand-over: the products are dealt to the two threads by their multiply-adds, the one that
    straddles the half split by columns. Against a split of each product (LSTM(128) B32 T50, dW and dU
    of one backward pass, us): 1588 -> 1212; one thread 2287. From TOGETHER_MAX_WORK multiply-adds in
    all, each product is split on its own as before."""
    work = [a.shape[0] * a.shape[-1] * b.shape[-1] for a, b, _ in products]  # checked by _for_mkl below
    if not MIN_SPLIT_WORK <= sum(work) < TOGETHER_MAX_WORK or not enabled():  # cheap tests first
        return [matrix_product(a, b, out) for a, b, out in products]
    ready = [_for_mkl(a, b, out) for a, b, out in products]
    if None in ready:
        return [matrix_product(a, b, out) for a, b, out in products]
    gemm_call = _packed_gemm.gemm_call
    halves, done, half = ([], []), 0, sum(work) / 2
    for (a, b, out), size in zip(ready, work):
        if done >= half or done + size <= half or b.shape[1] < 2:  # wholly on one side
            halves[0 if done < half else 1].append(gemm_call(a, b, out))
        else:  # straddles the half: its first columns here, the rest on the helper
            cut = min(max(round(b.shape[1] * (half - done) / size), 1), b.shape[1] - 1)
            halves[0].append(gemm_call(a, b[:, :cut], out[:, :cut]))
            halves[1].append(gemm_call(a, b[:, cut:], out[:, cut:]))
        done += size
    _both(_run_calls, (halves[0],), _run_calls, (halves[1],))
    return [out for _, _, out in ready]


def matrix_product(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """a (M, K) @ b (K, N), into ``out`` (a C-contiguous (M, N) array) when given.

    When ``enabled``, MKL computes products of MKL_MIN_WORK multiply-adds and MKL_MIN_ROWS rows or more,
    on the calling thread, or from MIN_SPLIT_WORK on in two halves (of the longer of M and N) on two
    threads, so that OpenBLAS's thread pool is never woken (module docstring); everything else is
    NumPy's ``np.dot``."""
    ready = _for_mkl(a, b, out)
    if ready is None:
        return np.dot(a, b, out=out)  # NumPy's answer, or NumPy's error for what does not fit
    a, b, out = ready
    rows, width = out.shape
    gemm_call = _packed_gemm.gemm_call
    if rows * a.shape[1] * width < MIN_SPLIT_WORK or max(rows, width) < 2:
        function, arguments = gemm_call(a, b, out)
        function(*arguments)
    else:
        # Both halves' arguments first, so that each thread holds the GIL only for its bare call.
        if rows >= width:
            half = (rows + 1) // 2
            first, second = gemm_call(a[:half], b, out[:half]), gemm_call(a[half:], b, out[half:])
        else:
            half = (width + 1) // 2
            first, second = gemm_call(a, b[:, :half], out[:, :half]), gemm_call(a, b[:, half:], out[:, half:])
        _both(*first, *second)
    return out

