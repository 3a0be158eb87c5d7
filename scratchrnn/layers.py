"""Layers: objects that own parameters, their gradients and (for stateful RNNs) the carried state.

They never hold the math: recurrent layers call a cell's forward/backward (``cells/`` or the Numba
``kernels/``, chosen by ``backend``), and the few lines of Dense/Activation/Embedding math sit beside
their layer because they are one matrix product or one function.

The layer contract:
    layer.build(input_shape)              creates the weights (the first forward builds too)
    y = layer.forward(x) / layer(x)       x batch-major (B, T, D) for recurrent layers
    dx = layer.backward(dy)               after a forward; fills layer.gradients
    layer.backward(dy, d_inputs=False)    the same without dLoss/dx (None): a model's first layer
    layer.weights, layer.gradients        live arrays in Keras order (get_weights order)
    layer.get_weights(), set_weights(ws)  copies in and out, Keras order and shapes
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict

import numpy as np

from . import activations, initializers
from .backend import BACKENDS, cell_module, get_backend
from .kernels import output
from .kernels._parallel import matrix_product, matrix_products
from .validation import check_array, check_choice, check_positive_int

_name_counters: defaultdict = defaultdict(itertools.count)
DTYPES = ("float32", "float64")


def _snake_case(name: str) -> str:
    """Keras's default layer names: SimpleRNN -> simple_rnn, LSTM -> lstm, TimeDistributed ->
    time_distributed."""
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class Layer:
    weight_names: tuple = ()
    min_input_rank = 2

    def __init__(self, *, name=None, dtype="float32", input_shape=None, batch_input_shape=None,
                 input_dim=None, input_length=None, trainable=True, **unknown):
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected keyword arguments {sorted(unknown)}")
        try:
            dtype_name = np.dtype(dtype).name
        except TypeError:
            dtype_name = repr(dtype)
        self.dtype = np.dtype(check_choice(dtype_name, "dtype", DTYPES))
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name: expected a string or None, got {type(name).__name__} {name!r}")
        base = _snake_case(type(self).__name__)
        count = next(_name_counters[base])
        self.name = name or (base if count == 0 else f"{base}_{count}")
        if batch_input_shape is not None:
            self.batch_input_shape = _check_shape(batch_input_shape, "batch_input_shape")
        elif input_shape is not None:
            self.batch_input_shape = (None, *_check_shape(input_shape, "input_shape"))
        elif input_dim is not None:
            shape = (None, input_length, input_dim) if input_length else (None, input_dim)
            self.batch_input_shape = _check_shape(shape, "input_dim, input_length")
        else:
            self.batch_input_shape = None
        if self.batch_input_shape is not None and len(self.batch_input_shape) < self.min_input_rank:
            raise ValueError(f"batch_input_shape: layer {self.name!r} expected at least "
                             f"{self.min_input_rank} dimensions (batch first), got {self.batch_input_shape}")
        if trainable is not True:  # accepted for Keras code that spells out the default
            raise ValueError(f"trainable: expected True (freezing a layer is not supported), "
                             f"got {trainable!r}")
        self.weights: list[np.ndarray] = []
        self.gradients: list[np.ndarray] = []
        self.built = False

    # -- weights -------------------------------------------------------------------------------
    def build(self, input_shape):
        specs = self._weight_specs(tuple(input_shape))
        self.weights = [np.array(init(shape), dtype=self.dtype, order="C") for init, shape in specs]
        self.gradients = [np.zeros_like(w) for w in self.weights]
        self.built = True

    def _weight_specs(self, input_shape):
        """[(initializer, shape), ...] in Keras order."""
        return []

    def weight_shapes(self, input_shape) -> list[tuple]:
        """The shapes ``build(input_shape)`` would give the weights, worked out without making them."""
        return [tuple(shape) for _, shape in self._weight_specs(tuple(input_shape))]

    def get_weights(self) -> list[np.ndarray]:
        return [w.copy() for w in self.weights]

    def check_weights(self, weights) -> list[np.ndarray]:
        """``weights`` as finite arrays of this layer's dtype, count and shapes; ValueError (wrong
        count, shape, NaN or infinity) or TypeError (not a list of numeric arrays) otherwise."""
        if not self.built:
            raise ValueError(f"weights: layer {self.name!r} expected to be built before set_weights "
                             "(call build(input_shape) first), got an unbuilt layer")
        if isinstance(weights, (str, bytes, np.ndarray)) or not hasattr(weights, "__iter__"):
            raise TypeError(f"weights: layer {self.name!r} expected a list of arrays, "
                            f"got {type(weights).__name__}")
        weights = list(weights)
        if len(weights) != len(self.weights):
            raise ValueError(f"weights: layer {self.name!r} expected {len(self.weights)} arrays "
                             f"({', '.join(self.weight_names)}), got {len(weights)}")
        checked = []
        for name, target, value in zip(self.weight_names, self.weights, weights):
            value = check_array(value, f"weights[{name}]", dtype=self.dtype, allow_empty=target.size == 0)
            if value.shape != target.shape:
                raise ValueError(f"weights[{name}]: layer {self.name!r} expected shape {target.shape}, "
                                 f"got {value.shape}")
            checked.append(value)
        return checked

    def set_weights(self, weights) -> None:
        """Copy ``weights`` (Keras order and shapes) into the layer; errors as ``check_weights``, and
        nothing changes on an error."""
        for target, value in zip(self.weights, self.check_weights(weights)):
            target[...] = value  # in place: views into the weights (optimizer buffers) stay valid

    def _store_gradients(self, gradients) -> None:
        for target, value in zip(self.gradients, gradients):
            target[...] = value

    def count_params(self) -> int:
        return int(sum(w.size for w in self.weights))

    # -- running -------------------------------------------------------------------------------
    def __call__(self, x, **kwargs):
        return self.forward(x, **kwargs)

    def forward(self, x, **kwargs):
        """Check x at the public boundary (building the layer on first use), then ``call``.

        Errors: TypeError for non-numeric x (None, strings, objects, complex; non-integer ids for an
        Embedding); ValueError for a wrong rank or feature count, an empty x, NaN or infinity, and for
        a stateful layer a batch size other than the one its state was made for."""
        return self.call(self.check_input(x), **kwargs)

    def call(self, x, **kwargs):
        """The layer's computation on an input already checked by ``check_input``; a model calls
        this after checking only its own input, so that nothing is re-checked batch after batch."""
        raise NotImplementedError

    def check_input(self, x) -> np.ndarray:
        """x as a finite float array of the layer's dtype and shape (it builds the layer on first use);
        ValueError/TypeError naming what was expected otherwise."""
        x = check_array(x, "x", min_rank=self.min_input_rank, dtype=self.dtype)
        if not self.built:
            self.build(x.shape)
        return x

    def backward(self, dy, d_inputs=True):
        raise NotImplementedError

    def check_input_shape(self, shape) -> None:
        """ValueError when a model would feed this layer inputs of ``shape`` it cannot take."""
        if len(shape) < self.min_input_rank:
            raise ValueError(f"input_shape: layer {self.name!r} expected inputs of at least "
                             f"{self.min_input_rank} dimensions, got shape {tuple(shape)}")

    def reset_states(self, states=None) -> None:
        """Stateless layers have nothing to reset."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = {"name": self.name, "dtype": str(self.dtype)}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = list(self.batch_input_shape)
        return config

    def _check_features(self, x, features: int) -> None:
        if x.shape[-1] != features:
            raise ValueError(f"x: {self.name!r} expected {features} features (the size it was built for), "
                             f"got shape {x.shape}")


