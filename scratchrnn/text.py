"""Reading and cleaning a corpus, and the character vocabulary.

The path of a character model's data (see DESIGN.md):

    read_text(path)            UTF-8 (a byte-order mark removed), CRLF line ends turned into LF
    strip_gutenberg(text)      only the book: Project Gutenberg's header and licence removed
    clean_tutorial(text)       the Keras tutorial's cleaning: lower case, a small character set
    Vocab.from_text(text)      chars = sorted(set(text)); encode text -> ids, decode ids -> text
    windows(ids, seq_length)   non-overlapping (input, target) windows, the target shifted by one

    >>> text = clean_tutorial(strip_gutenberg(read_text("alice.txt")))
    >>> vocab = Vocab.from_text(text)
    >>> x_ids, y_ids = windows(vocab.encode(text), 100)      # (N, 100) each
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

__all__ = ["Vocab", "clean_tutorial", "read_text", "strip_gutenberg", "windows", "TUTORIAL_CHARACTERS"]

# "*** START OF THE PROJECT GUTENBERG EBOOK ... ***" (also "START OF THIS", and the older "***START OF")
_START = re.compile(r"^\*\*\*\s*START OF\b.*$", re.IGNORECASE | re.MULTILINE)
_END = re.compile(r"^\*\*\*\s*END OF\b.*$", re.IGNORECASE | re.MULTILINE)

#: What clean_tutorial keeps: ASCII letters (lower-cased), digits, and . , ! space - '
TUTORIAL_CHARACTERS = frozenset(string.ascii_lowercase + string.digits + ".,! -'")


def read_text(path) -> str:
    """The text of a UTF-8 file, with a leading byte-order mark removed and CRLF turned into LF."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{str(path)!r}: expected UTF-8 text, got a byte that is not UTF-8 at offset "
                         f"{error.start}") from None
    return text.replace("\r\n", "\n")


def strip_gutenberg(text: str) -> str:
    """The book inside a Project Gutenberg file: the text between the line "*** START OF ... ***" and
    the line "*** END OF ... ***" (both excluded, surrounding blank space stripped). Text without a
    START marker is returned unchanged; a START without an END keeps everything after START."""
    start = _START.search(text)
    if start is None:
        return text
    end = _END.search(text, start.end())
    return text[start.end():end.start() if end else len(text)].strip()


def clean_tutorial(text: str) -> str:
    """The Keras character-generation tutorial's cleaning.

    Lower-cases the text (as the tutorial does: half the vocabulary, and 'The' and 'the' are one word
    to learn); every whitespace character (newline, tab, ...) becomes a space; every character outside
    ASCII letters, digits and ``. , ! - '`` and space is dropped; runs of spaces collapse to one, and
    leading and trailing spaces go.
    """
    text = re.sub(r"\s", " ", text.lower())
    text = "".join(c for c in text if c in TUTORIAL_CHARACTERS)
    return re.sub(" {2,}", " ", text).strip()


class Vocab:
    """A character vocabulary: ``chars[i]`` is the character of id ``i``.

    ``Vocab.from_text(text)`` makes ``chars = sorted(set(text))``, the order checkpoints store and check
    (DESIGN.md, convention 10). ``Vocab(chars)`` (or ``Vocab.from_list``) rebuilds one from a stored
    list, in that list's order.
    """

    def __init__(self, chars: Iterable[str]):
        chars = list(chars)
        for i, c in enumerate(chars):
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"chars[{i}]: expected a single character, got {c!r}")
        if len(set(chars)) != len(chars):
            repeated = sorted({c for c in chars if chars.count(c) > 1})
            raise ValueError(f"chars: expected each character once, got repeats of {repeated!r}")
        if not chars:
            raise ValueError("chars: expected at least one character, got none")
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        return cls(sorted(set(text)))

    @classmethod
    def from_list(cls, chars: Sequence[str]) -> Vocab:
        return cls(chars)

    def to_list(self) -> list[str]:
        return list(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char) -> bool:
        return char in self.index

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.chars == other.chars

    def __repr__(self) -> str:
        return f"Vocab({''.join(self.chars)!r})"

    def encode(self, text: str, on_unknown: str = "error") -> np.ndarray:
        """The ids of ``text`` (int64). A character outside the vocabulary raises ValueError naming it
        and its position (``on_unknown="error"``), or is left out (``on_unknown="drop"``)."""
        if on_unknown not in ("error", "drop"):
            raise ValueError(f"on_unknown: expected 'error' or 'drop', got {on_unknown!r}")
        index = self.index
        ids = []
        for position, char in enumerate(text):
            i = index.get(char)
            if i is not None:
                ids.append(i)
            elif on_unknown == "error":
                raise ValueError(f"text: character {char!r} (U+{ord(char):04X}) at position {position} is "
                                 f"not in the vocabulary of {len(self)} characters; pass "
                                 "on_unknown='drop' to leave such characters out")
        return np.array(ids, dtype=np.int64)

    def decode(self, ids) -> str:
        """The text of a sequence of ids."""
        ids = np.asarray(ids)
        if ids.size and (not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"ids: expected integers in [0, {len(self)}), got "
                             f"{ids.dtype} values {ids.min()}..{ids.max()}")
        return "".join(self.chars[i] for i in ids.reshape(-1).tolist())


def windows(ids, seq_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping training windows of a corpus, as in the tutorial: window i is
    ``x[i] = ids[i*s : (i+1)*s]`` and its targets ``y[i] = ids[i*s + 1 : (i+1)*s + 1]`` (the next
    character at every position), for i = 0 .. (len(ids) - 1) // s - 1. Returns (x, y), each (N, s)."""
    if isinstance(seq_length, bool) or not isinstance(seq_length, (int, np.integer)) or seq_length < 1:
        raise ValueError(f"seq_length: expected a positive integer, got {seq_length!r}")
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids: expected a 1-D sequence of ids, got shape {ids.shape}")
    count = (len(ids) - 1) // seq_length
    if count < 1:
        raise ValueError(f"seq_length: a window of seq_length={seq_length} needs at least {seq_length + 1} "
                         f"characters (its inputs and the next one), the corpus has {len(ids)}")
    x = ids[:count * seq_length].reshape(count, seq_length)
    y = ids[1:count * seq_length + 1].reshape(count, seq_length)
    return x, y
