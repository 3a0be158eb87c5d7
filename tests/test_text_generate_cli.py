"""Corpus handling (scratchrnn.text), sampling (scratchrnn.generate) and the ``scratchrnn`` command."""

import re
from pathlib import Path

import numpy as np
import pytest

from scratchrnn import cli, gradcheck, rng
from scratchrnn import generate as generation
from scratchrnn.generate import generate, sample_index
from scratchrnn.layers import GRU, LSTM, Activation, Dense, SimpleRNN, TimeDistributed
from scratchrnn.models import Sequential, load_model
from scratchrnn.text import Vocab, clean_tutorial, read_text, strip_gutenberg, windows
from scratchrnn.utils import set_random_seed, to_categorical

ROOT = Path(__file__).resolve().parent.parent
ALICE = ROOT.parent / "shared" / "data" / "alice.txt"
CHARS = " .abcdehlnorst"


# ------------------------------------------------------------------------------------------------ text

def test_clean_tutorial_lower_cases_keeps_its_character_set_and_collapses_spaces():
    raw = "Hello,\nWorld!  It's   (2nd)\t\"OK\"; a-b\r\n\n  Done.  "
    assert clean_tutorial(raw) == "hello, world! it's 2nd ok a-b done."
    assert set(clean_tutorial("ÀÉ é ü ~ # 9 Z")) <= set("abcdefghijklmnopqrstuvwxyz0123456789.,! -'")


def test_strip_gutenberg_keeps_the_book_between_the_markers():
    text = ("The Project Gutenberg eBook of X\nheader\n"
            "*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\nThe book.\nIts end.\n\n"
            "*** END OF THE PROJECT GUTENBERG EBOOK X ***\nLicence text\n")
    assert strip_gutenberg(text) == "The book.\nIts end."
    assert strip_gutenberg("no markers here\n*** not one\n") == "no markers here\n*** not one\n"
    assert strip_gutenberg("head\n*** START OF THIS BOOK ***\nbody\n") == "body"  # no END: to the end


def test_read_text_drops_the_bom_and_crlf(tmp_path):
    path = tmp_path / "book.txt"
    path.write_bytes("\ufeffline one\r\nline two\r\n".encode())
    assert read_text(path) == "line one\nline two\n"
    path.write_bytes(b"ok \xff bad")
    with pytest.raises(ValueError, match="UTF-8"):
        read_text(path)


def test_alice_is_stripped_of_the_gutenberg_header_and_licence():
    if not ALICE.is_file():
        pytest.skip(f"{ALICE} is absent (the shared data folder holds Gutenberg eBook #11)")
    raw = read_text(ALICE)
    assert raw.startswith("Project Gutenberg") and "\r" not in raw and "\ufeff" not in raw
    book = strip_gutenberg(raw)
    assert book.startswith("ALICE'S ADVENTURES IN WONDERLAND")
    assert "THE END" in book[-200:]
    assert "*** START" not in book and "LICENSE" not in book.upper()
    assert len(book) < len(raw) * 0.9
    clean = clean_tutorial(book)
    assert clean.startswith("alice's adventures in wonderland lewis carroll")
    assert set(clean) <= set("abcdefghijklmnopqrstuvwxyz0123456789.,! -'") and "  " not in clean


def test_vocab_is_sorted_encodes_decodes_and_round_trips_as_a_list():
    vocab = Vocab.from_text("hello world")
    assert vocab.chars == sorted(set("hello world")) and len(vocab) == 8
    ids = vocab.encode("low")
    assert ids.dtype == np.int64 and vocab.decode(ids) == "low"
    assert Vocab.from_list(vocab.to_list()) == vocab and Vocab(vocab.to_list()).chars == vocab.chars
    with pytest.raises(ValueError, match="once"):
        Vocab(["a", "b", "a"])
    with pytest.raises(ValueError, match=r"\[0, 8\)"):
        vocab.decode([0, 8])


def test_vocab_unknown_character_is_named_with_its_position_or_dropped():
    vocab = Vocab.from_text("hello world")
    with pytest.raises(ValueError, match=r"character 'X' \(U\+0058\) at position 3"):
        vocab.encode("helXlo")
    assert vocab.decode(vocab.encode("helXlo!", on_unknown="drop")) == "hello"
    with pytest.raises(ValueError, match="on_unknown"):
        vocab.encode("h", on_unknown="skip")