class _Recurrent(Layer):
    """What SimpleRNN, LSTM and GRU share: weights in Keras shapes, states, the cell call."""

    cell_name = ""
    min_input_rank = 3
    gates = 1
    state_count = 1
    weight_names = ("kernel", "recurrent_kernel", "bias")

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, backend=None, **kwargs):
        super().__init__(**kwargs)
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
        self._cache = None
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
            if isinstance(value, str):
                config[key] = value
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


def _activation_backward(name, z, a, dy):
    """dLoss/dz from dLoss/da for the output activation ``name`` (softmax is not element-wise)."""
    if name == "softmax":
        return a * (dy - np.sum(dy * a, axis=-1, keepdims=True))
    return dy * activations.get(name).derivative(z, a)


def _activation_forward(name, z):
    if name == "softmax":  # the Numba version under the "numba" backend (kernels/output.py)
        return output.softmax(z) if get_backend() == "numba" else activations.softmax(z)
    return activations.get(name).forward(z)


def _check_activation(name):
    if name != "softmax":
        activations.get(name)
    return name or "linear"


class Dense(Layer):
    """y = activation(x W + b) on the last axis, so it acts on every time step of a (B, T, D) input."""

    weight_names = ("kernel", "bias")

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units")
        self.activation = _check_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._initializer_names = (kernel_initializer, bias_initializer)
        if not self.use_bias:
            self.weight_names = ("kernel",)

    def _weight_specs(self, input_shape):
        specs = [(self.kernel_initializer, (input_shape[-1], self.units))]
        if self.use_bias:
            specs.append((self.bias_initializer, (self.units,)))
        return specs

    @property
    def output_activation(self):
        return self.activation

    def check_input(self, x):
        x = super().check_input(x)
        self._check_features(x, self.weights[0].shape[0])
        return x

    def call(self, x):
        if x.ndim == 2:
            z = matrix_product(x, self.weights[0])  # (B, units)
        else:  # every step of a sequence in one GEMM
            z = matrix_product(x.reshape(-1, x.shape[-1]), self.weights[0]).reshape(*x.shape[:-1], self.units)
        if self.use_bias:
            z += self.weights[1]
        a = _activation_forward(self.activation, z)
        self._cache = (x, z, a)
        return a

    def backward(self, dy, through_activation=True, d_inputs=True):
        x, z, a = self._cache
        self._cache = None
        dz = _activation_backward(self.activation, z, a, dy) if through_activation else dy
        flat_x, flat_dz = x.reshape(-1, x.shape[-1]), dz.reshape(-1, dz.shape[-1])
        # dW (D, units), summed over batch and time in one GEMM, and dx (N, D): two threads, one hand-over
        products = [(flat_x.T, flat_dz, None)]
        if d_inputs:
            products.append((flat_dz, self.weights[0].T, None))
        d_kernel, *d_x = matrix_products(products)
        self._store_gradients([d_kernel, flat_dz.sum(axis=0)] if self.use_bias else [d_kernel])
        return d_x[0].reshape(*dz.shape[:-1], x.shape[-1]) if d_inputs else None  # (..., D)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = dict(super().get_config(), units=self.units, activation=self.activation,
                      use_bias=self.use_bias)
        for key, value in zip(("kernel_initializer", "bias_initializer"), self._initializer_names):
            if isinstance(value, str):
                config[key] = value
        return config


