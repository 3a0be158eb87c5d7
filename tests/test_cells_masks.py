"""Masks and dropout inside the recurrence, in the NumPy reference cells (cells/*.py).

Every backward pass with a time mask, input and recurrent dropout masks (one for all gate blocks, or one
per gate block), go_backwards and zero_output_for_mask, is checked against finite differences of its
forward in float64 (random non-zero biases and initial states, the loss a random projection of the
outputs and of every final state); the forward and every gradient are checked against Keras 3 in float64,
Keras running its own layer with ``mask=`` and, for dropout, with our masks put in place of its draws.
"""

import kerascheck
import numpy as np
import pytest
from cellcheck import CELLS, GATES, IDS, VARIANTS, check_cell, random_problem
from hypothesis import given, settings
from hypothesis import strategies as st

TOLERANCE = 1e-6
BATCH, STEPS, INPUT_DIM, UNITS = 4, 5, 3, 3
RATE = 0.4

# Real steps per row, in the caller's time order. Each kind has a row with a single real step; "gaps" has
# masked steps between real ones, a single real step inside the sequence and a row with no real step.
MASKS = {
    "right_padded": [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 0]],
    "left_padded": [[1, 1, 1, 1, 1], [0, 0, 0, 1, 1], [0, 0, 0, 0, 1], [0, 1, 1, 1, 1]],
    "gaps": [[1, 0, 1, 0, 1], [0, 1, 1, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]],
}


def time_mask(kind):
    return np.array(MASKS[kind], dtype=bool)


def dropout_masks(rng, count, size, batch=BATCH):
    """``count`` dropout masks (count, B, size) as Keras draws them: 0 or 1 / (1 - rate)."""
    kept = rng.random((count, batch, size)) >= RATE
    kept[:, 0, 0] = False  # at least one dropped entry in every mask
    kept[:, 0, 1] = True
    return kept / (1.0 - RATE)


def problem(cell, options, seed=0):
    rng = np.random.default_rng(seed)
    x, states, weights = random_problem(rng, cell, BATCH, STEPS, INPUT_DIM, UNITS, **options)
    return rng, x, states, weights


def mask_counts(cell, input_count, recurrent_count):
    """(G_in, G_rec) with "gates" read as the cell's number of gate blocks."""
    return tuple(GATES[cell] if c == "gates" else c for c in (input_count, recurrent_count))


# The dropout cases: (G_in, G_rec), None for no mask of that kind; SimpleRNN has one gate block only.
DROPOUT_CASES = [(1, None), ("gates", None), (None, 1), (None, "gates"), (1, "gates"), ("gates", 1)]
DROPOUT_PARAMS = [
    pytest.param(cell, options, counts, id=f"{name}-in{counts[0]}-rec{counts[1]}")
    for (cell, options), name in zip(VARIANTS, IDS)
    for counts in DROPOUT_CASES
    if cell != "simple_rnn" or "gates" not in counts
]


def with_dropout(rng, cell, input_count, recurrent_count):
    g_in, g_rec = mask_counts(cell, input_count, recurrent_count)
    return dict(input_masks=None if g_in is None else dropout_masks(rng, g_in, INPUT_DIM),
                recurrent_masks=None if g_rec is None else dropout_masks(rng, g_rec, UNITS))


# ---------------------------------------------------------------------------------------------------
# Finite differences

@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
@pytest.mark.parametrize("kind", list(MASKS))
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output", [False, True])
def test_mask_matches_finite_differences(cell, options, kind, go_backwards, zero_output):
    rng, x, states, weights = problem(cell, options)
    report, grads = check_cell(cell, x, states, weights, rng, mask=time_mask(kind), go_backwards=go_backwards,
                               zero_output_for_mask=zero_output, **options)
    assert report.max_error <= TOLERANCE, str(report)
    # A masked step's input reaches nothing.
    masked = ~time_mask(kind)
    assert np.all(grads.inputs[masked] == 0.0)


@pytest.mark.parametrize("cell, options, counts", DROPOUT_PARAMS)
def test_dropout_matches_finite_differences(cell, options, counts):
    rng, x, states, weights = problem(cell, options, seed=1)
    masks = with_dropout(rng, cell, *counts)
    report, _ = check_cell(cell, x, states, weights, rng, **masks, **options)
    assert report.max_error <= TOLERANCE, str(report)


