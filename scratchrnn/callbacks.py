"""Callbacks: objects that ``fit`` calls at fixed points of training, with the Keras protocol.

The protocol (the model drives it exactly as Keras does; epochs and batches are 0-based in calls)::

    callbacks.set_model(model); callbacks.set_params({"epochs": E, "steps": S, "verbose": v, ...})
    callbacks.on_train_begin(logs)
    for epoch in range(initial_epoch, epochs):
        callbacks.on_epoch_begin(epoch, logs)
        for batch in range(steps):
            callbacks.on_train_batch_begin(batch, logs)
            ...                                    # one optimizer step
            callbacks.on_train_batch_end(batch, logs)  # logs: "loss" and metrics, running means so far
            if model.stop_training: break
        callbacks.on_epoch_end(epoch, logs)        # logs: "loss", metrics, "val_loss", "val_<metric>"
        if model.stop_training: break
    callbacks.on_train_end(logs)

A callback may set ``model.stop_training = True``; it may call ``model.save(path)``,
``model.save_weights(path)``, ``model.get_weights()`` and ``model.set_weights(weights)``.
``on_batch_begin``/``on_batch_end`` are the Keras 2 aliases of the train-batch hooks: the base class
forwards ``on_train_batch_*`` to them, so old-style subclasses keep working.

Where Keras 2 and Keras 3 differ, the choice is named in the class docstring.
"""

from __future__ import annotations

import csv
import math
import numbers
import os
import string
import warnings

import numpy as np

from .validation import check_choice

__all__ = ["Callback", "CallbackList", "History", "ModelCheckpoint", "EarlyStopping", "TerminateOnNaN",
           "LambdaCallback", "CSVLogger", "FilepathTemplateError"]


# ----------------------------------------------------------------------------------------------- checks

def _check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def _check_real(value, name: str, allow_none: bool = False, minimum: float | None = None):
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        expected = "a real number or None" if allow_none else "a real number"
        raise TypeError(f"{name}: expected {expected}, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected a number >= {minimum:g}, got {value!r}")
    return value


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_verbose(value) -> int:
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    return _check_int(value, "verbose", 0)


def _check_monitor(value) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"monitor: expected a non-empty log key such as 'val_loss', got {value!r}")
    return value


def _check_path(value, name: str) -> str:
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name}: expected a str or os.PathLike path, got {type(value).__name__} {value!r}")
    path = os.fspath(value)
    if not path:
        raise ValueError(f"{name}: expected a non-empty path, got {value!r}")
    return path


def _resolve_mode(mode: str, monitor: str) -> str:
    """'min' or 'max'. In 'auto' mode the name decides, as in Keras 2: accuracies ('acc' anywhere in the
    name), AUC (name ending in 'auc') and F-measures ('fmeasure...') are maximised, everything else
    (losses, errors) is minimised."""
    if not isinstance(mode, str):
        raise TypeError(f"mode: expected one of 'auto', 'min', 'max', got {type(mode).__name__} {mode!r}")
    check_choice(mode, "mode", {"auto", "min", "max"})
    if mode != "auto":
        return mode
    name = monitor.lower().removeprefix("val_")
    if "acc" in name or name.endswith("auc") or name.startswith("fmeasure"):
        return "max"
    return "min"


