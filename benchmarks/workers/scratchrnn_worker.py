"""scratchrnn side of the benchmarks (see benchmarks/run.py); run as its own process per workload."""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import common  # noqa: E402

np = None
srnn = None


def setup() -> dict:
    global np, srnn
    import numpy

    import scratchrnn

    np, srnn = numpy, scratchrnn
    backend = os.environ.get("BENCH_SCRATCHRNN_BACKEND")
    if backend:
        scratchrnn.set_backend(backend)
    from scratchrnn import layers, models  # noqa: F401  (import time counts as import)
    from scratchrnn.kernels import _packed_gemm, _parallel

    products = "MKL packed GEMM, sequential" if _packed_gemm.mkl_available() else "NumPy matmul (OpenBLAS)"
    if _parallel.enabled():
        products += "; LSTM passes and the step's GEMMs (MKL) split over 2 threads"
    info = {"versions": {"scratchrnn": scratchrnn.__version__, "numpy": numpy.__version__},
            "backend": scratchrnn.get_backend(), "recurrent_products": products}
    try:
        blas = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy: no dict mode
        info["blas"] = "unknown"
    threads = {"blas (OPENBLAS_NUM_THREADS)": os.environ.get("OPENBLAS_NUM_THREADS")}
    if "numba" in sys.modules or info["backend"] == "numba":
        import numba

        info["versions"]["numba"] = numba.__version__
        threads["numba"] = numba.config.NUMBA_NUM_THREADS
    info["threads"] = threads
    return info


def _rnn_class(cell: str):
    from scratchrnn import layers

    return {"lstm": layers.LSTM, "gru": layers.GRU, "simple_rnn": layers.SimpleRNN}[cell]


def _char_model(cell: str, units: int, depth: int, vocab: int):
    """depth x RNN(units, return_sequences) + TimeDistributed(Dense(vocab)) + softmax, Adam, CE."""
    from scratchrnn.layers import Activation, Dense, TimeDistributed
    from scratchrnn.models import Sequential

    rnn = _rnn_class(cell)
    model = Sequential()
    model.add(rnn(units, input_shape=(None, vocab), return_sequences=True))
    for _ in range(depth - 1):
        model.add(rnn(units, return_sequences=True))
    model.add(TimeDistributed(Dense(vocab)))
    model.add(Activation("softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    return model


def workload_a(config: dict) -> dict:
    from scratchrnn.layers import LSTM, Dense
    from scratchrnn.models import Sequential

    x, y = common.alphabet_data(np)
    model = Sequential()
    model.add(LSTM(50, batch_input_shape=(1, x.shape[1], x.shape[2]), stateful=True))
    model.add(Dense(y.shape[1], activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    epochs = config["epochs"]
    times = []
    began = time.perf_counter()
    for _ in range(epochs):
        t = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=1, verbose=0, shuffle=False)
        model.reset_states()
        times.append(time.perf_counter() - t)
    total = time.perf_counter() - began
    loss, accuracy = model.evaluate(x, y, batch_size=1, verbose=0)
    return {"metrics": {"train_300_epochs_s": common.summary(times[1:] or times, 300, "s")},
            "compile_s": max(0.0, times[0] - float(np.median(times[1:] or times))),
            "first_epoch_s": times[0], "measured_total_s": total, "epochs": epochs,
            "params": model.count_params(), "final_loss": loss, "final_accuracy": accuracy}


def workload_b(config: dict) -> dict:
    c = config
    x, y, _ = common.one_hot_batch(np, c["batch"], c["steps"], c["vocab"])

    def make_model():
        model = _char_model("lstm", c["units"], c["layers"], c["vocab"])
        model.build((None, None, c["vocab"]))
        return model

    return common.training_step_times(make_model, lambda model: (lambda: model.train_on_batch(x, y)),
                                      lambda model: model.count_params(), c)


def workload_c(config: dict) -> dict:
    c = config
    x, y, _ = common.one_hot_batch(np, c["batch"], c["steps"], c["vocab"])

    def make_step(cell):
        model = _char_model(cell, c["units"], 1, c["vocab"])
        return lambda: model.train_on_batch(x, y)

    return common.per_cell_step_times(c["cells"], make_step, c["warmup"], c["repeats"])


def _generate_with_layers(model, vocab: int, chars: int, first: int) -> tuple[list[float], list[int]]:
    """Greedy generation one char at a time, every layer's state carried by ``layer.run``."""
    recurrent = [layer for layer in model.layers if hasattr(layer, "run")]
    head = [layer for layer in model.layers if not hasattr(layer, "run")]
    states = [[np.zeros((1, layer.units), dtype=np.float32) for _ in range(layer.state_count)]
              for layer in recurrent]
    eye = np.eye(vocab, dtype=np.float32)
    ix, out, times = first, [], []
    for _ in range(chars):
        t = time.perf_counter()
        h = eye[ix].reshape(1, 1, vocab)
        for i, layer in enumerate(recurrent):
            h, states[i] = layer.run(h, states[i])
        for layer in head:
            h = layer.forward(h)
        ix = int(np.argmax(h[0, -1]))
        times.append(time.perf_counter() - t)
        out.append(ix)
    return times, out


def _generate_with_library(model, vocab: int, chars: int) -> tuple[list[float], float]:
    """``scratchrnn.generate.generate`` (greedy, primed on one char); the seconds between successive
    ``sample_index`` calls (one carried-state step + one draw each) and the seconds of the call."""
    from scratchrnn import generate as module

    alphabet = sorted(chr(40 + i) for i in range(vocab))
    stamps = []
    original = module.sample_index

    def stamped(*args, **kwargs):
        stamps.append(time.perf_counter())
        return original(*args, **kwargs)

    module.sample_index = stamped
    try:
        began = time.perf_counter()
        module.generate(model, chars + 1, prime=alphabet[0], greedy=True, seed=0, vocabulary=alphabet)
        total = time.perf_counter() - began
    finally:
        module.sample_index = original
    return [b - a for a, b in zip(stamps, stamps[1:])], total


def workload_d(config: dict) -> dict:
    c = config
    model = _char_model("lstm", c["units"], c["layers"], c["vocab"])
    model.build((None, None, c["vocab"]))
    try:
        import scratchrnn.generate  # noqa: F401

        library = True
    except ImportError:
        library = False
    t = time.perf_counter()  # a first short run compiles (Numba) and warms caches; reported apart
    if library:
        _generate_with_library(model, c["vocab"], 3)
    else:
        _generate_with_layers(model, c["vocab"], 2, 0)
    compile_s = time.perf_counter() - t
    result = {}
    if library:
        times, total = _generate_with_library(model, c["vocab"], c["chars"])
        result["method"] = ("scratchrnn.generate(greedy), primed on 1 char; per-char time = interval "
                            "between successive sample_index calls (one carried-state step + the draw)")
        result["generate_call_ms_per_char"] = total / (c["chars"] + 1) * 1e3
        loop_times, _ = _generate_with_layers(model, c["vocab"], c["chars"], 0)
        result["layer_run_loop_ms_per_char"] = common.summary(loop_times, 1e3)
    else:
        times, _ = _generate_with_layers(model, c["vocab"], c["chars"], 0)
        result["method"] = "layer.run step loop, state carried (greedy); scratchrnn.generate missing"
    metrics = common.per_char_summary(times)
    result.update(metrics={k: v for k, v in metrics.items() if not k.startswith("_")},
                  constant=metrics["_constant"], compile_s=compile_s)
    return result


if __name__ == "__main__":
    common.main("scratchrnn", setup, {"a": workload_a, "b": workload_b, "c": workload_c,
                                      "d": workload_d})