@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output", [False, True])
def test_all_together_matches_finite_differences(cell, options, go_backwards, zero_output):
    rng, x, states, weights = problem(cell, options, seed=2)
    masks = with_dropout(rng, cell, "gates", "gates")
    report, _ = check_cell(cell, x, states, weights, rng, mask=time_mask("gaps"), go_backwards=go_backwards,
                           zero_output_for_mask=zero_output, **masks, **options)
    assert report.max_error <= TOLERANCE, str(report)


@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
@settings(max_examples=10, deadline=None)
@given(batch=st.integers(1, 4), steps=st.integers(1, 4), input_dim=st.integers(1, 3), units=st.integers(1, 3),
       seed=st.integers(0, 2**32 - 1), go_backwards=st.booleans(), zero_output=st.booleans(),
       input_count=st.sampled_from([None, 1, "gates"]), recurrent_count=st.sampled_from([None, 1, "gates"]))
def test_random_shapes_and_masks_match_finite_differences(cell, options, batch, steps, input_dim, units, seed,
                                                          go_backwards, zero_output, input_count,
                                                          recurrent_count):
    rng = np.random.default_rng(seed)
    x, states, weights = random_problem(rng, cell, batch, steps, input_dim, units, **options)
    g_in, g_rec = mask_counts(cell, input_count, recurrent_count)
    masks = dict(
        mask=rng.random((batch, steps)) < 0.6,
        input_masks=None if g_in is None else (rng.random((g_in, batch, input_dim)) >= RATE) / (1 - RATE),
        recurrent_masks=None if g_rec is None else (rng.random((g_rec, batch, units)) >= RATE) / (1 - RATE))
    report, _ = check_cell(cell, x, states, weights, rng, go_backwards=go_backwards,
                           zero_output_for_mask=zero_output, **masks, **options)
    assert report.max_error <= TOLERANCE, str(report)


# ---------------------------------------------------------------------------------------------------
# Keras 3 parity

KERAS_LAYERS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def keras_dropout_masks(cell, keras_cell, masks):
    """Our masks (G, B, K) as Keras's cell uses them: one (B, K) tensor in its fused implementation 2
    (and SimpleRNN), a list of one per gate block in implementation 1 (a single mask repeated)."""
    _, tf = kerascheck.import_keras()
    if masks is None:
        return None
    if cell == "simple_rnn" or keras_cell.implementation != 1:
        assert len(masks) == 1
        return tf.constant(masks[0])
    return [tf.constant(masks[0 if len(masks) == 1 else g]) for g in range(GATES[cell])]


def compare_with_keras(cell, options, x, states, weights, rng, mask=None, input_masks=None,
                       recurrent_masks=None, go_backwards=False, zero_output_for_mask=False):
    """Our cell and Keras's layer (return_sequences, return_state, float64) on the same x, initial
    states, weights and masks: outputs, final states, dL/dx, dL/d(initial states) and every weight
    gradient must agree to kerascheck.RTOL."""
    keras, tf = kerascheck.import_keras()
    layer_options = dict(return_sequences=True, return_state=True, go_backwards=go_backwards,
                         zero_output_for_mask=zero_output_for_mask, dtype="float64")
    if cell != "simple_rnn":
        layer_options["use_cudnn"] = False
    if cell == "gru":
        layer_options["reset_after"] = options["reset_after"]
    if input_masks is not None:
        layer_options["dropout"] = RATE
        if len(input_masks) > 1:  # Keras draws one mask per gate block in implementation 1
            layer_options["implementation"] = 1
    if recurrent_masks is not None:
        layer_options["recurrent_dropout"] = RATE  # Keras then uses implementation 1
    layer = getattr(keras.layers, KERAS_LAYERS[cell])(weights[1].shape[0], **layer_options)
    layer.build(x.shape)
    layer.set_weights([w for w in weights if w is not None])
    keras_input_masks = keras_dropout_masks(cell, layer.cell, input_masks)
    keras_recurrent_masks = keras_dropout_masks(cell, layer.cell, recurrent_masks)
    layer.cell.get_dropout_mask = lambda step_input: keras_input_masks
    layer.cell.get_recurrent_dropout_mask = lambda step_input: keras_recurrent_masks
    keras_mask = None if mask is None else tf.constant(mask)
    training = input_masks is not None or recurrent_masks is not None

    projections_of = kerascheck.random_projections(rng)
    keras_outputs, keras_grads = kerascheck.keras_outputs_and_gradients(
        lambda ts: layer(ts[0], initial_state=list(ts[1:]), mask=keras_mask, training=training),
        [x, *states], projections_of, layer.trainable_weights)

    module = CELLS[cell]
    outputs, finals, cache = module.forward(
        x, states, weights, mask=mask, input_masks=input_masks, recurrent_masks=recurrent_masks,
        go_backwards=go_backwards, zero_output_for_mask=zero_output_for_mask, **options)
    d_outputs, *d_finals = projections_of([outputs, *finals])
    grads = module.backward(d_outputs, tuple(d_finals), cache)

    pairs = {"outputs": (outputs, keras_outputs[0]), "d_x": (grads.inputs, keras_grads[0])}
    for i, final in enumerate(finals):
        pairs[f"final_state[{i}]"] = (final, keras_outputs[1 + i])
        pairs[f"d_initial_state[{i}]"] = (grads.initial_states[i], keras_grads[1 + i])
    keras_weight_grads = iter(keras_grads[1 + len(states):])
    for name, w, g in zip(("kernel", "recurrent_kernel", "bias"), weights, grads.weights):
        if w is not None:
            pairs[f"d_{name}"] = (g, next(keras_weight_grads))
    kerascheck.assert_close(pairs)
    return pairs


