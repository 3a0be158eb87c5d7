"""``pad_sequences``: ragged lists of ids to one (samples, maxlen) array, as Keras 3 has it.

    pad_sequences([[1], [2, 3], [4, 5, 6]])                  [[0 0 1] [0 2 3] [4 5 6]]
    pad_sequences(..., padding="post")                       [[1 0 0] [2 3 0] [4 5 6]]
    pad_sequences(..., maxlen=2)                             [[0 1] [2 3] [5 6]]   (truncating="pre")
    pad_sequences(..., maxlen=2, truncating="post")          [[0 1] [2 3] [4 5]]

Each sequence may also hold vectors: the output is (samples, maxlen, *sample_shape), the sample shape
taken from the first non-empty sequence. Where Keras would fail with a NumPy or Python error (a string
given as a sequence, maxlen=0 with truncating="pre", no sequences at all), this raises a ValueError that
names the argument, or returns the empty array the arguments describe.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pad_sequences"]

_SIDES = ("pre", "post")


def _check_side(value, name: str) -> str:
    if not isinstance(value, str) or value not in _SIDES:
        raise ValueError(f"{name}: expected one of {list(_SIDES)}, got {value!r}")
    return value


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """A (len(sequences), maxlen, ...) array of ``dtype``: each sequence cut to its last (``truncating=
    "pre"``) or first (``"post"``) ``maxlen`` items and filled with ``value`` before (``padding="pre"``)
    or after (``"post"``) them. ``maxlen`` defaults to the longest sequence's length.

    Errors (ValueError, naming the argument): ``sequences`` not a list of sequences, sequences whose
    items have different shapes or cannot be stored as ``dtype``, ``padding``/``truncating`` other than
    "pre" or "post", ``maxlen`` not a non-negative integer, ``dtype`` not a dtype, a string ``value``
    for a numeric ``dtype``."""
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise ValueError(f"sequences: expected a list of sequences, got {type(sequences).__name__}")
    _check_side(padding, "padding")
    _check_side(truncating, "truncating")
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer))
                               or maxlen < 0):
        raise ValueError(f"maxlen: expected None or a non-negative integer, got {maxlen!r}")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype: expected a NumPy dtype such as 'int32', got {dtype!r}") from None
    if isinstance(value, str) and dtype.kind not in "OUS":
        raise ValueError(f"value: a string value needs dtype=object (or a string dtype), got value {value!r} "
                         f"with dtype {dtype}")
    if dtype.kind in "iub" and isinstance(value, (float, np.floating)) and not np.isfinite(value):
        # NumPy would store an arbitrary integer (with a warning), as it does in Keras
        raise ValueError(f"value: expected a finite number for dtype {dtype}, got {value!r}")

    lengths, sample_shape = [], None
    for index, sequence in enumerate(sequences):
        if isinstance(sequence, (str, bytes)) or not hasattr(sequence, "__len__"):
            raise ValueError(f"sequences[{index}]: expected a sequence (list, tuple or array), got "
                             f"{type(sequence).__name__} {sequence!r:.50}")
        lengths.append(len(sequence))
        if sample_shape is None and len(sequence):  # the first non-empty sequence sets it
            try:
                sample_shape = np.asarray(sequence).shape[1:]
            except ValueError as error:  # ragged items
                raise ValueError(f"sequences[{index}]: expected items of one shape, got {error}") from None
    sample_shape = sample_shape or ()
    if maxlen is None:
        maxlen = max(lengths, default=0)
    maxlen = int(maxlen)

    try:
        padded = np.full((len(lengths), maxlen, *sample_shape), value, dtype=dtype)  # (N, maxlen, ...)
    except (ValueError, TypeError, OverflowError) as error:
        raise ValueError(f"value: expected a value that dtype {dtype} can hold, got {value!r} "
                         f"({error})") from None
    for index, (sequence, length) in enumerate(zip(sequences, lengths)):
        keep = min(length, maxlen)
        if keep == 0:
            continue
        try:
            kept = sequence[length - keep:] if truncating == "pre" else sequence[:keep]
        except (TypeError, KeyError):  # a sized container without slices (a set, a dict)
            raise ValueError(f"sequences[{index}]: expected a sequence (list, tuple or array), got "
                             f"{type(sequence).__name__}") from None
        try:
            kept = np.asarray(kept, dtype=dtype)  # (keep, ...)
        except (ValueError, TypeError, OverflowError) as error:
            raise ValueError(f"sequences[{index}]: expected items that dtype {dtype} can hold and of one "
                             f"shape, got {error}") from None
        if kept.shape[1:] != sample_shape:
            raise ValueError(f"sequences[{index}]: expected items of shape {sample_shape} like the first "
                             f"non-empty sequence's, got {kept.shape[1:]}")
        if padding == "post":
            padded[index, :keep] = kept
        else:
            padded[index, maxlen - keep:] = kept
    return padded
