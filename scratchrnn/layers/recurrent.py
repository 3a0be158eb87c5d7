"""The recurrent layers: SimpleRNN, LSTM and GRU own their weights, states and options; the math is a
cell's forward and backward (``cells/`` or the Numba ``kernels/``, chosen by ``backend``).

What the layers add to the cells, as Keras 3 does it:
- a mask (B, T) from the graph (``Masking``, ``Embedding(mask_zero=True)``): the cell carries the states
  through a masked step and repeats the previous output there (zeros with ``zero_output_for_mask``);
  without return_sequences the output is the last step's output, as Keras's ``last_output``: the
  last real step's h, or zeros for a sequence without one;
- variational dropout, in training only: the layer draws the masks, once per call, and the cell
  multiplies every step by the same ones:
      input_masks      (G, B, D)  = keep / (1 - dropout),            keep ~ Bernoulli(1 - dropout)
      recurrent_masks  (G, B, H)  = keep / (1 - recurrent_dropout)
  G = 1 (one mask for every gate) unless recurrent_dropout > 0 or implementation=1, where Keras's cells
  draw one per gate (4 for LSTM i, f, c, o; 3 for GRU z, r, h), input masks first.
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

import numpy as np

from .. import activations, initializers, rng
from ..backend import BACKENDS, cell_module
from ..validation import check_array, check_choice, check_fraction, check_positive_int
from .base import Layer

_TAKES_MASKS: dict = {}  # cell module -> whether its forward takes mask= and dropout masks


def _masking_module(cell_name: str, backend):
    """The cell module for a call with a mask or dropout masks: the backend's, or the NumPy cells' while
    that backend's module does not take them yet."""
    module = cell_module(cell_name, backend)
    takes = _TAKES_MASKS.get(module)
    if takes is None:
        takes = _TAKES_MASKS[module] = "input_masks" in inspect.signature(module.forward).parameters
    return module if takes else cell_module(cell_name, "numpy")


class _MaskedCall(NamedTuple):
    """The cache of a call with a mask or dropout: the cell module that ran it (its backward must be the
    same), the cell's cache, whether the layer's output is the last output (a mask, no
    return_sequences) rather than the final state, and the number of steps."""

    module: object
    cell_cache: object
    last_output: bool
    steps: int


