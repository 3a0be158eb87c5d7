"""The training engine that ``Model`` and ``Sequential`` share: compile, fit, evaluate, predict,
train_on_batch, and the flat parameter buffer.

Once a model trains, it keeps every weight of its layers as a view into one contiguous float buffer,
and every gradient likewise, so the optimizer and gradient clipping work on one vector per step instead
of looping over tensors (at batch 1 that loop would cost more than the arithmetic). Models that share
layers (a seq2seq training model and its inference models) share those weights: the model that trains
takes the layers' weights into its buffer (``_own_weights``), with their current values, at each
``fit`` or ``train_on_batch``.

A large model's gradients are made afresh instead (``TRANSIENT_GRADIENT_BYTES``): each layer's in one
array of its own, just before its backward pass, handed to the optimizer as parts of the flat
gradient, and let go when the next training step begins. Kept whole and resident, they sat beside
the forward pass's caches at the step's peak; made this way, a layer's gradient takes the memory the
caches of the layers above it have just given back.

The graph itself (which layer runs on what, forward and backward) is ``functional.Model``'s.

An output that carries a mask (``_output_masks``, from the last forward) has its loss and accuracy over
the real steps only, as Keras 3 applies an output's mask: the mean over the steps the mask keeps, and
its gradient likewise (``losses``, ``data.accuracy``).
"""

from __future__ import annotations

import numpy as np

from .. import losses, optimizers
from ..validation import check_choice, check_positive_int
from . import data

_ACCURACY_NAMES = ("accuracy", "acc", "categorical_accuracy", "sparse_categorical_accuracy")
# From this size of the flat gradient on, the gradients are made per layer for each backward pass (module
# docstring). 3 x LSTM(700), 40 MB of gradients, peak RSS of a training step: 401 MB whole, 391 in parts,
# the same step time. Below it the one buffer stays: a few MB more or less at the peak, while the
# per-step bookkeeping (~4 us) would cost the batch-1 alphabet tutorial ~4% of its 7,500 steps.
TRANSIENT_GRADIENT_BYTES = 16 << 20


