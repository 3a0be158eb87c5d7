"""Sequential: the Keras-shaped model that stacks layers, trains them and saves them.

After it is built, the model keeps every weight of every layer as a view into one contiguous float
buffer, and every gradient likewise, so the optimizer and gradient clipping work on one vector per
step instead of looping over tensors (at batch 1 that loop would cost more than the arithmetic).

A large model's gradients are made afresh instead (``TRANSIENT_GRADIENT_BYTES``): each layer's in one
array of its own, just before its backward pass, handed to the optimizer as parts of the flat
gradient, and let go when the next training step begins. Kept whole and resident, they sat beside
the forward pass's caches at the step's peak; made this way, a layer's gradient takes the memory the
caches of the layers above it have just given back.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

from . import callbacks as callbacks_module
from . import layers as layers_module
from . import losses, optimizers, rng, saving
from .validation import check_array, check_choice, check_fraction, check_positive_int

_ACCURACY_NAMES = ("accuracy", "acc", "categorical_accuracy", "sparse_categorical_accuracy")
# From this size of the flat gradient on, the gradients are made per layer for each backward pass (module
# docstring). 3 x LSTM(700), 40 MB of gradients, peak RSS of a training step: 401 MB whole, 391 in parts,
# the same step time. Below it the one buffer stays: a few MB more or less at the peak, while the
# per-step bookkeeping (~4 us) would cost the batch-1 alphabet tutorial ~4% of its 7,500 steps.
TRANSIENT_GRADIENT_BYTES = 16 << 20


class Sequential:
    def __init__(self, layers=None, name=None):
        self.name = name or "sequential"
        self.layers: list = []
        self.built = False
        self.optimizer = None
        self.loss = None
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
        for layer in layers or []:
            self.add(layer)

    # -- building ------------------------------------------------------------------------------
    def add(self, layer) -> None:
        if not isinstance(layer, layers_module.Layer):
            raise TypeError(f"layer: expected a scratchrnn layer, got {type(layer).__name__}")
        if getattr(layer, "return_state", False):
            raise ValueError(f"layer: {layer.name!r} has return_state=True, which a Sequential model "
                             "cannot pass on; use the layer on its own")
        if self.layers and layer.dtype != self.layers[0].dtype:
            raise ValueError(f"layer: expected dtype {self.layers[0].dtype} like the model's first layer, "
                             f"got {layer.dtype}")
        self.layers.append(layer)
        self.built = False

    @property
    def dtype(self):
        return self.layers[0].dtype

    def build(self, input_shape=None) -> None:
        if not self.layers:
            raise ValueError("model: expected at least one layer before building, got none")
        shape = input_shape or self.layers[0].batch_input_shape
        if shape is None:
            raise ValueError("input_shape: expected it from the first layer (input_shape= or "
                             "batch_input_shape=) or from build(input_shape), got neither")
        self.build_input_shape = tuple(shape)
        for layer in self.layers:
            layer.check_input_shape(shape)
            if not layer.built:
                layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.output_shape = tuple(shape)
        self._make_flat_buffers()
        self.built = True

    def _make_flat_buffers(self) -> None:
        """Move every weight and gradient into one contiguous buffer each; layers keep views."""
        sizes = [w.size for layer in self.layers for w in layer.weights]
        self._flat_weights = np.empty(sum(sizes), dtype=self.dtype)
        self._flat_gradients = np.zeros(sum(sizes), dtype=self.dtype)
        self._transient_gradients = self._flat_gradients.nbytes >= TRANSIENT_GRADIENT_BYTES
        self._segments = []
        self._flat_gradient_views = []  # per layer, its gradients as views into the flat buffer
        self._layer_offsets = []  # per layer, where its weights begin in the flat buffers
        offset = 0
        for layer in self.layers:
            self._layer_offsets.append(offset)
            views = []
            for i, weight in enumerate(layer.weights):
                segment = slice(offset, offset + weight.size)
                view = self._flat_weights[segment].reshape(weight.shape)
                view[...] = weight
                layer.weights[i] = view
                views.append(self._flat_gradients[segment].reshape(weight.shape))
                self._segments.append(segment)
                offset += weight.size
            self._flat_gradient_views.append(views)
        self._bind_flat_gradients()

    def _bind_flat_gradients(self) -> None:
        """Point every layer's gradients at the flat buffer again (letting go of a step's parts)."""
        for layer, views in zip(self.layers, self._flat_gradient_views):
            for i, view in enumerate(views):
                layer.gradients[i] = view

    def _gradient_part(self, index: int) -> tuple[int, np.ndarray] | None:
        """A fresh array for the gradients of layer ``index`` (None: it has no weights), bound to the
        layer: (its offset in the flat buffer, the array), a part for ``Optimizer.apply``."""
        layer = self.layers[index]
        if not layer.weights:
            return None
        part = np.empty(sum(w.size for w in layer.weights), dtype=self.dtype)  # every element written
        offset = 0
        for i, weight in enumerate(layer.weights):
            layer.gradients[i] = part[offset:offset + weight.size].reshape(weight.shape)
            offset += weight.size
        return self._layer_offsets[index], part

    # -- compiling -----------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **unused) -> None:
        """Choose the optimizer, the loss and the metrics (``accuracy``); Keras's other compile
        arguments are accepted and ignored only when None."""
        extra = {k: v for k, v in unused.items() if v is not None}
        if extra:
            raise TypeError(f"compile: unsupported arguments {sorted(extra)}")
        if loss is None:
            raise ValueError("loss: expected a loss name or Loss object, got None")
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        metrics = list(metrics or [])
        for metric in metrics:
            if metric not in _ACCURACY_NAMES:
                raise ValueError(f"metrics: expected names from {list(_ACCURACY_NAMES)}, got {metric!r}")
        self.metrics = metrics

    def _require_compiled(self, what: str) -> None:
        if self.loss is None:
            raise RuntimeError(f"{what} needs a compiled model: call model.compile(optimizer, loss) first")

    # -- the math of one batch -----------------------------------------------------------------
    def _forward(self, x):
        """The layers in turn on an input already checked by ``_check_data``."""
        for layer in self.layers:
            x = layer.call(x)
        return x

    def _fused_softmax(self) -> bool:
        return self.loss.fuses_softmax and getattr(self.layers[-1], "output_activation", None) == "softmax"

    def _backward(self, y, probabilities, logits_gradient):
        """Backpropagation from the loss; ``logits_gradient``: the loss's gradient w.r.t. the softmax's
        input where ``_fused_softmax``, else None. Returns the gradient for ``Optimizer.apply``: the flat
        buffer, or its parts (``TRANSIENT_GRADIENT_BYTES``), each made just before its layer's pass."""
        parts = []
        last = len(self.layers) - 1
        for index in range(last, -1, -1):
            if self._transient_gradients:
                part = self._gradient_part(index)
                if part is not None:
                    parts.append(part)
            layer = self.layers[index]
            if index == last and logits_gradient is not None:
                gradient = layer.backward(logits_gradient, through_activation=False)
            elif index == last:
                gradient = layer.backward(self.loss.gradient(y, probabilities))
            elif index > 0:
                gradient = layer.backward(gradient)
            else:
                layer.backward(gradient, d_inputs=False)  # its input is the data: no dLoss/dx
        return parts[::-1] if self._transient_gradients else self._flat_gradients

    def _metric_values(self, y, probabilities) -> dict:
        if not self.metrics:
            return {}
        predicted = probabilities.argmax(axis=-1)
        truth = y.argmax(axis=-1) if y.shape == probabilities.shape else y.reshape(predicted.shape)
        accuracy = np.count_nonzero(predicted == truth) / predicted.size
        return {metric: accuracy for metric in self.metrics}  # every accepted name is an accuracy

    def _train_step(self, x, y) -> dict:
        """One forward, backward and optimizer step on validated arrays; the logs of this batch.
        Raises FloatingPointError, with the weights untouched, when the loss or gradient is not finite."""
        if self._transient_gradients:
            self._bind_flat_gradients()  # the last step's gradients go before this step's caches come
        probabilities = self._forward(x)
        if self._fused_softmax():  # the value and the logits gradient in one pass
            loss, logits_gradient = self.loss.value_and_logits_gradient(y, probabilities)
        else:
            loss, logits_gradient = self.loss.value(y, probabilities), None
        if not np.isfinite(loss):
            raise FloatingPointError(f"the loss is {loss}")
        gradients = self._backward(y, probabilities, logits_gradient)
        try:
            self.optimizer.apply(self._flat_weights, gradients, self._segments)
        except optimizers.NonFiniteGradientError as error:
            raise FloatingPointError(f"the gradient norm is {self.optimizer.last_global_norm}") from error
        self.step += 1
        return {"loss": loss, **self._metric_values(y, probabilities)}

    # -- data checks ---------------------------------------------------------------------------
    def _check_data(self, x, y=None, needs_y=False):
        """x checked by the first layer (and the model built), once per call rather than per batch."""
        if not self.layers:
            raise ValueError("model: expected at least one layer, got none")
        if not self.built and self.layers[0].batch_input_shape is None:
            x = self.layers[0].check_input(x)  # checks x, then builds the first layer from its shape
            self.build((None, *x.shape[1:]))
        else:
            if not self.built:
                self.build()
            x = self.layers[0].check_input(x)
        if x.ndim != len(self.build_input_shape):
            raise ValueError(f"x: expected a {len(self.build_input_shape)}-D array like the model's input "
                             f"shape {self.build_input_shape}, got shape {x.shape}")
        if needs_y and y is None:
            raise ValueError(f"y: expected targets for the {len(x)} samples of x, got None")
        if y is not None:
            if isinstance(y, (str, bytes)):
                raise TypeError(f"y: expected a numeric array, got {type(y).__name__}")
            y = np.asarray(y)
            if y.dtype.kind not in "iu":
                y = check_array(y, "y", dtype=self.dtype)
            if len(y) != len(x):
                raise ValueError(f"y: expected {len(x)} samples like x, got {len(y)}")
            y = self._match_targets(x, y)
        return x, y

    def _match_targets(self, x, y):
        """Targets shaped like the model's output; as in Keras, (N,) targets of a one-unit output
        become (N, 1), and a sparse loss takes class ids with the class axis left out."""
        expected = (len(x), *self.output_shape[1:])
        if isinstance(self.loss, losses.SparseCategoricalCrossentropy):
            if y.ndim == len(expected) and y.shape[-1] == 1:
                y = y[..., 0]
            expected = expected[:-1]
        elif y.ndim == len(expected) - 1 and expected[-1] == 1:
            y = y[..., None]
        if y.ndim != len(expected) or any(e not in (None, s) for e, s in zip(expected, y.shape)):
            raise ValueError(f"y: expected shape {expected} to match the model's output, got {y.shape}")
        return y

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

    # -- the Keras API -------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0, nb_epoch=None):
        """Train; returns the History. ``nb_epoch`` is the Keras 1/2 name of ``epochs``.

        Errors: TypeError for non-numeric x or y (None, strings, objects, complex); ValueError for a
        wrong rank or shape, empty arrays, NaN or infinity in x or y, a batch size that a stateful
        layer cannot take, and bad arguments (epochs < 1, batch_size < 1, verbose not 0/1/2,
        validation_split outside [0, 1) or leaving no samples on either side, validation_data not
        (x_val, y_val), initial_epoch < 0, shuffle not True/False/'batch'); RuntimeError before
        compile. A NaN or infinite loss or gradient does not raise: training stops with a
        RuntimeWarning naming the epoch and batch, ``stop_reason`` keeps the message, and the weights
        are those after the last good batch.

        When a callback stops training inside an epoch, ``epoch`` still counts only completed epochs
        and ``partial_epoch`` records where the stop came (checkpoints keep it): a later fit whose
        ``initial_epoch`` is that epoch finishes it, same shuffle and remaining batches, so that the
        run goes on bit for bit as if it had not been interrupted."""
        self._require_compiled("fit")
        if nb_epoch is not None:
            epochs = nb_epoch
        epochs = check_positive_int(epochs, "epochs")
        if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) \
                or initial_epoch < 0:
            raise ValueError(f"initial_epoch: expected a non-negative integer, got {initial_epoch!r}")
        check_choice(verbose, "verbose", (0, 1, 2))
        check_choice(shuffle, "shuffle", (True, False, "batch"))
        validation_split = check_fraction(validation_split, "validation_split")
        if validation_data is not None and (not isinstance(validation_data, (tuple, list))
                                            or len(validation_data) != 2):
            got = type(validation_data).__name__
            if isinstance(validation_data, (tuple, list)):
                got += f" of length {len(validation_data)}"
            raise ValueError(f"validation_data: expected a tuple (x_val, y_val), got {got}")
        x, y = self._check_data(x, y, needs_y=True)
        if validation_split and validation_data is None:
            cut = int(len(x) * (1.0 - validation_split))
            if not 0 < cut < len(x):
                raise ValueError(f"validation_split: expected a fraction that leaves samples both to train "
                                 f"and to validate, got {validation_split!r} of {len(x)} samples "
                                 f"({cut} to train)")
            x, y, validation_data = x[:cut], y[:cut], (x[cut:], y[cut:])
        elif validation_data is not None:  # checked now, not after the first epoch
            validation_data = self._check_data(*validation_data, needs_y=True)
        samples = len(x)
        batch_size = self._batch_size(batch_size, samples)

        self.history = callbacks_module.History()
        hooks = callbacks_module.CallbackList(callbacks, model=self)
        hooks.append(self.history)
        hooks.set_params({"epochs": epochs, "steps": -(-samples // batch_size), "verbose": verbose,
                          "do_validation": validation_data is not None})
        self.stop_training, self.stop_reason = False, None
        hooks.on_train_begin({})
        for epoch in range(initial_epoch, epochs):
            done = self._resume_point(epoch, first=epoch == initial_epoch)
            epoch_rng = rng.get_state()  # before the shuffle: kept when a stop cuts this epoch short
            logs, seconds, done = self._fit_epoch(x, y, batch_size, epoch, epochs, verbose, shuffle, hooks,
                                                  done)
            if logs is None:
                break
            if validation_data is not None:
                values = self.evaluate(*validation_data, batch_size=batch_size, verbose=0)
                values = values if isinstance(values, list) else [values]
                logs.update({f"val_{k}": v for k, v in zip(["loss", *self.metrics], values)})
            if done < -(-samples // batch_size):  # a callback stopped training inside the epoch
                self.partial_epoch = {"epoch": epoch, "batches": done, "rng": epoch_rng}
            else:
                self.epoch, self.partial_epoch = epoch + 1, None
            self.last_logs = {key: float(value) for key, value in logs.items()}
            hooks.on_epoch_end(epoch, logs)
            if verbose == 2:
                print(f"Epoch {epoch + 1}/{epochs} - {seconds:.1f}s - "
                      + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
            if self.stop_training:
                break
        hooks.on_train_end({})
        return self.history

    def _resume_point(self, epoch: int, first: bool) -> int:
        """The batches of ``epoch`` already done before a stop inside it (0 for a fresh epoch); for a
        resumed epoch the random state goes back to the epoch's start, so the same shuffle is drawn."""
        partial = self.partial_epoch
        if not first or partial is None or partial["epoch"] != epoch:
            return 0
        rng.set_state(partial["rng"])
        return partial["batches"]

    def _fit_epoch(self, x, y, batch_size, epoch, epochs, verbose, shuffle, hooks, skip=0):
        """One epoch, its first ``skip`` batches left out (done before an interruption): (its logs,
        seconds, batches done in all); logs None when a non-finite loss or gradient stopped it."""
        samples = len(x)
        order = rng.generator().permutation(samples) if shuffle and shuffle != "batch" else None
        starts = range(0, samples, batch_size)
        progress = None
        if verbose == 1:
            from tqdm import tqdm  # imported only when a progress bar is wanted

            progress = tqdm(total=len(starts), initial=skip, desc=f"Epoch {epoch + 1}/{epochs}",
                            unit="batch", file=sys.stdout, leave=True, dynamic_ncols=True)
        hooks.on_epoch_begin(epoch, {})
        totals: dict = {}
        logs: dict = {}
        seen = 0
        done = skip
        began = time.perf_counter()
        for batch, start in enumerate(starts):
            if batch < skip:
                continue
            index = slice(start, start + batch_size) if order is None else order[start:start + batch_size]
            hooks.on_train_batch_begin(batch, {})
            try:
                batch_logs = self._train_step(x[index], y[index])
            except FloatingPointError as error:
                self._stop(f"training stopped at epoch {epoch + 1}, batch {batch + 1}: {error}; the "
                           "weights are those after the last good batch", progress)
                return None, 0.0, done
            done += 1
            size = min(batch_size, samples - start)
            seen += size
            for key, value in batch_logs.items():
                totals[key] = totals.get(key, 0.0) + value * size
            logs = {key: total / seen for key, total in totals.items()}
            hooks.on_train_batch_end(batch, logs)
            if progress is not None:
                progress.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)
                progress.update(1)
            if self.stop_training:
                break
        if progress is not None:
            progress.close()
        return logs, time.perf_counter() - began, done

    def _stop(self, reason: str, progress) -> None:
        if progress is not None:
            progress.close()
        self.stop_training, self.stop_reason = True, reason
        warnings.warn(reason, RuntimeWarning, stacklevel=3)

    def train_on_batch(self, x, y):
        """One optimizer step on this batch; the loss (and metrics, as a list, when compiled with any).
        Errors: as ``fit``; a NaN or infinite loss or gradient raises FloatingPointError, the
        weights untouched."""
        self._require_compiled("train_on_batch")
        x, y = self._check_data(x, y, needs_y=True)
        logs = self._train_step(x, y)
        return [logs["loss"], *(logs[m] for m in self.metrics)] if self.metrics else logs["loss"]

    def _batches(self, x, batch_size):
        batch_size = self._batch_size(batch_size, len(x))
        return [slice(start, start + batch_size) for start in range(0, len(x), batch_size)]

    def predict(self, x, batch_size=None, verbose=0):
        """Outputs for x, batch by batch; stateful layers carry their state through, as in Keras.

        Errors: TypeError for non-numeric x (None, strings, objects, complex); ValueError for a wrong
        rank or feature count, an empty x, NaN or infinity in x, batch_size < 1, a batch size a
        stateful layer cannot take, verbose not 0/1/2."""
        check_choice(verbose, "verbose", (0, 1, 2))
        x, _ = self._check_data(x)
        return np.concatenate([self._forward(x[index]) for index in self._batches(x, batch_size)])

    def predict_on_batch(self, x):
        x, _ = self._check_data(x)
        return self._forward(x)

    def evaluate(self, x, y, batch_size=None, verbose=1):
        """The mean loss over x (and metrics, as a list, when compiled with any); stateful layers
        advance their state, as in Keras.

        Errors: as ``predict``, and the same for y (wrong shape or sample count, NaN or infinity);
        RuntimeError before compile."""
        self._require_compiled("evaluate")
        check_choice(verbose, "verbose", (0, 1, 2))
        x, y = self._check_data(x, y, needs_y=True)
        totals = np.zeros(1 + len(self.metrics))
        for index in self._batches(x, batch_size):
            probabilities = self._forward(x[index])
            values = [self.loss.value(y[index], probabilities),
                      *self._metric_values(y[index], probabilities).values()]
            totals += np.array(values) * len(probabilities)
        means = [float(v) for v in totals / len(x)]
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in zip(["loss", *self.metrics], means)))
        return means if self.metrics else means[0]

    def reset_states(self) -> None:
        for layer in self.layers:
            layer.reset_states()

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
            checked.append(layer.check_weights(weights[offset:offset + count]))
            offset += count
        for layer, values in zip(self.layers, checked):
            layer.set_weights(values)

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=print) -> None:
        shape = getattr(self, "build_input_shape", None)
        rows = []
        for layer in self.layers:
            shape = layer.compute_output_shape(shape) if shape is not None else None
            rows.append((f"{layer.name} ({type(layer).__name__})",
                         "?" if shape is None else str(tuple(shape)), f"{layer.count_params():,}"))
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in
                  enumerate(("Layer (type)", "Output Shape", "Param #"))]
        line = "  ".join(f"{h:<{w}}" for h, w in zip(("Layer (type)", "Output Shape", "Param #"), widths))
        print_fn(f'Model: "{self.name}"')
        print_fn("=" * len(line))
        print_fn(line)
        print_fn("=" * len(line))
        for row in rows:
            print_fn("  ".join(f"{c:<{w}}" for c, w in zip(row, widths)))
        print_fn("=" * len(line))
        print_fn(f"Total params: {self.count_params():,}")

    def save(self, filepath) -> None:
        """A full checkpoint: architecture, weights, optimizer state, epoch, RNG state, vocabulary.
        Written atomically (see ``saving``): a crash leaves the previous file whole. ValueError, with
        nothing written, when a weight holds NaN or infinity; FileNotFoundError for a missing folder."""
        saving.save_checkpoint(self, filepath, include_optimizer=True)

    def save_weights(self, filepath) -> None:
        """Weights only: Keras-readable HDF5 for names ending in .h5/.hdf5 (.weights.h5: Keras 3's
        newer layout), the native checkpoint format otherwise."""
        saving.save_weights(self, filepath)

    def load_weights(self, filepath) -> None:
        saving.load_weights(self, filepath)

    def get_config(self) -> dict:
        return {"name": self.name,
                "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                           for layer in self.layers]}


def load_model(filepath, restore_rng: bool = True) -> Sequential:
    """Rebuild a model from a checkpoint written by ``model.save``: architecture, weights, and, when
    saved, the compiled optimizer with its state, the epoch and step counters, the vocabulary, and
    (``restore_rng``) the library's random-number state, so that training resumes bit for bit.

    Errors: FileNotFoundError when there is no file; ``saving.CheckpointError`` (a ValueError) for
    anything that is not a loadable checkpoint: empty, truncated or corrupted (each array carries a
    CRC-32), a foreign file, a pickle (never unpickled), a newer format version, a header with wrong
    fields, weights that are not finite. Nothing in the file is ever executed."""
    return saving.load_checkpoint(filepath, restore_rng=restore_rng)
