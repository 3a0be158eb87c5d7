"""Keras's preprocessing helpers where tutorials import them from (``keras.preprocessing``):
``sequence.pad_sequences`` (Keras 3) and ``text.Tokenizer`` with ``text_to_word_sequence`` (Keras 2)."""

from __future__ import annotations

from . import sequence, text

__all__ = ["sequence", "text"]