class Trainer:
    """What every model can do with its graph: subclasses provide ``layers``, ``output_names``,
    ``_forward(inputs, training)`` and ``_backward(output_gradients, fused)``."""

    def __init__(self, name):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name: expected a string or None, got {type(name).__name__} {name!r}")
        self.name = name
        self.optimizer = None
        self.losses: list = []
        self.loss_weights: list = []
        self.metrics: list[str] = []
        self.stop_training = False
        self.stop_reason = None
        self.history = None
        self.epoch = 0  # completed epochs, carried by checkpoints for resuming
        self.step = 0  # completed optimizer steps
        # After a stop inside an epoch (a callback set stop_training): {"epoch": its index, "batches": done,
        # "rng": the random state at its start}; fit(initial_epoch=that epoch) continues it from the next
        # batch with the same shuffle, as an uninterrupted run would. Saved in checkpoints.
        self.partial_epoch = None
        self.last_logs = None  # the last completed epoch's logs ("loss", metrics), kept by checkpoints
        self.vocabulary = None  # optional, saved with checkpoints of character models
        self._flat_weights = None

    @property
    def loss(self):
        """The loss of a single-output model (Keras's ``model.loss``); None before compile."""
        return self.losses[0] if self.losses else None

    # -- the flat buffers ----------------------------------------------------------------------
    def _weighted_layers(self) -> list:
        return [layer for layer in self.layers if layer.weights]

    def _own_weights(self) -> None:
        """Make (or take back) the flat buffers: every weight and gradient of the model's layers as a
        view into one contiguous buffer each, holding the layers' current values. A no-op while this
        model holds them; after another model sharing layers took them, their values come back in."""
        layers = self._weighted_layers()
        if self._flat_weights is not None and all(getattr(layer, "_weights_owner", None) is self
                                                 for layer in layers):
            return
        sizes = [w.size for layer in layers for w in layer.weights]
        self._flat_weights = np.empty(sum(sizes), dtype=self.dtype)
        self._flat_gradients = np.zeros(sum(sizes), dtype=self.dtype)
        self._transient_gradients = self._flat_gradients.nbytes >= TRANSIENT_GRADIENT_BYTES
        self._segments = []
        self._flat_gradient_views = {}  # per layer, its gradients as views into the flat buffer
        self._layer_offsets = {}  # per layer, where its weights begin in the flat buffers
        offset = 0
        for layer in layers:
            self._layer_offsets[layer] = offset
            views = []
            for i, weight in enumerate(layer.weights):
                segment = slice(offset, offset + weight.size)
                view = self._flat_weights[segment].reshape(weight.shape)
                view[...] = weight
                layer.weights[i] = view
                views.append(self._flat_gradients[segment].reshape(weight.shape))
                self._segments.append(segment)
                offset += weight.size
            self._flat_gradient_views[layer] = views
            layer._weights_owner = self
        self._bind_flat_gradients()

    def _bind_flat_gradients(self) -> None:
        """Point every layer's gradients at the flat buffer again (letting go of a step's parts)."""
        for layer, views in self._flat_gradient_views.items():
            for i, view in enumerate(views):
                layer.gradients[i] = view

    def _gradient_part(self, layer) -> tuple[int, np.ndarray] | None:
        """A fresh array for the gradients of ``layer`` (None: it has no weights), bound to the layer:
        (its offset in the flat buffer, the array), a part for ``Optimizer.apply``."""
        if not layer.weights:
            return None
        part = np.empty(sum(w.size for w in layer.weights), dtype=self.dtype)  # every element written
        offset = 0
        for i, weight in enumerate(layer.weights):
            layer.gradients[i] = part[offset:offset + weight.size].reshape(weight.shape)
            offset += weight.size
        return self._layer_offsets[layer], part

    # -- compiling -----------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, **unused) -> None:
        """Choose the optimizer, the loss of each output (one for all, a list in output order, or a dict
        by output name), ``loss_weights`` (the total loss is their weighted sum) and the metrics
        (``accuracy``: a list for every output, or a dict by output name). Keras's other compile
        arguments are accepted and ignored only when None."""
        extra = {k: v for k, v in unused.items() if v is not None}
        if extra:
            raise TypeError(f"compile: unsupported arguments {sorted(extra)}")
        if loss is None:
            raise ValueError("loss: expected a loss name or Loss object, got None")
        names = self.output_names
        self.optimizer = optimizers.get(optimizer)
        self.losses = [losses.get(item) for item in data.per_output(loss, names, "loss")]
        weights = [1.0] * len(names) if loss_weights is None else data.per_output(
            loss_weights, names, "loss_weights", broadcast=False)
        for name, weight in zip(names, weights):
            if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)) \
                    or not np.isfinite(weight):
                raise ValueError(f"loss_weights: expected a finite number for output {name!r}, "
                                 f"got {weight!r}")
        self.loss_weights = [float(w) for w in weights]
        if isinstance(metrics, dict):
            metrics = data.per_output(metrics, names, "metrics", missing=[])
        elif metrics and all(isinstance(m, (list, tuple)) for m in metrics):
            metrics = data.per_output(list(metrics), names, "metrics")
        else:
            metrics = [list(metrics or [])] * len(names)
        for output_metrics in metrics:
            for metric in output_metrics:
                if metric not in _ACCURACY_NAMES:
                    raise ValueError(f"metrics: expected names from {list(_ACCURACY_NAMES)}, got {metric!r}")
        self._output_metrics = [list(m) for m in metrics]
        self.metrics = self._output_metrics[0] if len(names) == 1 else sorted(
            {m for output_metrics in metrics for m in output_metrics})
        self._log_names = ["loss"]
        if len(names) > 1:
            self._log_names += [f"{name}_loss" for name in names]
        self._log_names += [metric if len(names) == 1 else f"{name}_{metric}"
                            for name, output_metrics in zip(names, metrics) for metric in output_metrics]
        self._fused = self._fused_outputs() if self.built else []  # else when the graph is made

    def _require_compiled(self, what: str) -> None:
        if not self.losses:
            raise RuntimeError(f"{what} needs a compiled model: call model.compile(optimizer, loss) first")

    def _fused_outputs(self) -> list[bool]:
        """Per output, whether its loss hands the gradient w.r.t. the logits (the input of the output
        layer's softmax or sigmoid), skipping the activation's backward."""
        return [self._fusable_output(k, getattr(loss, "fuses_activation", None))
                for k, loss in enumerate(self.losses)]

    # -- the math of one batch -----------------------------------------------------------------
    def _loss_values(self, ys, outputs) -> tuple[list, list]:
        """(the loss of each output, the gradient handed to each output: w.r.t. the logits where fused)."""
        values, gradients = [], []
        for loss, weight, fused, y, out, mask in zip(self.losses, self.loss_weights, self._fused, ys, outputs,
                                                     self._output_masks):
            # the mask only when there is one: a Loss subclass written before masks still works unmasked
            if fused:  # the value and the logits gradient in one pass
                value, gradient = (loss.value_and_logits_gradient(y, out) if mask is None else
                                   loss.value_and_logits_gradient(y, out, mask))
            else:
                value, gradient = (loss.value(y, out) if mask is None else loss.value(y, out, mask)), None
            if not np.isfinite(value):
                raise FloatingPointError(f"the loss is {value}")
            if gradient is None:
                gradient = loss.gradient(y, out) if mask is None else loss.gradient(y, out, mask)
            values.append(value)
            gradients.append(gradient if weight == 1.0 else gradient * weight)
        return values, gradients

    def _logs(self, values, ys, outputs) -> dict:
        """The batch's logs in ``_log_names`` order: total loss, each output's loss, metrics."""
        if len(values) == 1:  # one output: its loss and metrics, without the lists (batch-1 training)
            logs = {"loss": self.loss_weights[0] * values[0]}
            if self.metrics:
                accuracy = data.accuracy(ys[0], outputs[0], self._output_masks[0])
                for name in self.metrics:  # every accepted name is an accuracy
                    logs[name] = accuracy
            return logs
        logged = [sum(w * v for w, v in zip(self.loss_weights, values)), *values]
        for metrics, y, out, mask in zip(self._output_metrics, ys, outputs, self._output_masks):
            if metrics:
                logged += [data.accuracy(y, out, mask)] * len(metrics)
        return dict(zip(self._log_names, logged))

    def _train_step(self, xs, ys) -> dict:
        """One forward, backward and optimizer step on validated arrays; the logs of this batch.
        Raises FloatingPointError, with the weights untouched, when the loss or gradient is not finite."""
        if self._transient_gradients:
            self._bind_flat_gradients()  # the last step's gradients go before this step's caches come
        outputs = self._forward(xs, training=True)
        values, gradients = self._loss_values(ys, outputs)
        parts = self._backward(gradients, self._fused)
        try:
            self.optimizer.apply(self._flat_weights, parts if self._transient_gradients else
                                 self._flat_gradients, self._segments)
        except optimizers.NonFiniteGradientError as error:
            raise FloatingPointError(f"the gradient norm is {self.optimizer.last_global_norm}") from error
        self.step += 1
        return self._logs(values, ys, outputs)

    # -- batches -------------------------------------------------------------------------------
    def _stateful_batch_size(self):
        sizes = {layer.stateful_batch_size for layer in self.layers if getattr(layer, "stateful", False)}
        sizes.discard(None)
        return sizes.pop() if sizes else None

    def _batch_size(self, batch_size, samples: int) -> int:
        stateful = self._stateful_batch_size()
        if batch_size is None:
            batch_size = stateful or 32
        batch_size = check_positive_int(batch_size, "batch_size")
        if stateful is not None and (batch_size != stateful or samples % batch_size):
            raise ValueError(f"batch_size: a stateful model built for batch size {stateful} needs "
                             f"batch_size={stateful} and a sample count divisible by it, got "
                             f"batch_size={batch_size} with {samples} samples")
        return batch_size

    def _batches(self, samples, batch_size):
        batch_size = self._batch_size(batch_size, samples)
        return [slice(start, start + batch_size) for start in range(0, samples, batch_size)]

    # -- the Keras API -------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0, nb_epoch=None):
        """Train; returns the History. ``x`` and ``y``: an array, a list in the model's input (output)
        order, or a dict by input (output) name. ``nb_epoch`` is the Keras 1/2 name of ``epochs``.

        Errors: TypeError for non-numeric x or y (None, strings, objects, complex); ValueError for a
        wrong rank or shape, empty arrays, NaN or infinity in x or y, inputs or targets that do not
        match the model's, a batch size that a stateful layer cannot take, and bad arguments (epochs < 1,
        batch_size < 1, verbose not 0/1/2, validation_split outside [0, 1) or leaving no samples on
        either side, validation_data not (x_val, y_val), initial_epoch < 0, shuffle not
        True/False/'batch'); RuntimeError before compile. A NaN or infinite loss or gradient does not
        raise: training stops with a RuntimeWarning naming the epoch and batch, ``stop_reason`` keeps
        the message, and the weights are those after the last good batch.

        When a callback stops training inside an epoch, ``epoch`` still counts only completed epochs
        and ``partial_epoch`` records where the stop came (checkpoints keep it): a later fit whose
        ``initial_epoch`` is that epoch finishes it, same shuffle and remaining batches, so that the
        run goes on bit for bit as if it had not been interrupted."""
        from .fitting import fit

        return fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
                   shuffle, initial_epoch, nb_epoch)

    def train_on_batch(self, x, y):
        """One optimizer step on this batch; the loss (and metrics, as a list, when compiled with any or
        with several outputs). Errors: as ``fit``; a NaN or infinite loss or gradient raises
        FloatingPointError, the weights untouched."""
        self._require_compiled("train_on_batch")
        xs, ys = self._check_data(x, y, needs_y=True)
        self._own_weights()
        logs = self._train_step(xs, ys)
        return self._returned(list(logs.values()))

    def _returned(self, values: list):
        return values if len(values) > 1 else values[0]

    def predict(self, x, batch_size=None, verbose=0):
        """Outputs for x, batch by batch (a list for a model with several outputs); stateful layers carry
        their state through, as in Keras. An empty batch gives empty outputs.

        Errors: TypeError for non-numeric x (None, strings, objects, complex); ValueError for a wrong
        rank or feature count, NaN or infinity in x, inputs that do not match the model's,
        batch_size < 1, a batch size a stateful layer cannot take, verbose not 0/1/2."""
        check_choice(verbose, "verbose", (0, 1, 2))
        if data.is_empty_batch(x):
            return self._empty_outputs(x)
        xs, _ = self._check_data(x)
        batches = [self._forward([x[index] for x in xs]) for index in self._batches(len(xs[0]), batch_size)]
        outputs = [np.concatenate(parts) for parts in zip(*batches)]
        return outputs if len(outputs) > 1 else outputs[0]

    def predict_on_batch(self, x):
        if data.is_empty_batch(x):
            return self._empty_outputs(x)
        xs, _ = self._check_data(x)
        outputs = self._forward(xs)
        return outputs if len(outputs) > 1 else outputs[0]

    def predict_classes(self, x, batch_size=None, verbose=0):
        """Keras 2's class ids: the argmax over the last axis, or (one unit) probability > 0.5."""
        probabilities = self.predict(x, batch_size=batch_size, verbose=verbose)
        if isinstance(probabilities, list):
            raise ValueError("predict_classes: expected a model with one output (Keras 2's Sequential), got "
                             f"{len(probabilities)} outputs; use predict and argmax each")
        if probabilities.shape[-1] > 1:
            return probabilities.argmax(axis=-1)
        return (probabilities > 0.5).astype("int32")

    def predict_proba(self, x, batch_size=None, verbose=0):
        """Keras 2's name for ``predict`` on a model whose outputs are probabilities."""
        return self.predict(x, batch_size=batch_size, verbose=verbose)

    def evaluate(self, x, y, batch_size=None, verbose=1):
        """The mean loss over x (a list with each output's loss and the metrics when compiled with any
        or with several outputs); stateful layers advance their state, as in Keras.

        Errors: as ``predict``, and the same for y (wrong shape or sample count, NaN or infinity);
        RuntimeError before compile."""
        self._require_compiled("evaluate")
        check_choice(verbose, "verbose", (0, 1, 2))
        xs, ys = self._check_data(x, y, needs_y=True)
        samples = len(xs[0])
        totals = np.zeros(len(self._log_names))
        for index in self._batches(samples, batch_size):
            ys_batch = [y[index] for y in ys]
            outputs = self._forward([x[index] for x in xs])
            values = [loss.value(y, out) if mask is None else loss.value(y, out, mask)
                      for loss, y, out, mask in zip(self.losses, ys_batch, outputs, self._output_masks)]
            totals += np.array(list(self._logs(values, ys_batch, outputs).values())) * len(outputs[0])
        means = [float(v) for v in totals / samples]
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in zip(self._log_names, means)))
        return self._returned(means)

    def reset_states(self) -> None:
        for layer in self.layers:
            layer.reset_states()

    # -- data checks ---------------------------------------------------------------------------
    def _check_data(self, x, y=None, needs_y=False):
        """(inputs, targets) as lists of checked arrays in the model's input and output order, once per
        call rather than per batch; the layers that read the inputs check them (and build)."""
        xs = self._check_inputs(data.as_arrays(x, self.input_names, "x"))
        samples = len(xs[0])
        if needs_y and y is None:
            raise ValueError(f"y: expected targets for the {samples} samples of x, got None")
        if y is None:
            return xs, None
        ys = data.as_arrays(y, self.output_names, "y")
        checked = []
        for loss, name, shape, target in zip(self.losses or [None] * len(ys), self.output_names,
                                             self.output_shapes, ys):
            where = "y" if len(ys) == 1 else f"y[{name!r}]"
            target = data.check_targets(target, where, self.dtype, samples)
            checked.append(data.match_targets(target, (samples, *shape[1:]), loss, where))
        return xs, checked

    # -- weights -------------------------------------------------------------------------------
    def get_weights(self) -> list:
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        """Copy ``weights`` (get_weights order) into the model; ValueError for a wrong count or shape
        or a non-finite value, TypeError for non-numeric arrays; nothing changes on an error."""
        if isinstance(weights, (str, bytes, np.ndarray)) or not hasattr(weights, "__iter__"):
            raise TypeError(f"weights: expected a list of arrays, got {type(weights).__name__}")
        weights = list(weights)
        expected = sum(len(layer.weights) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"weights: expected {expected} arrays for this model, got {len(weights)}")
        checked, offset = [], 0
        for layer in self.layers:  # every array checked before any is written
            count = len(layer.weights)
            checked.append(layer.check_weights(weights[offset:offset + count]) if count else [])
            offset += count
        for layer, values in zip(self.layers, checked):
            if values:
                layer.set_weights(values)

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def save(self, filepath) -> None:
        """A full checkpoint: architecture, weights, optimizer state, epoch, RNG state, vocabulary.
        Written atomically (see ``saving``): a crash leaves the previous file whole. ValueError, with
        nothing written, when a weight holds NaN or infinity; FileNotFoundError for a missing folder."""
        from .. import saving

        saving.save_checkpoint(self, filepath, include_optimizer=True)

    def save_weights(self, filepath) -> None:
        """Weights only: Keras-readable HDF5 for names ending in .h5/.hdf5 (.weights.h5: Keras 3's
        newer layout), the native checkpoint format otherwise."""
        from .. import saving

        saving.save_weights(self, filepath)

    def load_weights(self, filepath) -> None:
        from .. import saving

        saving.load_weights(self, filepath)
