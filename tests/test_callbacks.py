"""Callbacks against a fake model that drives them with the Keras protocol (no dependency on models.py)."""

from __future__ import annotations

import csv
import math
import warnings

import numpy as np
import pytest

from scratchrnn.callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    FilepathTemplateError,
    History,
    LambdaCallback,
    ModelCheckpoint,
    TerminateOnNaN,
)


class FakeModel:
    """Records saves and writes a small file; its one weight array is set to the epoch index in place
    before each epoch ends (so a callback that keeps references instead of copies is caught)."""

    def __init__(self):
        self.stop_training = False
        self.saves = []
        self.weights = [np.zeros(3), np.zeros((2, 2))]
        self.set_weights_calls = 0
        self.history = None

    def save(self, filepath):
        self.saves.append(("save", filepath))
        with open(filepath, "w") as f:
            f.write("checkpoint")

    def save_weights(self, filepath):
        self.saves.append(("save_weights", filepath))
        with open(filepath, "w") as f:
            f.write("weights")

    def get_weights(self):
        return self.weights  # deliberately not copies

    def set_weights(self, weights):
        self.set_weights_calls += 1
        for mine, theirs in zip(self.weights, weights, strict=True):
            mine[...] = theirs

    def train_one_epoch(self, epoch):
        for weight in self.weights:
            weight[...] = epoch


def fit(model, callbacks, epoch_logs, batch_logs=None):
    """Drive ``callbacks`` like Sequential.fit: returns the 0-based epochs that ran to their end."""
    steps = len(batch_logs[0]) if batch_logs else 0
    callback_list = CallbackList(callbacks, model=model,
                                 params={"epochs": len(epoch_logs), "steps": steps, "verbose": 0})
    model.stop_training = False
    callback_list.on_train_begin({})
    ran = []
    for epoch, logs in enumerate(epoch_logs):
        callback_list.on_epoch_begin(epoch, {})
        for batch, blogs in enumerate(batch_logs[epoch] if batch_logs else []):
            callback_list.on_train_batch_begin(batch, {})
            callback_list.on_train_batch_end(batch, dict(blogs))
            if model.stop_training:
                break
        model.train_one_epoch(epoch)
        callback_list.on_epoch_end(epoch, dict(logs))
        ran.append(epoch)
        if model.stop_training:
            break
    callback_list.on_train_end({})
    return ran


def losses(*values, key="loss"):
    return [{key: v} for v in values]


# ------------------------------------------------------------------------------------ ModelCheckpoint

