"""MKL (optional): the per-step recurrent product ``out = a @ matrix`` with the matrix packed once per
pass, the same product and VML's tanh callable from jitted loops, and plain GEMMs for ``_parallel``.

Every step of a recurrence multiplies a small (B, K) block by the same recurrent matrix; BLAS
libraries copy ("pack") that matrix into their blocked layout on every call. MKL can pack it once and
reuse the packed copy for all steps (``cblas_?gemm_pack`` / ``cblas_?gemm_compute``), which is what the
frameworks' own RNN kernels do. Measured on the 2-core development machine, float32, us per product
(the 3 x LSTM(700) benchmark's shapes; NumPy is OpenBLAS on 2 threads):

    (B, K) x (K, N)                NumPy            MKL plain       MKL packed
                                                    1 / 2 threads   1 / 2 threads
    12 x 700  x 2800   h U          621              605 / 327       434 / 250
    12 x 2800 x 700    delta U^T    544 (U^T copy)        -          456 / 267 (packed from U, no copy)
    32 x 128  x 512    h U          41               42 / 72         38 / 77

MKL runs sequential (one thread; ``_parallel`` splits the work over two threads itself): with its
OpenMP pool (2 threads) beside NumPy's OpenBLAS pool, the
3 x LSTM(700) training step took 987 ms instead of 663 (MKL off) and the LSTM(128) step 73 ms instead
of 13.4 (KMP_BLOCKTIME=0: 615 and 32; =1: 651 and 53); sequential: 540-584 and 13.5. Splitting a
product into two column panels, the second on a Python helper thread, took 383 us for the 458 us
product alone but made the training step slower (622-656 ms; the helper's wake-up), so it went; the
two threads now split whole passes instead (``_parallel``). MKL's own allocator keeps its GEMM buffers
(~38 MB at the 3 x LSTM(700) step): turning it off (``mkl_disable_fast_mm``) freed them after every
call, which raised glibc's mmap threshold and churned its heap (peak RSS 416 -> 433 MB).

MKL is optional (``pip install scratchrnn[mkl]``): without it, or with SCRATCHRNN_MKL=0 in the
environment, the product is NumPy's ``matmul`` into the same ``out``, the matrix made C-contiguous once.
The results are the same products up to rounding (tests/test_kernels.py checks both paths against
the reference cells). Loading MKL costs ~22 MB of resident memory.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import mmap
import os
import threading

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

_ROW_MAJOR, _NO_TRANS, _TRANS, _B_MATRIX, _PACKED = 101, 111, 112, 162, 151
_SEQUENTIAL = 1  # MKL_THREADING_SEQUENTIAL
_LP64 = 0  # MKL_INTERFACE_LP64
# Packing costs about five products (12 x 700 x 2800, sequential: 2.4 ms against 0.43 ms per packed and
# 0.62 ms per NumPy product), so it pays from about 13 steps on; a pass of 1 step (generation) packed
# U three times per character and took 3.8 ms per character instead of 1.2.
PACK_MIN_STEPS = 16
# No rule on the block's height: alone, NumPy won on tall blocks (32x128x512: 32 us against 37 packed),
# but in the training step packing still won there (B32 T50 H128, ms: GRU 12.2-12.5 packed against
# 14.0-15.6, LSTM and SimpleRNN even), the products interleaving with the element-wise passes.


def _load_mkl():
    """MKL's single dynamic library from the ``mkl`` wheel, with the packed-GEMM signatures; None when
    the wheel is not installed, cannot be loaded, or SCRATCHRNN_MKL=0."""
    if os.environ.get("SCRATCHRNN_MKL", "1") == "0":
        return None
    try:
        files = importlib.metadata.files("mkl") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    paths = [f.locate() for f in files if f.name.startswith("libmkl_rt.so")]
    for path in paths:
        try:
            lib = ctypes.CDLL(str(path))
            c_int, c_void_p = ctypes.c_int, ctypes.c_void_p
            for prefix, real in (("s", ctypes.c_float), ("d", ctypes.c_double)):
                get_size = getattr(lib, f"cblas_{prefix}gemm_pack_get_size")
                get_size.restype, get_size.argtypes = ctypes.c_size_t, [c_int] * 4
                getattr(lib, f"cblas_{prefix}gemm_pack").argtypes = (
                    [c_int] * 6 + [real, c_void_p, c_int, c_void_p])
                getattr(lib, f"cblas_{prefix}gemm_compute").argtypes = (
                    [c_int] * 6 + [c_void_p, c_int, c_void_p, c_int, real, c_void_p, c_int])
                getattr(lib, f"cblas_{prefix}gemm").argtypes = (
                    [c_int] * 6 + [real, c_void_p, c_int, c_void_p, c_int, real, c_void_p, c_int])
                getattr(lib, f"v{prefix}Tanh").argtypes = [c_int, c_void_p, c_void_p]
            lib.MKL_Set_Threading_Layer.argtypes = [c_int]
            lib.MKL_Set_Interface_Layer.argtypes = [c_int]
        except (OSError, AttributeError):  # not loadable here, or an MKL without the packed API
            continue
        lib.MKL_Set_Interface_Layer(_LP64)  # 32-bit integers as declared above, whatever the environment says
        lib.MKL_Set_Threading_Layer(_SEQUENTIAL)
        return lib
    return None


_MKL = _load_mkl()


def mkl_available() -> bool:
    """True when the per-step products use MKL's packed GEMM."""
    return _MKL is not None


