"""The layer contract, and the record a layer leaves when it is called on symbolic tensors.

The contract:
    layer.build(input_shape)              creates the weights (the first forward builds too)
    y = layer(x)                          eager: x an array (batch first); checks x, then ``call``
    t = layer(tensor)                     symbolic: tensor from ``Input``; records a ``Node`` and returns
                                          the output tensor(s), for ``Model(inputs, outputs)``
    y = layer.call(x[, training=...])     the computation on checked arrays; everything its backward
                                          needs goes into ``layer._cache`` (one attribute, so that a
                                          layer used twice in a model keeps one cache per use)
    dx = layer.backward(dy)               after a call; fills layer.gradients (overwrites them)
    layer.backward(dy, d_inputs=False)    the same without dLoss/dx (None): an input that is data
    layer.weights, layer.gradients        live arrays in Keras order (get_weights order)
    layer.get_weights(), set_weights(ws)  copies in and out, Keras order and shapes

A layer that takes several inputs (``Concatenate``, ``Add``) has ``takes_list = True``: ``call`` gets the
list of arrays and ``backward`` returns the list of their gradients. A layer whose ``call`` has a
``training`` argument (``Dropout``) is called with ``training=True`` by ``fit`` and ``train_on_batch``
only.

Masks (Keras's): a (B, T) bool array per tensor, True at a real step, made from the data by ``Masking``
or ``Embedding(mask_zero=True)`` and carried along the graph. A layer with ``supports_masking`` takes a
masked input; ``compute_mask(inputs, mask)`` is the mask of its output (by default the input's, passed
on); one whose ``call`` has a ``mask`` argument (the recurrent layers, ``Bidirectional``,
``TimeDistributed``) is called with it. A masked input reaching a layer without ``supports_masking``
is an error when the graph is made. Symbolically a tensor's mask is a bool ``KerasTensor`` (or None) in
its ``_keras_mask``; a ``Node`` that reads or makes one is ``masked``, and the model runs it with masks.

The symbolic record (``KerasTensor``, ``Node``) lives here rather than in ``models`` because a layer makes
it when called, and layers never import models; ``models.functional`` orders the nodes and runs them.
"""

from __future__ import annotations

import inspect
import itertools
import re
from collections import defaultdict

import numpy as np

from ..validation import check_array, check_choice, check_positive_int

_name_counters: defaultdict = defaultdict(itertools.count)
_node_serials = itertools.count()
DTYPES = ("float32", "float64")


def _snake_case(name: str) -> str:
    """Keras's default layer names: SimpleRNN -> simple_rnn, LSTM -> lstm, TimeDistributed ->
    time_distributed."""
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class KerasTensor:
    """A symbolic tensor: the shape (batch first, None where a size is free) and dtype of an array that
    a model will compute, and the ``Node`` that computes it (its ``index``-th output)."""

    def __init__(self, shape, dtype, node=None, index=0, name=None):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.node = node
        self.index = index
        self.name = name
        self._keras_mask = None  # the symbolic mask the tensor carries (a bool KerasTensor), as Keras

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype.name}, name={self.name}>"

    def __len__(self):
        raise TypeError(f"{self!r} is symbolic: it has no length until a model computes it")

    def __iter__(self):  # a symbolic tensor is not a list of tensors: say so instead of iterating
        raise TypeError(f"{self!r} is symbolic and cannot be unpacked; a layer with return_state=True "
                        "returns a list of tensors")


def symbolic_mask(shape, layer) -> KerasTensor:
    """The symbolic mask that ``layer`` makes for a tensor: bool, of ``shape`` (batch, time)."""
    return KerasTensor(shape, np.bool_, name=f"the mask made by layer {layer.name!r}")


