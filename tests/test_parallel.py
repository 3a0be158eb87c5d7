"""The two-thread split (scratchrnn/kernels/_parallel.py) and the MKL calls made from jitted loops
(scratchrnn/kernels/_packed_gemm.py): products and passes split over two threads give what one call
gives, errors in either half reach the caller, and the knobs refuse what they cannot use."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from numba import njit

from scratchrnn.kernels import _packed_gemm, _parallel

needs_mkl = pytest.mark.skipif(not _packed_gemm.mkl_available(),
                               reason="the optional mkl wheel is not installed")


@pytest.fixture
def two_threads(monkeypatch):
    """Split from the smallest product on, as on a 2-core machine with MKL."""
    if not _packed_gemm.mkl_available():
        pytest.skip("the optional mkl wheel is not installed")
    monkeypatch.setattr(_parallel, "THREADS", 2)
    monkeypatch.setattr(_parallel, "MKL_MIN_WORK", 1)
    monkeypatch.setattr(_parallel, "MKL_MIN_ROWS", 1)
    monkeypatch.setattr(_parallel, "MIN_SPLIT_WORK", 1)


def test_split_is_used_wherever_mkl_and_two_cores_are():
    """The README's test command installs the ``mkl`` extra; on a 2-core machine the split must be on
    (a loading bug would silently leave it off)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    wanted = os.environ.get("SCRATCHRNN_THREADS", "2") == "2"
    assert _parallel.enabled() == (_packed_gemm.mkl_available() and cores >= 2 and wanted)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(9, 4, 3), (3, 4, 9), (1, 5, 1), (7, 1, 8)], ids=str)
@pytest.mark.parametrize("layout", ["c", "a transposed", "b transposed", "strided rows", "reversed rows"])
def test_matrix_product_in_halves_is_the_product(two_threads, dtype, shape, layout):
    rows, depth, width = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((rows, depth)).astype(dtype)
    b = rng.standard_normal((depth, width)).astype(dtype)
    if layout == "a transposed":
        a = np.ascontiguousarray(a.T).T
    elif layout == "b transposed":
        b = np.ascontiguousarray(b.T).T
    elif layout == "strided rows":
        a = np.pad(a, ((0, 0), (0, 3)))[:, :depth]
    elif layout == "reversed rows":  # negative strides: copied first
        a = a[::-1].copy()[::-1]
    tolerance = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(_parallel.matrix_product(a, b), a @ b, rtol=tolerance, atol=tolerance)
    out = np.full((rows, width), np.nan, dtype=dtype)
    assert _parallel.matrix_product(a, b, out=out) is out
    np.testing.assert_allclose(out, a @ b, rtol=tolerance, atol=tolerance)


def test_matrix_product_below_the_split_is_mkl_on_the_calling_thread(two_threads, monkeypatch):
    monkeypatch.setattr(_parallel, "MIN_SPLIT_WORK", 10 ** 9)
    monkeypatch.setattr(_parallel, "_both", None)  # would fail if called
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((6, 5)), rng.standard_normal((5, 4))
    np.testing.assert_allclose(_parallel.matrix_product(a.T.copy().T, b), a @ b, rtol=1e-13)


def test_matrix_product_falls_back_to_numpy_where_mkl_cannot_help(two_threads):
    """Integers, mixed dtypes and a wrong out are NumPy's business, with NumPy's answers and errors."""
    a, b = np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(_parallel.matrix_product(a, b), a @ b)
    mixed = _parallel.matrix_product(a.astype(np.float32), b.astype(np.float64))
    assert mixed.dtype == np.float64
    np.testing.assert_allclose(mixed, a @ b)
    with pytest.raises(ValueError):
        _parallel.matrix_product(a.astype(np.float32), b.astype(np.float32), out=np.empty((3, 3), np.float32))


def test_row_blocks_cover_the_batch_once(monkeypatch):
    for threads in (1, 2):
        monkeypatch.setattr(_parallel, "THREADS", threads)
        for batch in (0, 1, 2, 5):
            seen = np.zeros(batch, dtype=int)

            def loop(first, last, counts):
                counts[first:last] += 1

            _parallel.in_row_blocks(loop, batch, seen)
            np.testing.assert_array_equal(seen, np.ones(batch, dtype=int))


@pytest.mark.parametrize("failing_block", [0, 1])
def test_an_error_in_either_block_reaches_the_caller(two_threads, failing_block):
    finished = []

    def loop(first, last):
        if (first > 0) == bool(failing_block):
            raise ArithmeticError(f"block starting at {first}")
        finished.append(first)

    with pytest.raises(ArithmeticError, match="block starting"):
        _parallel.in_row_blocks(loop, 4)
    assert len(finished) == 1  # the other block ran to its end before the error was raised
    _parallel.in_row_blocks(lambda first, last: finished.append(first), 4)  # the helper still serves
    assert len(finished) == 3


def test_thread_count_comes_from_the_environment():
    code = "from scratchrnn.kernels import _parallel; print(_parallel.THREADS)"
    for value, expected in (("1", "1"), ("2", None)):
        env = dict(os.environ, SCRATCHRNN_THREADS=value)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                             check=True)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        assert out.stdout.strip() == (expected or str(min(2, cores)))
    env = dict(os.environ, SCRATCHRNN_THREADS="4")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "SCRATCHRNN_THREADS: expected 1 or 2, got '4'" in out.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_helper(two_threads):
    """The helper thread does not survive fork; the child must start its own rather than wait forever."""
    _parallel.in_row_blocks(lambda first, last: None, 2)  # the parent's helper is running
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if a split product completes
        try:
            a = np.ones((4, 3), dtype=np.float32)
            ok = np.array_equal(_parallel.matrix_product(a, a.T), a @ a.T)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