@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
@pytest.mark.parametrize("kind", list(MASKS))
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output", [False, True])
def test_mask_matches_keras(cell, options, kind, go_backwards, zero_output):
    rng, x, states, weights = problem(cell, options, seed=3)
    compare_with_keras(cell, options, x, states, weights, rng, mask=time_mask(kind),
                       go_backwards=go_backwards, zero_output_for_mask=zero_output)


@pytest.mark.parametrize("cell, options, counts", DROPOUT_PARAMS)
def test_dropout_matches_keras(cell, options, counts):
    rng, x, states, weights = problem(cell, options, seed=4)
    compare_with_keras(cell, options, x, states, weights, rng, **with_dropout(rng, cell, *counts))


@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output", [False, True])
def test_all_together_matches_keras(cell, options, go_backwards, zero_output):
    rng, x, states, weights = problem(cell, options, seed=5)
    compare_with_keras(cell, options, x, states, weights, rng, mask=time_mask("gaps"),
                       go_backwards=go_backwards, zero_output_for_mask=zero_output,
                       **with_dropout(rng, cell, "gates", "gates"))


# ---------------------------------------------------------------------------------------------------
# Without masks nothing changes; a masked step adds nothing; the computation keeps its dtype

def run(cell, x, states, weights, rng, **options):
    """Outputs, final states and every gradient (with the ledger) of one forward and backward."""
    module = CELLS[cell]
    outputs, finals, cache = module.forward(x, states, weights, **options)
    d_outputs = np.random.default_rng(9).standard_normal(outputs.shape).astype(outputs.dtype)
    grads = module.backward(d_outputs, tuple(np.ones_like(f) for f in finals), cache, ledger=True)
    ledger = [grads.ledger[k] for k in sorted(grads.ledger)]
    return [outputs, *finals, grads.inputs, *grads.initial_states, *grads.weights, *ledger]


@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_all_true_mask_and_unit_dropout_masks_change_nothing(cell, options, go_backwards):
    """A mask with every step real, and dropout masks of ones (one for all gate blocks) give exactly the
    numbers of a run without them: the masked code computes the same products and sums."""
    rng, x, states, weights = problem(cell, options, seed=6)
    plain = run(cell, x, states, weights, rng, go_backwards=go_backwards, **options)
    ones = dict(mask=np.ones((BATCH, STEPS), dtype=bool), input_masks=np.ones((1, BATCH, INPUT_DIM)),
                recurrent_masks=np.ones((1, BATCH, UNITS)))
    for zero_output in (False, True):
        masked = run(cell, x, states, weights, rng, go_backwards=go_backwards,
                     zero_output_for_mask=zero_output, **ones, **options)
        assert len(masked) == len(plain)
        for a, b in zip(masked, plain):
            assert (a is None and b is None) or np.array_equal(a, b)
    # One mask of ones per gate block: the same up to the rounding of products split by blocks.
    g = GATES[cell]
    blocks = run(cell, x, states, weights, rng, go_backwards=go_backwards,
                 input_masks=np.ones((g, BATCH, INPUT_DIM)), recurrent_masks=np.ones((g, BATCH, UNITS)),
                 **options)
    for a, b in zip(blocks, plain):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_masked_step_adds_nothing_to_the_weight_gradients(cell, options, go_backwards):
    """The ledger's step of a time step masked in every row is zero for every weight; the ledger still
    sums to the gradients; ledger["hidden"] at the last processed step is s_T * dy_T + dh_T^final."""
    rng, x, states, weights = problem(cell, options, seed=7)
    mask = time_mask("gaps")
    mask[:, 1] = False  # caller's step 1: processed 2nd, or 4th with go_backwards
    mask[0, 2] = True
    module = CELLS[cell]
    outputs, finals, cache = module.forward(x, states, weights, mask=mask, go_backwards=go_backwards,
                                            **options)
    d_outputs = rng.standard_normal(outputs.shape)
    d_finals = tuple(rng.standard_normal(f.shape) for f in finals)
    grads = module.backward(d_outputs, d_finals, cache, ledger=True)
    step = STEPS - 2 if go_backwards else 1
    for name, gradient in zip(("kernel", "recurrent_kernel", "bias"), grads.weights):
        assert np.all(grads.ledger[name][step] == 0.0), name
        assert np.any(grads.ledger[name][step - 1] != 0.0), name
        np.testing.assert_allclose(grads.ledger[name].sum(axis=0), gradient, rtol=1e-12, atol=1e-14)
    # The last output shows h_T in every row that had a real step (s_T), zeros in the row that had none.
    shown_last = mask.any(axis=1)[:, None]
    assert not shown_last.all()
    np.testing.assert_array_equal(grads.ledger["hidden"][-1], shown_last * d_outputs[:, -1] + d_finals[0])