class _Recurrent(Layer):
    """What SimpleRNN, LSTM and GRU share: weights in Keras shapes, states, the cell call."""

    cell_name = ""
    min_input_rank = 3
    gates = 1
    state_count = 1
    weight_names = ("kernel", "recurrent_kernel", "bias")

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, backend=None, unroll=False,
                 implementation=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        # unroll and implementation choose how Keras schedules the same math: accepted and checked; only
        # the number of dropout masks follows implementation=1, as in Keras (one per gate)
        check_choice(bool(unroll), "unroll", (True, False))
        self.implementation = check_choice(implementation, "implementation", (None, 1, 2))
        self.dropout = check_fraction(dropout, "dropout")
        self.recurrent_dropout = check_fraction(recurrent_dropout, "recurrent_dropout")
        if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"seed: expected a non-negative integer or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        # a seed gives the layer its own generator, seeded once: the same seed, the same masks call after call
        self._generator = None if seed is None else np.random.default_rng(self.seed)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.units = check_positive_int(units, "units")
        activations.get(activation)
        self.activation = activation
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._initializer_names = (kernel_initializer, recurrent_initializer, bias_initializer)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.backend = backend if backend is None else check_choice(backend, "backend", BACKENDS)
        self.states = None
        self.initial_state_gradients: list[np.ndarray] = []
        self.keep_ledger = False  # set True to keep the per-step gradient ledger in self.ledger
        self.ledger = None
        if not self.use_bias:
            self.weight_names = self.weight_names[:2]

    supports_masking = True

    @property
    def takes_training(self) -> bool:
        """Whether training changes the call (dropout): if not, a model calls it as a plain layer."""
        return self.dropout > 0.0 or self.recurrent_dropout > 0.0

    def _weight_specs(self, input_shape):
        gates = self.gates * self.units
        specs = [(self.kernel_initializer, (input_shape[-1], gates)),
                 (self.recurrent_initializer, (self.units, gates))]
        if self.use_bias:
            specs.append((self.bias_initializer, self._bias_shape()))
        return specs

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _cell_options(self) -> dict:
        return {"activation": self.activation, "go_backwards": self.go_backwards}

    def _in_cell_order(self, arrays):
        """The layer's weights or gradients as the cells take them: (kernel, recurrent_kernel, bias | None).
        The cell's backward writes the gradients straight into the gradient arrays (views into the
        model's flat buffer), no copy in between."""
        kernel, recurrent_kernel = arrays[:2]
        return kernel, recurrent_kernel, arrays[2] if self.use_bias else None

    @property
    def stateful_batch_size(self):
        if self.batch_input_shape is not None and self.batch_input_shape[0] is not None:
            return self.batch_input_shape[0]
        return None if self.states is None else self.states[0].shape[0]

    def _initial_states(self, batch, initial_state):
        if initial_state is not None:
            if not isinstance(initial_state, (list, tuple)):
                initial_state = [initial_state]
            if len(initial_state) != self.state_count:
                raise ValueError(f"initial_state: {self.name!r} expected {self.state_count} arrays, "
                                 f"got {len(initial_state)}")
            states = [check_array(s, f"initial_state[{i}]", rank=2, dtype=self.dtype)
                      for i, s in enumerate(initial_state)]
            for i, s in enumerate(states):
                if s.shape != (batch, self.units):
                    raise ValueError(f"initial_state[{i}]: {self.name!r} expected shape "
                                     f"{(batch, self.units)}, got {s.shape}")
            return states
        if self.stateful:
            expected = self.stateful_batch_size
            if expected is not None and batch != expected:
                raise ValueError(f"x: stateful layer {self.name!r} expects batch size {expected}, got {batch}"
                                 " (a stateful layer carries one state per batch row)")
            if self.states is None:
                self.reset_states_for(batch)
            return self.states
        return [np.zeros((batch, self.units), dtype=self.dtype) for _ in range(self.state_count)]

    def reset_states_for(self, batch):
        self.states = [np.zeros((batch, self.units), dtype=self.dtype) for _ in range(self.state_count)]

    def reset_states(self, states=None) -> None:
        """Zero the carried state of a stateful layer (or set it to ``states``)."""
        if not self.stateful:
            return
        if states is not None:
            states = list(states) if isinstance(states, (list, tuple)) else [states]
            shape = np.shape(states[0]) if states else ()
            batch = shape[0] if len(shape) == 2 else None  # None: _initial_states reports the rank
            declared = None if self.batch_input_shape is None else self.batch_input_shape[0]
            if declared is not None and batch is not None and batch != declared:
                raise ValueError(f"states: stateful layer {self.name!r} expected batch size {declared} "
                                 f"(its batch_input_shape), got states of shape {shape}")
            self.states = None
            self.states = self._initial_states(batch, states)
        elif self.states is not None:
            for s in self.states:
                s[...] = 0.0

    def check_input_shape(self, shape) -> None:
        if len(shape) != 3:
            raise ValueError(f"input_shape: recurrent layer {self.name!r} expected (batch, time, features) "
                             f"inputs, got shape {tuple(shape)}")
        super().check_input_shape(shape)

    def returns_list(self, count, output_shape=None) -> bool:
        return self.return_state

    def check_state_shapes(self, shapes) -> None:
        if shapes and len(shapes) != self.state_count:
            raise ValueError(f"initial_state: {self.name!r} expected {self.state_count} tensors, "
                             f"got {len(shapes)}")
        for i, shape in enumerate(shapes):
            if len(shape) != 2 or shape[1] != self.units:
                raise ValueError(f"initial_state[{i}]: {self.name!r} expected shape (batch, {self.units}), "
                                 f"got {tuple(shape)}")

    def check_input(self, x):
        x = super().check_input(x)
        if x.ndim != 3:
            raise ValueError(f"x: {self.name!r} expected a 3-D array (batch, time, features), "
                             f"got shape {x.shape}")
        self._check_features(x, self.weights[0].shape[0])
        return x

    def call(self, x, training=False, mask=None, initial_state=None):
        states = self._initial_states(x.shape[0], initial_state)
        dropping = training and (self.dropout > 0.0 or self.recurrent_dropout > 0.0)
        if mask is None and not dropping:  # the plain call: as fast as before masks and dropout existed
            outputs, finals, self._cache = cell_module(self.cell_name, self.backend).forward(
                x, tuple(states), self._in_cell_order(self.weights), **self._cell_options())
            y = outputs if self.return_sequences else finals[0].copy()
        else:
            options = self._cell_options()
            if mask is not None:
                options.update(mask=mask, zero_output_for_mask=self.zero_output_for_mask)
            if dropping:
                options.update(self._dropout_masks(x.shape[0], x.shape[2]))
            module = _masking_module(self.cell_name, self.backend)
            outputs, finals, cache = module.forward(x, tuple(states), self._in_cell_order(self.weights),
                                                    **options)
            last_output = mask is not None and not self.return_sequences
            self._cache = _MaskedCall(module, cache, last_output, x.shape[1])
            if self.return_sequences:
                y = outputs
            else:  # with a mask, Keras's last_output: the last step's output, which a masked step repeats
                y = outputs[:, -1].copy() if last_output else finals[0].copy()
        if self.stateful and initial_state is None:
            self.states = [f.copy() for f in finals]
        return [y, *finals] if self.return_state else y

    def _dropout_masks(self, batch: int, features: int) -> dict:
        """The dropout masks of one call (module docstring): input masks, then recurrent masks, as Keras
        draws them; from the layer's own generator when it has a seed, else the library's."""
        generator = self._generator if self._generator is not None else rng.generator()
        count = self.gates if self.recurrent_dropout > 0.0 or self.implementation == 1 else 1
        masks = {}
        for name, rate, size in (("input_masks", self.dropout, features),
                                 ("recurrent_masks", self.recurrent_dropout, self.units)):
            if rate > 0.0:
                keep = generator.random((count, batch, size)) >= rate  # (G, B, D | H), P = 1 - rate
                mask = keep.astype(self.dtype)
                mask *= self.dtype.type(1.0 / (1.0 - rate))  # 0 or 1 / (1 - rate)
                masks[name] = mask
        return masks

    def run(self, x, states):
        """Inference without bookkeeping: (outputs (B, T, H), final states) from explicit ``states``.

        Nothing is cached for backward and a stateful layer's own state is left alone, so generation
        can carry its state from call to call at a constant cost per step."""
        outputs, finals, _ = cell_module(self.cell_name, self.backend).forward(
            x, tuple(states), self._in_cell_order(self.weights), **self._cell_options())
        return outputs, finals

    def backward(self, dy, d_inputs=True):
        """dLoss/dx from the upstream gradient dy; the weight gradients land in ``self.gradients``.
        d_inputs=False skips dLoss/dx (None is returned): a model's first layer, whose input is data."""
        cache = self._cache
        if cache is None:
            raise RuntimeError(f"{self.name}: backward needs a forward first")
        module, last_output = None, False
        if type(cache) is _MaskedCall:
            module, cache, last_output, steps = cache
        if self.return_state:
            d_output, *d_finals = dy
        else:
            d_output, d_finals = dy, [None] * self.state_count
        d_finals = list(d_finals)
        if self.return_sequences:
            d_outputs = d_output
        elif last_output:  # the output is the last step's output (a mask): its gradient goes there
            d_outputs = None
            if d_output is not None:
                d_outputs = np.zeros((d_output.shape[0], steps, self.units), dtype=d_output.dtype)
                d_outputs[:, -1] = d_output  # (B, T, H), processing order
        else:  # the output is the last hidden state, the first final state
            d_outputs = None
            if d_output is not None:  # None: nothing read the output (a seq2seq encoder's states only)
                d_finals[0] = d_output if d_finals[0] is None else d_finals[0] + d_output
        if module is None:
            module = cell_module(self.cell_name, self.backend)
        grads = module.backward(d_outputs, tuple(d_finals), cache, ledger=self.keep_ledger,
                                weight_gradients=self._in_cell_order(self.gradients), d_inputs=d_inputs)
        self._cache = None  # the activations are spent: free them before the next forward makes new ones
        self.initial_state_gradients = list(grads.initial_states)
        self.ledger = grads.ledger
        return grads.inputs

    def compute_mask(self, inputs, mask=None):
        """Keras's: the input's mask goes on with the sequence (return_sequences), not with the last output
        nor the states."""
        output_mask = mask if self.return_sequences else None
        return [output_mask] + [None] * self.state_count if self.return_state else output_mask

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        output = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [output] + [(batch, self.units)] * self.state_count
        return output

    def get_config(self):
        kernel, recurrent, bias = self._initializer_names
        config = super().get_config()
        config.update(units=self.units, activation=self.activation, use_bias=self.use_bias,
                      return_sequences=self.return_sequences, return_state=self.return_state,
                      go_backwards=self.go_backwards, stateful=self.stateful, dropout=self.dropout,
                      recurrent_dropout=self.recurrent_dropout, seed=self.seed,
                      zero_output_for_mask=self.zero_output_for_mask)
        if self.implementation is not None:
            config["implementation"] = self.implementation
        for key, value in (("kernel_initializer", kernel), ("recurrent_initializer", recurrent),
                           ("bias_initializer", bias)):
            saved = initializers.serialize(value)  # a name, or an Initializer's class_name and config
            if saved is not None:
                config[key] = saved
        return config


