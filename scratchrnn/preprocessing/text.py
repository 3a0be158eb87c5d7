"""Keras 2's word-level text helpers (keras.preprocessing.text, kept in Keras 3 as legacy code):
``text_to_word_sequence``, ``Tokenizer``, ``one_hot``/``hashing_trick`` and ``tokenizer_from_json``.

    text_to_word_sequence(text)   lower-cased, each character of ``filters`` turned into ``split``, split
                                  on ``split``, empty pieces dropped
    Tokenizer.fit_on_texts        counts words; word_index ranks them by count, ties in order of first
                                  appearance, from 1 (0 is left for padding); an ``oov_token`` takes 1
    texts_to_sequences            each text as word indices; a word ranked num_words or beyond, or never
                                  seen, becomes oov_token's index, or is dropped when there is none:
                                  num_words keeps the num_words - 1 most frequent words (with the oov token)
    texts_to_matrix(mode)         (texts, num_words or len(word_index) + 1) rows, per word index j < width:
                                  binary 1, count c, freq c / len(sequence),
                                  tfidf (1 + log c) log(1 + documents / (1 + documents containing j))

One deliberate difference: when the oov token also occurs as a word in the texts, Keras ranks it twice
and its word_index maps it to the later rank (index 1 is then nobody's); here it keeps index 1 and the
other words keep their consecutive ranks. ``to_json`` writes Keras's format, which Keras's
``tokenizer_from_json`` reads, and ``tokenizer_from_json`` here reads Keras's.
"""

from __future__ import annotations

import collections
import hashlib
import json
import math
import warnings

import numpy as np

__all__ = ["Tokenizer", "hashing_trick", "one_hot", "text_to_word_sequence", "tokenizer_from_json"]

FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
MODES = ("binary", "count", "tfidf", "freq")