@needs_mkl
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_jit_callable_mkl_functions_as_plain_python(dtype):
    """``packed_product`` and ``vector_tanh`` outside Numba (as under NUMBA_DISABLE_JIT) call MKL
    through ctypes; the jitted loops' results are checked against the reference cells elsewhere."""
    rng = np.random.default_rng(1)
    matrix, block = rng.standard_normal((5, 7)).astype(dtype), rng.standard_normal((4, 5)).astype(dtype)
    product = _packed_gemm.RecurrentProduct(matrix, 4, dtype, _packed_gemm.PACK_MIN_STEPS)
    address, packed = product.jit_arguments()
    out = np.empty((4, 7), dtype=dtype)
    _packed_gemm.packed_product(address, block[1:3], packed, out[1:3])  # 2 of the 4 rows it was packed for
    tolerance = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out[1:3], block[1:3] @ matrix, rtol=tolerance, atol=tolerance)
    _packed_gemm.vector_tanh(_packed_gemm.tanh_address(dtype), out, out)
    np.testing.assert_allclose(out[1:3], np.tanh(block[1:3] @ matrix), rtol=tolerance, atol=tolerance)


@njit(nogil=True)
def _lockstep(steps, log, barrier, me):
    """Each step: write this side's entry, meet, then check the other side's entry of the same step."""
    for step in range(steps):
        log[me, step] = step + 1
        _parallel.step_done(barrier, me, step + 1)
        if log[1 - me, step] != step + 1:
            log[me, steps] = -1  # the partner was not there yet: no barrier
            return


def test_partners_meet_at_every_step(two_threads):
    steps = 2000
    log = np.zeros((2, steps + 1), dtype=np.int64)
    assert _parallel.with_partner(_lockstep, (steps, log), (steps, log))
    assert log[:, steps].tolist() == [0, 0] and (log[:, :steps] == np.arange(1, steps + 1)).all()


def test_partners_need_two_threads_and_a_free_helper(monkeypatch):
    ran = []
    monkeypatch.setattr(_parallel, "THREADS", 1)
    assert not _parallel.with_partner(lambda *args: ran.append(args), (), ())
    monkeypatch.setattr(_parallel, "THREADS", 2)
    if not _parallel.enabled():  # no MKL here: the loops never split
        return
    assert _parallel._HELPER._lock.acquire(blocking=False)  # as if another thread's split were running
    try:
        assert not _parallel.with_partner(lambda *args: ran.append(args), (), ())
    finally:
        _parallel._HELPER._lock.release()
    assert ran == []  # nothing ran: one thread would have waited for itself
    _parallel.step_done(_parallel.NO_BARRIER, 0, 5)  # alone: no wait


@njit(nogil=True)
def _fails_or_waits(fail, barrier, me):
    if fail:
        raise ValueError("this side failed")
    for step in range(1, 4):
        _parallel.step_done(barrier, me, step)


@pytest.mark.parametrize("failing_side", [0, 1])
def test_a_failing_partner_releases_the_other(two_threads, failing_side):
    args = [(False,), (False,)]
    args[failing_side] = (True,)
    with pytest.raises(ValueError, match="this side failed"):
        _parallel.with_partner(_fails_or_waits, *args)
    assert _parallel.with_partner(_fails_or_waits, (False,), (False,))  # the helper still serves


@pytest.mark.parametrize("shapes", [
    [(5, 9, 7), (3, 9, 7)],  # dW and dU of a backward pass: the second straddles the half
    [(9, 4, 3), (4, 9, 5), (2, 2, 2)],
    [(6, 5, 1), (6, 5, 1)],  # one column each: never cut
    [(8, 3, 6)],  # alone: split as a single product would be
], ids=str)
@pytest.mark.parametrize("given_out", [False, True])
def test_products_together_are_the_products(two_threads, monkeypatch, shapes, given_out):
    rng = np.random.default_rng(5)
    products = [(rng.standard_normal((m, k)).astype(np.float32),
                 rng.standard_normal((k, n)).astype(np.float32),
                 np.full((m, n), np.nan, dtype=np.float32) if given_out else None) for m, k, n in shapes]
    hand_overs = []
    both = _parallel._both
    monkeypatch.setattr(_parallel, "_both", lambda *args: hand_overs.append(1) or both(*args))
    results = _parallel.matrix_products(products)
    assert len(hand_overs) == 1
    for (a, b, out), result in zip(products, results, strict=True):
        np.testing.assert_allclose(result, a @ b, rtol=1e-5, atol=1e-5)
        assert result is out or not given_out


def test_products_together_fall_back_one_by_one(monkeypatch):
    """Below the split size, or with any product MKL does not take, each goes to ``matrix_product``."""
    a, b = np.ones((3, 2)), np.ones((2, 4))
    results = _parallel.matrix_products([(a, b, None), (a.astype(np.float32), b.astype(np.float32), None)])
    np.testing.assert_array_equal(results[0], a @ b)
    assert results[1].dtype == np.float32