class Node:
    """One call of a layer on symbolic tensors: ``inputs`` (the main input(s), then any initial-state
    tensors), ``outputs``. It knows how that call passes its arrays to the layer and takes the
    gradients back, so that a model runs every node the same way."""

    def __init__(self, layer, inputs: list, state_count: int, output_shapes: list, dtype):
        self.serial = next(_node_serials)  # creation order: a topological order of every graph
        self.layer = layer
        self.inputs = list(inputs)
        self.state_count = state_count  # trailing inputs that are initial_state=[...]
        self.outputs = [KerasTensor(shape, dtype, node=self, index=i,
                                    name=layer.name if len(output_shapes) == 1 else f"{layer.name}_{i}")
                        for i, shape in enumerate(output_shapes)]
        self.returns_list = layer.returns_list(len(self.outputs))
        self.plain = not (layer.takes_list or state_count or layer.takes_training or self.returns_list)
        self.masked = False  # masks come in or go out: the model runs it with ``call_masked``

    def set_masks(self, input_masks: list) -> None:
        """Give the output tensors their symbolic masks, from those of the main inputs (None: unmasked);
        a layer that cannot take a masked input says so."""
        layer = self.layer
        main = self.inputs[:len(self.inputs) - self.state_count]
        carried = [m for m in input_masks if m is not None]
        if carried and not layer.supports_masking:
            raise ValueError(f"mask: layer {layer.name!r} ({type(layer).__name__}) cannot use a mask, and "
                             f"its input carries one ({carried[0].name}); put it after a layer that ends the "
                             "mask (a recurrent layer with return_sequences=False), or leave the mask out")
        masks = layer.compute_mask(main if layer.takes_list else main[0],
                                   input_masks if layer.takes_list else input_masks[0])
        masks = list(masks) if isinstance(masks, (list, tuple)) else [masks] * len(self.outputs)
        for tensor, mask in zip(self.outputs, masks):
            tensor._keras_mask = mask
        self.masked = bool(carried) or any(m is not None for m in masks)
        self.plain = self.plain and not self.masked

    def call_masked(self, arrays: list, masks: list, training: bool) -> tuple[list, list]:
        """(the layer's outputs, their masks) for the arrays of ``inputs`` and the masks of the main
        inputs (None where a tensor carries none): the mask goes to a ``call`` that takes one."""
        layer = self.layer
        main = arrays[:len(arrays) - self.state_count]
        x = main if layer.takes_list else main[0]
        mask = masks if layer.takes_list else masks[0]
        kwargs = {"initial_state": arrays[len(main):]} if self.state_count else {}
        if layer.takes_training:
            kwargs["training"] = training
        if layer.takes_mask and mask is not None:
            kwargs["mask"] = mask
        y = layer.call(x, **kwargs)
        output_masks = layer.compute_mask(x, mask)
        outputs = y if self.returns_list else [y]
        if not isinstance(output_masks, (list, tuple)):
            output_masks = [output_masks] * len(outputs)
        return outputs, list(output_masks)

    def call(self, arrays: list, training: bool) -> list:
        """The layer's outputs (a list, one per output tensor) for the arrays of ``inputs``."""
        layer = self.layer
        if self.plain:  # one array in, one out: most calls, kept short for batch-1 training
            return [layer.call(arrays[0])]
        main = arrays[:len(arrays) - self.state_count]
        x = main if layer.takes_list else main[0]
        kwargs = {"initial_state": arrays[len(main):]} if self.state_count else {}
        if layer.takes_training:
            kwargs["training"] = training
        y = layer.call(x, **kwargs)
        return y if self.returns_list else [y]

    def backward(self, d_outputs: list, d_inputs: bool, through_activation: bool = True) -> list:
        """dLoss/d(each input) (None where ``d_inputs`` is False) from dLoss/d(each output), or w.r.t.
        the logits of an output activation when not ``through_activation``; the layer writes its weight
        gradients into ``layer.gradients``."""
        layer = self.layer
        dy = d_outputs if self.returns_list else d_outputs[0]
        if through_activation:
            dx = layer.backward(dy, d_inputs=d_inputs)
        else:
            dx = layer.backward(dy, d_inputs=d_inputs, through_activation=False)
        if not d_inputs:
            return [None] * len(self.inputs)
        main = dx if layer.takes_list else [dx]
        if self.state_count:
            return main + list(layer.initial_state_gradients)
        return main