def test_checkpoint_every_period_epochs(tmp_path):
    model = FakeModel()
    checkpoint = ModelCheckpoint(str(tmp_path / "ckpt-{epoch:02d}.npz"), period=3)
    fit(model, [checkpoint], losses(*[1.0] * 7))
    assert [path for _, path in model.saves] == [str(tmp_path / "ckpt-03.npz"), str(tmp_path / "ckpt-06.npz")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-03.npz", "ckpt-06.npz"]


def test_checkpoint_every_epoch_by_default_and_weights_only(tmp_path):
    model = FakeModel()
    fit(model, [ModelCheckpoint(tmp_path / "w{epoch}.npz", save_weights_only=True)], losses(3.0, 2.0))
    assert model.saves == [("save_weights", str(tmp_path / "w1.npz")),
                           ("save_weights", str(tmp_path / "w2.npz"))]


def test_checkpoint_filename_template_with_epoch_and_loss(tmp_path):
    model = FakeModel()
    checkpoint = ModelCheckpoint(str(tmp_path / "weights-{epoch:02d}-{loss:.4f}.ckpt"))
    fit(model, [checkpoint], losses(0.5, np.float32(0.25)))
    assert [p for _, p in model.saves] == [str(tmp_path / "weights-01-0.5000.ckpt"),
                                          str(tmp_path / "weights-02-0.2500.ckpt")]
    assert checkpoint.last_saved == str(tmp_path / "weights-02-0.2500.ckpt")


def test_checkpoint_best_only_val_loss_min(tmp_path):
    model = FakeModel()
    checkpoint = ModelCheckpoint(str(tmp_path / "best-{epoch:02d}-{val_loss:.2f}.npz"), save_best_only=True)
    logs = [{"loss": 1.0, "val_loss": v} for v in (1.0, 0.8, 0.9, 0.5, 0.7)]
    fit(model, [checkpoint], logs)
    assert [p for _, p in model.saves] == [str(tmp_path / n) for n in
                                          ("best-01-1.00.npz", "best-02-0.80.npz", "best-04-0.50.npz")]
    assert checkpoint.best == 0.5 and checkpoint.mode == "min"


def test_checkpoint_best_only_accuracy_max_auto_mode(tmp_path, capsys):
    model = FakeModel()
    checkpoint = ModelCheckpoint(str(tmp_path / "m.npz"), monitor="accuracy", save_best_only=True, verbose=1)
    assert checkpoint.mode == "max"
    fit(model, [checkpoint], losses(0.5, 0.4, 0.6, 0.6, 0.7, key="accuracy"))
    assert len(model.saves) == 3  # epochs 1, 3, 5; an equal value is not an improvement
    assert checkpoint.best == 0.7
    out = capsys.readouterr().out
    assert "Epoch 3: accuracy improved from 0.40000" not in out
    assert "Epoch 3: accuracy improved from 0.50000 to 0.60000, saving model to" in out
    assert "Epoch 4: accuracy did not improve from 0.60000" in out


@pytest.mark.parametrize(("monitor", "mode", "expected"), [
    ("val_loss", "auto", "min"), ("loss", "auto", "min"), ("val_acc", "auto", "max"),
    ("val_accuracy", "auto", "max"), ("categorical_accuracy", "auto", "max"), ("loss", "max", "max"),
    ("accuracy", "min", "min")])
def test_checkpoint_mode_resolution(monitor, mode, expected):
    assert ModelCheckpoint("x.npz", monitor=monitor, mode=mode).mode == expected


def test_checkpoint_initial_value_threshold(tmp_path):
    model = FakeModel()
    checkpoint = ModelCheckpoint(str(tmp_path / "b.npz"), monitor="loss", save_best_only=True,
                                 initial_value_threshold=0.6)
    fit(model, [checkpoint], losses(0.9, 0.7, 0.5))
    assert len(model.saves) == 1


def test_checkpoint_missing_monitor_warns_once_and_skips(tmp_path):
    model = FakeModel()
    checkpoint = ModelCheckpoint(str(tmp_path / "b.npz"), save_best_only=True)
    with pytest.warns(UserWarning, match=r"'val_loss'.*available: \['loss'\]") as record:
        fit(model, [checkpoint], losses(1.0, 0.9, 0.8))
    assert len([w for w in record if "ModelCheckpoint" in str(w.message)]) == 1
    assert model.saves == []


def test_checkpoint_unknown_template_key(tmp_path):
    model = FakeModel()
    checkpoint = ModelCheckpoint(str(tmp_path / "c-{epoch}-{val_loss:.2f}.npz"))
    with pytest.raises(FilepathTemplateError) as info:
        fit(model, [checkpoint], losses(1.0))
    message = str(info.value)
    assert "filepath" in message and "{val_loss}" in message and "['epoch', 'loss']" in message
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)


def test_checkpoint_save_freq_in_batches(tmp_path):
    model = FakeModel()
    checkpoint = ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}.npz"), save_freq=3)
    batch_logs = [[{"loss": 1.0}] * 4, [{"loss": 0.9}] * 4]
    fit(model, [checkpoint], losses(1.0, 0.9), batch_logs)
    assert [p for _, p in model.saves] == [str(tmp_path / "e1-b3.npz"), str(tmp_path / "e2-b2.npz")]


def test_checkpoint_creates_missing_folders(tmp_path):
    model = FakeModel()
    fit(model, [ModelCheckpoint(str(tmp_path / "runs" / "a" / "{epoch}.npz"))], losses(1.0))
    assert (tmp_path / "runs" / "a" / "1.npz").read_text() == "checkpoint"


