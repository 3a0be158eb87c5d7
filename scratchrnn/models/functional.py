"""``Model(inputs, outputs)``: a graph of layer calls, run forward in topological order and backward in
reverse, every backward written by hand (no automatic differentiation).

Calling a layer on symbolic tensors records a ``Node`` (layers/base.py). A model walks back from its
outputs to its inputs, depth first, and keeps the nodes it meets in an order where every node comes
after the nodes that make its inputs. Forward runs them in that order, each on the arrays of its
input tensors. Backward runs them in reverse: the gradient of a tensor is the sum over every node that
read it, and a layer called more than once (shared weights) gets the sum of its weight gradients over
its calls, each backward pass reading the cache of its own call.

``layers`` are in Keras's order (by depth from the outputs, then by the order the walk met them), so
``get_weights`` lists the weights as Keras's model of the same graph does.

Masks (layers/base.py) travel beside the values: a model with a masked tensor runs forward with a list
of masks too, each masked node (``Node.call_masked``) reading its inputs' masks and giving its outputs
theirs; the outputs' masks are kept in ``_output_masks`` for the losses and metrics. A model without
one runs as before. Backward needs nothing more: the layers that use a mask keep it in their caches.
"""

from __future__ import annotations

import numpy as np

from ..layers import deserialize
from ..layers.base import KerasTensor
from ..layers.input_layer import InputLayer
from . import data
from .training import Trainer


class _Step:
    """One node of the run order, with the indices of its tensors in the model's value list."""

    __slots__ = ("node", "layer", "inputs", "outputs", "d_inputs", "shared", "cache", "fused", "plain",
                 "main")

    def __init__(self, node, index_of, model_inputs, shared):
        self.node = node
        self.layer = node.layer
        self.inputs = [index_of[id(t)] for t in node.inputs]
        self.outputs = [index_of[id(t)] for t in node.outputs]
        self.d_inputs = any(i not in model_inputs for i in self.inputs)  # data needs no gradient
        self.shared = shared  # the layer runs in other nodes of this model too: keep this call's cache
        self.cache = None
        self.fused = False  # its output's gradient is w.r.t. the logits (set at compile)
        self.plain = node.plain  # one array in, one out
        self.main = self.inputs[:len(self.inputs) - node.state_count]  # the inputs that may carry masks


def _tensor_list(value, what: str) -> list:
    tensors = list(value) if isinstance(value, (list, tuple)) else [value]
    if not tensors:
        raise ValueError(f"{what}: expected at least one symbolic tensor, got none")
    for t in tensors:
        if not isinstance(t, KerasTensor):
            raise TypeError(f"{what}: expected symbolic tensors (from Input or a layer called on one), got "
                            f"{type(t).__name__}")
    return tensors


def _walk(inputs: list, outputs: list):
    """(the nodes between ``inputs`` and ``outputs``, each after the nodes it reads from; the layers in
    Keras's order). ValueError for a cycle or for a tensor that the inputs cannot reach."""
    input_ids = {id(t) for t in inputs}
    finished, in_progress, order, first_seen = set(), set(), [], {}

    def visit(tensor):
        node = tensor.node
        if node is None or node in finished:
            return
        if id(tensor) in input_ids and not isinstance(node.layer, InputLayer):
            finished.add(node)  # an intermediate tensor given as a model input: its makers stay outside
            return
        if node in in_progress:
            raise ValueError(f"graph: the tensor {tensor.name!r} of layer {node.layer.name!r} is part of a "
                             "cycle; a model's graph must lead from its inputs to its outputs without loops")
        first_seen.setdefault(node.layer, len(first_seen))
        in_progress.add(node)
        for t in node.inputs:
            visit(t)
        in_progress.discard(node)
        finished.add(node)
        order.append(node)

    for tensor in outputs:
        visit(tensor)
    computable = set(input_ids)
    reached = []
    for node in order:
        if isinstance(node.layer, InputLayer) and id(node.outputs[0]) not in input_ids:
            raise ValueError(f"graph disconnected: the model's outputs need the input "
                             f"{node.outputs[0].name!r}, which is not among the model's inputs "
                             f"{[t.name for t in inputs]}; the layers reached without trouble: {reached}")
        if all(id(t) in input_ids for t in node.outputs):
            continue
        for t in node.inputs:
            if id(t) not in computable:
                raise ValueError(f"graph disconnected: layer {node.layer.name!r} reads the tensor "
                                 f"{t.name!r}, which cannot be computed from the model's inputs; the "
                                 f"layers reached without trouble: {reached}")
        computable.update(id(t) for t in node.outputs)
        reached.append(node.layer.name)
    return order, _keras_layer_order(order, first_seen, inputs)