def test_windows_are_non_overlapping_with_targets_shifted_by_one():
    x, y = windows(np.arange(11), 5)
    np.testing.assert_array_equal(x, [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
    np.testing.assert_array_equal(y, [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]])
    x, _ = windows(np.arange(10), 5)  # the last window would lack its final target
    assert x.shape == (1, 5)
    with pytest.raises(ValueError, match="seq_length=5"):
        windows(np.arange(5), 5)
    with pytest.raises(ValueError, match="seq_length"):
        windows(np.arange(5), 0)


# ------------------------------------------------------------------------------------------ generation

def char_model(kind=LSTM, units=8, layers=1, dtype="float32", head="time_distributed", seed=0, **options):
    set_random_seed(seed)
    vocab_size = len(CHARS)
    model = Sequential()
    model.add(kind(units, input_shape=(None, vocab_size), return_sequences=True, dtype=dtype, **options))
    for _ in range(layers - 1):
        model.add(kind(units, return_sequences=True, dtype=dtype, **options))
    if head == "time_distributed":
        model.add(TimeDistributed(Dense(vocab_size, dtype=dtype)))
        model.add(Activation("softmax", dtype=dtype))
    elif head == "dense_softmax":
        model.add(Dense(vocab_size, activation="softmax", dtype=dtype))
    else:  # logits
        model.add(Dense(vocab_size, dtype=dtype))
    model.build((None, None, vocab_size))
    model.set_weights([w * 3.0 for w in model.get_weights()])  # sharper, less uniform distributions
    model.vocabulary = list(CHARS)
    return model


def test_generation_is_reproducible_for_a_seed_and_leaves_the_library_rng_alone():
    model = char_model()
    before = rng.get_state()
    first = generate(model, 60, prime="the cat ", seed=7)
    assert rng.get_state() == before
    assert len(first) == 60 and set(first) <= set(CHARS)
    assert generate(model, 60, prime="the cat ", seed=7) == first
    assert generate(model, 60, prime="the cat ", seed=8) != first


def test_greedy_is_deterministic_and_top_k_1_is_greedy():
    model = char_model(GRU, layers=2, head="dense_softmax")
    greedy = generate(model, 40, prime="hello", greedy=True, seed=1)
    assert generate(model, 40, prime="hello", greedy=True, seed=2) == greedy
    assert generate(model, 40, prime="hello", top_k=1, seed=3) == greedy


def test_carried_state_gives_the_same_text_as_rerunning_the_whole_prefix():
    """The tutorial's quadratic generation (predict on the whole text so far, take the last step)
    and the constant-cost one agree, in float64, for greedy decoding."""
    model = char_model(LSTM, layers=2, dtype="float64")
    vocab = Vocab(CHARS)
    text = "a cat"
    for _ in range(15):
        x = to_categorical(vocab.encode(text), len(vocab), dtype="float64")[None]
        text += vocab.chars[int(np.argmax(model.predict(x)[0, -1]))]
    assert "a cat" + generate(model, 15, prime="a cat", greedy=True) == text


def test_sample_index_greedy_temperature_and_top_k():
    log_p = np.log([0.1, 0.5, 0.15, 0.25])
    generator = np.random.default_rng(0)
    assert sample_index(log_p, generator, greedy=True) == 1
    assert {sample_index(log_p, generator, temperature=1e-3) for _ in range(50)} == {1}
    assert {sample_index(log_p, generator, top_k=2) for _ in range(300)} == {1, 3}
    draws = [sample_index(log_p, generator) for _ in range(4000)]
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 4000, [0.1, 0.5, 0.15, 0.25], atol=0.03)


@pytest.mark.parametrize("kind", [LSTM, GRU, SimpleRNN])
def test_cell_steps_per_character_are_constant_in_the_length(kind, monkeypatch):
    """Count the time steps every layer.run call runs: the prompt once, then one step per character."""
    model = char_model(kind, layers=2)
    calls = []
    for layer in model.layers[:2]:
        original = layer.run

        def counting_run(x, states, _original=original, _name=layer.name):
            calls.append((_name, x.shape[1]))
            return _original(x, states)

        monkeypatch.setattr(layer, "run", counting_run)
    prime = "the cat"
    for length in (5, 20, 80):
        calls.clear()
        generate(model, length, prime=prime, seed=0)
        steps = [t for _, t in calls]
        assert steps[:2] == [len(prime)] * 2  # priming: one call per layer over the whole prompt
        assert steps[2:] == [1] * (2 * (length - 1))  # then one step per layer per further character
        assert generation.last_stats.cell_steps == sum(steps) == 2 * (len(prime) + length - 1)
        assert generation.last_stats.run_calls == len(calls) and generation.last_stats.characters == length


def test_empty_prime_starts_from_a_seeded_random_letter():
    model = char_model()
    text = generate(model, 30, seed=4)
    assert len(text) == 30 and text[0].isalpha() and generate(model, 30, seed=4) == text
    assert generation.last_stats.cell_steps == 29
    assert generate(model, 1, seed=4) == text[0] and generation.last_stats.cell_steps == 0
    assert generate(model, 0, prime="the") == ""


def test_stateful_layers_keep_their_own_state_and_logits_heads_work():
    model = char_model(LSTM, stateful=True, head="logits")
    model.layers[0].reset_states_for(1)
    model.layers[0].states[0][...] = 0.5
    text = generate(model, 20, prime="the ", seed=0)
    assert len(text) == 20
    np.testing.assert_array_equal(model.layers[0].states[0], 0.5)