@pytest.mark.parametrize(("kwargs", "error", "name"), [
    ({"filepath": 3}, TypeError, "filepath"),
    ({"filepath": ""}, ValueError, "filepath"),
    ({"filepath": "ck-{epoch.npz"}, ValueError, "filepath"),
    ({"filepath": "ck-{}.npz"}, ValueError, "filepath"),
    ({"mode": "best"}, ValueError, "mode"),
    ({"mode": None}, TypeError, "mode"),
    ({"monitor": ""}, TypeError, "monitor"),
    ({"period": 0}, ValueError, "period"),
    ({"period": 2.0}, TypeError, "period"),
    ({"save_freq": "batch"}, ValueError, "save_freq"),
    ({"save_freq": 0}, ValueError, "save_freq"),
    ({"save_freq": 5, "period": 2}, ValueError, "period"),
    ({"save_best_only": "yes"}, TypeError, "save_best_only"),
    ({"save_weights_only": 1}, TypeError, "save_weights_only"),
    ({"verbose": -1}, ValueError, "verbose"),
    ({"initial_value_threshold": "0.5"}, TypeError, "initial_value_threshold"),
])
def test_checkpoint_bad_arguments(kwargs, error, name):
    kwargs = {"filepath": "ckpt.npz", **kwargs}
    with pytest.raises(error, match=name):
        ModelCheckpoint(**kwargs)


# -------------------------------------------------------------------------------------- EarlyStopping

def test_early_stopping_patience():
    model = FakeModel()
    stopper = EarlyStopping(patience=2)
    ran = fit(model, [stopper], losses(1.0, 0.9, 0.95, 0.96, 0.97, 0.5, key="val_loss"))
    assert ran == [0, 1, 2, 3]
    assert stopper.stopped_epoch == 3 and stopper.best == 0.9 and stopper.best_epoch == 1
    assert model.stop_training


def test_early_stopping_patience_zero_and_no_stop_when_improving():
    model = FakeModel()
    assert fit(model, [EarlyStopping(monitor="loss")], losses(1.0, 0.9, 0.95, 0.5)) == [0, 1, 2]
    stopper = EarlyStopping(monitor="loss", patience=1)
    assert fit(model, [stopper], losses(1.0, 0.9, 0.8, 0.7)) == [0, 1, 2, 3]
    assert stopper.stopped_epoch == 0 and not model.stop_training


def test_early_stopping_min_delta():
    model = FakeModel()
    stopper = EarlyStopping(monitor="loss", min_delta=-0.05, patience=1)  # sign ignored, as in Keras
    assert stopper.min_delta == 0.05
    assert fit(model, [stopper], losses(1.0, 0.94, 0.92, 0.5)) == [0, 1, 2]  # 0.02 is too small
    assert stopper.best == 0.94


def test_early_stopping_accuracy_max_mode():
    model = FakeModel()
    stopper = EarlyStopping(monitor="val_accuracy", patience=2)
    assert fit(model, [stopper], losses(0.5, 0.6, 0.55, 0.9, key="val_accuracy")) == [0, 1, 2, 3]
    stopper = EarlyStopping(monitor="val_accuracy", patience=2)
    assert fit(model, [stopper], losses(0.5, 0.6, 0.55, 0.58, 0.9, key="val_accuracy")) == [0, 1, 2, 3]
    assert stopper.best == 0.6


def test_early_stopping_restore_best_weights(capsys):
    model = FakeModel()
    stopper = EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    fit(model, [stopper], losses(1.0, 0.5, 0.7, 0.8, 0.1, key="val_loss"))
    assert stopper.stopped_epoch == 3
    assert all(np.all(w == 1) for w in model.weights)  # the weights after epoch index 1
    out = capsys.readouterr().out
    assert "Epoch 4: early stopping" in out and "best epoch: 2." in out


def test_early_stopping_restores_best_weights_without_stopping():
    model = FakeModel()
    fit(model, [EarlyStopping(patience=5, restore_best_weights=True)], losses(1.0, 0.2, 0.7, key="val_loss"))
    assert all(np.all(w == 1) for w in model.weights) and model.set_weights_calls == 1
    model = FakeModel()
    fit(model, [EarlyStopping(patience=5)], losses(1.0, 0.2, 0.7, key="val_loss"))
    assert all(np.all(w == 2) for w in model.weights) and model.set_weights_calls == 0


def test_early_stopping_baseline_never_beaten_runs_patience_epochs():
    model = FakeModel()
    stopper = EarlyStopping(monitor="loss", patience=3, baseline=0.1)
    assert fit(model, [stopper], losses(1.0, 0.9, 0.8, 0.7, 0.6)) == [0, 1, 2]
    stopper = EarlyStopping(monitor="loss", patience=1, baseline=0.5)
    assert fit(model, [stopper], losses(0.6, 0.4, 0.3, 0.35)) == [0, 1, 2, 3]


