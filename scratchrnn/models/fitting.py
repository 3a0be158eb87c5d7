"""``fit``: epochs of shuffled batches, validation, callbacks, progress, and resuming inside an epoch.
``Trainer.fit`` documents the arguments and the errors."""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

from .. import callbacks as callbacks_module
from .. import rng
from ..validation import check_choice, check_fraction, check_positive_int


def fit(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
        initial_epoch, nb_epoch):
    model._require_compiled("fit")
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
    xs, ys = model._check_data(x, y, needs_y=True)
    samples = len(xs[0])
    if validation_split and validation_data is None:
        cut = int(samples * (1.0 - validation_split))
        if not 0 < cut < samples:
            raise ValueError(f"validation_split: expected a fraction that leaves samples both to train "
                             f"and to validate, got {validation_split!r} of {samples} samples "
                             f"({cut} to train)")
        validation_data = ([x[cut:] for x in xs], [y[cut:] for y in ys])
        xs, ys = [x[:cut] for x in xs], [y[:cut] for y in ys]
        samples = cut
    elif validation_data is not None:  # checked now, not after the first epoch
        validation_data = model._check_data(*validation_data, needs_y=True)
    batch_size = model._batch_size(batch_size, samples)
    model._own_weights()

    model.history = callbacks_module.History()
    hooks = callbacks_module.CallbackList(callbacks, model=model)
    hooks.append(model.history)
    hooks.set_params({"epochs": epochs, "steps": -(-samples // batch_size), "verbose": verbose,
                      "do_validation": validation_data is not None})
    model.stop_training, model.stop_reason = False, None
    hooks.on_train_begin({})
    for epoch in range(initial_epoch, epochs):
        done = _resume_point(model, epoch, first=epoch == initial_epoch)
        epoch_rng = rng.get_state()  # before the shuffle: kept when a stop cuts this epoch short
        logs, seconds, done = _fit_epoch(model, xs, ys, batch_size, epoch, epochs, verbose, shuffle, hooks,
                                         done)
        if logs is None:
            break
        if validation_data is not None:
            values = model.evaluate(*validation_data, batch_size=batch_size, verbose=0)
            values = values if isinstance(values, list) else [values]
            logs.update({f"val_{k}": v for k, v in zip(model._log_names, values)})
        if done < -(-samples // batch_size):  # a callback stopped training inside the epoch
            model.partial_epoch = {"epoch": epoch, "batches": done, "rng": epoch_rng}
        else:
            model.epoch, model.partial_epoch = epoch + 1, None
        model.last_logs = {key: float(value) for key, value in logs.items()}
        hooks.on_epoch_end(epoch, logs)
        if verbose == 2:
            print(f"Epoch {epoch + 1}/{epochs} - {seconds:.1f}s - "
                  + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        if model.stop_training:
            break
    hooks.on_train_end({})
    return model.history


def _resume_point(model, epoch: int, first: bool) -> int:
    """The batches of ``epoch`` already done before a stop inside it (0 for a fresh epoch); for a
    resumed epoch the random state goes back to the epoch's start, so the same shuffle is drawn."""
    partial = model.partial_epoch
    if not first or partial is None or partial["epoch"] != epoch:
        return 0
    rng.set_state(partial["rng"])
    return partial["batches"]


def _fit_epoch(model, xs, ys, batch_size, epoch, epochs, verbose, shuffle, hooks, skip=0):
    """One epoch, its first ``skip`` batches left out (done before an interruption): (its logs,
    seconds, batches done in all); logs None when a non-finite loss or gradient stopped it."""
    samples = len(xs[0])
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
            batch_logs = model._train_step([x[index] for x in xs], [y[index] for y in ys])
        except FloatingPointError as error:
            _stop(model, f"training stopped at epoch {epoch + 1}, batch {batch + 1}: {error}; the "
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
        if model.stop_training:
            break
    if progress is not None:
        progress.close()
    return logs, time.perf_counter() - began, done


def _stop(model, reason: str, progress) -> None:
    if progress is not None:
        progress.close()
    model.stop_training, model.stop_reason = True, reason
    warnings.warn(reason, RuntimeWarning, stacklevel=4)
