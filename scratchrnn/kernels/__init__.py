"""The speed: Numba versions of the cells, with the same functions, equation tags and results.

``kernels.simple_rnn``, ``kernels.lstm`` and ``kernels.gru`` have the same ``forward``/``backward`` as
``scratchrnn/cells`` (keyword options, cache in, ``Gradients`` out, the ledger too) and add no new math:
each line that computes an equation carries the tag of that equation in the cell module, where the
equations and their derivation are. In float64 they agree with the cells to 1e-12
(tests/test_kernels.py, with masks and dropout masks tests/test_kernels_masks.py; both also run them as
plain Python under NUMBA_DISABLE_JIT=1).
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
                                      LSTM *       0.144    0.044    0.043    0.036   4.0x
                                      GRU          0.090    0.059    0.079    0.059   1.5x
    B1 T100 D1 H50                    SimpleRNN    0.69     0.17     0.48     0.17    4.0x
                                      LSTM *       5.97     0.69     0.97     0.72    8.3x
                                      GRU **       2.98     0.36     0.80     0.35    8.5x
    B32 T50 D64 H128                  SimpleRNN    6.2      11.0     4.6      4.6     1.3x
                                      LSTM *       35.6     50.7     18.8     18.3    1.9x
                                      GRU **       18.9     30.5     14.6     14.6    1.3x
    B12 T100 D64 H700                 SimpleRNN    79       148      63       63      1.3x
                                      LSTM *       380      852      257      259     1.5x
                                      GRU **       237      623      203      199     1.2x
    (GRU with reset_after=False is within about 10% of reset_after=True throughout.)
    * Re-measured (wall time, best of interleaved repeats, one BLAS thread) after note 9, in a later
      session on a machine about 20% slower than for the other rows; that session measured the code
      before note 9 at: B1 T100 jit 0.69 / blas 1.66, B32 T50 blas 24.5, B12 T100 blas 285. As a whole
      training step (LSTM(128), B32 T50, one-hot V65 input, TimeDistributed(Dense(65)), Adam), 19.5 ms
      before note 9 and 11.6 ms after; 3x LSTM(700) B12 T100: ~700 ms before, ~655 ms after.
    ** Re-measured the same way after note 10 (reset_after=True; the "cells" column is the old one), in
      a session where the code before note 10 measured: B1 T100 jit 0.35 / blas 1.63, B32 T50 blas 18.5,
      B12 T100 blas 221 (reset_after=False: 1.75, 18.6, 234 before; 1.05, 13.8, 207 after). As the
      training step above with GRU(128) (medians, alternating runs of old and new code, noisy machine):
      reset_after=True 21.7-22.6 ms before, 18.2-19.6 ms after; reset_after=False 20.3-22.0 before,
      14.7-16.2 after.

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
   ``batch * units <= 256`` -> "jit". LSTM has its own rule, ``batch * units <= 64``, since note 9
   made its "blas" loop cheaper (``kernels.lstm.JIT_LOOP_MAX_BATCH_UNITS`` has the measurements), and
   GRU too, ``batch * units <= 160`` after note 10 (``kernels.gru.JIT_LOOP_MAX_BATCH_UNITS``).

4. The forward gate math of the "blas" loop is NumPy ufuncs, not Numba: Numba calls scalar libm for
   tanh (17 ns per element, float32 or float64; exp 2.4 ns), while NumPy's float32 tanh is vectorised
   (0.34 ns). LSTM forward only, (a) jit loop / (b) Python loop + BLAS + a Numba gate step /
   (c) Python loop + BLAS + NumPy gate step: B1 T1 H50 0.012 / 0.011 / 0.022 ms; B32 T50 H128
   52 / 29.5 / 14.9 ms; B12 T100 H700 1304 / 202 / 151 ms. The backward pass needs no exp or tanh
   (the derivatives come from the stored activations), so its element-wise part is Numba in both
   loops, one call per step in "blas"; jit vs blas backward: B1 T100 H50 0.14 vs 0.31 ms, B32 T50 H128
   11.2 vs 8.3 ms, B12 T100 H700 381 vs 126 ms. (For LSTM, note 9 supersedes (c); for GRU, note 10.)

5. Backward multiplies by a C-contiguous copy of U^T, made once per call: at B12 H700 the per-step
   product takes 0.78 ms that way and 1.44 ms with the transposed view, for a 1.3 ms copy.

6. No per-step allocation: every array the loops write is made before the loop; activation choices
   are integer codes (``_common.activation_code``) that the jitted code branches on. A branch on a
   code inside an element loop stops LLVM from vectorising it (the LSTM backward step took 18.5 us at
   B32 H128, 4.5 ns per (b, j)): the LSTM kernels run the default pair (tanh, sigmoid) through a copy
   of the loop with the codes as constants (an ``inline="always"`` helper), and it vectorises (4.5 us).

7. No ``fastmath`` (DESIGN convention 12), and float32 stays float32 inside the jitted code
   (``_common.scalar_like`` types the constants; a bare 0.5 would promote to float64).

8. ``@njit(cache=True)``: compiling every kernel for float32 took ~15 s on the loaded machine; a second
   process loads them from ``__pycache__`` in ~0.6 s. Numba keys that cache on each function's own
   file, and the helpers in ``_common`` are compiled into their callers: after editing ``_common.py``,
   delete ``scratchrnn/kernels/__pycache__``.

9. LSTM "blas" forward step: Numba passes for everything but tanh, with NumPy's vectorised tanh over
   whole blocks in between (``_common.tanh_argument``/``from_tanh`` split ``activate`` around its tanh,
   the same operations in the same order): pass 1 completes (L1) in place and writes the tanh
   arguments (0.5 z for sigmoid), one np.tanh over all four blocks of the (B, 4H) row, pass 2 finishes
   the gates, (L3) and the argument of phi(c), np.tanh, pass 3 (L4). B32 H128, hot caches, us:
   6.0 + 4.7 (tanh) + 2.6 + 1.7 (tanh) + 0.7 = 16.5 per step, against ~70 for the ~14 ufunc calls it
   replaces (in the training step above: forward element-wise 4.6 -> 1.6 ms, backward step 2.4 ->
   0.85 ms). Memory: the input projection is written into ``preact`` and (L1) completed there (one
   (T, B, 4H) buffer fewer), and where neither activation is hard_sigmoid or relu (whose derivatives
   read z) the gates overwrite ``preact`` and the cache holds ``preact=None`` (another one fewer: at
   B12 T100 H700 that is 2 x 13 MB less per layer). The jit loop completes (L1) in place the same way.
   Tried, slower: fusing pass 1's (L1) add and the tanh arguments into one loop (6.0 -> 11 us: the
   in-place store defeats LLVM's alias checks when gates is preact).

10. Notes 6 and 9 for GRU, both variants. Backward: the element-wise steps run (tanh, sigmoid) through
   copies of their row loops with the codes as constants (``inline="always"`` helpers over contiguous
   row slices, one per gate block); B32 H128, hot caches, us per step: reset_after 20.8 -> 9.3,
   reset_before (the three steps around its two products) 18.3 -> 9.7. "blas" forward: Numba passes
   for everything but tanh and NumPy's tanh over whole blocks in between, two tanh calls per step
   since the candidate needs r: reset_after: pass 1 adds b_rec to the product, keeps rec_h, completes
   a_z, a_r in place and writes their tanh arguments, np.tanh over the z|r block, pass 2 finishes z, r
   and writes a_h (L5a) and its tanh argument, np.tanh over the h block, pass 3 finishes hh and (L7);
   reset_before the same with s_t (L5b) written in pass 2 and the s_t U_h product between passes 2 and
   3. In the training step of the table's ** note the forward pass went from 9.5 to 6.3 ms
   (reset_after, cProfile). Memory as in note 9: the input projection is written into ``preact``
   (one (T, B, 3H) buffer fewer), and unless an activation is hard_sigmoid or relu the gates
   overwrite it and the cache holds ``preact=None`` (another one fewer). The crossover moved down:
   ``kernels.gru.JIT_LOOP_MAX_BATCH_UNITS`` = 160 has the measurements. What is left of the GRU
   backward element-wise step in the training step is memory traffic (cold caches: ~23 us per step
   of reset_after against 9 hot; allocating its outputs fresh adds little).

11. The "blas" loops' per-step products go through ``_packed_gemm.RecurrentProduct``: with the optional
   ``mkl`` wheel, MKL packs the recurrent matrix once per pass (U for forward; U^T packed straight
   from U for backward, so note 5's copy goes) and every step reuses it, MKL running sequential; without
   it, NumPy's matmul as before. Its docstring has the per-product numbers and the thread-pool trials.
   Training step, wall ms, medians of 10 after 3 warm-ups (/tmp scripts timing ``train_on_batch``),
   MKL off / on: 3 x LSTM(700) B12 T100 663 / 540-584; LSTM(128) B32 T50 13.4 / 13.5; GRU(128) 14.8 /
   12.8; SimpleRNN(128) 6.3 / 6.6.

12. Memory of the 3 x LSTM(700) step (peak traced by tracemalloc, MB: 332 -> 289): the LSTM backward
   writes delta_z over the cached gates (``_backward_rows`` reads each element before writing it, one
   view per block for both, so the loop still vectorises; the cache serves one backward, ``spend``);
   delta_h is kept only for the ledger; the weight gradients are written by the GEMMs straight into the
   layer's views of the model's flat gradient buffer (``weight_gradients``), no (D, 4H) + (H, 4H)
   temporaries; the outputs are a read-only batch-major view of ``hidden`` (no copy out, and the next
   layer's ``time_major`` gets the contiguous array back, no copy in; TimeDistributed flattens such a
   view in (T, B) order, no copy either); phi(c_t) is recomputed in the backward pass (one tanh per
   step, ~1 ms of the 3 x LSTM(700) step) instead of cached (T x B x H less per layer); d_outputs and
   the cell states are released before the weight-gradient GEMMs allocate. Resident memory (RSS) is
   more than that: ~115 MB of Python, NumPy, Numba/LLVM and MKL, and glibc keeps freed per-batch
   arrays on its heap (RSS around the step, MB: built 150, forward 224/244/263, backward 287/307/313,
   after the first Adam step 390, then flat at 394). MALLOC_MMAP_THRESHOLD_=1 MiB cut the peak to
   ~397 without MKL but cost 8% on that step and 30% on the LSTM(128) step; 4 MiB: 387 for +2%; not set.

13. With MKL, the LSTM's "blas" loop runs whole passes in Numba: ``_forward_loop_packed`` and
   ``_backward_loop_packed`` are the Python loop's steps with the packed product and VML's tanh called
   from inside the jitted code (``_packed_gemm.packed_product``/``vector_tanh``: the functions'
   addresses are arguments, called through two small intrinsics, so the loops stay cacheable, which a
   ctypes function object would prevent). No Python runs between steps and the GIL is released, so
   ``_parallel.in_row_blocks`` runs the batch as two blocks of rows on two threads, and
   ``_parallel.matrix_product`` splits the step's GEMMs over the same two threads with MKL so that
   OpenBLAS's spinning pool stays asleep (its docstring has the measurements). Training step, wall ms
   (medians, several runs), before -> one thread compiled -> two threads: LSTM(128) B32 T50 13.4 ->
   9.9-10.5 -> 7.5-8.3; 3 x LSTM(700) B12 T100 584 -> 500-515 -> 397-424. The packed matrices' buffers
   are kept for the next pass (``_packed_gemm._BufferPool``): a fresh 21 MB buffer per pass cost page
   faults (3 x LSTM(700) step 430-450 ms fresh, ~425 reused) and churned glibc's heap (peak RSS 416 ->
   403 MB). Without MKL nothing changes: the Python loop of note 9, NumPy's products. Products of
   fewer than 16 rows stay NumPy's even with MKL (generating text multiplies 1 x 700 x 2800 per layer
   and character: 1.55 ms per character with MKL's one thread, 1.23 with OpenBLAS's two).

14. The small path (LSTM, the batch-1 stateful tutorial): in the "jit" loop with at most
   ``lstm.SMALL_MAX_ROWS`` = 4 rows (T x B), the input projection x_t W + b and the weight gradients
   are computed inside the loop too, so a batch makes two Numba calls instead of two Numba calls and
   five NumPy ones (``lstm.SMALL_MAX_ROWS`` has the crossover measurements). The alphabet tutorial's
   LSTM forward + backward: 46 -> 31 us per batch; its 300 epochs 1.02 -> 0.94-0.96 s.

15. The output side under this backend (``kernels/output.py``): softmax as two Numba passes around
   NumPy's exp, and cross-entropy's value with its logits gradient in one pass, in the memory order that
   TimeDistributed hands on (1600 x 65 float32, us: softmax 239 -> 147, value + gradient 168 -> 114).

16. glibc's heap (``_heap``): a training step of LSTM/GRU(128) frees ~12 MB of arrays each step, more
   than glibc's trim threshold had grown to (twice the largest block freed, ~3 MB), so the heap shrank
   at the end of each step and faulted back in during the next (~1,300 page faults per GRU(128) step);
   which processes did so depended on where small long-lived blocks landed, hence "two speeds per
   process". One 16 MiB block freed at import lifts the threshold: GRU(128) step 12.96 -> 10.09 ms,
   SimpleRNN(128) 6.89 -> 5.33, LSTM(128) no longer 8.4-9.0 in some processes and 6.6-7.6 in others.

17. LSTM: b of (L1) is added in the loop's pass that adds h_{t-1} U, and d_bias (dL6) is summed row by
   row as the loop makes delta_z, instead of a NumPy pass over (T, B, 4H) for each (B32 T50 H128: ~190
   and ~160 us a step). The step's gradients of a large model (16 MiB or more) are made per layer for
   its backward pass and let go when the next step begins (``models.TRANSIENT_GRADIENT_BYTES``), so
   they never sit beside the forward caches: peak RSS of the 3 x LSTM(700) step 401 -> 390 MB.

18. LSTM with MKL, thin batches (``lstm.UNIT_BLOCKS_MAX_BATCH``): a pass on two threads as two blocks
   of units instead of rows. Half of B12 is six rows, whose packed products run at 57-62 GFLOP/s; all
   twelve rows against half the columns run at 84-85. Each thread packs its units' columns of U (gate
   after gate; U^T's rows for the backward), and the two meet after every step
   (``_parallel.with_partner``/``step_done``: h_t, or delta_z_t, must be whole before either reads it).
   3 x LSTM(700) B12 T100 step 419-429 -> 353-360 ms. ``lstm.UNIT_BLOCKS_MIN_UNITS`` keeps short steps
   (H < 384) in rows: there the meeting costs more than the thicker product saves.

19. Masks and dropout masks (issue 13). A call with none of mask, input_masks, recurrent_masks runs the
   loops above as they were (the plain path: the old kernels beside the new in one process, best of 40,
   0.93-1.04x). With any of them:
   - the input masks stay outside the recurrence: x * P_g for all steps (kept: dW reads it), one GEMM per
     mask, with MKL through ``matrix_products`` (np.matmul beside MKL's two threads woke OpenBLAS's pool:
     the LSTM(128) forward with 4 input masks took 30 ms instead of 6), without it np.matmul straight
     into the gate's columns; dx = sum_g (delta^g W_g^T) * P_g. dW and dU per gate block without MKL
     are np.matmul products on the deltas' column blocks where they lie (np.dot copies them: 2.8-5.2 ms
     against 2.2-3.7 at the LSTM(128) shapes below).
   - the recurrent product runs in blocks, one per recurrent mask (Keras draws one per gate when
     recurrent_dropout > 0), block g reading h_{t-1} * Q_g, which is kept (G, T, B, H) for dU. MKL packs
     each block once per pass and a step's blocks are one Numba call (``_common.DroppedProducts``,
     ``TransposedProducts``; the LSTM's packed loops take them as arguments, in rows or units on two
     threads); NumPy multiplies the blocks as one batched matmul of views. Backward, the blocks'
     products go to (G, B, H) and ``recurrent_gradient`` sums them times the masks, adds the GRU's carry
     and passes a masked row's delta_h_t on, in one pass.
   - a masked step: ``carry_masked_rows`` after the step; in the LSTM backward a per-row branch in
     ``_backward_rows`` (its plain step passes the constant NO_STEPS, which folds the branch away).
   - where: the "jit" loops have masked copies sharing the plain ones' element-wise steps (inline
     helpers); the "blas" Python loops have their own, calling the same Numba steps; the LSTM's MKL
     loops are the plain ones with per-step branches (one call per pass: nothing measurable).
   Forward + backward of one layer's kernel at benchmark (c)'s shapes, B32 T50 D65 H128 float32, without
   dx (the first layer), best of 40 interleaved in one process over three rounds on the shared 2-core
   machine (load 1-4), ratio to plain; "rec": an input and a recurrent mask per gate, as Keras draws them
   for recurrent_dropout > 0; "all": those and a right-padded mask:

       path                cell         plain ms  mask  left-padded  1 input mask  rec   all
       MKL                 SimpleRNN     5.0      0.95  0.99         0.94          0.83  0.84
                           LSTM         10.3      0.93  0.95         0.91          1.04  1.06
                           GRU          13.4      0.96  1.00         0.97          1.01  1.02
                           GRU before   13.4      0.99  1.00         0.96          1.02  1.03
       no MKL, OpenBLAS 2  SimpleRNN     3.0      1.09  1.20         1.08          1.14  1.18
                           LSTM         11.7      1.05  1.04         1.02          1.17  1.14
                           GRU           9.4      1.00  1.06         1.02          1.21  1.22
                           GRU before    9.8      1.05  1.06         1.03          1.18  1.18
       no MKL, OpenBLAS 1  SimpleRNN     4.1      1.09  1.14         1.07          1.10  1.13
                           LSTM         16.6      1.02  1.04         1.02          1.10  1.12
                           GRU          12.7      1.04  1.06         1.02          1.15  1.16
                           GRU before   13.3      1.02  1.05         1.06          1.11  1.12

   Left padding costs the outputs' zeros (a new array, np.where) and d_outputs cleared where they are.
   What a mask per gate costs without MKL: G small products a step, each threaded by OpenBLAS (B32
   H128: 4 x (128, 128) 53 us against 40-45 for the one (128, 512); one thread: 50 against 42). Single
   rounds scatter (the unchanged plain code measured against itself 0.93-1.38x without MKL at load 3;
   one round's 25th percentiles reached 1.27 for the LSTM's "rec"). The layers (training=True, drawing
   their masks every call, 128 units, return_sequences, backward without dx; /tmp scripts), two rounds:
   with MKL 0.86-1.21x (LSTM "rec" highest), without 0.85-1.43x (GRU "rec" highest; its 25th
   percentiles 1.26-1.27). The SimpleRNN with MKL is faster with masks than without: its plain "blas"
   loop calls each packed product from Python (``RecurrentProduct.__call__``), the masked one from
   Numba in one call a step.

Leads not taken or tried and dropped (measure before adding): the SimpleRNN's and GRU's plain "blas"
loops could call their packed products from Numba too, as the masked ones do (note 19); without MKL,
OpenBLAS on one thread for a step's per-gate products would cut their cost (``threadpoolctl``, a new
dependency, or a global toggle of its thread count); Numba with SVML (``intel-cmplr-lib-rt``)
vectorises tanh and exp and could move the jit/blas crossover up; the layer wavefront of DESIGN.md
(two layers' per-step products at once, one thread each: 873 us per layer-step against 1172 us for the
two products of one step on 2 OpenBLAS threads, measured alone; it needs the input projection chunked
to feed the next layer, not built); a recurrent product written in Numba (best of four loop orders: 24
GFLOP/s against OpenBLAS's 53 on one thread, dropped); splitting the batch over two threads (1491 us
against 1182, dropped); for GRU reset_after, keeping only r * delta_a_h instead of all of delta_rec (dU
as two GEMMs, as in (dL9b)), which would write a third of it.
"""

from . import _heap  # noqa: E402

_heap.prime()  # before the first training step: see _heap
