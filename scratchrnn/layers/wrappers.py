"""Wrappers: TimeDistributed runs a layer on every time step; Bidirectional runs a recurrent layer both
ways over the sequence and merges the two results."""

from __future__ import annotations

import numpy as np

from ..validation import check_choice
from .base import Layer
from .recurrent import _Recurrent


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
    """Applies ``layer`` to every time step: (B, T, ...) is run as (B*T, ...). A mask (B, T) on the input
    goes on to the output, as in Keras: every step is computed, and the layers after it skip the same
    steps."""

    min_input_rank = 3
    supports_masking = True

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise TypeError(f"layer: expected a scratchrnn Layer, got {type(layer).__name__}")
        kwargs.setdefault("dtype", str(layer.dtype))
        super().__init__(**kwargs)
        self.layer = layer

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

    def call(self, x, mask=None):
        # mask: checked against x by the eager call; the wrapped layer acts on each step by itself and
        # takes none, so it changes nothing here (compute_mask passes it on)
        flat, time_major, unflatten = _steps_flattened(x)
        y = unflatten(self.layer.call(flat))
        self._cache = (time_major, self.layer._cache)  # the row order, which backward follows
        return y

    def backward(self, dy, through_activation=True, d_inputs=True):
        kwargs = {} if through_activation else {"through_activation": False}
        time_major, self.layer._cache = self._cache
        flat, _, unflatten = _steps_flattened(dy, time_major)
        dx = self.layer.backward(flat, d_inputs=d_inputs, **kwargs)
        return None if dx is None else unflatten(dx)

    @classmethod
    def from_config(cls, config):
        from . import deserialize  # the package's registry of layer classes

        return cls(deserialize(config.pop("layer")), **config)

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None, *input_shape[2:]))
        return (*input_shape[:2], *inner[1:])

    def get_config(self):
        return dict(super().get_config(), layer={"class_name": type(self.layer).__name__,
                                                 "config": self.layer.get_config()})


class _Joined:
    """The same-named lists of several layers (``weights`` or ``gradients``), seen as one list.

    Reading goes to the layers' own lists, and so does item assignment: ``joined[i] = array`` rebinds
    the entry of the layer that owns index i. A model moves every weight into one flat buffer by
    assigning views to ``layer.weights[i]`` (and gradients to ``layer.gradients[i]``, afresh each step
    for large models); the layers inside a wrapper compute with their own lists, so an assignment must
    land in those lists, not in a list the wrapper would own. The lists are looked up on every access,
    so a layer that rebinds its list (``build``) is followed too."""

    def __init__(self, layers, attribute: str):
        self._layers = layers
        self._attribute = attribute

    def _lists(self):
        return [getattr(layer, self._attribute) for layer in self._layers]

    def _locate(self, index: int):
        """(the inner list holding entry ``index``, its index there)."""
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"{self._attribute} index {index} out of range for {count} entries")
        index %= count
        for inner in self._lists():
            if index < len(inner):
                return inner, index
            index -= len(inner)
        raise AssertionError("unreachable: index was checked against the total length")

    def __len__(self):
        return sum(len(inner) for inner in self._lists())

    def __iter__(self):
        return (item for inner in self._lists() for item in inner)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return list(self)[index]
        inner, position = self._locate(index)
        return inner[position]

    def __setitem__(self, index, value):
        inner, position = self._locate(index)
        inner[position] = value

    def __repr__(self):
        return repr(list(self))


MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Runs a recurrent layer forward and a copy of it backward over the sequence and merges them:

        y_f = forward_layer(x)                 the wrapped layer
        y_b = backward_layer(x)                go_backwards=True: steps T..1, outputs in that order
        y_b <- y_b reversed in time            (return_sequences) so that y_b[:, t] belongs to step t
        y = merge(y_f, y_b)                    concat [y_f, y_b] | sum y_f + y_b | ave (y_f + y_b) / 2
                                               | mul y_f * y_b | None: the list [y_f, y_b]

    With return_state the call returns [y (or y_f, y_b), forward's states..., backward's states...].
    A mask (B, T) goes to both directions as it is: the backward layer reverses it with the sequence,
    so that it skips the padding whichever side it is on. As Keras, both directions output zeros at a
    masked step when they return sequences (``zero_output_for_mask``), else repeat the last output.
    As in Keras, both directions are fresh layers made from ``layer.get_config()`` (renamed
    ``forward_<name>`` and ``backward_<name>``; ``layer`` itself is not used and keeps its weights),
    unless ``backward_layer`` is given, which is used as it is. The weights are the forward layer's then
    the backward layer's, each in Keras order (Keras's ``get_weights`` order).
    """

    min_input_rank = 3
    supports_masking = True

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        for name, value in (("layer", layer), ("backward_layer", backward_layer)):
            if value is not None and not isinstance(value, _Recurrent):
                raise TypeError(f"{name}: expected a recurrent layer (SimpleRNN, LSTM or GRU), "
                                f"got {type(value).__name__}")
        check_choice(merge_mode, "merge_mode", MERGE_MODES)
        kwargs.setdefault("dtype", str(layer.dtype))
        if not {"input_shape", "batch_input_shape", "input_dim"} & set(kwargs) and layer.batch_input_shape:
            kwargs["batch_input_shape"] = layer.batch_input_shape  # a Sequential model's first layer
        super().__init__(**kwargs)
        self.merge_mode = merge_mode
        self.forward_layer = self._copy(layer, "forward_", go_backwards=layer.go_backwards)
        if backward_layer is None:
            # go_backwards=True, not flipped, as Keras: a wrapped go_backwards layer needs backward_layer
            self.backward_layer = self._copy(layer, "backward_", go_backwards=True)
        else:
            self.backward_layer = backward_layer
        self._check_directions()
        for direction in (self.forward_layer, self.backward_layer):  # as Keras forces it
            direction.zero_output_for_mask = direction.return_sequences

    def _copy(self, layer, prefix: str, go_backwards: bool):
        """A fresh layer from ``layer``'s config, named ``prefix + name`` (a prefix already there is not
        doubled), in this wrapper's dtype and batch_input_shape."""
        config = dict(layer.get_config(), go_backwards=go_backwards, dtype=str(self.dtype),
                      name=prefix + layer.name.removeprefix(prefix))
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = list(self.batch_input_shape)
        copy = type(layer).from_config(config)
        # What get_config cannot say (Keras likewise carries use_cudnn over): the backend, and
        # initializers given as callables rather than names.
        copy.backend = layer.backend
        copy.kernel_initializer = layer.kernel_initializer
        copy.recurrent_initializer = layer.recurrent_initializer
        copy.bias_initializer = layer.bias_initializer
        copy._initializer_names = layer._initializer_names
        return copy

    def _check_directions(self):
        forward, backward = self.forward_layer, self.backward_layer
        if forward.go_backwards == backward.go_backwards:
            raise ValueError(f"backward_layer: expected go_backwards={not forward.go_backwards} (the "
                             f"opposite of the forward layer's), got go_backwards={backward.go_backwards}"
                             + ("; a wrapped layer with go_backwards=True needs a backward_layer with "
                                "go_backwards=False" if forward.go_backwards else ""))
        for attribute in ("stateful", "return_sequences", "return_state", "dtype"):
            ours, theirs = getattr(forward, attribute), getattr(backward, attribute)
            if ours != theirs:
                raise ValueError(f"backward_layer: expected {attribute}={ours} like the forward layer "
                                 f"{forward.name!r}, got {attribute}={theirs}")
        if self.merge_mode not in ("concat", None) and forward.units != backward.units:
            raise ValueError(f"backward_layer: merge_mode={self.merge_mode!r} combines the two directions "
                             f"element by element and needs the forward layer's {forward.units} units, "
                             f"got {backward.units}")

    # Both directions' weights and gradients as one list each, forward's first (see _Joined for why
    # these are views of the inner layers' lists); the setters ignore Layer.__init__'s empty lists.
    weights = property(lambda self: _Joined((self.forward_layer, self.backward_layer), "weights"),
                       lambda self, value: None)
    gradients = property(lambda self: _Joined((self.forward_layer, self.backward_layer), "gradients"),
                         lambda self, value: None)
    weight_names = property(lambda self: [*self.forward_layer.weight_names,
                                          *self.backward_layer.weight_names])  # Keras's w.name: repeated
    stateful = property(lambda self: self.forward_layer.stateful)
    return_sequences = property(lambda self: self.forward_layer.return_sequences)
    return_state = property(lambda self: self.forward_layer.return_state)
    # The states it takes (initial_state) and returns (return_state): forward's, then backward's.
    state_count = property(lambda self: self.forward_layer.state_count + self.backward_layer.state_count)

    @property
    def takes_training(self) -> bool:
        """Whether training changes the call: when either direction has dropout."""
        return self.forward_layer.takes_training or self.backward_layer.takes_training

    @property
    def initial_state_gradients(self) -> list:
        """dLoss/d(initial states) of the last backward: forward's, then backward's."""
        return [*self.forward_layer.initial_state_gradients, *self.backward_layer.initial_state_gradients]

    @property
    def states(self):
        """The carried states of a stateful layer, forward's then backward's (None before the first call)."""
        forward, backward = self.forward_layer.states, self.backward_layer.states
        return None if forward is None or backward is None else [*forward, *backward]

    @property
    def stateful_batch_size(self):
        return self.forward_layer.stateful_batch_size

    def reset_states(self, states=None) -> None:
        """Zero both directions' carried states (or set them: forward's then backward's)."""
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
            return
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        if len(states) != self.state_count:
            raise ValueError(f"states: {self.name!r} expected {self.state_count} arrays (forward's "
                             f"{self.forward_layer.state_count}, then backward's), got {len(states)}")
        split = self.forward_layer.state_count
        self.forward_layer.reset_states(states[:split])
        self.backward_layer.reset_states(states[split:])

    def build(self, input_shape):
        for layer in (self.forward_layer, self.backward_layer):
            if not layer.built:
                layer.build(input_shape)
        self.built = True

    def weight_shapes(self, input_shape) -> list[tuple]:
        return [*self.forward_layer.weight_shapes(input_shape),
                *self.backward_layer.weight_shapes(input_shape)]

    def check_input_shape(self, shape) -> None:
        if len(shape) != 3:
            raise ValueError(f"input_shape: {self.name!r} expected (batch, time, features) inputs, "
                             f"got shape {tuple(shape)}")
        super().check_input_shape(shape)

    def check_input(self, x):
        x = super().check_input(x)  # builds both directions on first use
        if x.ndim != 3:
            raise ValueError(f"x: {self.name!r} expected a 3-D array (batch, time, features), "
                             f"got shape {x.shape}")
        self._check_features(x, self.forward_layer.weights[0].shape[0])
        self._check_features(x, self.backward_layer.weights[0].shape[0])
        return x

    def returns_list(self, count, output_shape=None) -> bool:
        return self.merge_mode is None or self.return_state

    def check_state_shapes(self, shapes) -> None:
        if not shapes:
            return
        if len(shapes) != self.state_count:
            raise ValueError(f"initial_state: {self.name!r} expected {self.state_count} tensors (forward's "
                             f"{self.forward_layer.state_count}, then backward's), got {len(shapes)}")
        split = self.forward_layer.state_count
        self.forward_layer.check_state_shapes(shapes[:split])
        self.backward_layer.check_state_shapes(shapes[split:])

    def _split_states(self, initial_state):
        """initial_state as (forward's, backward's); (None, None) when not given."""
        if initial_state is None:
            return None, None
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        if len(states) != self.state_count:
            raise ValueError(f"initial_state: {self.name!r} expected {self.state_count} arrays (forward's "
                             f"{self.forward_layer.state_count}, then backward's), got {len(states)}")
        split = self.forward_layer.state_count
        return states[:split], states[split:]

    def call(self, x, training=False, mask=None, initial_state=None):
        forward_states, backward_states = self._split_states(initial_state)
        y_f = self.forward_layer.call(x, training=training, mask=mask, initial_state=forward_states)
        y_b = self.backward_layer.call(x, training=training, mask=mask, initial_state=backward_states)
        finals = []
        if self.return_state:
            (y_f, *finals_f), (y_b, *finals_b) = y_f, y_b
            finals = [*finals_f, *finals_b]
        if self.return_sequences:
            y_b = y_b[:, ::-1]  # (B, T, H) back in the input's time order
        mode = self.merge_mode
        if mode == "concat":
            merged = [np.concatenate([y_f, y_b], axis=-1)]  # (B, [T,] H_f + H_b)
        elif mode == "sum":
            merged = [y_f + y_b]
        elif mode == "ave":
            merged = [(y_f + y_b) / 2]
        elif mode == "mul":
            merged = [y_f * y_b]
        else:
            merged = [y_f, y_b]
        # mul's backward needs each direction's output; kept as they are (the cells' outputs are read-only
        # views of their caches, read before either backward pass spends its cache).
        self._cache = (self.forward_layer._cache, self.backward_layer._cache,
                       (y_f, y_b) if mode == "mul" else None)
        outputs = [*merged, *finals]
        return outputs if self.returns_list(None) else outputs[0]

    def backward(self, dy, d_inputs=True):
        """dLoss/dx = the two directions' dLoss/dx summed; their weight gradients land in
        ``gradients`` and their initial states' in ``initial_state_gradients``."""
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward needs a forward first")
        cache_f, cache_b, outputs = self._cache
        self._cache = None  # the inner caches serve one backward pass
        dy = list(dy) if self.returns_list(None) else [dy]
        if self.merge_mode is None:
            d_f, d_b, *d_finals = dy
        else:
            d_merged, *d_finals = dy
            d_f, d_b = self._split_gradient(d_merged, outputs)
        if self.return_sequences and d_b is not None:
            d_b = d_b[:, ::-1]  # (B, T, H) into the backward layer's output order (steps T..1)
        split = self.forward_layer.state_count
        upstream_f = [d_f, *d_finals[:split]] if self.return_state else d_f
        upstream_b = [d_b, *d_finals[split:]] if self.return_state else d_b
        self.forward_layer._cache, self.backward_layer._cache = cache_f, cache_b
        dx_f = self.forward_layer.backward(upstream_f, d_inputs=d_inputs)
        dx_b = self.backward_layer.backward(upstream_b, d_inputs=d_inputs)
        return dx_f + dx_b if d_inputs else None

    def _split_gradient(self, d_merged, outputs):
        """dLoss/dy_f and dLoss/dy_b (y_b in the input's time order) from dLoss/d(merged output)."""
        if d_merged is None:
            return None, None
        mode = self.merge_mode
        if mode == "concat":
            units = self.forward_layer.units
            return d_merged[..., :units], d_merged[..., units:]  # (B, [T,] H_f), (B, [T,] H_b)
        if mode == "sum":
            return d_merged, d_merged
        if mode == "ave":
            half = d_merged / 2
            return half, half
        y_f, y_b = outputs  # mul: d(y_f * y_b) = dy y_b dy_f + dy y_f dy_b
        return d_merged * y_b, d_merged * y_f

    def compute_mask(self, inputs, mask=None):
        """Keras's: the mask goes on with the sequences (to each of them when merge_mode is None), not with
        last outputs nor states."""
        if self.return_sequences:
            output_masks = [mask, mask] if self.merge_mode is None else [mask]
        else:
            output_masks = [None, None] if self.merge_mode is None else [None]
        if self.return_state:
            return output_masks + [None] * self.state_count
        return output_masks if self.merge_mode is None else output_masks[0]

    def compute_output_shape(self, input_shape):
        forward = self.forward_layer.compute_output_shape(input_shape)
        backward = self.backward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            (forward, *states_f), (backward, *states_b) = forward, backward
            states = [*states_f, *states_b]
        if self.merge_mode == "concat":
            merged = [(*forward[:-1], forward[-1] + backward[-1])]
        elif self.merge_mode is None:
            merged = [forward, backward]
        else:
            merged = [forward]
        shapes = [*merged, *states]
        return shapes if self.returns_list(None) else shapes[0]

    def get_config(self):
        def spec(layer):
            return {"class_name": type(layer).__name__, "config": layer.get_config()}

        # As Keras: the backward layer always, so that from_config rebuilds both as they are.
        return dict(super().get_config(), merge_mode=self.merge_mode, layer=spec(self.forward_layer),
                    backward_layer=spec(self.backward_layer))

    @classmethod
    def from_config(cls, config):
        from . import deserialize  # the package's registry of layer classes

        config = dict(config)
        layer = deserialize(config.pop("layer"))
        backward = config.pop("backward_layer", None)
        return cls(layer, backward_layer=None if backward is None else deserialize(backward), **config)
