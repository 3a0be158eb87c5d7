"""The recurrent layers: SimpleRNN, LSTM and GRU own their weights, states and options; the math is a
cell's forward and backward (``cells/`` or the Numba ``kernels/``, chosen by ``backend``)."""

from __future__ import annotations

import numpy as np

from .. import activations, initializers
from ..backend import BACKENDS, cell_module
from ..validation import check_array, check_choice, check_positive_int
from .base import Layer


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
                 implementation=None, **kwargs):
        super().__init__(**kwargs)
        # unroll and implementation choose how Keras schedules the same math: accepted and checked, no effect
        check_choice(bool(unroll), "unroll", (True, False))
        check_choice(implementation, "implementation", (None, 1, 2))
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

    def call(self, x, initial_state=None):
        states = self._initial_states(x.shape[0], initial_state)
        outputs, finals, self._cache = cell_module(self.cell_name, self.backend).forward(
            x, tuple(states), self._in_cell_order(self.weights), **self._cell_options())
        if self.stateful and initial_state is None:
            self.states = [f.copy() for f in finals]
        y = outputs if self.return_sequences else finals[0].copy()
        return [y, *finals] if self.return_state else y

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
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward needs a forward first")
        if self.return_state:
            d_output, *d_finals = dy
        else:
            d_output, d_finals = dy, [None] * self.state_count
        d_finals = list(d_finals)
        if self.return_sequences:
            d_outputs = d_output
        else:  # the output is the last hidden state, the first final state
            d_outputs = None
            if d_output is not None:  # None: nothing read the output (a seq2seq encoder's states only)
                d_finals[0] = d_output if d_finals[0] is None else d_finals[0] + d_output
        grads = cell_module(self.cell_name, self.backend).backward(
            d_outputs, tuple(d_finals), self._cache, ledger=self.keep_ledger,
            weight_gradients=self._in_cell_order(self.gradients), d_inputs=d_inputs)
        self._cache = None  # the activations are spent: free them before the next forward makes new ones
        self.initial_state_gradients = list(grads.initial_states)
        self.ledger = grads.ledger
        return grads.inputs

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
                      go_backwards=self.go_backwards, stateful=self.stateful)
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