@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
def test_float32_stays_float32_with_float64_masks(cell, options):
    rng, x, states, weights = problem(cell, options, seed=8)
    x32, states32 = x.astype(np.float32), tuple(s.astype(np.float32) for s in states)
    weights32 = tuple(w.astype(np.float32) for w in weights)
    masks = dict(mask=time_mask("right_padded"), **with_dropout(rng, cell, "gates", 1))
    result32 = run(cell, x32, states32, weights32, rng, **masks, **options)
    result64 = run(cell, x, states, weights, rng, **masks, **options)
    for a, b in zip(result32, result64):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


# ---------------------------------------------------------------------------------------------------
# Clear errors

BAD_MASKS = [
    ("mask", "mask", np.ones((BATCH, STEPS + 1), dtype=bool)),
    ("mask", "mask", np.ones((BATCH, STEPS, 1), dtype=bool)),
    ("mask", "mask", np.ones((BATCH, STEPS))),  # float 0/1, not bool
    ("mask", "mask", np.ones((BATCH + 1, STEPS), dtype=bool)),
    ("input_masks", "input_masks", np.ones((BATCH, INPUT_DIM))),  # no count axis
    ("input_masks", "input_masks", np.ones((2, BATCH, INPUT_DIM))),  # neither 1 nor the gate count
    ("input_masks", "input_masks", np.ones((1, BATCH, INPUT_DIM + 1))),
    ("input_masks", "input_masks", np.ones((1, BATCH + 1, INPUT_DIM))),
    ("input_masks", "input_masks", np.full((1, BATCH, INPUT_DIM), "1")),
    ("recurrent_masks", "recurrent_masks", np.ones((5, BATCH, UNITS))),
    ("recurrent_masks", "recurrent_masks", np.ones((1, BATCH, UNITS + 1))),
    ("recurrent_masks", "recurrent_masks", np.ones((1, BATCH, INPUT_DIM + UNITS))),
]


@pytest.mark.parametrize("cell, options", VARIANTS, ids=IDS)
@pytest.mark.parametrize("argument, named, value", BAD_MASKS)
def test_wrong_masks_are_value_errors_naming_the_argument(cell, options, argument, named, value):
    _, x, states, weights = problem(cell, options)
    with pytest.raises(ValueError, match=rf"^{named}: expected"):
        CELLS[cell].forward(x, states, weights, **{argument: value}, **options)


@pytest.mark.parametrize("cell, options", VARIANTS[1:], ids=IDS[1:])
def test_gate_count_of_masks_is_the_cells(cell, options):
    """LSTM takes 1 or 4 masks, GRU 1 or 3: the other cell's count is an error naming both counts."""
    _, x, states, weights = problem(cell, options)
    other = 3 if cell == "lstm" else 4
    with pytest.raises(ValueError, match=rf"recurrent_masks: expected 1 .* or {GATES[cell]} "):
        CELLS[cell].forward(x, states, weights, recurrent_masks=np.ones((other, BATCH, UNITS)), **options)
    with pytest.raises(ValueError, match=rf"input_masks: expected 1 .* or {GATES[cell]} "):
        CELLS[cell].forward(x, states, weights, input_masks=np.ones((other, BATCH, INPUT_DIM)), **options)