def test_generation_errors_are_clear():
    model = char_model()
    with pytest.raises(ValueError, match=r"prime: character 'X' \(U\+0058\) at position 2"):
        generate(model, 5, prime="thXe")
    with pytest.raises(ValueError, match="temperature"):
        generate(model, 5, prime="the", temperature=0)
    with pytest.raises(ValueError, match="top_k"):
        generate(model, 5, prime="the", top_k=0)
    with pytest.raises(ValueError, match="vocabulary of 4|expects 14 characters"):
        generate(model, 5, vocabulary="abcd")
    model.vocabulary = None
    with pytest.raises(ValueError, match="vocabulary"):
        generate(model, 5, prime="the")
    assert len(generate(model, 5, prime="the", vocabulary=CHARS)) == 5
    unbuilt = Sequential([LSTM(4, return_sequences=True), Dense(3)])
    with pytest.raises(ValueError, match="built"):
        generate(unbuilt, 5, vocabulary="abc")


def trained_checkpoint(path, epochs=2):
    model = char_model(LSTM)
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    vocab = Vocab(CHARS)
    x_ids, y_ids = windows(vocab.encode("the cat sat on the hat. " * 8 + "the end."), 10)
    model.fit(to_categorical(x_ids, len(vocab)), to_categorical(y_ids, len(vocab)), batch_size=8,
              epochs=epochs, verbose=0)
    model.save(path)
    return model


def test_generation_from_a_loaded_checkpoint_uses_its_stored_vocabulary(tmp_path):
    model = trained_checkpoint(tmp_path / "model.npz")
    loaded = load_model(tmp_path / "model.npz", restore_rng=False)
    assert loaded.vocabulary == list(CHARS)
    assert generate(loaded, 40, prime="the ", seed=5) == generate(model, 40, prime="the ", seed=5)


# ------------------------------------------------------------------------------------------------- CLI

def test_cli_generate_prints_the_prime_and_a_reproducible_continuation(tmp_path, capsys):
    model = trained_checkpoint(tmp_path / "model.npz")
    argv = ["generate", str(tmp_path / "model.npz"), "--length", "30", "--prime", "the ", "--seed", "3",
            "--temperature", "0.7", "--top-k", "5"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out == "the " + generate(model, 30, prime="the ", seed=3, temperature=0.7, top_k=5) + "\n"
    assert cli.main(argv) == 0 and capsys.readouterr().out == out
    assert cli.main(["generate", str(tmp_path / "model.npz"), "--length", "10", "--greedy"]) == 0
    assert len(capsys.readouterr().out) == 11


def test_cli_info_describes_the_checkpoint(tmp_path, capsys):
    trained_checkpoint(tmp_path / "model.npz", epochs=3)
    assert cli.main(["info", str(tmp_path / "model.npz")]) == 0
    out = capsys.readouterr().out
    assert "LSTM(8, return_sequences=True)" in out and "TimeDistributed(Dense(14))" in out
    assert f"parameters: {4 * 8 * (14 + 8 + 1) + 8 * 14 + 14:,}" in out
    assert f"vocabulary (14 characters): {CHARS!r}" in out
    assert "epoch: 3" in out and "Adam" in out
    assert re.search(r"last epoch: loss \d+\.\d{4} \(\d+\.\d{3} bits per character\)", out)


@pytest.mark.parametrize("argv", [["rnn"], ["lstm"], ["gru"], ["gru", "--no-reset-after"],
                                  ["lstm", "--units", "2", "--steps", "3", "--batch", "1", "--features", "2",
                                   "--seed", "5"]])
def test_cli_gradcheck_reports_relative_errors_and_passes(argv, capsys):
    assert cli.main(["gradcheck", *argv]) == 0
    out = capsys.readouterr().out
    assert "kernel" in out and "recurrent_kernel" in out and "input" in out and "initial state 0" in out
    assert "passed" in out
    if "--no-reset-after" in argv:
        assert "reset_after=False" in out


def test_cli_gradcheck_exits_1_when_the_check_fails(monkeypatch, capsys):
    monkeypatch.setattr(gradcheck, "check_layer", lambda *a, **k: gradcheck.Report({"kernel (2, 4)": 1e-3}))
    assert cli.main(["gradcheck", "lstm"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_cli_errors_exit_2_with_one_line_and_no_traceback(tmp_path, capsys):
    missing = tmp_path / "missing.npz"
    for command in ("info", "generate"):
        assert cli.main([command, str(missing)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "missing.npz" in err and "Traceback" not in err
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    assert cli.main(["info", str(garbage)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable scratchrnn checkpoint" in err
    trained_checkpoint(tmp_path / "model.npz", epochs=1)
    assert cli.main(["generate", str(tmp_path / "model.npz"), "--prime", "THE"]) == 2
    assert "'T'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["gradcheck", "transformer"])
    assert exit_info.value.code == 2
