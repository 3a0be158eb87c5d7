"""Sampling text from a character model: priming, then one step per character with carried state.

The model is a ``Sequential`` of
    [Embedding]  recurrent layers (SimpleRNN / LSTM / GRU, stateful or not)  head
where the head is Dense or TimeDistributed(Dense) layers, optionally followed by Activation, and ends
in a softmax (probabilities) or a linear output (logits). Without an Embedding the input is the
one-hot vector of a character, as in the Keras tutorial.

How the text is made (constant cost per character, never re-running the prefix):

    1. prime   every recurrent layer runs ONCE over the whole prompt (batch 1, zero initial states),
               through ``layer.run``; its final states are kept. The head turns the last output into
               the distribution of the first new character.
    2. step    sample a character; feed it (one time step, T = 1) through every layer with the
               carried states; the head gives the next distribution; repeat.

With an empty prompt the first character is drawn uniformly (with the seeded generator) from the
vocabulary's letters (from all of it when it has none), and generation goes on from it with zero
states; it is the first character of the result.

Sampling (``sample_index``): ``greedy`` takes the most likely character; otherwise the log
probabilities are divided by ``temperature`` (below 1: bolder, safer text; above 1: more surprise),
only the ``top_k`` most likely characters are kept when it is given, and one is drawn from the softmax
of what is left. The draws come from ``np.random.default_rng(seed)``, the function's own generator:
the same seed gives the same text, and the library's generator (weights, shuffling) is not touched.

A stateful layer's own carried state is left alone: ``layer.run`` takes and returns states
explicitly. ``last_stats`` counts what the last call did (calls to ``layer.run`` and the time steps
they ran), so tests can check the cost per character by counting rather than timing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .layers import GRU, LSTM, Activation, Dense, Embedding, SimpleRNN, TimeDistributed
from .text import Vocab

__all__ = ["generate", "sample_index", "GenerationStats", "last_stats"]

_RECURRENT = (SimpleRNN, LSTM, GRU)


@dataclass
class GenerationStats:
    """What one ``generate`` call ran: ``run_calls`` calls to ``layer.run`` and ``cell_steps`` time
    steps in all (summed over layers); ``characters`` generated."""

    run_calls: int = 0
    cell_steps: int = 0
    characters: int = 0

    def reset(self) -> None:
        self.run_calls = self.cell_steps = self.characters = 0


#: Filled in place by every ``generate`` call.
last_stats = GenerationStats()


class _CharModel:
    """A Sequential split into its parts for step-by-step inference."""

    def __init__(self, model, vocab: Vocab):
        if not getattr(model, "built", False):
            raise ValueError("model: expected a built model (trained, or loaded with load_model); "
                             "this one has no weights yet")
        layers = list(model.layers)
        self.embedding = layers.pop(0) if layers and isinstance(layers[0], Embedding) else None
        self.recurrent = []
        while layers and isinstance(layers[0], _RECURRENT):
            self.recurrent.append(layers.pop(0))
        self.head = layers
        if not self.recurrent:
            raise ValueError("model: expected recurrent layers (SimpleRNN, LSTM, GRU) after the optional "
                             f"Embedding, got {[type(layer).__name__ for layer in model.layers]}")
        for layer in self.recurrent[:-1]:
            if not layer.return_sequences:
                raise ValueError(f"model: recurrent layer {layer.name!r} feeds another recurrent layer but "
                                 "has return_sequences=False")
        for layer in self.recurrent:
            if layer.go_backwards:
                raise ValueError(f"model: layer {layer.name!r} has go_backwards=True; text is generated "
                                 "forwards only")
        for layer in self.head:
            inner = layer.layer if isinstance(layer, TimeDistributed) else layer
            if not isinstance(inner, (Dense, Activation)):
                raise ValueError("model: expected Dense, TimeDistributed(Dense) or Activation layers after "
                                 f"the recurrent ones, got {type(layer).__name__} ({layer.name!r})")
        if not self.head:
            raise ValueError("model: expected a Dense output layer after the recurrent layers, got none")
        self.output = self.head[-1].output_activation
        if self.output not in ("softmax", "linear"):
            raise ValueError(f"model: expected a softmax (probabilities) or linear (logits) output, got "
                             f"activation {self.output!r}")

        size = len(vocab)
        if self.embedding is not None:
            inputs, what = self.embedding.input_dim, "Embedding input_dim"
        else:
            inputs, what = self.recurrent[0].weights[0].shape[0], "one-hot input features"
        if inputs != size:
            raise ValueError(f"vocabulary: the model expects {inputs} characters ({what}), the vocabulary "
                             f"has {size}")
        shape = (1, 1, self.recurrent[-1].units)
        for layer in self.head:
            shape = layer.compute_output_shape(shape)
        outputs = shape[-1]
        if outputs != size:
            raise ValueError(f"vocabulary: the model outputs {outputs} classes, the vocabulary has {size}")
        self.size = size
        self.dtype = self.recurrent[0].dtype

    def inputs(self, ids) -> np.ndarray:
        """(1, T, D): the one-hot rows (or embeddings) of ``ids``."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.embedding is not None:
            return self.embedding.weights[0][ids][None]  # (1, T, E)
        x = np.zeros((1, len(ids), self.size), dtype=self.dtype)  # (1, T, V)
        x[0, np.arange(len(ids)), ids] = 1.0
        return x

    def zero_states(self) -> list:
        return [[np.zeros((1, layer.units), dtype=layer.dtype) for _ in range(layer.state_count)]
                for layer in self.recurrent]

    def advance(self, ids, states, stats: GenerationStats) -> np.ndarray:
        """Run ``ids`` through the network from ``states`` (replaced in place by the final states);
        the log probabilities (float64, (V,)) of the character after the last one."""
        x = self.inputs(ids)
        for i, layer in enumerate(self.recurrent):
            x, finals = layer.run(x, states[i])  # one call over all of ids: (1, T, H)
            states[i] = list(finals)
            stats.run_calls += 1
            stats.cell_steps += x.shape[1]
        y = x[:, -1:, :]  # (1, 1, H): only the last step is needed
        for layer in self.head:
            y = layer.forward(y)
        y = np.asarray(y, dtype=np.float64).reshape(-1)  # (V,)
        if self.output == "softmax":
            with np.errstate(divide="ignore"):
                return np.log(y)
        return y - y.max()  # logits: log probabilities up to a constant, which sampling ignores