def _scalar(value):
    """A log value as a Python float when it is a number (0-d arrays included), else None."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return None
    return float(value)


# ------------------------------------------------------------------------------------------ protocol

class Callback:
    """Base class: every hook is a no-op. Subclasses override the hooks they need.

    Attributes: ``model`` (set by :meth:`set_model`) and ``params`` (set by :meth:`set_params`; the
    model passes at least ``epochs``, ``steps`` and ``verbose``).
    """

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = dict(params) if params else {}

    # training
    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        """Keras 2 alias of :meth:`on_train_batch_begin` (which calls it)."""

    def on_batch_end(self, batch, logs=None):
        """Keras 2 alias of :meth:`on_train_batch_end` (which calls it)."""

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    # evaluate / predict
    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass


_HOOKS_NO_INDEX = ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end",
                   "on_predict_begin", "on_predict_end")
_HOOKS_INDEX = ("on_epoch_begin", "on_epoch_end", "on_batch_begin", "on_batch_end",
                "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end",
                "on_predict_batch_begin", "on_predict_batch_end")


class CallbackList:
    """Fans each hook out to a list of callbacks, in order, all sharing one ``logs`` dict (so a callback
    that adds a key, as Keras's ReduceLROnPlateau adds the learning rate, is seen by the ones after it).

    ``callbacks`` is None, a Callback, or an iterable of Callbacks.
    """

    def __init__(self, callbacks=None, model=None, params=None):
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback):
            callbacks = [callbacks]
        elif isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
            raise TypeError(f"callbacks: expected a list of Callback instances, got "
                            f"{type(callbacks).__name__} {callbacks!r}")
        self.callbacks = []
        for index, callback in enumerate(callbacks):
            self._check(callback, f"callbacks[{index}]")
            self.callbacks.append(callback)
        self.model = None
        self.params = {}
        if model is not None:
            self.set_model(model)
        if params is not None:
            self.set_params(params)

    @staticmethod
    def _check(callback, name):
        if not isinstance(callback, Callback):
            raise TypeError(f"{name}: expected a scratchrnn.callbacks.Callback instance, got "
                            f"{type(callback).__name__} {callback!r}")

    def append(self, callback):
        self._check(callback, "callback")
        if self.model is not None:
            callback.set_model(self.model)
        if self.params:
            callback.set_params(self.params)
        self.callbacks.append(callback)

    def set_model(self, model):
        self.model = model
        for callback in self.callbacks:
            callback.set_model(model)

    def set_params(self, params):
        self.params = dict(params) if params else {}
        for callback in self.callbacks:
            callback.set_params(self.params)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)

    def _fan_out(self, hook, *args, logs=None):
        logs = {} if logs is None else logs
        for callback in self.callbacks:
            getattr(callback, hook)(*args, logs)


def _make_fan_out(hook, indexed):
    if indexed:
        def method(self, index, logs=None):
            self._fan_out(hook, index, logs=logs)
    else:
        def method(self, logs=None):
            self._fan_out(hook, logs=logs)
    method.__name__ = hook
    method.__doc__ = f"Call ``{hook}`` on every callback."
    return method


for _hook in _HOOKS_NO_INDEX:
    setattr(CallbackList, _hook, _make_fan_out(_hook, indexed=False))
for _hook in _HOOKS_INDEX:
    setattr(CallbackList, _hook, _make_fan_out(_hook, indexed=True))
del _hook


# ------------------------------------------------------------------------------------------- History

class History(Callback):
    """Records the epoch logs (Keras semantics).

    ``history``: dict mapping each log key to the list of its values, one per epoch that reported it;
    it is kept across ``fit`` calls on the same object (the model makes a fresh History per ``fit``).
    ``epoch``: the 0-based epoch indices of this ``fit`` call (reset by ``on_train_begin``).
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self


# ----------------------------------------------------------------------------------- ModelCheckpoint

class FilepathTemplateError(KeyError, ValueError):
    """A ModelCheckpoint filepath template that the logs cannot fill (catch it as KeyError or
    ValueError)."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class ModelCheckpoint(Callback):
    """Save the model (or only its weights) during training, with the Keras 2 arguments.

    filepath: a path or a ``str.format`` template filled with ``epoch`` (1-based, as Keras:
        ``"weights-{epoch:02d}-{loss:.4f}.ckpt"``), every key of the logs (``loss``, ``val_loss``,
        metrics), and ``batch`` (1-based) when saving by batches. A key the logs lack raises
        :class:`FilepathTemplateError` (a KeyError and a ValueError) naming it and the available keys.
        Missing parent folders are created.
    monitor: the log key that ``save_best_only`` compares.
    verbose: 1 prints a line per save (or per best-only non-save).
    save_best_only: save only when ``monitor`` improves on the best value seen so far (compared only on
        the epochs where a save is due). When ``monitor`` is missing from the logs, warn once and skip.
    save_weights_only: call ``model.save_weights(path)`` instead of ``model.save(path)``.
    mode: 'min', 'max' or 'auto' (accuracies, 'acc' in the name, are maximised; the rest minimised).
    save_freq: 'epoch' (at the end of epochs) or a positive integer N: save after every N batches,
        counted across epochs, using the batch logs (running means).
    period: with ``save_freq='epoch'``, save every ``period`` epochs (Keras 2's argument, default 1):
        ``period=3`` saves after epochs 3, 6, 9 (1-based), i.e. the calls with epoch 2, 5, 8.
    initial_value_threshold: with ``save_best_only``, the value the monitored quantity must first beat
        (Keras >= 2.8); default: none, so the first check always saves.

    Attributes: ``best`` (best monitored value so far), ``last_saved`` (path of the last file written,
    or None). ``best`` is kept across ``fit`` calls, as in Keras.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch", period=1,
                 initial_value_threshold=None):
        super().__init__()
        self.filepath = _check_path(filepath, "filepath")
        self._template_fields = self._parse_template(self.filepath)
        self.monitor = _check_monitor(monitor)
        self.verbose = _check_verbose(verbose)
        self.save_best_only = _check_bool(save_best_only, "save_best_only")
        self.save_weights_only = _check_bool(save_weights_only, "save_weights_only")
        self.mode = _resolve_mode(mode, self.monitor)
        if save_freq != "epoch":
            if isinstance(save_freq, str):
                raise ValueError(f"save_freq: expected 'epoch' or a positive integer, got {save_freq!r}")
            save_freq = _check_int(save_freq, "save_freq", 1)
        self.save_freq = save_freq
        self.period = _check_int(period, "period", 1)
        if self.period != 1 and self.save_freq != "epoch":
            raise ValueError(f"period: counts epochs and applies only with save_freq='epoch', got "
                             f"period={self.period} with save_freq={self.save_freq!r}")
        threshold = _check_real(initial_value_threshold, "initial_value_threshold", allow_none=True)
        self.best = threshold if threshold is not None else (
            math.inf if self.mode == "min" else -math.inf)
        self.last_saved = None
        self.epochs_since_last_save = 0
        self._batches_since_last_save = 0
        self._current_epoch = 0
        self._warned_missing = False

    @staticmethod
    def _parse_template(filepath):
        try:
            fields = [field for _, field, _, _ in string.Formatter().parse(filepath) if field is not None]
        except ValueError as error:
            raise ValueError(f"filepath: expected a str.format template such as "
                             f"'ckpt-{{epoch:02d}}.npz', got {filepath!r} ({error}); "
                             f"write a literal brace as '{{{{' or '}}}}'") from None
        for field in fields:
            root = field.split(".")[0].split("[")[0]
            if root == "" or root.isdigit():
                raise ValueError(f"filepath: template fields must name a key such as {{epoch}} or "
                                 f"{{val_loss}}, got the positional field {{{field}}} in {filepath!r}")
        return fields

    def _improved(self, current):
        return current < self.best if self.mode == "min" else current > self.best

    def format_filepath(self, epoch, logs=None, batch=None):
        """The path for ``epoch`` (0-based, written 1-based) and ``logs``; ``batch`` (0-based) when
        saving by batches and the logs have no 'batch' key."""
        values = dict(logs or {})
        values["epoch"] = epoch + 1
        if batch is not None and "batch" not in values:
            values["batch"] = batch + 1
        try:
            return self.filepath.format_map(values)
        except KeyError as error:
            key = error.args[0]
            raise FilepathTemplateError(
                f"filepath: the template {self.filepath!r} names {{{key}}}, which is not available "
                f"at this save; available keys: {sorted(values)}") from None
        except (ValueError, TypeError, IndexError, AttributeError) as error:
            raise ValueError(f"filepath: cannot fill the template {self.filepath!r} from "
                             f"{values!r}: {error}") from None

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if self.save_freq == "epoch":
            return
        self._batches_since_last_save += 1
        if self._batches_since_last_save >= self.save_freq:
            self._batches_since_last_save = 0
            self._save(self._current_epoch, logs, batch=batch)

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch
        if self.save_freq != "epoch":
            return
        self.epochs_since_last_save += 1
        if self.epochs_since_last_save >= self.period:
            self.epochs_since_last_save = 0
            self._save(epoch, logs)

    def _save(self, epoch, logs, batch=None):
        logs = logs or {}
        if self.save_best_only:
            current = _scalar(logs.get(self.monitor))
            if current is None:
                if not self._warned_missing:
                    self._warned_missing = True
                    warnings.warn(
                        f"ModelCheckpoint: save_best_only compares monitor={self.monitor!r}, which is not "
                        f"in the logs (available: {sorted(logs)}); skipping the save. Pass "
                        f"validation data to fit, or monitor one of the available keys. "
                        f"(This warning is shown once.)", stacklevel=3)
                return
            if not self._improved(current):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            filepath = self.format_filepath(epoch, logs, batch)
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                      f"{current:.5f}, saving model to {filepath}")
            self.best = current
        else:
            filepath = self.format_filepath(epoch, logs, batch)
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
        directory = os.path.dirname(filepath)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)
        self.last_saved = filepath