def test_early_stopping_start_from_epoch():
    model = FakeModel()
    stopper = EarlyStopping(monitor="loss", start_from_epoch=3)
    assert fit(model, [stopper], losses(0.1, 0.2, 0.3, 0.4, 0.3, 0.35)) == [0, 1, 2, 3, 4, 5]
    assert stopper.best == 0.3 and stopper.best_epoch == 4


def test_early_stopping_missing_monitor_warns_once():
    model = FakeModel()
    with pytest.warns(UserWarning, match="EarlyStopping: monitor='val_loss'") as record:
        assert fit(model, [EarlyStopping()], losses(1.0, 1.1, 1.2)) == [0, 1, 2]
    assert len([w for w in record if "EarlyStopping" in str(w.message)]) == 1


def test_early_stopping_reusable_across_fits():
    model = FakeModel()
    stopper = EarlyStopping(monitor="loss", patience=1)
    assert fit(model, [stopper], losses(0.1, 0.2, 0.3)) == [0, 1]
    assert fit(model, [stopper], losses(5.0, 4.0, 3.0)) == [0, 1, 2]


@pytest.mark.parametrize(("kwargs", "error", "name"), [
    ({"patience": -1}, ValueError, "patience"),
    ({"patience": 1.5}, TypeError, "patience"),
    ({"mode": "lowest"}, ValueError, "mode"),
    ({"min_delta": "0.1"}, TypeError, "min_delta"),
    ({"baseline": float("nan")}, ValueError, "baseline"),
    ({"restore_best_weights": "true"}, TypeError, "restore_best_weights"),
    ({"start_from_epoch": -2}, ValueError, "start_from_epoch"),
    ({"monitor": 3}, TypeError, "monitor"),
])
def test_early_stopping_bad_arguments(kwargs, error, name):
    with pytest.raises(error, match=name):
        EarlyStopping(**kwargs)


# ------------------------------------------------------------------------------------- TerminateOnNaN

def test_terminate_on_nan_batch_loss(capsys):
    model = FakeModel()
    terminator = TerminateOnNaN()
    batch_logs = [[{"loss": 1.0}] * 4, [{"loss": 0.9}, {"loss": 0.8}, {"loss": math.nan}, {"loss": 0.7}],
                  [{"loss": 0.5}] * 4]
    seen = []
    recorder = LambdaCallback(on_batch_end=lambda batch, logs: seen.append(batch))
    ran = fit(model, [terminator, recorder], losses(1.0, math.nan, 0.5), batch_logs)
    assert ran == [0, 1] and model.stop_training
    assert seen == [0, 1, 2, 3, 0, 1, 2]  # no batch after the NaN one
    assert terminator.stopped_reason.startswith("TerminateOnNaN: epoch 2, batch 3: the loss is nan")
    assert (terminator.stopped_epoch, terminator.stopped_batch) == (1, 2)
    assert capsys.readouterr().out.count("TerminateOnNaN") == 1


def test_terminate_on_inf_batch_loss_in_first_epoch():
    model = FakeModel()
    terminator = TerminateOnNaN(explosion_factor=None)
    batch_logs = [[{"loss": 1.0}, {"loss": math.inf}], [{"loss": 1.0}] * 2]
    ran = fit(model, [terminator], losses(1.0, 1.0), batch_logs)
    assert ran == [0] and "epoch 1, batch 2: the loss is inf" in terminator.stopped_reason


def test_terminate_on_batch_explosion():
    model = FakeModel()
    terminator = TerminateOnNaN(explosion_factor=3.0)
    batch_logs = [[{"loss": 1.0}, {"loss": 5.0}], [{"loss": 2.9}, {"loss": 3.5}], [{"loss": 1.0}] * 2]
    ran = fit(model, [terminator], losses(1.0, 3.2, 1.0), batch_logs)  # no explosion check in epoch 1
    assert ran == [0, 1]
    assert terminator.reference_loss == 1.0
    assert "epoch 2, batch 2: the loss 3.5 exceeds 3 x the first epoch's loss 1" in terminator.stopped_reason


def test_terminate_on_epoch_explosion_without_batch_logs():
    model = FakeModel()
    terminator = TerminateOnNaN(explosion_factor=2.0)
    assert fit(model, [terminator], losses(1.0, 1.5, 2.5, 0.5)) == [0, 1, 2]
    assert "end of epoch 3" in terminator.stopped_reason and terminator.stopped_batch is None