def sample_index(log_probabilities, rng: np.random.Generator, temperature: float = 1.0, top_k=None,
                 greedy: bool = False) -> int:
    """One draw from a distribution given by (unnormalised) log probabilities; see the module doc."""
    logits = np.asarray(log_probabilities, dtype=np.float64)
    if greedy:
        return int(np.argmax(logits))
    logits = logits / temperature
    if top_k is not None and top_k < logits.size:
        keep = np.argsort(-logits, kind="stable")[:top_k]  # ties: the lower id first, like argmax
        kept = np.full_like(logits, -np.inf)
        kept[keep] = logits[keep]
        logits = kept
    weights = np.exp(logits - logits.max())
    return int(rng.choice(logits.size, p=weights / weights.sum()))


def _vocabulary(model, vocabulary) -> Vocab:
    if vocabulary is None:
        vocabulary = getattr(model, "vocabulary", None)
        if vocabulary is None:
            raise ValueError("vocabulary: the model has none (model.vocabulary is None) and none was given; "
                             "pass vocabulary=... (the training text's sorted(set(text))) or set "
                             "model.vocabulary before saving")
    if isinstance(vocabulary, Vocab):
        return vocabulary
    return Vocab(list(vocabulary))


def _check_options(length, temperature, top_k, greedy):
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"length: expected a non-negative integer, got {length!r}")
    if not greedy:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.floating)) \
                or not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature: expected a finite number > 0 (greedy=True for the most likely "
                             f"character), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                              or top_k < 1):
        raise ValueError(f"top_k: expected a positive integer or None, got {top_k!r}")


def generate(model, length: int, prime: str = "", temperature: float = 1.0, top_k=None,
             greedy: bool = False, seed=None, vocabulary=None) -> str:
    """``length`` new characters continuing ``prime`` (which is not part of the result).

    model: a built character model (see the module docstring); its ``vocabulary`` is used unless
        ``vocabulary`` (a Vocab or a list of characters) is given.
    prime: the prompt; every character must be in the vocabulary (ValueError naming the first that
        is not). Empty: start from a random letter (see the module docstring).
    temperature, top_k, greedy: the sampling (see ``sample_index``).
    seed: an integer (or a numpy Generator) for the sampling's own generator; None: fresh entropy.

    Cost: each recurrent layer runs once over the prompt, then one time step per further character
    (``last_stats`` counts them).
    """
    _check_options(length, temperature, top_k, greedy)
    vocab = _vocabulary(model, vocabulary)
    network = _CharModel(model, vocab)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if not isinstance(prime, str):
        raise TypeError(f"prime: expected a string, got {type(prime).__name__}")
    for position, char in enumerate(prime):
        if char not in vocab:
            raise ValueError(f"prime: character {char!r} (U+{ord(char):04X}) at position {position} is "
                             f"not in the model's vocabulary of {len(vocab)} characters: "
                             f"{''.join(vocab.chars)!r}")
    prime_ids = vocab.encode(prime)
    stats = last_stats
    stats.reset()
    if length == 0:
        return ""

    states = network.zero_states()
    generated: list[int] = []
    if len(prime_ids):
        log_p = network.advance(prime_ids, states, stats)  # priming: one call per layer over the prompt
    else:
        letters = [i for i, c in enumerate(vocab.chars) if c.isalpha()] or list(range(len(vocab)))
        generated.append(int(letters[rng.integers(len(letters))]))
        log_p = network.advance(generated[-1:], states, stats) if length > 1 else None
    while len(generated) < length:
        generated.append(sample_index(log_p, rng, temperature, top_k, greedy))
        if len(generated) < length:
            log_p = network.advance(generated[-1:], states, stats)  # one step, carried state
    stats.characters = len(generated)
    return vocab.decode(generated)