# ------------------------------------------------------------------------------------- EarlyStopping

class EarlyStopping(Callback):
    """Stop training when ``monitor`` has stopped improving (Keras semantics).

    An epoch improves when it beats the best value so far by more than ``min_delta`` (its absolute value
    is used). ``wait`` counts epochs since the last improvement that also beat ``baseline`` (when one is
    given); once ``wait >= patience`` (and the epoch is not the first), ``model.stop_training`` is set.
    As the Keras documentation says, if no epoch beats ``baseline``, training runs ``patience`` epochs
    (Keras 3's code returns early on any improvement, so it would not stop; we follow the docs).
    Epochs before ``start_from_epoch`` (0-based) are ignored. With ``restore_best_weights``, the weights
    of the best epoch (copies of ``model.get_weights()``) are put back with ``model.set_weights`` at the
    end of training, whether or not training stopped early (Keras 3). A missing ``monitor`` key warns
    once per ``fit`` and the epoch is skipped. State is reset by ``on_train_begin``, so one instance can
    serve several ``fit`` calls.

    Attributes: ``wait``, ``best``, ``best_epoch`` (0-based), ``stopped_epoch`` (0-based; 0 when training
    did not stop early, as in Keras), ``best_weights``.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = _check_monitor(monitor)
        self.min_delta = abs(_check_real(min_delta, "min_delta"))
        self.patience = _check_int(patience, "patience", 0)
        self.verbose = _check_verbose(verbose)
        self.mode = _resolve_mode(mode, self.monitor)
        self.baseline = _check_real(baseline, "baseline", allow_none=True)
        self.restore_best_weights = _check_bool(restore_best_weights, "restore_best_weights")
        self.start_from_epoch = _check_int(start_from_epoch, "start_from_epoch", 0)
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = 0
        self.best_weights = None
        self._warned_missing = False

    def _is_improvement(self, value, reference):
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def _snapshot(self):
        return [np.array(weight, copy=True) for weight in self.model.get_weights()]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        current = _scalar(logs.get(self.monitor))
        if current is None:
            if not self._warned_missing:
                self._warned_missing = True
                warnings.warn(f"EarlyStopping: monitor={self.monitor!r} is not in the logs (available: "
                              f"{sorted(logs)}); the epoch is not counted. (This warning is shown once.)",
                              stacklevel=3)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self._snapshot()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self._snapshot()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
        if self.wait >= self.patience and epoch > 0 and self.wait > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


# ------------------------------------------------------------------------------------ TerminateOnNaN

class TerminateOnNaN(Callback):
    """Stop training when the loss is NaN or infinite, or when it explodes.

    After each batch: a non-finite loss stops training. Explosion: once the first epoch of this ``fit``
    has ended, a batch loss (the running mean reported in the batch logs) or an epoch loss greater than
    ``explosion_factor`` times that first epoch's loss stops training too; ``explosion_factor=None``
    turns this off, and it is skipped when the first epoch's loss is not positive.

    On stopping it sets ``model.stop_training = True``, prints ``stopped_reason`` and keeps it, naming
    the epoch and batch counted from 1 as the progress display shows them; ``stopped_epoch`` and
    ``stopped_batch`` hold the 0-based indices (``stopped_batch`` is None for an epoch-end stop).
    """

    def __init__(self, explosion_factor=3.0):
        super().__init__()
        self.explosion_factor = _check_real(explosion_factor, "explosion_factor", allow_none=True,
                                            minimum=1.0)
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.reference_loss = None
        self.stopped_reason = None
        self.stopped_epoch = None
        self.stopped_batch = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _stop(self, reason, epoch, batch):
        if self.stopped_reason is None:
            self.stopped_reason = reason
            self.stopped_epoch = epoch
            self.stopped_batch = batch
            print(reason)
        if self.model is not None:
            self.model.stop_training = True

    def _check(self, loss, where, epoch, batch):
        if not math.isfinite(loss):
            self._stop(f"TerminateOnNaN: {where}: the loss is {loss}; stopping training.", epoch, batch)
            return True
        limit = self._explosion_limit()
        if limit is not None and loss > limit:
            self._stop(f"TerminateOnNaN: {where}: the loss {loss:.6g} exceeds {self.explosion_factor:g} x "
                       f"the first epoch's loss {self.reference_loss:.6g}; stopping training.", epoch, batch)
            return True
        return False

    def _explosion_limit(self):
        if self.explosion_factor is None or self.reference_loss is None or self.reference_loss <= 0:
            return None
        return self.explosion_factor * self.reference_loss

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        loss = _scalar((logs or {}).get("loss"))
        if loss is not None:
            self._check(loss, f"epoch {self._epoch + 1}, batch {batch + 1}", self._epoch, batch)

    def on_epoch_end(self, epoch, logs=None):
        loss = _scalar((logs or {}).get("loss"))
        if loss is None:
            return
        if self._check(loss, f"end of epoch {epoch + 1}", epoch, None):
            return
        if self.reference_loss is None:
            self.reference_loss = loss


# ------------------------------------------------------------------------------------ LambdaCallback

class LambdaCallback(Callback):
    """A callback built from plain functions (Keras signature).

    on_epoch_begin(epoch, logs), on_epoch_end(epoch, logs), on_batch_begin(batch, logs),
    on_batch_end(batch, logs) (called from the train-batch hooks), on_train_begin(logs),
    on_train_end(logs). Any other hook of :class:`Callback` (``on_train_batch_end``, ``on_test_begin``,
    ...) can be given by keyword too.
    """

    _OWN = ("on_epoch_begin", "on_epoch_end", "on_batch_begin", "on_batch_end", "on_train_begin",
            "on_train_end")

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None, on_batch_end=None,
                 on_train_begin=None, on_train_end=None, **kwargs):
        super().__init__()
        hooks = dict(zip(self._OWN, (on_epoch_begin, on_epoch_end, on_batch_begin, on_batch_end,
                                     on_train_begin, on_train_end), strict=True))
        known = set(_HOOKS_NO_INDEX) | set(_HOOKS_INDEX)
        for name in kwargs:
            if name not in known:
                raise TypeError(f"LambdaCallback: unexpected keyword {name!r}; expected hooks among "
                                f"{sorted(known)}")
        hooks.update(kwargs)
        for name, function in hooks.items():
            if function is None:
                continue
            if not callable(function):
                raise TypeError(f"{name}: expected a callable or None, got {type(function).__name__} "
                                f"{function!r}")
            setattr(self, name, function)


# ----------------------------------------------------------------------------------------- CSVLogger

class CSVLogger(Callback):
    """Write one CSV row per epoch: ``epoch`` (0-based, as Keras) and the log values.

    The columns are "epoch" plus the sorted keys of the first epoch's logs; when the model's params say
    ``do_validation`` and those logs have no ``val_`` keys yet (validation every few epochs), the
    ``val_`` twins are added, as Keras does. A key missing in a later epoch is written as "NA"; a key
    not in the columns is left out, with one warning. Each row is flushed, so a killed run keeps the
    rows written so far.

    filename: the file (its folder must exist). separator: a one-character delimiter. append: add to an
    existing file instead of overwriting it; the header is written only when the file is new or empty,
    and an existing header fixes the columns.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = _check_path(filename, "filename")
        if not isinstance(separator, str) or len(separator) != 1 or separator in "\r\n\"":
            raise ValueError(f"separator: expected a single character other than a quote or newline, "
                             f"got {separator!r}")
        self.sep = separator
        self.append = _check_bool(append, "append")
        self.keys = None
        self.writer = None
        self.csv_file = None
        self._write_header = True
        self._warned_extra = False

    def _open(self):
        self.keys = None
        self.writer = None
        self._write_header = True
        self._warned_extra = False
        mode = "w"
        if self.append:
            mode = "a"
            if os.path.exists(self.filename):
                with open(self.filename, newline="", encoding="utf-8") as existing:
                    header = next(csv.reader(existing, delimiter=self.sep), None)
                if header:
                    self._write_header = False
                    self.keys = [key for key in header if key != "epoch"]
        self.csv_file = open(self.filename, mode, newline="", encoding="utf-8")

    def on_train_begin(self, logs=None):
        self._close()
        self._open()

    @staticmethod
    def _cell(value):
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value[()]
        if isinstance(value, str):
            return value
        if isinstance(value, (np.ndarray, list, tuple)):
            return "[" + ", ".join(map(str, np.ravel(value))) + "]"
        return value

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.csv_file is None:
            self._open()
        if self.keys is None:
            self.keys = sorted(logs)
            if self.params.get("do_validation") and not any(k.startswith("val_") for k in self.keys):
                self.keys += ["val_" + key for key in self.keys]
        extra = sorted(set(logs) - set(self.keys))
        if extra and not self._warned_extra:
            self._warned_extra = True
            warnings.warn(f"CSVLogger: the logs have keys {extra} that are not columns of {self.filename!r} "
                          f"(columns: {['epoch'] + self.keys}); they are not written. (Shown once.)",
                          stacklevel=3)
        if self.writer is None:
            self.writer = csv.writer(self.csv_file, delimiter=self.sep)
            if self._write_header:
                self.writer.writerow(["epoch", *self.keys])
        self.writer.writerow([epoch, *(self._cell(logs[key]) if key in logs else "NA" for key in self.keys)])
        self.csv_file.flush()

    def _close(self):
        if self.csv_file is not None:
            self.csv_file.close()
        self.csv_file = None
        self.writer = None

    def on_train_end(self, logs=None):
        self._close()

    def __del__(self):
        try:
            self._close()
        except Exception:  # interpreter shutdown
            pass