def test_terminate_on_nan_explosion_disabled():
    model = FakeModel()
    terminator = TerminateOnNaN(explosion_factor=None)
    batch_logs = [[{"loss": 1.0}], [{"loss": 100.0}], [{"loss": 1e6}]]
    assert fit(model, [terminator], losses(1.0, 100.0, 1e6), batch_logs) == [0, 1, 2]
    assert terminator.stopped_reason is None and not model.stop_training


def test_terminate_on_nan_quiet_on_healthy_training(capsys):
    model = FakeModel()
    terminator = TerminateOnNaN()
    assert fit(model, [terminator], losses(1.0, 2.9, 0.5), [[{"loss": 1.0}]] * 3) == [0, 1, 2]
    assert terminator.stopped_reason is None and capsys.readouterr().out == ""


@pytest.mark.parametrize(("value", "error"), [(0.5, ValueError), ("3", TypeError), (math.inf, ValueError),
                                              (True, TypeError)])
def test_terminate_on_nan_bad_factor(value, error):
    with pytest.raises(error, match="explosion_factor"):
        TerminateOnNaN(explosion_factor=value)


# ------------------------------------------------------------------------------------- LambdaCallback

def test_lambda_callback_calls():
    calls = []
    callback = LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch)),
        on_batch_begin=lambda batch, logs: calls.append(("batch_begin", batch)),
        on_batch_end=lambda batch, logs: calls.append(("batch_end", batch, logs["loss"])),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, logs["loss"])),
        on_train_end=lambda logs: calls.append("train_end"))
    fit(FakeModel(), [callback], losses(0.9, 0.8), [[{"loss": 1.0}, {"loss": 0.95}], [{"loss": 0.85}] * 2])
    assert calls == ["train_begin",
                     ("epoch_begin", 0), ("batch_begin", 0), ("batch_end", 0, 1.0), ("batch_begin", 1),
                     ("batch_end", 1, 0.95), ("epoch_end", 0, 0.9),
                     ("epoch_begin", 1), ("batch_begin", 0), ("batch_end", 0, 0.85), ("batch_begin", 1),
                     ("batch_end", 1, 0.85), ("epoch_end", 1, 0.8),
                     "train_end"]


def test_lambda_callback_other_hooks_and_errors():
    seen = []
    callback = LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    fit(FakeModel(), [callback], losses(1.0), [[{"loss": 1.0}] * 3])
    assert seen == [0, 1, 2]
    with pytest.raises(TypeError, match="on_epoch_end"):
        LambdaCallback(on_epoch_end="print")
    with pytest.raises(TypeError, match="on_epoch_finish"):
        LambdaCallback(on_epoch_finish=print)


# ------------------------------------------------------------------------------------------ CSVLogger

def read_rows(path, delimiter=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=delimiter))


def test_csv_logger_rows_and_flush(tmp_path):
    path = tmp_path / "log.csv"
    logger = CSVLogger(str(path))
    model = FakeModel()
    callback_list = CallbackList([logger], model=model)
    callback_list.on_train_begin({})
    callback_list.on_epoch_end(0, {"val_loss": 0.9, "loss": 1.0, "accuracy": 0.25})
    # flushed: readable while training still runs (as after a kill)
    assert read_rows(path) == [["epoch", "accuracy", "loss", "val_loss"], ["0", "0.25", "1.0", "0.9"]]
    callback_list.on_epoch_end(1, {"loss": np.float32(0.5), "accuracy": 0.5})
    callback_list.on_train_end({})
    assert read_rows(path)[2] == ["1", "0.5", "0.5", "NA"]
    assert logger.csv_file is None


def test_csv_logger_append(tmp_path):
    path = tmp_path / "log.csv"
    fit(FakeModel(), [CSVLogger(path)], [{"loss": 1.0, "accuracy": 0.1}, {"loss": 0.8, "accuracy": 0.2}])
    fit(FakeModel(), [CSVLogger(path, append=True)], [{"loss": 0.7, "accuracy": 0.3}])
    assert read_rows(path) == [["epoch", "accuracy", "loss"], ["0", "0.1", "1.0"], ["1", "0.2", "0.8"],
                               ["0", "0.3", "0.7"]]
    fit(FakeModel(), [CSVLogger(path)], [{"loss": 0.6}])  # without append: overwritten
    assert read_rows(path) == [["epoch", "loss"], ["0", "0.6"]]
    fresh = tmp_path / "fresh.csv"
    fit(FakeModel(), [CSVLogger(fresh, append=True)], [{"loss": 0.6}])  # append to a new file: header
    assert read_rows(fresh) == [["epoch", "loss"], ["0", "0.6"]]