def gemm_call(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> tuple:
    """(function, arguments) such that function(*arguments) writes out = a @ b with MKL's (sequential)
    cblas_?gemm, for 2-D float32/float64 arrays of one dtype whose rows or columns are contiguous (a
    transposed view is read as it lies, no copy); out's rows contiguous. Needs MKL. The arguments are
    plain numbers (the arrays must outlive the call), so the call itself holds the GIL only briefly."""
    (rows, depth), width = a.shape, b.shape[1]
    layouts = [blas_layout(a), blas_layout(b)]
    for matrix, layout in zip((a, b), layouts):
        if layout is None:
            raise ValueError(f"gemm_call: expected a matrix with contiguous rows or columns, got strides "
                             f"{matrix.strides}")
    (trans_a, lda), (trans_b, ldb) = layouts
    a_data, b_data = a.ctypes.data, b.ctypes.data
    function = getattr(_MKL, "cblas_sgemm" if out.dtype == np.float32 else "cblas_dgemm")
    return function, (_ROW_MAJOR, trans_a, trans_b, rows, width, depth, 1.0, a_data, lda, b_data, ldb, 0.0,
                      out.ctypes.data, _leading_dimension(out))


def blas_layout(matrix: np.ndarray) -> tuple[int, int] | None:
    """(trans, ld) under which BLAS reads ``matrix`` where it lies, from its own data pointer: rows
    contiguous as it is, columns contiguous (a transposed view) as the transpose of its base; None
    when neither (a copy is needed)."""
    ld = _leading_dimension(matrix)
    if ld is not None:
        return _NO_TRANS, ld
    ld = _leading_dimension(matrix.T)
    return None if ld is None else (_TRANS, ld)


def _leading_dimension(a: np.ndarray) -> int | None:
    """The row stride in elements of a 2-D array whose rows are contiguous and do not overlap, else None
    (a single row or column: whatever its stride, as NumPy's flags see it)."""
    if a.ndim != 2:
        return None
    rows, columns = a.shape
    if columns > 1 and a.strides[1] != a.itemsize:
        return None
    if rows <= 1:
        return max(columns, 1)
    if a.strides[0] % a.itemsize or a.strides[0] < columns * a.itemsize:
        return None
    return max(a.strides[0] // a.itemsize, 1)


class _BufferPool:
    """The packed matrices' buffers, kept for the next pass instead of freed: a fresh one costs page
    faults on every pass (3 x LSTM(700) step: 430-450 ms fresh, 402-408 reused). A request takes the
    smallest kept buffer that is large enough, so that products of other shapes share buffers (the
    forward and backward halves of passes in blocks of units: kept by exact size, 4 buffers of 13-14 MB;
    shared, 2). Each is a mapping of its own: inside glibc's heap these long-lived buffers split it around
    the short-lived arrays of every step (peak RSS of the 3 x LSTM(700) step 405-416 MB in the heap, 391
    mapped; MKL writes ~4 MB of each)."""

    def __init__(self):
        self._free: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self, count: int, dtype) -> np.ndarray:
        """A buffer of at least ``count`` elements of dtype; where none kept is large enough, a new one
        replaces the largest kept one of that dtype (so the kept buffers grow to fit every request)."""
        dtype = np.dtype(dtype)
        with self._lock:
            same = [(b.size, i) for i, b in enumerate(self._free) if b.dtype == dtype]
            fitting = [(size, i) for size, i in same if size >= count]
            if fitting:
                return self._free.pop(min(fitting)[1])
            if same:
                del self._free[max(same)[1]]
        return np.frombuffer(mmap.mmap(-1, count * dtype.itemsize), dtype=dtype)  # a mapping of its own

    def give(self, buffer: np.ndarray) -> None:
        with self._lock:
            self._free.append(buffer)


_BUFFERS = _BufferPool()


def packs(rows: int, steps: int, dtype) -> bool:
    """True where a ``RecurrentProduct`` of ``rows`` rows used ``steps`` times packs its matrix."""
    return (_MKL is not None and steps >= PACK_MIN_STEPS and rows > 0
            and np.dtype(dtype) in (np.float32, np.float64))


class RecurrentProduct:
    """``product(a, out)`` writes a @ matrix into out, for (rows, K) blocks a and one (K, N) matrix,
    called ``steps`` times.

    With MKL, from PACK_MIN_STEPS steps on, the matrix is packed once here (from a transposed view too,
    without a copy) and every call reuses it; otherwise it is made C-contiguous once and each call is
    NumPy's matmul.
    """

    def __init__(self, matrix: np.ndarray, rows: int, dtype, steps: int):
        self.shape = matrix.shape  # (K, N)
        self.rows = rows
        self.dtype = np.dtype(dtype)
        self._packed = None
        if packs(rows, steps, self.dtype) and min(matrix.shape) > 0:
            self._pack(np.asarray(matrix, dtype=self.dtype))
        else:
            self._matrix = np.ascontiguousarray(matrix, dtype=self.dtype)  # (K, N)

    def _pack(self, matrix):
        depth, width = matrix.shape
        layout = blas_layout(matrix)  # a transposed view is packed from its base layout, no copy
        if layout is None:
            matrix = np.ascontiguousarray(matrix)
            layout = blas_layout(matrix)
        trans, ld = layout
        prefix = "s" if self.dtype == np.float32 else "d"
        self._compute = getattr(_MKL, f"cblas_{prefix}gemm_compute")
        size = getattr(_MKL, f"cblas_{prefix}gemm_pack_get_size")(_B_MATRIX, self.rows, width, depth)
        self._packed = _BUFFERS.take(size // self.dtype.itemsize + 1, self.dtype)  # MKL's blocked copy
        getattr(_MKL, f"cblas_{prefix}gemm_pack")(_ROW_MAJOR, _B_MATRIX, trans, self.rows, width, depth, 1.0,
                                                   matrix.ctypes.data, ld, self._packed.ctypes.data)

    def __del__(self):
        if getattr(self, "_packed", None) is not None:
            _BUFFERS.give(self._packed)

    def jit_arguments(self) -> tuple[int, np.ndarray] | None:
        """(address, packed matrix) for ``packed_product`` in a jitted loop; None when not packed."""
        if self._packed is None:
            return None
        return ctypes.cast(self._compute, ctypes.c_void_p).value, self._packed

    def __call__(self, a: np.ndarray, out: np.ndarray) -> None:
        if self._packed is None:
            np.matmul(a, self._matrix, out=out)
            return
        lda, ldc = _leading_dimension(a), _leading_dimension(out)
        if (a.shape != (self.rows, self.shape[0]) or out.shape != (self.rows, self.shape[1]) or lda is None
                or ldc is None or a.dtype != self.dtype or out.dtype != self.dtype):
            raise ValueError(f"RecurrentProduct: expected a {(self.rows, self.shape[0])} and out "
                             f"{(self.rows, self.shape[1])} {self.dtype} blocks with contiguous rows, "
                             f"got {a.shape} {a.dtype} and {out.shape} {out.dtype}")
        self._compute(_ROW_MAJOR, _NO_TRANS, _PACKED, self.rows, self.shape[1], self.shape[0],
                      a.ctypes.data, lda, self._packed.ctypes.data, self.shape[1], 0.0, out.ctypes.data, ldc)


# -- the same calls from inside a jitted loop ------------------------------------------------------
# A jitted loop that calls MKL runs a whole pass without returning to Python: no interpreter between
# steps, and the GIL released (``nogil``) for the whole pass. Numba will not cache a function that
# calls a ctypes function object (its address is a "dynamic global"), so the loops take the functions'
# addresses as integer arguments and these two intrinsics call through them.

def tanh_address(dtype) -> int:
    """The address of MKL's vectorised tanh (VML ``vsTanh``/``vdTanh``) for dtype, for ``vector_tanh``."""
    prefix = "s" if np.dtype(dtype) == np.float32 else "d"
    return ctypes.cast(getattr(_MKL, f"v{prefix}Tanh"), ctypes.c_void_p).value


def _int_arguments(context, builder, values, value_types):
    return [context.cast(builder, v, t, types.int32) for v, t in zip(values, value_types)]


@intrinsic
def _call_gemm_compute(typingctx, address, rows, width, depth, a, lda, packed, out, ldc):
    """cblas_?gemm_compute(row major, a not transposed, packed matrix, ...) through ``address``."""

    def codegen(context, builder, signature, args):
        real = context.get_value_type(signature.args[4].dtype)
        i32, pointer = ir.IntType(32), real.as_pointer()
        function_type = ir.FunctionType(ir.VoidType(),
                                        [i32] * 6 + [pointer, i32, pointer, i32, real, pointer, i32])
        function = builder.inttoptr(args[0], function_type.as_pointer())
        integers = (1, 2, 3, 5, 8)  # rows, width, depth, lda, ldc
        rows_, width_, depth_, lda_, ldc_ = _int_arguments(
            context, builder, [args[i] for i in integers], [signature.args[i] for i in integers])
        a_data, packed_data, out_data = (context.make_array(signature.args[i])(context, builder, args[i]).data
                                         for i in (4, 6, 7))
        flags = [ir.Constant(i32, flag) for flag in (_ROW_MAJOR, _NO_TRANS, _PACKED)]
        builder.call(function, flags + [rows_, width_, depth_, a_data, lda_, packed_data, width_,
                                        ir.Constant(real, 0.0), out_data, ldc_])
        return context.get_dummy_value()

    return types.void(address, rows, width, depth, a, lda, packed, out, ldc), codegen


@intrinsic
def _call_vector_function(typingctx, address, size, x, out):
    """v?Func(n, x, out) of MKL's VML through ``address``."""

    def codegen(context, builder, signature, args):
        real = context.get_value_type(signature.args[2].dtype)
        function_type = ir.FunctionType(ir.VoidType(), [ir.IntType(32), real.as_pointer(), real.as_pointer()])
        function = builder.inttoptr(args[0], function_type.as_pointer())
        (n,) = _int_arguments(context, builder, [args[1]], [signature.args[1]])
        x_data, out_data = (context.make_array(signature.args[i])(context, builder, args[i]).data
                            for i in (2, 3))
        builder.call(function, [n, x_data, out_data])
        return context.get_dummy_value()

    return types.void(address, size, x, out), codegen


def packed_product(address, a, packed, out):
    """out (rows, N) = a (rows, K) @ the packed matrix, inside a jitted loop; ``address, packed`` are
    ``RecurrentProduct.jit_arguments()`` of a product packed for ``rows`` rows. a and out need
    contiguous rows. Run as plain Python (NUMBA_DISABLE_JIT=1), the call goes through ctypes."""
    real, c_int, c_void_p = np.ctypeslib.as_ctypes_type(out.dtype), ctypes.c_int, ctypes.c_void_p
    function = ctypes.CFUNCTYPE(None, *([c_int] * 6 + [c_void_p, c_int, c_void_p, c_int, real, c_void_p,
                                                        c_int]))
    function(address)(_ROW_MAJOR, _NO_TRANS, _PACKED, a.shape[0], out.shape[1], a.shape[1], a.ctypes.data,
                      a.strides[0] // a.itemsize, packed.ctypes.data, out.shape[1], 0.0, out.ctypes.data,
                      out.strides[0] // out.itemsize)


@overload(packed_product, jit_options={"nogil": True})
def _packed_product_jit(address, a, packed, out):
    def impl(address, a, packed, out):
        _call_gemm_compute(address, a.shape[0], out.shape[1], a.shape[1], a, a.strides[0] // a.itemsize,
                           packed, out, out.strides[0] // out.itemsize)

    return impl


def vector_tanh(address, x, out):
    """out = tanh(x) elementwise by MKL's VML (``tanh_address``), inside a jitted loop; x and out are
    contiguous and the same size (in place allowed). Plain Python: through ctypes."""
    function = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
    function(address)(x.size, x.ctypes.data, out.ctypes.data)


@overload(vector_tanh, jit_options={"nogil": True})
def _vector_tanh_jit(address, x, out):
    def impl(address, x, out):
        _call_vector_function(address, x.size, x, out)

    return impl

