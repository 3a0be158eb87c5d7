"""Learn the alphabet with an LSTM: Jason Brownlee's Keras tutorial "Understanding Stateful LSTM Recurrent
Neural Networks in Python with Keras", run on scratchrnn with only the imports changed.

The default variant is the tutorial's headline model: a stateful LSTM(50) that sees one letter at a time
(batch size 1), keeps its state across the 25 letters of an epoch, is reset between epochs, and after
300 epochs recites the alphabet from A by feeding each prediction back in.

    python demos/alphabet.py                       # stateful LSTM, 300 epochs, seed 7
    python demos/alphabet.py --variant one-char    # the tutorial's other models, see --help

Where the code differs from the tutorial:
- ``numpy.random.seed(7)`` becomes ``set_random_seed(seed)`` too: scratchrnn draws its initial weights
  (and its shuffling) from its own generator, so that call is what makes a run reproducible;
- training prints one short line every 50 epochs (500 for a 5,000-epoch run) instead of Keras's line
  per epoch (``--verbose 2`` gives the per-epoch lines back), and the total training time;
- the variable-length variant pads by hand (Keras's ``pad_sequences`` with its defaults: zeros in
  front), and trains on fewer patterns than the tutorial's 1,000 by default to stay quick.
"""

from __future__ import annotations

import argparse
import time

import numpy

from scratchrnn.callbacks import LambdaCallback
from scratchrnn.layers import LSTM, Dense
from scratchrnn.models import Sequential
from scratchrnn.utils import np_utils, set_random_seed

# define the raw dataset
alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# create mapping of characters to integers (0-25) and the reverse
char_to_int = dict((c, i) for i, c in enumerate(alphabet))
int_to_char = dict((i, c) for i, c in enumerate(alphabet))

VARIANTS = {  # name: (tutorial epochs, tutorial LSTM units, what it is)
    "stateful": (300, 50, "stateful LSTM, one char -> one char, state carried across the alphabet"),
    "one-char": (500, 32, "naive LSTM, one char -> one char, no state to learn from"),
    "window-features": (500, 32, "three-char window presented as three features of one time step"),
    "window-timesteps": (500, 32, "three-char window presented as three time steps of one feature"),
    "stateful-batch": (5000, 16, "one char -> one char, the whole alphabet as one batch"),
    "variable-length": (500, 32, "random-length subsequences (1-5 chars), zero-padded in front"),
}
PROGRESS_EVERY = 50


def make_pairs(seq_length):
    """Input to output pairs encoded as integers, printed as the tutorial prints them."""
    dataX = []
    dataY = []
    for i in range(0, len(alphabet) - seq_length, 1):
        seq_in = alphabet[i:i + seq_length]
        seq_out = alphabet[i + seq_length]
        dataX.append([char_to_int[char] for char in seq_in])
        dataY.append(char_to_int[seq_out])
        print(seq_in, '->', seq_out)
    return dataX, dataY


def pad_sequences(sequences, maxlen):
    """Keras's ``pad_sequences`` with its defaults: zeros in front, long sequences cut at the front."""
    padded = numpy.zeros((len(sequences), maxlen), dtype="float32")
    for row, sequence in enumerate(sequences):
        sequence = sequence[-maxlen:]
        padded[row, maxlen - len(sequence):] = sequence
    return padded


def progress_line(epoch, epochs, logs):
    """With --verbose 0: one line every 50 epochs (every 500 for the 5,000-epoch model) and at the end."""
    every = PROGRESS_EVERY * max(1, epochs // 500)
    if args.verbose == 0 and ((epoch + 1) % every == 0 or epoch + 1 == epochs):
        print(f"epoch {epoch + 1}/{epochs} - loss: {logs['loss']:.4f} - accuracy: {logs['accuracy']:.4f}")


def compile_model(model):
    model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])


def fit(model, X, y, batch_size, shuffle=True):
    """``model.fit(X, y, epochs, batch_size, ...)`` as in the tutorial, plus the short progress lines."""
    started = time.perf_counter()
    progress = LambdaCallback(on_epoch_end=lambda epoch, logs: progress_line(epoch, args.epochs, logs))
    model.fit(X, y, epochs=args.epochs, batch_size=batch_size, verbose=args.verbose, shuffle=shuffle,
              callbacks=[progress])
    return time.perf_counter() - started


