"""PyTorch side of the benchmarks (see benchmarks/run.py): the same shapes written the PyTorch way
(nn.LSTM/GRU/RNN with batch_first, nn.Linear, CrossEntropyLoss on logits, Adam with Keras's eps)."""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

np = None
torch = None


def setup() -> dict:
    global np, torch
    import numpy
    import torch as _torch

    np, torch = numpy, _torch
    torch.set_num_threads(common.THREADS)
    try:
        torch.set_num_interop_threads(common.THREADS)
    except RuntimeError:  # already set
        pass
    return {"versions": {"torch": torch.__version__, "numpy": numpy.__version__},
            "threads": {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()},
            "mkldnn": bool(torch.backends.mkldnn.is_available())}


def _rnn(cell: str, vocab: int, units: int, depth: int):
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "simple_rnn": torch.nn.RNN}[cell]
    return cls(vocab, units, num_layers=depth, batch_first=True)




def _char_model(cell: str, units: int, depth: int, vocab: int):
    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = _rnn(cell, vocab, units, depth)
            self.dense = torch.nn.Linear(units, vocab)

        def forward(self, x, state=None):
            h, state = self.rnn(x, state)
            return self.dense(h), state

    return Model()


def _adam(model):
    return torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)


def workload_a(config: dict) -> dict:
    x_np, y_np = common.alphabet_data(np)
    x = torch.from_numpy(x_np)  # (25, 1, 1)
    target = torch.from_numpy(y_np.argmax(axis=1)).long()  # (25,)
    lstm = torch.nn.LSTM(1, 50, batch_first=True)
    dense = torch.nn.Linear(50, 26)
    params = list(lstm.parameters()) + list(dense.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    epochs = config["epochs"]
    times = []
    began = time.perf_counter()
    for _ in range(epochs):
        t = time.perf_counter()
        state = (torch.zeros(1, 1, 50), torch.zeros(1, 1, 50))  # reset_states()
        for i in range(len(x)):  # fit(batch_size=1, shuffle=False): one step per sample
            out, state = lstm(x[i:i + 1], state)
            loss = loss_fn(dense(out[:, -1]), target[i:i + 1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            state = (state[0].detach(), state[1].detach())  # stateful: carried, not backpropagated
        times.append(time.perf_counter() - t)
    total = time.perf_counter() - began
    return {"metrics": {"train_300_epochs_s": common.summary(times[1:] or times, 300, "s")},
            "compile_s": max(0.0, times[0] - float(np.median(times[1:] or times))),
            "first_epoch_s": times[0], "measured_total_s": total, "epochs": epochs,
            "params": sum(p.numel() for p in params), "final_loss": float(loss.detach())}


def _train_step_fn(model, x, target, vocab):
    optimizer = _adam(model)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        logits, _ = model(x)
        loss = loss_fn(logits.reshape(-1, vocab), target.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    return step


def workload_b(config: dict) -> dict:
    c = config
    x_np, _, ids = common.one_hot_batch(np, c["batch"], c["steps"], c["vocab"])
    x, target = torch.from_numpy(x_np), torch.from_numpy(ids)
    return common.training_step_times(lambda: _char_model("lstm", c["units"], c["layers"], c["vocab"]),
                                      lambda model: _train_step_fn(model, x, target, c["vocab"]),
                                      lambda model: sum(p.numel() for p in model.parameters()), c)


def workload_c(config: dict) -> dict:
    c = config
    x_np, _, ids = common.one_hot_batch(np, c["batch"], c["steps"], c["vocab"])
    x, target = torch.from_numpy(x_np), torch.from_numpy(ids)
    return common.per_cell_step_times(
        c["cells"], lambda cell: _train_step_fn(_char_model(cell, c["units"], 1, c["vocab"]), x, target,
                                                c["vocab"]), c["warmup"], c["repeats"])


def _generate(model, vocab, chars, first):
    eye = torch.eye(vocab)
    ix, state, times, out = first, None, [], []
    with torch.inference_mode():
        for _ in range(chars):
            t = time.perf_counter()
            logits, state = model(eye[ix].reshape(1, 1, vocab), state)
            ix = int(torch.softmax(logits[0, -1], dim=-1).argmax())
            times.append(time.perf_counter() - t)
            out.append(ix)
    return times, out


def workload_d(config: dict) -> dict:
    c = config
    model = _char_model("lstm", c["units"], c["layers"], c["vocab"]).eval()
    t = time.perf_counter()
    _generate(model, c["vocab"], 2, 0)
    compile_s = time.perf_counter() - t
    times, ids = _generate(model, c["vocab"], c["chars"], 0)
    metrics = common.per_char_summary(times)
    return {"metrics": {k: v for k, v in metrics.items() if not k.startswith("_")},
            "constant": metrics["_constant"], "compile_s": compile_s,
            "method": "nn.LSTM(num_layers) + Linear, state carried, inference_mode (greedy)",
            "generated_ids_head": ids[:10]}


if __name__ == "__main__":
    common.main("pytorch", setup, {"a": workload_a, "b": workload_b, "c": workload_c, "d": workload_d})
