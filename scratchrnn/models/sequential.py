"""``Sequential``: a stack of layers, each reading the one before. Once it knows its input shape (from
the first layer's ``input_shape``/``batch_input_shape``, a leading ``Input``, ``build``, or the first
data it sees) it is a chain-shaped graph, and trains, predicts and saves as any ``Model``."""

from __future__ import annotations

from ..layers import Layer
from ..layers.base import KerasTensor
from ..layers.input_layer import Input, InputLayer
from .functional import Model


class Sequential(Model):
    def __init__(self, layers=None, name=None):
        super(Model, self).__init__(name or "sequential")  # no graph yet: it is made when built
        self._stack: list = []
        self._input_tensor = None  # from a leading Input
        self.built = False
        self.layers = []
        self.inputs = self.outputs = []
        self.input_names, self.output_names = ["input"], ["output"]  # one each; named when built
        for layer in layers or []:
            self.add(layer)

    def add(self, layer) -> None:
        """Add a layer on top (or, first, an ``Input`` tensor or ``InputLayer`` giving the input shape);
        as in Keras, the model is built as soon as its input shape is known."""
        self._stack_layer(layer)
        if self._stack and self._declared_input_shape() is not None:
            self.build()

    def _stack_layer(self, layer) -> None:
        if isinstance(layer, (KerasTensor, InputLayer)):
            if self._stack or self._input_tensor is not None:
                raise ValueError("layer: an Input goes first in a Sequential model, before any layer")
            self._input_tensor = layer if isinstance(layer, KerasTensor) else layer.output
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"layer: expected a scratchrnn layer, got {type(layer).__name__}")
        if getattr(layer, "return_state", False):
            raise ValueError(f"layer: {layer.name!r} has return_state=True, which a Sequential model "
                             "cannot pass on; use the functional API (Model(inputs, outputs))")
        if layer.takes_list:
            raise ValueError(f"layer: {layer.name!r} takes several inputs, which a Sequential model "
                             "cannot give it; use the functional API (Model(inputs, outputs))")
        if self._stack and layer.dtype != self._stack[0].dtype:
            raise ValueError(f"layer: expected dtype {self._stack[0].dtype} like the model's first layer, "
                             f"got {layer.dtype}")
        self._stack.append(layer)
        self.layers = list(self._stack)
        self.built = False
        self._flat_weights = None

    def pop(self) -> Layer:
        """Remove the top layer and return it."""
        if not self._stack:
            raise ValueError("pop: the model has no layer to remove")
        layer = self._stack.pop()
        self.layers = list(self._stack)
        self.built = False
        self._flat_weights = None
        return layer

    @property
    def dtype(self):
        if not self._stack:
            raise ValueError("model: expected at least one layer, got none")
        return self._stack[0].dtype

    @property
    def build_input_shape(self):
        return self.inputs[0].shape if self.built else None

    def _declared_input_shape(self):
        if self._input_tensor is not None:
            return self._input_tensor.shape
        return self._stack[0].batch_input_shape if self._stack else None

    def build(self, input_shape=None) -> None:
        """Call the layers in turn on an input of ``input_shape`` (batch first; default: the declared
        one), which builds them, and make the chain their graph."""
        if not self._stack:
            raise ValueError("model: expected at least one layer before building, got none")
        shape = input_shape or self._declared_input_shape()
        if shape is None:
            raise ValueError("input_shape: expected it from the first layer (input_shape= or "
                             "batch_input_shape=), a leading Input, or build(input_shape), got none of them")
        tensor = Input(batch_shape=tuple(shape), name=f"{self.name}_input")
        inputs, x = tensor, tensor
        for layer in self._stack:
            x = layer(x)
        self._set_graph(inputs, x)
        self.layers = list(self._stack)

    def _check_inputs(self, xs):
        if not self.built and self._stack and self._declared_input_shape() is None:
            x = self._stack[0].check_input(xs[0])  # the first data gives the shape: checked, it builds
            xs = [x]
        self._build_for(xs)
        return super()._check_inputs(xs)

    def _build_for(self, xs) -> None:
        if not self.built:
            if not self._stack:
                raise ValueError("model: expected at least one layer, got none")
            self.build(self._declared_input_shape() or (None, *xs[0].shape[1:]))

    @property
    def output_shape(self):
        return self.outputs[0].shape if self.built else None

    def get_config(self) -> dict:
        config = {"name": self.name,
                  "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                             for layer in self._stack]}
        if self._input_tensor is not None:
            config["input_shape"] = list(self._input_tensor.shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Sequential:
        from ..layers import deserialize

        model = cls(name=config.get("name"))
        if config.get("input_shape") is not None:
            model._input_tensor = Input(batch_shape=tuple(config["input_shape"]))
        for spec in config["layers"]:  # left unbuilt: a checkpoint's weights are planned before they are made
            model._stack_layer(deserialize(spec))
        return model