def summarize(model, X, y, batch_size=None, seconds=0.0):
    print(f"Training time: {seconds:.1f} s")
    scores = model.evaluate(X, y, batch_size=batch_size, verbose=0)
    print("Model Accuracy: %.2f%%" % (scores[1] * 100))  # noqa: UP031 (the tutorial's line)


def predict_patterns(model, dataX, shape):
    """Predict every training pattern once; ``shape(pattern)`` is the model's input shape for one."""
    for pattern in dataX:
        x = numpy.reshape(pattern, shape(pattern))
        x = x / float(len(alphabet))
        prediction = model.predict(x, verbose=0)
        index = numpy.argmax(prediction)
        result = int_to_char[index]
        seq_in = [int_to_char[value] for value in pattern]
        print(seq_in, "->", result)


# ------------------------------------------------------------------------------------------- variants

def stateful():
    """Stateful LSTM to learn one-char to one-char mapping (the tutorial's headline model)."""
    dataX, dataY = make_pairs(seq_length=1)
    # reshape X to be [samples, time steps, features]
    X = numpy.reshape(dataX, (len(dataX), 1, 1))
    # normalize
    X = X / float(len(alphabet))
    # one hot encode the output variable
    y = np_utils.to_categorical(dataY)
    # create and fit the model
    batch_size = 1
    model = Sequential()
    model.add(LSTM(args.units, batch_input_shape=(batch_size, X.shape[1], X.shape[2]), stateful=True))
    model.add(Dense(y.shape[1], activation='softmax'))
    compile_model(model)
    started = time.perf_counter()
    for i in range(args.epochs):
        history = model.fit(X, y, epochs=1, batch_size=batch_size, verbose=args.verbose, shuffle=False)
        model.reset_states()
        progress_line(i, args.epochs, {k: v[-1] for k, v in history.history.items()})
    seconds = time.perf_counter() - started
    # summarize performance of the model
    print(f"Training time: {seconds:.1f} s")
    scores = model.evaluate(X, y, batch_size=batch_size, verbose=0)
    model.reset_states()
    print("Model Accuracy: %.2f%%" % (scores[1] * 100))  # noqa: UP031 (the tutorial's line)
    # demonstrate some model predictions
    seed = [char_to_int[alphabet[0]]]
    for _ in range(0, len(alphabet) - 1):
        x = numpy.reshape(seed, (1, len(seed), 1))
        x = x / float(len(alphabet))
        prediction = model.predict(x, verbose=0)
        index = numpy.argmax(prediction)
        print(int_to_char[seed[0]], "->", int_to_char[index])
        seed = [index]
    model.reset_states()
    # demonstrate a random starting point
    letter = "K"
    seed = [char_to_int[letter]]
    print("New start: ", letter)
    for _ in range(0, 5):
        x = numpy.reshape(seed, (1, len(seed), 1))
        x = x / float(len(alphabet))
        prediction = model.predict(x, verbose=0)
        index = numpy.argmax(prediction)
        print(int_to_char[seed[0]], "->", int_to_char[index])
        seed = [index]
    model.reset_states()
    return scores


def windowed(seq_length, as_timesteps):
    """Naive LSTM on a window of ``seq_length`` chars: features of one step, or steps of one feature."""
    dataX, dataY = make_pairs(seq_length)
    # reshape X to be [samples, time steps, features]
    shape = (lambda pattern: (1, len(pattern), 1)) if as_timesteps else (lambda pattern: (1, 1, len(pattern)))
    X = numpy.reshape(dataX, (len(dataX), *shape(dataX[0])[1:]))
    X = X / float(len(alphabet))
    y = np_utils.to_categorical(dataY)
    model = Sequential()
    model.add(LSTM(args.units, input_shape=(X.shape[1], X.shape[2])))
    model.add(Dense(y.shape[1], activation='softmax'))
    compile_model(model)
    seconds = fit(model, X, y, batch_size=1)
    summarize(model, X, y, seconds=seconds)
    predict_patterns(model, dataX, shape)