def _keras_layer_order(order, first_seen, inputs):
    """Layers by decreasing depth (the longest path to an output), ties in the order the walk met them,
    unused inputs last: Keras's ``Functional.layers``."""
    node_depth, layer_depth, in_graph = {}, {}, set(order)
    for node in reversed(order):
        depth = max(node_depth.setdefault(node, 0), layer_depth.get(node.layer, 0))
        layer_depth[node.layer] = node_depth[node] = depth
        for t in node.inputs:
            if t.node in in_graph:
                node_depth[t.node] = max(node_depth.get(t.node, 0), depth + 1)
    for t in inputs:
        if t.node.layer not in layer_depth:
            layer_depth[t.node.layer], first_seen[t.node.layer] = 0, -1
    return sorted(layer_depth, key=lambda layer: (-layer_depth[layer], first_seen[layer]))


class Model(Trainer):
    """A model of layers called on symbolic tensors: ``Model(inputs, outputs)``, each an ``Input``
    tensor (or a list of them) and a tensor some layers compute from them (or a list)."""

    def __init__(self, inputs=None, outputs=None, name=None, **kwargs):
        if kwargs:
            raise TypeError(f"Model: unexpected keyword arguments {sorted(kwargs)}")
        super().__init__(name)
        if inputs is None or outputs is None:
            raise TypeError("Model: expected Model(inputs, outputs) with symbolic tensors from Input and the "
                            "layers called on them; subclassing Model with a call() is not supported")
        self._set_graph(inputs, outputs)
        if self.name is None:
            self.name = "functional"

    # -- the graph -----------------------------------------------------------------------------
    def _set_graph(self, inputs, outputs) -> None:
        self._single_input = not isinstance(inputs, (list, tuple))
        self.inputs = _tensor_list(inputs, "inputs")
        self.outputs = _tensor_list(outputs, "outputs")
        nodes, self.layers = _walk(self.inputs, self.outputs)
        dtypes = {layer.dtype for layer in self.layers if not isinstance(layer, InputLayer)}
        if len(dtypes) > 1:
            raise ValueError(f"model: expected its layers to share one dtype, got {sorted(map(str, dtypes))}")
        self._dtype = dtypes.pop() if dtypes else np.dtype("float32")
        tensors = {id(t): t for t in self.inputs}
        for node in nodes:
            tensors.update({id(t): t for t in node.inputs + node.outputs})
        index_of = {key: i for i, key in enumerate(tensors)}
        self._tensor_count = len(index_of)
        self._input_indices = [index_of[id(t)] for t in self.inputs]
        self._output_indices = [index_of[id(t)] for t in self.outputs]
        input_ids = {id(t) for t in self.inputs}
        computed = [node for node in nodes if not all(id(t) in input_ids for t in node.outputs)]
        uses = {}
        for node in computed:
            uses[node.layer] = uses.get(node.layer, 0) + 1
        self._model_inputs = set(self._input_indices)
        self._steps = [_Step(node, index_of, self._model_inputs, uses[node.layer] > 1) for node in computed]
        self._readers = {}  # tensor index -> how many steps read it (fused outputs need a single reader)
        for step in self._steps:
            for i in step.inputs:
                self._readers[i] = self._readers.get(i, 0) + 1
        self.input_names = [t.node.layer.name if t.node else f"input_{k}" for k, t in enumerate(self.inputs)]
        self.output_names = [t.node.layer.name for t in self.outputs]
        if len(set(self.output_names)) < len(self.output_names):  # one layer's several outputs
            self.output_names = [t.name for t in self.outputs]
        self.output_shapes = [t.shape for t in self.outputs]
        self._input_readers = [self._first_reader(i) for i in self._input_indices]
        self._masked = any(step.node.masked for step in self._steps)  # forward carries masks
        self._chain = self._chain_of_layers()
        self._output_masks = [None] * len(self.outputs)  # the last forward's, for losses and metrics
        self.built = True
        self._flat_weights = None  # made when the model first trains
        if self.losses:  # compiled before the graph was made (a Sequential that builds on its first data)
            self._fused = self._fused_outputs()

    @property
    def dtype(self):
        return self._dtype

    def _chain_of_layers(self):
        """The layers in order when the graph is a plain chain (one input, each step one array in and
        one out, reading the step before, no masks, no shared layer), else None: a chain is run without
        the value lists, as a loop over its layers (the batch-1 alphabet tutorial: ~10 us of its ~140 us
        per step, measured)."""
        if self._masked or len(self.inputs) != 1 or len(self.outputs) != 1 or not self._steps:
            return None
        previous = self._input_indices[0]
        for step in self._steps:
            if not step.plain or step.shared or step.inputs[0] != previous:
                return None
            previous = step.outputs[0]
        return [step.layer for step in self._steps] if previous == self._output_indices[0] else None

    def _first_reader(self, index):
        """The layer whose eager input check fits a model input (an Embedding turns floats into ids), or
        None when the first reader takes it among other arrays."""
        for step in self._steps:
            if step.inputs and step.inputs[0] == index and not step.layer.takes_list:
                return step.layer
            if index in step.inputs:
                return None
        return None

    @property
    def input(self):
        return self.inputs[0] if self._single_input else self.inputs

    @property
    def output(self):
        return self.outputs[0] if len(self.outputs) == 1 else self.outputs

    def get_layer(self, name=None, index=None):
        """The layer called ``name``, or at ``index`` in ``layers``."""
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"name: expected one of the model's layer names {[l.name for l in self.layers]}, "
                         f"got {name!r}")

    def __call__(self, x, **kwargs):
        """The outputs for arrays, as ``predict_on_batch`` (calling a model on symbolic tensors, to nest
        it in another model, is not supported)."""
        if kwargs:
            raise TypeError(f"model {self.name!r}: unexpected keyword arguments {sorted(kwargs)}")
        if any(isinstance(t, KerasTensor) for t in (x if isinstance(x, (list, tuple)) else [x])):
            raise TypeError(f"model {self.name!r}: calling a model on symbolic tensors (nesting models) is "
                            "not supported; call its layers on the tensors instead")
        return self.predict_on_batch(x)

    # -- running -------------------------------------------------------------------------------
    def _forward(self, xs, training=False) -> list:
        """The outputs for checked input arrays; every layer keeps its cache for ``_backward``."""
        if self._chain is not None:
            x = xs[0]
            for layer in self._chain:
                x = layer.call(x)
            return [x]
        if self._masked:
            return self._forward_masked(xs, training)
        values = [None] * self._tensor_count
        for index, x in zip(self._input_indices, xs):
            values[index] = x
        for step in self._steps:
            if step.plain:  # one array in, one out (a chain's every step): no lists in between
                values[step.outputs[0]] = step.layer.call(values[step.inputs[0]])
            else:
                for index, y in zip(step.outputs, step.node.call([values[i] for i in step.inputs], training)):
                    values[index] = y
            if step.shared:
                step.cache = step.layer._cache
        return [values[i] for i in self._output_indices]

    def _forward_masked(self, xs, training) -> list:
        """``_forward`` with a mask beside each value (None: unmasked); the outputs' masks go to
        ``_output_masks``."""
        values = [None] * self._tensor_count
        masks = [None] * self._tensor_count
        for index, x in zip(self._input_indices, xs):
            values[index] = x
        for step in self._steps:
            if step.node.masked:
                outputs, output_masks = step.node.call_masked(
                    [values[i] for i in step.inputs], [masks[i] for i in step.main], training)
                for index, y, mask in zip(step.outputs, outputs, output_masks):
                    values[index], masks[index] = y, mask
            else:
                for index, y in zip(step.outputs, step.node.call([values[i] for i in step.inputs], training)):
                    values[index] = y
            if step.shared:
                step.cache = step.layer._cache
        self._output_masks = [masks[i] for i in self._output_indices]
        return [values[i] for i in self._output_indices]

    def _fusable_output(self, k: int, activation) -> bool:
        """Whether output ``k``'s loss may hand over the logits gradient: the output comes straight
        from a layer ending in ``activation`` and nothing else in the model reads it."""
        if activation is None:
            return False
        index = self._output_indices[k]
        for step in self._steps:
            if index in step.outputs:
                step.fused = (len(step.outputs) == 1 and self._readers.get(index, 0) == 0
                              and self._output_indices.count(index) == 1
                              and getattr(step.layer, "output_activation", None) == activation)
                return step.fused
        return False

    def _backward(self, output_gradients: list, fused: list):
        """Backpropagation from the gradient of each output (w.r.t. the logits where ``fused``).
        The weight gradients land in the layers' gradient arrays; returns the gradient parts for
        ``Optimizer.apply`` when they are transient (``TRANSIENT_GRADIENT_BYTES``), else None."""
        if self._chain is not None:
            return self._backward_chain(output_gradients[0], fused[0])
        grads = [None] * self._tensor_count
        for index, gradient in zip(self._output_indices, output_gradients):
            grads[index] = gradient if grads[index] is None else grads[index] + gradient
        parts, started, sums = [], set(), {}
        transient, model_inputs = self._transient_gradients, self._model_inputs
        for step in reversed(self._steps):
            layer = step.layer
            if transient and layer not in started:
                started.add(layer)
                part = self._gradient_part(layer)
                if part is not None:
                    parts.append(part)
            if step.plain and not step.shared:  # a chain's every step: one gradient in, one out
                d_output, grads[step.outputs[0]] = grads[step.outputs[0]], None
                if d_output is None:  # no path to a loss: this call adds nothing
                    for g in layer.gradients:
                        g[...] = 0.0
                    continue
                if step.fused:
                    d_input = layer.backward(d_output, through_activation=False, d_inputs=step.d_inputs)
                else:
                    d_input = layer.backward(d_output, d_inputs=step.d_inputs)
                index = step.inputs[0]
                if d_input is not None and index not in model_inputs:
                    grads[index] = d_input if grads[index] is None else grads[index] + d_input
                continue
            d_outputs = [grads[i] for i in step.outputs]
            for i in step.outputs:
                grads[i] = None  # spent: let it go before this layer's backward makes new arrays
            if all(d is None for d in d_outputs):
                if not step.shared:
                    for g in layer.gradients:
                        g[...] = 0.0
                continue
            if step.shared:
                layer._cache, step.cache = step.cache, None
            d_inputs = step.node.backward(d_outputs, step.d_inputs, through_activation=not step.fused)
            if step.shared:
                total = sums.get(layer)
                if total is None:
                    sums[layer] = [g.copy() for g in layer.gradients]
                else:
                    for t, g in zip(total, layer.gradients):
                        t += g
            for index, d in zip(step.inputs, d_inputs):
                if d is not None and index not in model_inputs:
                    grads[index] = d if grads[index] is None else grads[index] + d
        for layer, total in sums.items():
            layer._store_gradients(total)
        return parts[::-1] if self._transient_gradients else None

    def _backward_chain(self, gradient, fused: bool):
        """``_backward`` of a chain: each layer's gradient w.r.t. its input is the next one's upstream
        gradient; the first layer reads the data, whose gradient nobody needs."""
        parts, last = [], len(self._chain) - 1
        for index in range(last, -1, -1):
            layer = self._chain[index]
            if self._transient_gradients:
                part = self._gradient_part(layer)
                if part is not None:
                    parts.append(part)
            if index == last and fused:
                gradient = layer.backward(gradient, through_activation=False, d_inputs=index > 0)
            else:
                gradient = layer.backward(gradient, d_inputs=index > 0)
        return parts[::-1] if self._transient_gradients else None

    # -- description ---------------------------------------------------------------------------
    def summary(self, print_fn=print) -> None:
        from .summary import print_summary

        print_summary(self, print_fn)

    def get_config(self) -> dict:
        """The graph as JSON: each layer's config, and each call as the layer and the tensors it read
        ([layer name, call index, output index]), in run order."""
        model_nodes = {id(step.node) for step in self._steps} | {id(t.node) for t in self.inputs}
        calls = {layer: [node for node in layer._inbound_nodes if id(node) in model_nodes]
                 for layer in self.layers}  # the calls that belong to this model, in order

        def ref(tensor):
            layer = tensor.node.layer
            return [layer.name, calls[layer].index(tensor.node), tensor.index]

        return {
            "name": self.name, "class_name": "Functional",
            "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                       for layer in self.layers],
            "calls": [{"layer": node.layer.name, "inputs": [ref(t) for t in node.inputs],
                       "states": node.state_count}  # in the order they were made: each layer's in order
                      for node in sorted((step.node for step in self._steps), key=lambda n: n.serial)],
            "inputs": [ref(t) for t in self.inputs], "outputs": [ref(t) for t in self.outputs],
            "single_input": self._single_input,
        }

    @classmethod
    def from_config(cls, config: dict) -> Model:
        """Rebuild a model from ``get_config()``: new layers, called as recorded."""
        layers = {}
        for spec in config["layers"]:
            layer = InputLayer.from_config(dict(spec["config"])) if spec["class_name"] == "InputLayer" \
                else deserialize(spec)
            layers[layer.name] = layer
        made = {name: [] for name in layers}
        for name, layer in layers.items():
            if isinstance(layer, InputLayer):
                made[name].append(layer._inbound_nodes[0].outputs)

        def tensor(ref):
            name, call, index = ref
            return made[name][call][index]

        for call in config["calls"]:
            inputs = [tensor(ref) for ref in call["inputs"]]
            layer = layers[call["layer"]]
            states = inputs[len(inputs) - call["states"]:] if call["states"] else []
            main = inputs[:len(inputs) - len(states)]
            x = main if layer.takes_list else main[0]
            result = layer(x, initial_state=states) if states else layer(x)
            made[layer.name].append(result if isinstance(result, list) else [result])
        inputs = [tensor(ref) for ref in config["inputs"]]
        outputs = [tensor(ref) for ref in config["outputs"]]
        return cls(inputs[0] if config.get("single_input") else inputs,
                   outputs[0] if len(outputs) == 1 else outputs, name=config.get("name"))

    # -- data checks ---------------------------------------------------------------------------
    def _check_inputs(self, xs: list) -> list:
        checked = []
        for k, (x, tensor, reader) in enumerate(zip(xs, self.inputs, self._input_readers)):
            where = "x" if len(xs) == 1 else f"x[{self.input_names[k]!r}]"
            if reader is not None:
                try:
                    x = reader.check_input(x)
                except (TypeError, ValueError) as error:
                    if len(xs) == 1:
                        raise
                    raise type(error)(f"{error} (model input {self.input_names[k]!r})") from None
            else:
                from ..validation import check_array

                x = check_array(x, where, dtype=self.dtype)
            data.check_shape(x, tensor.shape, where, f"the model's input {self.input_names[k]!r}")
            checked.append(x)
        for k, x in enumerate(checked[1:], start=1):
            if len(x) != len(checked[0]):
                raise ValueError(f"x: expected the same number of samples in every input, got "
                                 f"{len(checked[0])} in {self.input_names[0]!r} and {len(x)} in "
                                 f"{self.input_names[k]!r}")
        return checked

    def _build_for(self, xs) -> None:
        """Made at construction: nothing to build."""

    def _empty_outputs(self, x):
        """Empty outputs for an empty batch, shaped as the layers would shape them."""
        xs = data.as_arrays(x, self.input_names, "x")
        self._build_for(xs)
        shapes = [None] * self._tensor_count
        for index, item, tensor in zip(self._input_indices, xs, self.inputs):
            shapes[index] = (0, *np.shape(item)[1:])
            data.check_shape(np.empty(shapes[index]), tensor.shape, "x", "the model's input")
        for step in self._steps:
            main = [shapes[i] for i in step.inputs[:len(step.inputs) - step.node.state_count]]
            out = step.layer.compute_output_shape(main if step.layer.takes_list else main[0])
            for index, shape in zip(step.outputs, out if step.node.returns_list else [out]):
                shapes[index] = shape
        outputs = [np.zeros(tuple(0 if s is None else s for s in shapes[i]), dtype=self.dtype)
                   for i in self._output_indices]
        return outputs if len(outputs) > 1 else outputs[0]