class Layer:
    weight_names: tuple = ()
    min_input_rank = 2
    takes_list = False  # call gets a list of arrays (Concatenate, Add)
    takes_training = False  # set for subclasses whose call has a ``training`` argument (or a property)
    takes_mask = False  # set for subclasses whose call has a ``mask`` argument
    supports_masking = False  # takes a masked input (Keras's name); compute_mask says what goes out

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        parameters = inspect.signature(cls.call).parameters
        cls.takes_mask = "mask" in parameters
        # A class may say per instance whether training changes its call (a recurrent layer without
        # dropout does not): a property, which the call's signature does not override.
        if not isinstance(inspect.getattr_static(cls, "takes_training"), property):
            cls.takes_training = "training" in parameters

    def __init__(self, *, name=None, dtype="float32", input_shape=None, batch_input_shape=None,
                 batch_size=None, input_dim=None, input_length=None, trainable=True, **unknown):
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
            batch = None if batch_size is None else check_positive_int(batch_size, "batch_size")
            self.batch_input_shape = (batch, *_check_shape(input_shape, "input_shape"))
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
        self._cache = None  # what the last call left for its backward
        self._inbound_nodes: list[Node] = []  # its calls on symbolic tensors

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

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
        """On arrays: ``forward``. On symbolic tensors (from ``Input``): records the call as a ``Node``
        and returns its output tensor(s), checking that the layer can take their shapes."""
        states = kwargs.get("initial_state")
        states = [] if states is None else list(states) if isinstance(states, (list, tuple)) else [states]
        inputs = list(x) if self.takes_list and isinstance(x, (list, tuple)) else [x]
        if any(isinstance(t, KerasTensor) for t in inputs + states):
            return self._call_symbolic(inputs, states, **kwargs)
        return self.forward(x, **kwargs)

    def _call_symbolic(self, inputs, states, initial_state=None, training=None, mask=None):
        for name, tensors in (("inputs", inputs), ("initial_state", states)):
            for t in tensors:
                if not isinstance(t, KerasTensor):
                    raise TypeError(f"{name}: layer {self.name!r} expected symbolic tensors (from Input or "
                                    f"another layer) like its other inputs, got {type(t).__name__}")
        if training is not None or mask is not None:
            raise ValueError(f"layer {self.name!r}: training= and mask= are chosen by the model when it "
                             "runs (fit trains, predict does not); leave them out of a symbolic call")
        shape = [t.shape for t in inputs] if self.takes_list else inputs[0].shape
        self.check_input_shape(shape)
        if not self.built:
            self.build(shape)
        self.check_state_shapes([t.shape for t in states])
        output_shape = self.compute_output_shape(shape)
        shapes = output_shape if self.returns_list(None, output_shape) else [output_shape]
        node = Node(self, inputs + states, len(states), shapes, self.dtype)
        node.set_masks([t._keras_mask for t in inputs])
        self._inbound_nodes.append(node)
        return node.outputs if node.returns_list else node.outputs[0]

    def returns_list(self, count, output_shape=None) -> bool:
        """Whether ``call`` returns a list of arrays (one per output tensor) rather than one array."""
        return False

    def check_state_shapes(self, shapes) -> None:
        """ValueError for initial-state tensors this layer cannot take (only recurrent layers take any)."""
        if shapes:
            raise ValueError(f"initial_state: layer {self.name!r} takes no initial state, got {len(shapes)}")

    @property
    def input(self):
        """The input tensor of the layer's first call on symbolic tensors (Keras's ``layer.input``)."""
        return self._first_node().inputs[0]

    @property
    def output(self):
        """The output tensor(s) of the layer's first call on symbolic tensors."""
        node = self._first_node()
        return node.outputs if node.returns_list else node.outputs[0]

    def _first_node(self):
        if not self._inbound_nodes:
            raise AttributeError(f"layer {self.name!r} has not been called on symbolic tensors yet, so it "
                                 "has no input or output tensor")
        return self._inbound_nodes[0]

    def forward(self, x, **kwargs):
        """Check x at the public boundary (building the layer on first use), then ``call``.

        An empty batch (no samples) gives empty outputs, as in Keras and PyTorch.

        Errors: TypeError for non-numeric x (None, strings, objects, complex; non-integer ids for an
        Embedding); ValueError for a wrong rank or feature count, an empty x other than an empty
        batch, NaN or infinity, and for a stateful layer a batch size other than the one its state was
        made for."""
        if not kwargs and self._is_empty_batch(x):
            return self._empty_outputs(x)
        mask = kwargs.pop("mask", None)
        if mask is None:
            return self.call(self.check_input(x), **kwargs)
        if not self.takes_mask:
            raise ValueError(f"mask: layer {self.name!r} ({type(self).__name__}) cannot use a mask; the "
                             "layers that do are the recurrent layers, Bidirectional and TimeDistributed")
        x = self.check_input(x)
        return self.call(x, mask=self.check_mask(mask, x), **kwargs)

    def check_mask(self, mask, x) -> np.ndarray:
        """``mask`` as a (batch, time) bool array for the input x; TypeError for a non-boolean mask,
        ValueError for a wrong shape."""
        if isinstance(mask, (str, bytes)) or mask is None:
            raise TypeError(f"mask: layer {self.name!r} expected a (batch, time) array of booleans, got "
                            f"{type(mask).__name__}")
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            if mask.dtype.kind not in "iuf" or not np.all((mask == 0) | (mask == 1)):
                raise TypeError(f"mask: layer {self.name!r} expected booleans (True at a real step), got "
                                f"dtype {mask.dtype}" + (" with values other than 0 and 1"
                                                         if mask.dtype.kind in "iuf" else ""))
            mask = mask.astype(np.bool_)
        expected = np.shape(x)[:2]
        if mask.shape != expected:
            raise ValueError(f"mask: layer {self.name!r} expected shape {expected} (batch, time) like its "
                             f"input of shape {np.shape(x)}, got shape {mask.shape}")
        return mask

    def compute_mask(self, inputs, mask=None):
        """The mask of the output for ``inputs`` and their mask (Keras's): the input's passed on by a
        layer that supports masking, None otherwise. Called on arrays when a model runs, and on symbolic
        tensors (with symbolic masks) when it is made."""
        return mask if self.supports_masking else None

    def _is_empty_batch(self, x) -> bool:
        items = list(x) if self.takes_list and isinstance(x, (list, tuple)) else [x]
        return all(isinstance(item, np.ndarray) and item.ndim >= self.min_input_rank and item.shape[0] == 0
                   and 0 not in item.shape[1:] for item in items)

    def _empty_outputs(self, x):
        shape = [item.shape for item in x] if self.takes_list else x.shape
        self.check_input_shape(shape)
        if not self.built:
            self.build(shape)
        output_shape = self.compute_output_shape(shape)
        shapes = output_shape if self.returns_list(None, output_shape) else [output_shape]
        outputs = [np.zeros(tuple(0 if size is None else size for size in s), dtype=self.dtype)
                   for s in shapes]
        return outputs if self.returns_list(None, output_shape) else outputs[0]

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
        """ValueError when a model would feed this layer inputs of ``shape`` it cannot take: a wrong
        rank, or (once built) a feature size other than the one its weights were made for."""
        if len(shape) < self.min_input_rank:
            raise ValueError(f"input_shape: layer {self.name!r} expected inputs of at least "
                             f"{self.min_input_rank} dimensions, got shape {tuple(shape)}")
        if self.built and self.weight_shapes(shape) != [w.shape for w in self.weights]:
            raise ValueError(f"input_shape: layer {self.name!r} was built for inputs whose weights are "
                             f"{[w.shape for w in self.weights]}; inputs of shape {tuple(shape)} need "
                             f"{self.weight_shapes(shape)}")

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