def stateful_batch():
    """One char -> one char with the whole alphabet as one batch (the tutorial's "state within a
    batch"), then 20 random patterns."""
    dataX, dataY = make_pairs(seq_length=1)
    X = numpy.reshape(dataX, (len(dataX), 1, 1))
    X = X / float(len(alphabet))
    y = np_utils.to_categorical(dataY)
    model = Sequential()
    model.add(LSTM(args.units, input_shape=(X.shape[1], X.shape[2])))
    model.add(Dense(y.shape[1], activation='softmax'))
    compile_model(model)
    seconds = fit(model, X, y, batch_size=len(dataX), shuffle=False)
    summarize(model, X, y, seconds=seconds)
    shape = lambda pattern: (1, len(pattern), 1)  # noqa: E731
    predict_patterns(model, dataX, shape)
    # demonstrate predicting random patterns
    print("Test a Random Pattern:")
    for _ in range(0, 20):
        pattern_index = numpy.random.randint(len(dataX))
        predict_patterns(model, [dataX[pattern_index]], shape)


def variable_length():
    """LSTM with variable-length input sequences to one character output."""
    num_inputs = args.patterns
    max_len = 5
    dataX = []
    dataY = []
    for i in range(num_inputs):
        start = numpy.random.randint(len(alphabet) - 2)
        end = numpy.random.randint(start, min(start + max_len, len(alphabet) - 1))
        sequence_in = alphabet[start:end + 1]
        sequence_out = alphabet[end + 1]
        dataX.append([char_to_int[char] for char in sequence_in])
        dataY.append(char_to_int[sequence_out])
        if i < 10:
            print(sequence_in, '->', sequence_out)
    print(f"... {num_inputs} patterns")
    # convert list of lists to array and pad sequences if needed
    X = pad_sequences(dataX, maxlen=max_len)
    # reshape X to be [samples, time steps, features]
    X = numpy.reshape(X, (X.shape[0], max_len, 1))
    X = X / float(len(alphabet))
    y = np_utils.to_categorical(dataY, num_classes=len(alphabet))
    model = Sequential()
    model.add(LSTM(args.units, input_shape=(X.shape[1], 1)))
    model.add(Dense(y.shape[1], activation='softmax'))
    compile_model(model)
    seconds = fit(model, X, y, batch_size=1)
    summarize(model, X, y, seconds=seconds)
    # demonstrate some model predictions
    for _ in range(20):
        pattern_index = numpy.random.randint(len(dataX))
        pattern = dataX[pattern_index]
        x = pad_sequences([pattern], maxlen=max_len)
        x = numpy.reshape(x, (1, max_len, 1))
        x = x / float(len(alphabet))
        prediction = model.predict(x, verbose=0)
        index = numpy.argmax(prediction)
        result = int_to_char[index]
        seq_in = [int_to_char[value] for value in pattern]
        print(seq_in, "->", result)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="variants:\n" + "\n".join(
                                         f"  {name:17s} {text} (tutorial: {epochs} epochs, LSTM({units}))"
                                         for name, (epochs, units, text) in VARIANTS.items()))
    parser.add_argument("--variant", choices=list(VARIANTS), default="stateful",
                        help="which of the tutorial's models to run (default: stateful)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: 7, as the tutorial)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default: the tutorial's, 300 for the stateful model)")
    parser.add_argument("--units", type=int, default=None,
                        help="LSTM units (default: the tutorial's, 50 for the stateful model)")
    parser.add_argument("--patterns", type=int, default=200,
                        help="variable-length only: how many random patterns (tutorial: 1000; default 200)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=0,
                        help=f"0: a line every {PROGRESS_EVERY} epochs (default); 1, 2: Keras's output")
    parsed = parser.parse_args(argv)
    epochs, units, _ = VARIANTS[parsed.variant]
    parsed.epochs = epochs if parsed.epochs is None else parsed.epochs
    parsed.units = units if parsed.units is None else parsed.units
    if parsed.epochs < 1 or parsed.units < 1 or parsed.patterns < 1:
        parser.error("--epochs, --units and --patterns must be positive")
    return parsed


def main(argv=None):
    global args
    args = parse_args(argv)
    # fix random seed for reproducibility
    numpy.random.seed(args.seed)
    set_random_seed(args.seed)
    print(f"Variant: {args.variant} - {VARIANTS[args.variant][2]} "
          f"({args.epochs} epochs, LSTM({args.units}), seed {args.seed})")
    if args.variant == "stateful":
        stateful()
    elif args.variant == "one-char":
        windowed(seq_length=1, as_timesteps=True)
    elif args.variant == "window-features":
        windowed(seq_length=3, as_timesteps=False)
    elif args.variant == "window-timesteps":
        windowed(seq_length=3, as_timesteps=True)
    elif args.variant == "stateful-batch":
        stateful_batch()
    else:
        variable_length()


args = None

if __name__ == "__main__":
    main()
