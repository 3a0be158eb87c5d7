"""The speed: Numba versions of the cells, with the same functions, equation tags and results.

``kernels.simple_rnn``, ``kernels.lstm`` and ``kernels.gru`` have the same ``forward``/``backward`` as
``scratchrnn/cells`` (keyword options, cache in, ``Gradients`` out, the ledger too) and add no new math:
each line that computes an equation carries the tag of that equation in the cell module, where the
equations and their derivation are. In float64 they agree with the cells to 1e-12
(tests/test_kernels.py, which also runs them as plain Python under NUMBA_DISABLE_JIT=1).
``scratchrnn.backend`` picks them by default.

Design, and the measurements behind it
--------------------------------------
All times: float32 (the layers' default), forward + backward, milliseconds of CPU time, the best of
interleaved repeats, OpenBLAS on one thread, on the 2-core development machine. Other jobs shared those
two cores while these were taken; with two BLAS threads every number came out 3-8x worse and
scattered, so none of those is quoted. "jit" and "blas" are the two time loops below; "kernels" is the
one the size rule picks.

    shape (D input features)          cell         cells    jit      blas     kernels / cells
    alphabet B1 T1 D1 H50 (stateful)  SimpleRNN    0.031    0.024    0.030    0.024   1.3x faster
                                      LSTM         0.144    0.041    0.039    0.041   3.5x
                                      GRU          0.090    0.059    0.079    0.059   1.5x
    B1 T100 D1 H50                    SimpleRNN    0.69     0.17     0.48     0.17    4.0x
                                      LSTM         6.76     0.57     1.83     0.57    11.9x
                                      GRU          2.98     0.44     1.92     0.44    6.7x
    B32 T50 D64 H128                  SimpleRNN    6.2      11.0     4.6      4.6     1.3x
                                      LSTM         35.7     53.5     26.2     26.2    1.4x
                                      GRU          18.9     29.6     16.1     16.1    1.2x
    B12 T100 D64 H700                 SimpleRNN    79       148      63       63      1.3x
                                      LSTM         329      830      247      247     1.3x
                                      GRU          237      624      198      198     1.2x
    (GRU with reset_after=False is within about 10% of reset_after=True throughout.)

1. One GEMM for the input projection of all steps (``_common.input_projection``), one GEMM per weight
   gradient over all steps and one for dx (``summed_over_steps``, ``input_gradient``); only the
   recurrence loops over time. The weight-gradient GEMMs use ``np.dot``: with T*B = 1 (the stateful
   alphabet model) ``@`` took 22 us for the (H, 1) x (1, 4H) product where ``np.dot`` takes 3 us, and
   it was the largest single cost of that backward pass.

2. Numba cannot call BLAS here: its ``np.dot`` needs SciPy, which is not a dependency. Inside a jitted
   loop the recurrent product is therefore ``_common.matmul_into``, plain loops written so that LLVM
   vectorises them (contiguous row slices, four rows of U per pass). Against one BLAS call (us, call
   included, (B, H) x (H, 4H)): B1 H50 1.0 vs 1.3, B1 H128 4.2 vs 3.5, B4 H64 6.7 vs 2.3.

3. So there are two time loops (``_common.use_jit_loop``):
   "jit"   the whole recurrence, product and gate math, in one Numba function: no Python per step;
   "blas"  a Python loop; per step one NumPy (BLAS) product into a preallocated buffer, then the
           element-wise math.
   Per-step cost of the two (us, T=20, fwd+bwd) crosses over near B*H = 192 for SimpleRNN, 256-384
   for LSTM and about 384 for GRU (e.g. LSTM B4 H64: 42 vs 43; B4 H96: 62 vs 45); the rule is
   ``batch * units <= 256`` -> "jit".

4. The forward gate math of the "blas" loop is NumPy ufuncs, not Numba: Numba calls scalar libm for
   tanh (17 ns per element, float32 or float64; exp 2.4 ns), while NumPy's float32 tanh is vectorised
   (0.34 ns). LSTM forward only, (a) jit loop / (b) Python loop + BLAS + a Numba gate step /
   (c) Python loop + BLAS + NumPy gate step: B1 T1 H50 0.012 / 0.011 / 0.022 ms; B32 T50 H128
   52 / 29.5 / 14.9 ms; B12 T100 H700 1304 / 202 / 151 ms. The backward pass needs no exp or tanh
   (the derivatives come from the stored activations), so its element-wise part is Numba in both
   loops, one call per step in "blas"; jit vs blas backward: B1 T100 H50 0.14 vs 0.31 ms, B32 T50 H128
   11.2 vs 8.3 ms, B12 T100 H700 381 vs 126 ms.

5. Backward multiplies by a C-contiguous copy of U^T, made once per call: at B12 H700 the per-step
   product takes 0.78 ms that way and 1.44 ms with the transposed view, for a 1.3 ms copy.

6. No per-step allocation: every array the loops write is made before the loop; activation choices
   are integer codes (``_common.activation_code``) that the jitted code branches on.

7. No ``fastmath`` (DESIGN convention 12), and float32 stays float32 inside the jitted code
   (``_common.scalar_like`` types the constants; a bare 0.5 would promote to float64).

8. ``@njit(cache=True)``: compiling every kernel for float32 took ~15 s on the loaded machine; a second
   process loads them from ``__pycache__`` in ~0.6 s. Numba keys that cache on each function's own
   file, and the helpers in ``_common`` are compiled into their callers: after editing ``_common.py``,
   delete ``scratchrnn/kernels/__pycache__``.

Leads not taken (measure before adding): Numba with SVML (``intel-cmplr-lib-rt``) vectorises tanh and
exp and could move the jit/blas crossover up; fusing the non-transcendental part of the "blas" forward
step into Numba around NumPy's tanh (the 16k-element LSTM step at B32 H128 costs ~70 us in ~12 ufunc
calls); the packed GEMM and the layer wavefront of DESIGN.md.
"""