class SimpleRNN(_Recurrent):
    """h_t = activation(x_t W + h_{t-1} U + b); the math is in cells/simple_rnn.py."""

    cell_name = "simple_rnn"


class LSTM(_Recurrent):
    """Long short-term memory, Keras gate order i, f, c, o; the math is in cells/lstm.py."""

    cell_name = "lstm"
    gates = 4
    state_count = 2

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=True,
                 **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        activations.get(recurrent_activation)
        self.recurrent_activation = recurrent_activation
        self.unit_forget_bias = bool(unit_forget_bias)

    def _weight_specs(self, input_shape):
        specs = super()._weight_specs(input_shape)
        if self.use_bias and self.unit_forget_bias:
            specs[2] = (self._forget_gate_bias, specs[2][1])
        return specs

    def _forget_gate_bias(self, shape):
        # Keras: the forget-gate block starts at one so that memory is kept early in training.
        units = self.units
        return np.concatenate([self.bias_initializer((units,)), np.ones(units),
                               self.bias_initializer((2 * units,))])

    def _cell_options(self):
        return dict(super()._cell_options(), recurrent_activation=self.recurrent_activation)

    def get_config(self):
        return dict(super().get_config(), recurrent_activation=self.recurrent_activation,
                    unit_forget_bias=self.unit_forget_bias)


class GRU(_Recurrent):
    """Gated recurrent unit, Keras gate order z, r, h; the math is in cells/gru.py."""

    cell_name = "gru"
    gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", reset_after=True,
                 **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        activations.get(recurrent_activation)
        self.recurrent_activation = recurrent_activation
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _cell_options(self):
        return dict(super()._cell_options(), recurrent_activation=self.recurrent_activation,
                    reset_after=self.reset_after)

    def get_config(self):
        return dict(super().get_config(), recurrent_activation=self.recurrent_activation,
                    reset_after=self.reset_after)