class Activation(Layer):
    """y = activation(x), element-wise or softmax over the last axis."""

    min_input_rank = 1

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = _check_activation(activation)

    @property
    def output_activation(self):
        return self.activation

    def call(self, x):
        a = _activation_forward(self.activation, x)
        self._cache = (x, a)
        return a

    def backward(self, dy, through_activation=True, d_inputs=True):
        if not d_inputs:
            return None
        x, a = self._cache
        return _activation_backward(self.activation, x, a, dy) if through_activation else dy

    def get_config(self):
        return dict(super().get_config(), activation=self.activation)


def _steps_flattened(a, time_major=None):
    """(B, T, ...) as (B*T, ...) rows, and the function that shapes the inner layer's (B*T, ...) result
    back to (B, T, ...). Rows go in (T, B) order when ``time_major`` (None: when that needs no copy, as
    for a recurrent layer's outputs, a batch-major view of time-major memory), else in (B, T) order.
    The wrapped layer treats every row on its own; backward must use forward's order (its cache)."""
    batch, steps = a.shape[:2]
    if time_major is None:
        time_major = not a.flags.c_contiguous and np.swapaxes(a, 0, 1).flags.c_contiguous
    if time_major:
        flat = np.swapaxes(a, 0, 1).reshape(steps * batch, *a.shape[2:])  # (T*B, ...)
        return flat, time_major, lambda y: np.swapaxes(y.reshape(steps, batch, *y.shape[1:]), 0, 1)
    return (a.reshape(batch * steps, *a.shape[2:]), time_major,
            lambda y: y.reshape(batch, steps, *y.shape[1:]))  # (B*T, ...)


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step: (B, T, ...) is run as (B*T, ...)."""

    min_input_rank = 3

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise TypeError(f"layer: expected a scratchrnn Layer, got {type(layer).__name__}")
        kwargs.setdefault("dtype", str(layer.dtype))
        super().__init__(**kwargs)
        self.layer = layer
        self._time_major = False  # the row order of the last call, which its backward follows

    weights = property(lambda self: self.layer.weights, lambda self, value: None)
    gradients = property(lambda self: self.layer.gradients, lambda self, value: None)
    weight_names = property(lambda self: self.layer.weight_names)
    output_activation = property(lambda self: getattr(self.layer, "output_activation", None))

    def build(self, input_shape):
        self.layer.build((None, *input_shape[2:]))
        self.built = True

    def check_input_shape(self, shape) -> None:
        super().check_input_shape(shape)
        self.layer.check_input_shape((None, *shape[2:]))

    def weight_shapes(self, input_shape) -> list[tuple]:
        return self.layer.weight_shapes((None, *input_shape[2:]))

    def check_input(self, x):
        x = super().check_input(x)
        self.layer.check_input(x.reshape(-1, *x.shape[2:]))
        return x

    def call(self, x):
        flat, self._time_major, unflatten = _steps_flattened(x)
        return unflatten(self.layer.call(flat))

    def backward(self, dy, through_activation=True, d_inputs=True):
        kwargs = {} if through_activation else {"through_activation": False}
        flat, _, unflatten = _steps_flattened(dy, self._time_major)
        dx = self.layer.backward(flat, d_inputs=d_inputs, **kwargs)
        return None if dx is None else unflatten(dx)

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None, *input_shape[2:]))
        return (*input_shape[:2], *inner[1:])

    def get_config(self):
        return dict(super().get_config(), layer={"class_name": type(self.layer).__name__,
                                                 "config": self.layer.get_config()})


class Embedding(Layer):
    """Looks up a learned vector per integer id: (B, T) ids -> (B, T, output_dim)."""

    weight_names = ("embeddings",)

    def __init__(self, input_dim, output_dim, embeddings_initializer="random_uniform", **kwargs):
        self.input_dim = check_positive_int(input_dim, "input_dim")
        self.output_dim = check_positive_int(output_dim, "output_dim")
        super().__init__(**kwargs)
        self.embeddings_initializer = initializers.get(embeddings_initializer)

    def _weight_specs(self, input_shape):
        return [(self.embeddings_initializer, (self.input_dim, self.output_dim))]

    def check_input(self, x):
        values = check_array(x, "x", min_rank=self.min_input_rank, dtype=np.float64)  # finite, numeric
        if not np.all(values == np.round(values)):
            raise TypeError(f"x: {self.name!r} expected integer ids, got non-integer values such as "
                            f"{values[values != np.round(values)][0]}")
        if values.min() < 0 or values.max() >= self.input_dim:
            raise ValueError(f"x: {self.name!r} expected ids in [0, {self.input_dim}), "
                             f"got {values.min():g}..{values.max():g}")
        ids = values.astype(np.int64)
        if not self.built:
            self.build(ids.shape)
        return ids

    def call(self, ids):
        self._ids = ids
        return self.weights[0][ids]  # (B, T, output_dim)

    def backward(self, dy, d_inputs=True):
        gradient = np.zeros_like(self.weights[0])
        np.add.at(gradient, self._ids.reshape(-1), dy.reshape(-1, self.output_dim))  # repeated ids add up
        self._store_gradients([gradient])
        return None

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def get_config(self):
        return dict(super().get_config(), input_dim=self.input_dim, output_dim=self.output_dim)


def _check_shape(shape, name: str) -> tuple:
    """A shape given to a layer: a sequence of positive integers, None for a free size."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise TypeError(f"{name}: expected a tuple of positive integers or None, got {shape!r}")
    shape = tuple(shape)
    for size in shape:
        if size is not None and (isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer))
                                 or size < 1):
            raise ValueError(f"{name}: expected a tuple of positive integers or None, got {shape!r}")
    return tuple(None if size is None else int(size) for size in shape)


LAYER_CLASSES = {cls.__name__: cls for cls in (SimpleRNN, LSTM, GRU, Dense, Activation,
                                                TimeDistributed, Embedding)}


def from_config(class_name: str, config: dict) -> Layer:
    """Rebuild a layer from ``{"class_name": ..., "config": layer.get_config()}`` (checkpoints)."""
    if class_name not in LAYER_CLASSES:
        raise ValueError(f"class_name: expected one of {sorted(LAYER_CLASSES)}, got {class_name!r}")
    config = dict(config)
    if class_name == "TimeDistributed":
        inner = config.pop("layer")
        return TimeDistributed(from_config(inner["class_name"], inner["config"]), **config)
    return LAYER_CLASSES[class_name](**config)
