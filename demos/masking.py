"""What masking changes: the same Embedding + Bidirectional(LSTM) classifier trained on padded
variable-length sequences twice, once with ``Embedding(mask_zero=True)`` and once without, side by side.

    python demos/masking.py                          # padding "pre", the defaults below
    python demos/masking.py --padding post --epochs 12 --seed 3

The data is synthetic, drawn from ``--seed`` (nothing is downloaded): sequences of token ids 1..V of
random lengths 3..30, padded with 0 to length 60 by ``pad_sequences`` (so that at least half of
every row is padding). The label says whether token 1
occurs more often than token 2 in the real part of the sequence (draws where they tie are left out, so
the classes are about even). Both models are

    Embedding(V + 1, 16, mask_zero=...) -> Bidirectional(LSTM(units, dropout=0.1, recurrent_dropout=0.1))
    -> Dense(1, sigmoid)

with the same initial weights (the mask adds no weight). With the mask, every LSTM step on a padding
position keeps the state, and the backward direction starts at the last real token; without it the
zeros are tokens like any other: the model has to learn to ignore 30 to 57 of them, and the direction
that reads the padding last has to carry its count across them. The table gives train and validation
accuracy per epoch for both, the last line which one ends ahead on the validation set.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy

from scratchrnn.layers import LSTM, Bidirectional, Dense, Embedding
from scratchrnn.models import Sequential
from scratchrnn.preprocessing.sequence import pad_sequences
from scratchrnn.utils import set_random_seed

VOCABULARY = 6          # real tokens 1..6; 0 is the padding
MIN_LENGTH, MAX_LENGTH = 3, 30
PADDED_LENGTH = 60      # longer than any sequence: at least half of every row is padding
EMBEDDING = 16
DROPOUT = 0.1


def make_data(samples, rng):
    """``samples`` ragged lists of token ids and their labels (count of 1 > count of 2), no ties."""
    sequences, labels = [], []
    while len(sequences) < samples:
        length = int(rng.integers(MIN_LENGTH, MAX_LENGTH + 1))
        tokens = rng.integers(1, VOCABULARY + 1, size=length)
        ones, twos = int(numpy.sum(tokens == 1)), int(numpy.sum(tokens == 2))
        if ones == twos:
            continue
        sequences.append(tokens.tolist())
        labels.append(int(ones > twos))
    return sequences, numpy.array(labels, dtype="float32")


def build_model(units, mask_zero, seed):
    set_random_seed(seed)  # the same initial weights for both models
    model = Sequential([
        Embedding(VOCABULARY + 1, EMBEDDING, mask_zero=mask_zero, input_shape=(PADDED_LENGTH,)),
        Bidirectional(LSTM(units, dropout=DROPOUT, recurrent_dropout=DROPOUT)),
        Dense(1, activation="sigmoid"),
    ])
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8, help="training epochs (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the data and the weights (default 1)")
    parser.add_argument("--samples", type=int, default=1000,
                        help="sequences drawn; 80%% train, 20%% validation (default 1000)")
    parser.add_argument("--units", type=int, default=16, help="LSTM units per direction (default 16)")
    parser.add_argument("--padding", choices=("pre", "post"), default="pre",
                        help="where the zeros go (default pre, as pad_sequences)")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.units < 1 or args.samples < 10:
        parser.error("--epochs and --units must be positive, --samples at least 10")
    return args


def main(argv=None):
    args = parse_args(argv)
    rng = numpy.random.default_rng(args.seed)
    sequences, labels = make_data(args.samples, rng)
    x = pad_sequences(sequences, maxlen=PADDED_LENGTH, padding=args.padding)  # (N, 60) ids, 0 = padding
    split = int(0.8 * len(x))
    x_train, y_train, x_val, y_val = x[:split], labels[:split], x[split:], labels[split:]
    lengths = numpy.array([len(s) for s in sequences])
    print(f"{len(x_train)} training and {len(x_val)} validation sequences, lengths {lengths.min()}.."
          f"{lengths.max()} (mean {lengths.mean():.1f}) padded '{args.padding}' to {PADDED_LENGTH}; "
          f"{labels.mean():.0%} labelled 1")

    models = {"masked": build_model(args.units, True, args.seed),
              "unmasked": build_model(args.units, False, args.seed)}
    seconds = dict.fromkeys(models, 0.0)
    print(f"{'epoch':>7} | {'masked train':>12} {'val':>6} | {'unmasked train':>14} {'val':>6}")
    final = {}
    for epoch in range(args.epochs):
        row = {}
        for name, model in models.items():  # one epoch of each, so the table fills in as they train
            started = time.perf_counter()
            history = model.fit(x_train, y_train, batch_size=32, epochs=epoch + 1, initial_epoch=epoch,
                                validation_data=(x_val, y_val), verbose=0)
            seconds[name] += time.perf_counter() - started
            row[name] = (history.history["accuracy"][-1], history.history["val_accuracy"][-1])
        final = {name: val for name, (_, val) in row.items()}
        print(f"{epoch + 1:>3}/{args.epochs:<3} | {row['masked'][0]:>12.3f} {row['masked'][1]:>6.3f} | "
              f"{row['unmasked'][0]:>14.3f} {row['unmasked'][1]:>6.3f}", flush=True)
    print(f"Training time: masked {seconds['masked']:.1f} s, unmasked {seconds['unmasked']:.1f} s")
    gap = final["masked"] - final["unmasked"]
    leader = "masked ahead" if gap > 0 else "unmasked ahead" if gap < 0 else "a tie"
    print(f"Final validation accuracy: masked {final['masked']:.3f}, unmasked {final['unmasked']:.3f} "
          f"({leader} by {abs(gap):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