def test_csv_logger_separator_and_late_keys(tmp_path):
    path = tmp_path / "log.tsv"
    with pytest.warns(UserWarning, match=r"\['val_loss'\]"):
        fit(FakeModel(), [CSVLogger(path, separator="\t")], [{"loss": 1.0}, {"loss": 0.5, "val_loss": 0.4}])
    assert read_rows(path, "\t") == [["epoch", "loss"], ["0", "1.0"], ["1", "0.5"]]


def test_csv_logger_adds_val_columns_when_validating(tmp_path):
    path = tmp_path / "log.csv"
    logger = CSVLogger(path)
    callback_list = CallbackList([logger], model=FakeModel(), params={"do_validation": True})
    callback_list.on_train_begin({})
    callback_list.on_epoch_end(0, {"loss": 1.0})
    callback_list.on_epoch_end(1, {"loss": 0.5, "val_loss": 0.4})
    callback_list.on_train_end({})
    assert read_rows(path) == [["epoch", "loss", "val_loss"], ["0", "1.0", "NA"], ["1", "0.5", "0.4"]]


@pytest.mark.parametrize(("kwargs", "error", "name"), [
    ({"filename": None}, TypeError, "filename"), ({"separator": ";;"}, ValueError, "separator"),
    ({"separator": 1}, ValueError, "separator"), ({"append": "yes"}, TypeError, "append")])
def test_csv_logger_bad_arguments(kwargs, error, name):
    kwargs = {"filename": "log.csv", **kwargs}
    with pytest.raises(error, match=name):
        CSVLogger(**kwargs)


# -------------------------------------------------------------------------------- History, CallbackList

def test_history_contents():
    model = FakeModel()
    history = History()
    logs = [{"loss": 1.0, "accuracy": 0.2, "val_loss": 1.1}, {"loss": 0.5, "accuracy": 0.4, "val_loss": 0.7}]
    fit(model, [history], logs)
    assert history.epoch == [0, 1]
    assert history.history == {"loss": [1.0, 0.5], "accuracy": [0.2, 0.4], "val_loss": [1.1, 0.7]}
    assert model.history is history
    fit(model, [history], [{"loss": 0.25}])
    assert history.epoch == [0] and history.history["loss"] == [1.0, 0.5, 0.25]


def test_callback_list_fans_out_in_order():
    order = []

    class Recorder(Callback):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def on_epoch_end(self, epoch, logs=None):
            order.append((self.name, epoch, self.model is model, self.params["epochs"]))
            logs[self.name] = epoch  # later callbacks see keys added by earlier ones

    class Keras2Style(Callback):  # overrides the old alias; the train-batch hook still reaches it
        def on_batch_end(self, batch, logs=None):
            order.append(("old", batch))

    model = FakeModel()
    history = History()
    callbacks = CallbackList([Recorder("a"), Recorder("b")], model=model, params={"epochs": 1})
    callbacks.append(Keras2Style())
    callbacks.append(history)
    assert len(callbacks) == 4 and list(callbacks)[-1] is history
    callbacks.on_train_batch_end(0, {"loss": 1.0})
    callbacks.on_epoch_end(0, {"loss": 1.0})
    callbacks.on_test_begin()
    assert order == [("old", 0), ("a", 0, True, 1), ("b", 0, True, 1)]
    assert history.history == {"loss": [1.0], "a": [0], "b": [0]}


def test_callback_list_arguments():
    assert len(CallbackList()) == 0
    assert len(CallbackList(History())) == 1
    with pytest.raises(TypeError, match=r"callbacks\[1\]"):
        CallbackList([History(), print])
    with pytest.raises(TypeError, match="callbacks"):
        CallbackList("history")
    with pytest.raises(TypeError, match="callback"):
        CallbackList().append(object())


def test_no_warnings_on_normal_use(tmp_path):
    model = FakeModel()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(model, [History(), EarlyStopping(patience=3), TerminateOnNaN(), CSVLogger(tmp_path / "l.csv"),
                    ModelCheckpoint(str(tmp_path / "b.npz"), save_best_only=True)],
            [{"loss": 1.0, "val_loss": 1.0}, {"loss": 0.9, "val_loss": 0.8}])
    assert len(model.saves) == 2
