"""Keras 3 (TensorFlow backend) side of the benchmarks (see benchmarks/run.py): the tutorials' own
code shapes (Sequential, fit/train_on_batch, predict on the growing prefix)."""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

np = None
keras = None


def setup() -> dict:
    global np, keras
    import numpy
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(common.THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(common.THREADS)
    import keras as _keras

    np, keras = numpy, _keras
    return {"versions": {"keras": keras.__version__, "tensorflow": tf.__version__,
                         "numpy": numpy.__version__},
            "keras_backend": keras.backend.backend(),
            "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                        "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}}


def _reset_states(model) -> None:
    """Keras 3's Sequential has no reset_states(); its stateful layers each have one."""
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_states()


def _rnn_class(cell: str):
    return {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple_rnn": keras.layers.SimpleRNN}[cell]


def _char_model(cell, units, depth, vocab, batch_shape=(None, None), stateful=False):
    """depth x RNN(units, return_sequences) + TimeDistributed(Dense(vocab)) + softmax, Adam, CE."""
    rnn = _rnn_class(cell)
    model = keras.Sequential([keras.Input(batch_shape=(*batch_shape, vocab))])
    for _ in range(depth):
        model.add(rnn(units, return_sequences=True, stateful=stateful))
    model.add(keras.layers.TimeDistributed(keras.layers.Dense(vocab)))
    model.add(keras.layers.Activation("softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    return model


def workload_a(config: dict) -> dict:
    x, y = common.alphabet_data(np)
    model = keras.Sequential([keras.Input(batch_shape=(1, x.shape[1], x.shape[2])),
                              keras.layers.LSTM(50, stateful=True),
                              keras.layers.Dense(y.shape[1], activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    epochs = config["epochs"]
    times = []
    began = time.perf_counter()
    for _ in range(epochs):
        t = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=1, verbose=0, shuffle=False)
        _reset_states(model)
        times.append(time.perf_counter() - t)
    total = time.perf_counter() - began
    loss, accuracy = model.evaluate(x, y, batch_size=1, verbose=0)
    _reset_states(model)
    return {"metrics": {"train_300_epochs_s": common.summary(times[1:] or times, 300, "s")},
            "compile_s": max(0.0, times[0] - float(np.median(times[1:] or times))),
            "first_epoch_s": times[0], "measured_total_s": total, "epochs": epochs,
            "params": model.count_params(), "final_loss": float(loss), "final_accuracy": float(accuracy)}


def workload_b(config: dict) -> dict:
    c = config
    x, y, _ = common.one_hot_batch(np, c["batch"], c["steps"], c["vocab"])
    return common.training_step_times(lambda: _char_model("lstm", c["units"], c["layers"], c["vocab"]),
                                      lambda model: (lambda: model.train_on_batch(x, y)),
                                      lambda model: model.count_params(), c)


def workload_c(config: dict) -> dict:
    c = config
    x, y, _ = common.one_hot_batch(np, c["batch"], c["steps"], c["vocab"])

    def make_step(cell):
        model = _char_model(cell, c["units"], 1, c["vocab"])
        return lambda: model.train_on_batch(x, y)

    return common.per_cell_step_times(c["cells"], make_step, c["warmup"], c["repeats"])


def _generate_prefix(model, vocab: int, chars: int, first: int):
    """The tutorial's generate_text: predict on the whole growing prefix for every new char."""
    x = np.zeros((1, chars, vocab), dtype=np.float32)
    ix, times, out = first, [], []
    for i in range(chars):
        t = time.perf_counter()
        x[0, i, ix] = 1.0
        ix = int(np.argmax(model.predict(x[:, :i + 1, :], verbose=0)[0], 1)[-1])
        times.append(time.perf_counter() - t)
        out.append(ix)
    return times, out


def _generate_stateful(model, vocab: int, chars: int, first: int):
    """One char per call on a stateful copy of the model (batch 1, 1 step), state carried."""
    eye = np.eye(vocab, dtype=np.float32)
    ix, times, out = first, [], []
    for _ in range(chars):
        t = time.perf_counter()
        ix = int(np.argmax(model.predict_on_batch(eye[ix].reshape(1, 1, vocab))[0, -1]))
        times.append(time.perf_counter() - t)
        out.append(ix)
    return times, out


def workload_d(config: dict) -> dict:
    c = config
    model = _char_model("lstm", c["units"], c["layers"], c["vocab"])
    stateful = _char_model("lstm", c["units"], c["layers"], c["vocab"], batch_shape=(1, 1), stateful=True)
    stateful.set_weights(model.get_weights())
    result = {"method": "ms_per_char: the tutorial's predict on the whole growing prefix per char; "
                        "ms_per_char_stateful: stateful copy, predict_on_batch one char at a time"}
    t = time.perf_counter()
    _generate_stateful(stateful, c["vocab"], 2, 0)
    _reset_states(stateful)
    compile_stateful = time.perf_counter() - t
    times_s, ids_s = _generate_stateful(stateful, c["vocab"], c["chars"], 0)
    stateful_metrics = common.per_char_summary(times_s)

    t = time.perf_counter()
    _generate_prefix(model, c["vocab"], 2, 0)
    compile_prefix = time.perf_counter() - t
    times_p, ids_p = _generate_prefix(model, c["vocab"], c["prefix_chars"], 0)
    prefix_metrics = common.per_char_summary(times_p)
    metrics = {k: v for k, v in prefix_metrics.items() if not k.startswith("_")}
    metrics.update({k.replace("ms_per_char", "ms_per_char_stateful"): v
                    for k, v in stateful_metrics.items() if not k.startswith("_")})
    result.update(metrics=metrics, constant=prefix_metrics["_constant"],
                  constant_stateful=stateful_metrics["_constant"],
                  compile_s={"prefix": compile_prefix, "stateful": compile_stateful},
                  same_text=ids_p == ids_s[:len(ids_p)], generated_ids_head=ids_s[:10])
    return result


if __name__ == "__main__":
    common.main("keras", setup, {"a": workload_a, "b": workload_b, "c": workload_c, "d": workload_d})
