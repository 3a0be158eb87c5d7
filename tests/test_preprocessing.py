"""Keras's preprocessing helpers: pad_sequences against Keras 3's own function for every argument
combination; the Tokenizer against hand-computed vocabularies, sequences and matrices, and against
TensorFlow's tf.keras.preprocessing.text.Tokenizer (Keras 3's legacy copy of Keras 2's); clear errors."""

import itertools
import math

import kerascheck
import numpy as np
import pytest

from scratchrnn import utils
from scratchrnn.preprocessing import sequence, text
from scratchrnn.preprocessing.sequence import pad_sequences
from scratchrnn.preprocessing.text import Tokenizer, text_to_word_sequence


@pytest.fixture(scope="module")
def keras():
    return kerascheck.import_keras()[0]


@pytest.fixture(scope="module")
def tf():
    return kerascheck.import_keras()[1]


def ragged(seed, count=9, longest=6, features=()):
    """Random lists of random lengths (some empty, some longer than the maxlens tried)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, longest + 1, count)
    lengths[0], lengths[-1] = 0, longest  # always an empty one and a longest one
    return [rng.integers(1, 100, (n, *features)).tolist() for n in lengths]


# -- pad_sequences --------------------------------------------------------------------------------

@pytest.mark.parametrize("padding, truncating", list(itertools.product(["pre", "post"], repeat=2)))
@pytest.mark.parametrize("maxlen", [None, 1, 3, 6, 9])
@pytest.mark.parametrize("dtype, value", [("int32", 0.0), ("int32", -1), ("int64", 7), ("float32", 2.5),
                                          ("float64", -0.5), ("int32", 2.9)])
def test_pad_sequences_matches_keras(keras, padding, truncating, maxlen, dtype, value):
    sequences = ragged(seed=sum(map(ord, repr((padding, truncating, maxlen, dtype, value)))))
    expected = keras.utils.pad_sequences(sequences, maxlen=maxlen, dtype=dtype, padding=padding,
                                         truncating=truncating, value=value)
    got = pad_sequences(sequences, maxlen=maxlen, dtype=dtype, padding=padding, truncating=truncating,
                        value=value)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("padding, truncating", list(itertools.product(["pre", "post"], repeat=2)))
def test_pad_sequences_of_vectors_arrays_tuples_and_strings_match_keras(keras, padding, truncating):
    options = dict(padding=padding, truncating=truncating)
    vectors = ragged(seed=3, features=(2,))
    for maxlen in (None, 4):
        np.testing.assert_array_equal(pad_sequences(vectors, maxlen=maxlen, dtype="float64", **options),
                                      keras.utils.pad_sequences(vectors, maxlen=maxlen, dtype="float64",
                                                                **options))
    arrays = [np.array(s) for s in ragged(seed=4)] + [tuple(range(3)), range(5)]
    np.testing.assert_array_equal(pad_sequences(arrays, maxlen=4, **options),
                                  keras.utils.pad_sequences(arrays, maxlen=4, **options))
    words = [["a", "b", "c"], [], ["d"]]
    got = pad_sequences(words, maxlen=2, dtype=object, value="<pad>", **options)
    expected = keras.utils.pad_sequences(words, maxlen=2, dtype=object, value="<pad>", **options)
    assert got.dtype == object and got.tolist() == expected.tolist()
    # floats into int32 are truncated toward zero, as Keras's NumPy conversion does
    floats = [[1.7, -2.7], [3.2]]
    np.testing.assert_array_equal(pad_sequences(floats, **options),
                                  keras.utils.pad_sequences(floats, **options))


def test_pad_sequences_where_keras_fails_gives_the_empty_array_described(keras):
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences([], maxlen=3).shape == (0, 3)
    np.testing.assert_array_equal(pad_sequences([[], []]), keras.utils.pad_sequences([[], []]))
    # maxlen=0: Keras answers for truncating="post" and fails for "pre"; both give (N, 0) here
    expected = keras.utils.pad_sequences([[1, 2], [3]], maxlen=0, truncating="post")
    assert pad_sequences([[1, 2], [3]], maxlen=0, truncating="post").shape == expected.shape == (2, 0)
    assert pad_sequences([[1, 2], [3]], maxlen=0).shape == (2, 0)


def test_pad_sequences_worked_examples_and_homes():
    sequences = [[1], [2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(pad_sequences(sequences), [[0, 0, 1], [0, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(sequences, padding="post"), [[1, 0, 0], [2, 3, 0], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(sequences, maxlen=2), [[0, 1], [2, 3], [5, 6]])
    np.testing.assert_array_equal(pad_sequences(sequences, maxlen=2, truncating="post"),
                                  [[0, 1], [2, 3], [4, 5]])
    assert pad_sequences(sequences).dtype == np.int32
    assert utils.pad_sequences is sequence.pad_sequences is pad_sequences


@pytest.mark.parametrize("call, error, words", [
    (lambda: pad_sequences([[1]], padding="middle"), ValueError, ["padding:", "'pre', 'post'", "'middle'"]),
    (lambda: pad_sequences([[1]], truncating=None), ValueError, ["truncating:", "got None"]),
    (lambda: pad_sequences([[1]], maxlen=-1), ValueError, ["maxlen:", "non-negative integer", "-1"]),
    (lambda: pad_sequences([[1]], maxlen=2.5), ValueError, ["maxlen:", "2.5"]),
    (lambda: pad_sequences("abc"), ValueError, ["sequences:", "list of sequences", "str"]),
    (lambda: pad_sequences(5), ValueError, ["sequences:", "int"]),
    (lambda: pad_sequences([[1], 3]), ValueError, ["sequences[1]:", "expected a sequence", "int"]),
    (lambda: pad_sequences([[1], "ab"]), ValueError, ["sequences[1]:", "str"]),
    (lambda: pad_sequences([[1], {2, 3}]), ValueError, ["sequences[1]:", "set"]),
    (lambda: pad_sequences([[1], [2, "x"]]), ValueError, ["sequences[1]:", "int32"]),
    (lambda: pad_sequences([[[1, 2]], [[1, 2, 3]]]), ValueError, ["sequences[1]:", "(2,)", "(3,)"]),
    (lambda: pad_sequences([[[1, 2], [3]]]), ValueError, ["sequences[0]:", "one shape"]),
    (lambda: pad_sequences([[1]], value="x"), ValueError, ["value:", "dtype=object", "int32"]),
    (lambda: pad_sequences([[1]], value=float("nan")), ValueError, ["value:", "int32", "nan"]),
    (lambda: pad_sequences([[1]], dtype="banana"), ValueError, ["dtype:", "'banana'"]),
])
def test_pad_sequences_errors(call, error, words):
    with pytest.raises(error) as raised:
        call()
    for word in words:
        assert word in str(raised.value), (word, str(raised.value))


# -- Tokenizer: by hand ---------------------------------------------------------------------------

TEXTS = ["The cat sat on the mat.", "The dog ate my homework!", "My cat, my rules."]
# counts: the 3, cat 2, sat 1, on 1, mat 1, dog 1, ate 1, my 3, homework 1, rules 1 (first appearance
# order); ranked by count with ties in that order: the, my, cat, sat, on, mat, dog, ate, homework, rules
WORD_INDEX = {"the": 1, "my": 2, "cat": 3, "sat": 4, "on": 5, "mat": 6, "dog": 7, "ate": 8, "homework": 9,
              "rules": 10}


def fitted(**options):
    tokenizer = Tokenizer(**options)
    tokenizer.fit_on_texts(TEXTS)
    return tokenizer


def test_text_to_word_sequence():
    assert text_to_word_sequence("Hello, World!  This\tis\nit.") == ["hello", "world", "this", "is", "it"]
    assert text_to_word_sequence("Don't STOP", lower=False) == ["Don't", "STOP"]  # ' is not filtered
    assert text_to_word_sequence("a,b,,c d", filters="", split=",") == ["a", "b", "c d"]
    assert text.text_to_word_sequence("x-y", filters=["-"]) == ["x", "y"]


def test_vocabulary_by_hand():
    tokenizer = fitted()
    assert tokenizer.word_index == WORD_INDEX
    assert tokenizer.index_word == {i: w for w, i in WORD_INDEX.items()}
    assert list(tokenizer.word_counts.items()) == [("the", 3), ("cat", 2), ("sat", 1), ("on", 1), ("mat", 1),
                                                   ("dog", 1), ("ate", 1), ("my", 3), ("homework", 1),
                                                   ("rules", 1)]
    assert tokenizer.document_count == 3
    assert [tokenizer.word_docs[word] for word in ("the", "my", "cat", "rules")] == [2, 2, 2, 1]
    assert tokenizer.index_docs[1] == 2 and tokenizer.index_docs[10] == 1
    tokenizer.fit_on_texts(["rules rules rules"])  # a second call adds up
    assert tokenizer.word_index["rules"] == 1 and tokenizer.document_count == 4  # rules 4 > the 3


def test_sequences_by_hand():
    assert fitted().texts_to_sequences(["The cat ate the fish", ""]) == [[1, 3, 8, 1], []]  # fish unknown
    # num_words=4 keeps the 3 most frequent: the, my, cat
    assert fitted(num_words=4).texts_to_sequences(["the cat ate my fish"]) == [[1, 3, 2]]
    oov = fitted(num_words=4, oov_token="<OOV>")  # the oov token takes index 1, every word moves up one
    assert oov.word_index["<OOV>"] == 1 and oov.word_index["the"] == 2 and oov.word_index["cat"] == 4
    # cat (4) is beyond num_words, ate and fish are out of the vocabulary
    assert oov.texts_to_sequences(["the cat ate the fish"]) == [[2, 1, 1, 2, 1]]
    assert oov.sequences_to_texts([[2, 3, 99, 0]]) == ["the my <OOV> <OOV>"]
    assert fitted().sequences_to_texts([[1, 3, 99, 0], []]) == ["the cat", ""]  # unknown ids dropped
    assert fitted(num_words=3).sequences_to_texts([[1, 2, 3]]) == ["the my"]


def test_oov_token_that_is_also_a_word_keeps_index_one():
    tokenizer = Tokenizer(oov_token="unk")
    tokenizer.fit_on_texts(["a a unk b"])
    assert tokenizer.word_index == {"unk": 1, "a": 2, "b": 3}
    assert tokenizer.index_word == {1: "unk", 2: "a", 3: "b"}


def test_characters_and_token_lists():
    chars = Tokenizer(char_level=True)
    chars.fit_on_texts(["abca", "Bd"])
    assert chars.word_index == {"a": 1, "b": 2, "c": 3, "d": 4}
    assert chars.texts_to_sequences(["DaB"]) == [[4, 1, 2]]
    tokens = Tokenizer()
    tokens.fit_on_texts([["Hello", "world"], ["hello"]])
    assert tokens.word_index == {"hello": 1, "world": 2}
    assert tokens.texts_to_sequences([["World", "HELLO", "x"]]) == [[2, 1]]
    piped = Tokenizer(split="|", filters="")
    piped.fit_on_texts(["a b|c|c"])
    assert piped.word_index == {"c": 1, "a b": 2}
    analyzed = Tokenizer(analyzer=lambda t: t.split("-"))
    analyzed.fit_on_texts(["x-y-y"])
    assert analyzed.word_index == {"y": 1, "x": 2}


def test_matrices_by_hand():
    tokenizer = fitted()
    texts = ["the the cat fish"]  # sequence [1, 1, 3]: width len(word_index) + 1 = 11
    binary, count, freq, tfidf = (tokenizer.texts_to_matrix(texts, mode=m)
                                  for m in ("binary", "count", "freq", "tfidf"))
    expected = np.zeros((1, 11))
    for matrix, (first, third) in [(binary, (1, 1)), (count, (2, 1)), (freq, (2 / 3, 1 / 3)),
                                   # 3 documents; "the" and "cat" are in 2 each: idf = ln(1 + 3 / 3)
                                   (tfidf, ((1 + math.log(2)) * math.log(2), math.log(2)))]:
        expected[0, 1], expected[0, 3] = first, third
        np.testing.assert_allclose(matrix, expected, rtol=1e-15)
    assert matrix.dtype == np.float64
    narrow = fitted(num_words=3).sequences_to_matrix([[1, 5, 2, 2]], mode="freq")  # 5 is beyond the width
    np.testing.assert_allclose(narrow, [[0, 1 / 4, 2 / 4]])
    assert Tokenizer(num_words=4).sequences_to_matrix([[3, 3]], mode="count").tolist() == [[0, 0, 0, 2]]


def test_json_round_trip():
    tokenizer = fitted(num_words=5, oov_token="<OOV>")
    back = text.tokenizer_from_json(tokenizer.to_json())
    assert back.word_index == tokenizer.word_index and back.index_word == tokenizer.index_word
    assert back.num_words == 5 and back.document_count == 3 and back.index_docs == tokenizer.index_docs
    assert back.texts_to_sequences(TEXTS) == tokenizer.texts_to_sequences(TEXTS)
    np.testing.assert_array_equal(back.texts_to_matrix(TEXTS, "tfidf"),
                                  tokenizer.texts_to_matrix(TEXTS, "tfidf"))


def test_hashing_trick():
    indices = text.hashing_trick("The cat and the hat", 10, hash_function="md5")
    assert all(1 <= i < 10 for i in indices) and indices[0] == indices[3]
    assert text.hashing_trick("the cat", 10, "md5") == text.hashing_trick("The, cat!", 10, "md5")
    assert len(text.one_hot("a b c", 5)) == 3


@pytest.mark.parametrize("call, error, words", [
    (lambda: Tokenizer().fit_on_texts("one text"), TypeError,
     ["texts:", "list of texts", "str", "in a list"]),
    (lambda: Tokenizer().fit_on_texts(["ok", 3]), TypeError,
     ["texts[1]:", "string or a list of tokens", "int"]),
    (lambda: Tokenizer().fit_on_texts([["ok", None]]), TypeError, ["texts[0]:", "string tokens", "NoneType"]),
    (lambda: Tokenizer(num_words=0), ValueError, ["num_words:", "positive integer", "got 0"]),
    (lambda: Tokenizer(num_words="5"), ValueError, ["num_words:", "'5'"]),
    (lambda: Tokenizer(split=""), ValueError, ["split:", "non-empty"]),
    (lambda: Tokenizer(oov_token=0), TypeError, ["oov_token:", "int"]),
    (lambda: Tokenizer(filters=3), TypeError, ["filters:", "got 3"]),
    (lambda: Tokenizer(lowercase=True), TypeError, ["unexpected arguments", "lowercase"]),
    (lambda: Tokenizer().texts_to_sequences(["a"]), ValueError, ["texts_to_sequences:", "fit_on_texts"]),
    (lambda: Tokenizer().texts_to_matrix(["a"]), ValueError, ["fit_on_texts"]),
    (lambda: fitted().texts_to_matrix(["a"], mode="tf"), ValueError, ["mode:", "'tfidf'", "got 'tf'"]),
    (lambda: fitted().sequences_to_texts([[1, -2]]), ValueError, ["sequences[0]:", "non-negative", "-2"]),
    (lambda: fitted().sequences_to_texts([[1, "a"]]), TypeError, ["sequences[0]:", "integer", "'a'"]),
    (lambda: Tokenizer(num_words=3).sequences_to_matrix([[1]], mode="tfidf"), ValueError, ["tfidf", "fit"]),
    (lambda: text.tokenizer_from_json("{}"), ValueError, ["json_string:", "to_json"]),
    (lambda: text.hashing_trick("a", 1), ValueError, ["n:", ">= 2", "got 1"]),
    (lambda: text_to_word_sequence(None), TypeError, ["input_text:", "string", "NoneType"]),
])
def test_tokenizer_errors(call, error, words):
    with pytest.raises(error) as raised:
        call()
    for word in words:
        assert word in str(raised.value), (word, str(raised.value))


# -- Tokenizer: against TensorFlow's --------------------------------------------------------------

def corpus(seed, documents=12):
    rng = np.random.default_rng(seed)
    vocabulary = ["Alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa", "mu"]
    punctuation = ["", ",", ".", "!", " -", "\n"]
    return [" ".join(str(rng.choice(vocabulary[:rng.integers(3, 12)])) + str(rng.choice(punctuation))
                     for _ in range(rng.integers(0, 15)))
            for _ in range(documents)]


@pytest.mark.parametrize("options", [{}, {"num_words": 5}, {"oov_token": "<OOV>"},
                                     {"num_words": 4, "oov_token": "<OOV>"}, {"char_level": True},
                                     {"lower": False, "num_words": 7}, {"split": ",", "filters": "!."}],
                         ids=str)
def test_tokenizer_matches_tensorflow(tf, options):
    theirs = tf.keras.preprocessing.text.Tokenizer(**options)
    ours = Tokenizer(**options)
    train, unseen = corpus(1), corpus(2, documents=5)
    theirs.fit_on_texts(train)
    ours.fit_on_texts(train)
    assert ours.word_index == theirs.word_index and ours.index_word == theirs.index_word
    assert list(ours.word_counts.items()) == list(theirs.word_counts.items())
    assert dict(ours.word_docs) == dict(theirs.word_docs) and dict(ours.index_docs) == dict(theirs.index_docs)
    assert ours.document_count == theirs.document_count
    for texts in (train, unseen):
        assert ours.texts_to_sequences(texts) == theirs.texts_to_sequences(texts)
        for mode in ("binary", "count", "freq", "tfidf"):
            np.testing.assert_allclose(ours.texts_to_matrix(texts, mode), theirs.texts_to_matrix(texts, mode),
                                       rtol=1e-15)
    ids = [[0, 1, 2, 3, 50], [4, 4, 1], []]
    assert ours.sequences_to_texts(ids) == theirs.sequences_to_texts(ids)
    # each reads the other's JSON
    from keras.src.legacy.preprocessing.text import tokenizer_from_json as keras_from_json

    from_ours = keras_from_json(ours.to_json())
    assert from_ours.texts_to_sequences(unseen) == theirs.texts_to_sequences(unseen)
    from_theirs = text.tokenizer_from_json(theirs.to_json())
    assert from_theirs.texts_to_sequences(unseen) == ours.texts_to_sequences(unseen)
    np.testing.assert_allclose(from_theirs.texts_to_matrix(unseen, "tfidf"),
                               theirs.texts_to_matrix(unseen, "tfidf"), rtol=1e-15)


def test_hashing_trick_matches_keras(tf):
    from keras.src.legacy.preprocessing.text import hashing_trick

    for sentence in corpus(3, documents=4):
        assert text.hashing_trick(sentence, 17, "md5") == hashing_trick(sentence, 17, "md5")