def _check_text(text, name: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{name}: expected a string, got {type(text).__name__}")
    return text


def _check_filters(filters) -> str:
    if isinstance(filters, str):
        return filters
    if isinstance(filters, (list, tuple)) and all(isinstance(c, str) and len(c) == 1 for c in filters):
        return "".join(filters)
    raise TypeError(f"filters: expected a string (or list) of characters to remove, got {filters!r}")


def _check_split(split) -> str:
    if not isinstance(split, str) or not split:
        raise ValueError(f"split: expected a non-empty separator string, got {split!r}")
    return split


def text_to_word_sequence(input_text, filters=FILTERS, lower=True, split=" ") -> list[str]:
    """The words of ``input_text``: lower-cased (``lower``), each character of ``filters`` replaced by
    ``split``, split on ``split``, empty pieces dropped."""
    text = _check_text(input_text, "input_text")
    filters, split = _check_filters(filters), _check_split(split)
    if lower:
        text = text.lower()
    text = text.translate(str.maketrans({c: split for c in filters}))
    return [word for word in text.split(split) if word]


def hashing_trick(text, n, hash_function=None, filters=FILTERS, lower=True, split=" ", analyzer=None):
    """Each word of ``text`` as hash(word) % (n - 1) + 1, in [1, n). ``hash_function``: Python's
    ``hash`` by default (which changes between runs unless PYTHONHASHSEED is set), "md5" for a stable
    one, or any function of a string to an integer."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n: expected an integer >= 2 (indices run from 1 to n - 1), got {n!r}")
    if hash_function is None:
        hash_function = hash
    elif hash_function == "md5":
        def hash_function(word):
            return int(hashlib.md5(word.encode()).hexdigest(), 16)
    elif not callable(hash_function):
        raise TypeError(f"hash_function: expected None, 'md5' or a function, got {hash_function!r}")
    words = (text_to_word_sequence(text, filters, lower, split) if analyzer is None
             else analyzer(_check_text(text, "text")))
    return [hash_function(word) % (n - 1) + 1 for word in words]


def one_hot(input_text, n, filters=FILTERS, lower=True, split=" ", analyzer=None):
    """``hashing_trick`` with Python's ``hash`` (Keras's name: indices, not one-hot vectors)."""
    return hashing_trick(input_text, n, hash_function=hash, filters=filters, lower=lower, split=split,
                         analyzer=analyzer)


class Tokenizer:
    """Word (or character) indices by frequency, fitted on texts; see the module docstring.

    Attributes as Keras: ``word_counts`` (word -> count, in order of first appearance), ``word_docs``
    (word -> number of texts containing it), ``word_index`` (word -> rank from 1), ``index_word`` (its
    inverse), ``index_docs`` (index -> number of texts containing it), ``document_count``."""

    def __init__(self, num_words=None, filters=FILTERS, lower=True, split=" ", char_level=False,
                 oov_token=None, analyzer=None, **kwargs):
        if "nb_words" in kwargs:  # Keras 1's name
            warnings.warn("Tokenizer: the nb_words argument is called num_words", DeprecationWarning,
                          stacklevel=2)
            num_words = kwargs.pop("nb_words")
        document_count = kwargs.pop("document_count", 0)  # written by get_config
        if kwargs:
            raise TypeError(f"Tokenizer: unexpected arguments {sorted(kwargs)}")
        integer = isinstance(num_words, (int, np.integer)) and not isinstance(num_words, bool)
        if num_words is not None and not (integer and num_words >= 1):
            raise ValueError(f"num_words: expected None or a positive integer, got {num_words!r}")
        if oov_token is not None and not isinstance(oov_token, str):
            raise TypeError(f"oov_token: expected None or a string, got {type(oov_token).__name__}")
        if analyzer is not None and not callable(analyzer):
            raise TypeError(f"analyzer: expected None or a function of a text to its tokens, "
                            f"got {analyzer!r}")
        self.num_words = None if num_words is None else int(num_words)
        self.filters, self.split = _check_filters(filters), _check_split(split)
        self.lower, self.char_level = bool(lower), bool(char_level)
        self.oov_token, self.analyzer = oov_token, analyzer
        self.document_count = int(document_count)
        self.word_counts: collections.OrderedDict = collections.OrderedDict()
        self.word_docs: collections.defaultdict = collections.defaultdict(int)
        self.index_docs: collections.defaultdict = collections.defaultdict(int)
        self.word_index: dict = {}
        self.index_word: dict = {}

    # -- texts to tokens ---------------------------------------------------------------------------
    def _tokens(self, text, where: str) -> list:
        """A text's tokens: its characters (char_level), the items of a list of tokens, or its words."""
        if isinstance(text, (list, tuple)):
            for token in text:
                if not isinstance(token, str):
                    raise TypeError(f"{where}: expected a list of string tokens, got a "
                                    f"{type(token).__name__} in it")
            return [token.lower() for token in text] if self.lower else list(text)
        if not isinstance(text, str):
            raise TypeError(f"{where}: expected a string or a list of tokens, got {type(text).__name__}")
        if self.char_level:
            return list(text.lower() if self.lower else text)
        if self.analyzer is not None:
            return list(self.analyzer(text))
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    @staticmethod
    def _check_texts(texts, name: str):
        if isinstance(texts, (str, bytes)) or not hasattr(texts, "__iter__"):
            raise TypeError(f"{name}: expected a list of texts (strings or lists of tokens), got "
                            f"{type(texts).__name__}" + (" (put a single text in a list)"
                                                         if isinstance(texts, str) else ""))
        return texts

    def fit_on_texts(self, texts) -> None:
        """Count the words of ``texts`` (a list or iterable of strings, or of lists of tokens) and rank
        them into ``word_index``; several calls add up."""
        for number, text in enumerate(self._check_texts(texts, "texts")):
            tokens = self._tokens(text, f"texts[{number}]")
            self.document_count += 1
            for token in tokens:
                self.word_counts[token] = self.word_counts.get(token, 0) + 1
            for token in set(tokens):
                self.word_docs[token] += 1
        # by count, highest first; sorted() is stable, so ties stay in order of first appearance
        ranked = [word for word, _ in sorted(self.word_counts.items(), key=lambda item: -item[1])]
        if self.oov_token is not None:
            ranked = [self.oov_token] + [word for word in ranked if word != self.oov_token]
        self.word_index = {word: rank for rank, word in enumerate(ranked, start=1)}
        self.index_word = {rank: word for word, rank in self.word_index.items()}
        self.index_docs = collections.defaultdict(int)
        for word, documents in self.word_docs.items():
            self.index_docs[self.word_index[word]] = documents

    def fit_on_sequences(self, sequences) -> None:
        """Count the texts each index occurs in (for tfidf), from sequences of indices."""
        sequences = list(sequences)
        for number, sequence in enumerate(sequences):
            for index in set(self._check_sequence(sequence, f"sequences[{number}]")):
                self.index_docs[index] += 1
        self.document_count += len(sequences)

    def _require_fitted(self, what: str) -> None:
        if not self.word_index:
            raise ValueError(f"{what}: the Tokenizer has no vocabulary yet; call fit_on_texts(texts) first")

    def texts_to_sequences(self, texts) -> list[list[int]]:
        """Each text as a list of word indices (module docstring: num_words and oov_token)."""
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts):
        self._require_fitted("texts_to_sequences")
        oov_index = self.word_index.get(self.oov_token)
        for number, text in enumerate(self._check_texts(texts, "texts")):
            sequence = []
            for token in self._tokens(text, f"texts[{number}]"):
                index = self.word_index.get(token)
                if index is not None and not (self.num_words and index >= self.num_words):
                    sequence.append(index)
                elif oov_index is not None:
                    sequence.append(oov_index)
            yield sequence

    @staticmethod
    def _check_sequence(sequence, where: str) -> list[int]:
        if isinstance(sequence, (str, bytes)) or not hasattr(sequence, "__iter__"):
            raise TypeError(f"{where}: expected a list of integer indices, got {type(sequence).__name__}")
        sequence = list(sequence)
        for index in sequence:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
                raise TypeError(f"{where}: expected integer indices, got {index!r}")
            if index < 0:
                raise ValueError(f"{where}: expected non-negative indices, got {index}")
        return sequence

    def sequences_to_texts(self, sequences) -> list[str]:
        """Each sequence of indices as its words joined by spaces; indices outside the vocabulary (or
        num_words) become the oov token, or are dropped when there is none."""
        return list(self.sequences_to_texts_generator(sequences))

    def sequences_to_texts_generator(self, sequences):
        self._require_fitted("sequences_to_texts")
        oov_index = self.word_index.get(self.oov_token)
        for number, sequence in enumerate(self._check_texts(sequences, "sequences")):
            words = []
            for index in self._check_sequence(sequence, f"sequences[{number}]"):
                word = self.index_word.get(index)
                if word is not None and not (self.num_words and index >= self.num_words):
                    words.append(word)
                elif oov_index is not None:
                    words.append(self.index_word[oov_index])
            yield " ".join(words)

    # -- matrices --------------------------------------------------------------------------------
    def texts_to_matrix(self, texts, mode="binary") -> np.ndarray:
        """(len(texts), width) float64 rows, one column per word index (module docstring)."""
        self._check_mode(mode)
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    @staticmethod
    def _check_mode(mode) -> None:
        if not isinstance(mode, str) or mode not in MODES:
            raise ValueError(f"mode: expected one of {list(MODES)}, got {mode!r}")

    def sequences_to_matrix(self, sequences, mode="binary") -> np.ndarray:
        self._check_mode(mode)
        if self.num_words:
            width = self.num_words
        elif self.word_index:
            width = len(self.word_index) + 1
        else:
            raise ValueError("sequences_to_matrix: expected num_words, or a vocabulary from fit_on_texts, "
                             "to size the rows; got neither")
        if mode == "tfidf" and not self.document_count:
            raise ValueError("mode: 'tfidf' needs document counts: fit the Tokenizer on texts first")
        sequences = [self._check_sequence(s, f"sequences[{n}]")
                     for n, s in enumerate(self._check_texts(sequences, "sequences"))]
        matrix = np.zeros((len(sequences), width))  # (texts, width)
        for row, sequence in enumerate(sequences):
            counts = collections.Counter(index for index in sequence if index < width)
            for index, count in counts.items():
                if mode == "binary":
                    matrix[row, index] = 1.0
                elif mode == "count":
                    matrix[row, index] = count
                elif mode == "freq":
                    matrix[row, index] = count / len(sequence)  # out-of-width indices count in the length
                else:
                    idf = math.log(1.0 + self.document_count / (1.0 + self.index_docs.get(index, 0)))
                    matrix[row, index] = (1.0 + math.log(count)) * idf
        return matrix

    # -- saving ----------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Keras's config: the arguments, and the counts and indices as JSON strings."""
        return {"num_words": self.num_words, "filters": self.filters, "lower": self.lower,
                "split": self.split, "char_level": self.char_level, "oov_token": self.oov_token,
                "document_count": self.document_count,
                "word_counts": json.dumps(self.word_counts), "word_docs": json.dumps(self.word_docs),
                "index_docs": json.dumps(self.index_docs), "index_word": json.dumps(self.index_word),
                "word_index": json.dumps(self.word_index)}

    def to_json(self, **kwargs) -> str:
        """The tokenizer as Keras writes it; ``tokenizer_from_json`` (here or Keras's) reads it back.
        ``kwargs`` go to ``json.dumps``. An ``analyzer`` function is not saved."""
        return json.dumps({"class_name": "Tokenizer", "config": self.get_config()}, **kwargs)


def tokenizer_from_json(json_string) -> Tokenizer:
    """The Tokenizer that ``to_json`` (here or Keras's) wrote."""
    try:
        config = dict(json.loads(json_string)["config"])
        tables = {key: json.loads(config.pop(key))
                  for key in ("word_counts", "word_docs", "index_docs", "index_word", "word_index")}
    except (TypeError, KeyError, ValueError) as error:
        raise ValueError(f"json_string: expected a Tokenizer's to_json(), got an unreadable one "
                         f"({error!r})") from None
    tokenizer = Tokenizer(**config)
    tokenizer.word_counts = collections.OrderedDict(tables["word_counts"])
    tokenizer.word_docs = collections.defaultdict(int, tables["word_docs"])
    tokenizer.index_docs = collections.defaultdict(int, {int(k): v for k, v in tables["index_docs"].items()})
    tokenizer.index_word = {int(k): v for k, v in tables["index_word"].items()}
    tokenizer.word_index = dict(tables["word_index"])
    return tokenizer
