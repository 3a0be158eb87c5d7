"""Vanishing gradients, measured: how much of a loss's gradient reaches the hidden state k steps back, for
SimpleRNN, LSTM and GRU at their default (Keras) initialisation.

Each network reads the same random input sequence; the loss looks only at the LAST hidden state,
loss = sum over the batch of h_T . w with a random vector w. Backpropagation through time then gives
dLoss/dh_t for every step t (the layer's gradient ledger, ``layer.keep_ledger = True``), and the demo
reports its size against the distance from the loss, k = T - 1 - t (0 for the last step):

    norm(k) = mean over the batch of || dLoss/dh_{T-1-k} ||

A curve that falls by orders of magnitude is a vanishing gradient: the loss at step T can barely
teach the weights anything about what happened k steps earlier. Before any training all three
vanish, each at roughly a fixed rate per step: SimpleRNN by the mean slope of tanh (its recurrent
matrix is orthogonal, so it neither shrinks nor grows the gradient by itself), LSTM by its forget
gate, about sigmoid(1) = 0.73 since Keras starts the forget-gate bias at one, and GRU by its update
gate, about sigmoid(0) = 0.5 with a zero bias, plus what flows through the candidate state. Gates
preserve gradients once training has learned to hold them open (forget gate near 1, update gate near
1); this demo measures the starting point.

    python demos/vanishing_gradients.py                       # 32 units, 50 steps, batch 16
    python demos/vanishing_gradients.py --steps 100 --plot vg.png
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from scratchrnn.layers import GRU, LSTM, SimpleRNN
from scratchrnn.utils import set_random_seed

CELLS = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}
TABLE_DISTANCES = (0, 1, 2, 5, 10, 20, 30, 40, 50, 75, 100, 150, 200)


def gradient_norms(layer_class, units=32, steps=50, batch=16, features=8, seed=0) -> np.ndarray:
    """norm[k] = mean over the batch of ||dLoss/dh_t|| at distance k = T - 1 - t from the loss, shape (T,).

    The inputs x ~ N(0, 1) and the projection w ~ N(0, 1) / sqrt(units) depend only on ``seed`` and
    the shapes, so every cell sees the same data; the layer's weights come from the library's
    generator, seeded with ``seed`` too."""
    data = np.random.default_rng(seed)
    x = data.standard_normal((batch, steps, features))  # (B, T, D)
    w = data.standard_normal(units) / np.sqrt(units)  # (H,)
    set_random_seed(seed)
    layer = layer_class(units, dtype="float64")
    layer.keep_ledger = True
    layer.forward(x)  # h_T, (B, H)
    layer.backward(np.broadcast_to(w, (batch, units)).copy())  # dLoss/dh_T = w for every sample
    hidden = layer.ledger["hidden"]  # (T, B, H), processing order: index T - 1 is the last step
    per_step = np.linalg.norm(hidden, axis=2).mean(axis=1)  # (T,)
    return per_step[::-1].copy()  # index k = distance from the loss


def table(norms: dict, steps: int) -> str:
    distances = sorted({d for d in TABLE_DISTANCES if d < steps} | {steps - 1})
    names = list(norms)
    lines = ["distance  " + "  ".join(f"{name:>11s}" for name in names)]
    for d in distances:
        lines.append(f"{d:8d}  " + "  ".join(f"{norms[name][d]:11.3e}" for name in names))
    last = steps - 1
    ratios = "  ".join(f"{norms[name][last] / norms[name][0]:11.3e}" for name in names)
    lines.append(f"{'ratio':>8s}  {ratios}   (distance {last} / distance 0)")
    return "\n".join(lines)


def plot(path, norms: dict, args) -> bool:
    """Log-scale curves of the norms against distance; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(figsize=(8, 5))
    for name, values in norms.items():
        axes.semilogy(np.arange(len(values)), values, label=name)
    axes.set_xlabel("distance from the loss, T - 1 - t (steps)")
    axes.set_ylabel("mean ||dLoss/dh_t|| over the batch")
    axes.set_title(f"Gradient reaching h_t, default initialisation ({args.units} units, batch {args.batch})")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=32, help="hidden units (default 32)")
    parser.add_argument("--steps", type=int, default=50, help="sequence length T (default 50)")
    parser.add_argument("--batch", type=int, default=16, help="sequences averaged over (default 16)")
    parser.add_argument("--features", type=int, default=8, help="input features (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--plot", default="vanishing_gradients.png",
                        help="PNG with the three curves (default vanishing_gradients.png; '' for none)")
    args = parser.parse_args(argv)
    if min(args.units, args.steps, args.batch, args.features) < 1:
        parser.error("--units, --steps, --batch and --features must be positive")
    return args


def main(argv=None):
    args = parse_args(argv)
    print(f"||dLoss/dh_t|| against the distance from the loss (float64, {args.units} units, "
          f"{args.steps} steps, batch {args.batch}, {args.features} features, seed {args.seed}); "
          "the loss reads only the last step")
    norms = {name: gradient_norms(cls, args.units, args.steps, args.batch, args.features, args.seed)
             for name, cls in CELLS.items()}
    print(table(norms, args.steps))
    if args.plot:
        if plot(args.plot, norms, args):
            print(f"Plot: {args.plot}")
        else:
            print("Plot: skipped (matplotlib is not installed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
