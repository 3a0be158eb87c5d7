"""Predict airline passengers with an LSTM: Jason Brownlee's Keras tutorial "Time Series Prediction with
LSTM Recurrent Neural Networks in Python with Keras" (the regression with a look-back window), run on
scratchrnn.

    python demos/timeseries.py --csv airline-passengers.csv            # look_back 1, 100 epochs
    python demos/timeseries.py --csv airline-passengers.csv --look-back 3

The data is the monthly total of international airline passengers (thousands), January 1949 to
December 1960, 144 values: the ``airline-passengers.csv`` of the tutorial (header "Month","Passengers").

Where the code differs from the tutorial:
- no pandas or scikit-learn: the CSV is read with the ``csv`` module, the min-max scaling and the RMSE
  are a few lines of NumPy;
- the scaler is fitted on the whole series by default, as the tutorial does; that lets the test
  period's maximum leak into the scaling, so ``--scale-on train`` fits it on the training part only
  (test values then may lie above 1);
- ``numpy.random.seed(7)`` becomes ``set_random_seed(seed)`` too, since scratchrnn draws its initial
  weights and its shuffling from its own generator;
- with --verbose 0 (default) training prints a line every 10 epochs, and the total training time.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import numpy

from scratchrnn.callbacks import LambdaCallback
from scratchrnn.layers import LSTM, Dense
from scratchrnn.models import Sequential
from scratchrnn.utils import set_random_seed

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CSV = os.path.join(REPO, "..", "shared", "data", "airline-passengers.csv")
PROGRESS_EVERY = 10


def read_series(path):
    """The second column of the CSV as a (N, 1) float32 array (like ``read_csv(usecols=[1]).values``)."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    header, rows = rows[0], [row for row in rows[1:] if row]
    if len(header) < 2:
        raise ValueError(f"{path}: expected a header with two columns (Month, Passengers), got {header}")
    try:
        values = [float(row[1]) for row in rows]
    except (IndexError, ValueError) as error:
        raise ValueError(f"{path}: expected a number in the second column of every row ({error})") from None
    return numpy.array(values, dtype="float32").reshape(-1, 1)


class MinMaxScaler:
    """scikit-learn's MinMaxScaler(feature_range=(0, 1)) for one column."""

    def fit(self, data):
        self.low, self.high = float(data.min()), float(data.max())
        return self

    def transform(self, data):
        return ((numpy.asarray(data) - self.low) / (self.high - self.low)).astype("float32")

    def inverse_transform(self, data):
        return numpy.asarray(data, dtype="float64") * (self.high - self.low) + self.low


def create_dataset(dataset, look_back=1):
    """Windows of ``look_back`` values (X) and the value after each (Y), as in the tutorial (which
    leaves out the last possible window; kept for the same numbers)."""
    dataX, dataY = [], []
    for i in range(len(dataset) - look_back - 1):
        a = dataset[i:(i + look_back), 0]
        dataX.append(a)
        dataY.append(dataset[i + look_back, 0])
    return numpy.array(dataX), numpy.array(dataY)


def rmse(actual, predicted):
    return float(numpy.sqrt(numpy.mean((numpy.asarray(actual) - numpy.asarray(predicted)) ** 2)))


def plot(path, series, train_predict, test_predict, look_back):
    """Actual series and both predictions at the months they predict; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    # shift train predictions for plotting
    trainPredictPlot = numpy.full_like(series, numpy.nan, dtype="float64")
    trainPredictPlot[look_back:len(train_predict) + look_back, :] = train_predict
    # shift test predictions for plotting
    testPredictPlot = numpy.full_like(series, numpy.nan, dtype="float64")
    testPredictPlot[len(train_predict) + (look_back * 2) + 1:len(series) - 1, :] = test_predict
    figure, axes = plt.subplots(figsize=(10, 5))
    axes.plot(series, label="actual")
    axes.plot(trainPredictPlot, label="predicted (train)")
    axes.plot(testPredictPlot, label="predicted (test)")
    axes.set_xlabel("month since January 1949")
    axes.set_ylabel("passengers (thousands)")
    axes.set_title(f"LSTM(4), look-back {look_back}: airline passengers")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_csv = DEFAULT_CSV if os.path.exists(DEFAULT_CSV) else None
    parser.add_argument("--csv", default=default_csv,
                        help="airline-passengers.csv (default: ../shared/data/airline-passengers.csv "
                        "next to the repository, when it exists)")
    parser.add_argument("--look-back", type=int, default=1, help="months in each input window (default 1)")
    parser.add_argument("--epochs", type=int, default=100, help="training epochs (default 100)")
    parser.add_argument("--units", type=int, default=4, help="LSTM units (default 4)")
    parser.add_argument("--scale-on", choices=("all", "train"), default="all",
                        help="fit the min-max scaling on the whole series (the tutorial) or the "
                        "training part only")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7, as the tutorial)")
    parser.add_argument("--plot", default="timeseries.png",
                        help="PNG of actual vs predicted (default timeseries.png; '' for none)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=0,
                        help=f"0: a line every {PROGRESS_EVERY} epochs (default); 1, 2: Keras's output")
    args = parser.parse_args(argv)
    if args.look_back < 1 or args.epochs < 1 or args.units < 1:
        parser.error("--look-back, --epochs and --units must be positive")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.csv is None or not os.path.isfile(args.csv):
        where = "no --csv given" if args.csv is None else f"{args.csv} does not exist"
        print(f"timeseries: {where}. Download airline-passengers.csv (monthly international airline "
              "passengers 1949-1960, e.g. from github.com/jbrownlee/Datasets) and pass --csv PATH.",
              file=sys.stderr)
        return 1
    # fix random seed for reproducibility
    numpy.random.seed(args.seed)
    set_random_seed(args.seed)
    # load the dataset
    series = read_series(args.csv)
    # split into train and test sets
    train_size = int(len(series) * 0.67)
    test_size = len(series) - train_size
    print(f"{len(series)} months: {train_size} to train, {test_size} to test; look-back {args.look_back}")
    if test_size < args.look_back + 2:
        print(f"timeseries: a look-back of {args.look_back} leaves no test windows", file=sys.stderr)
        return 1
    # normalize the dataset
    scaler = MinMaxScaler().fit(series if args.scale_on == "all" else series[:train_size])
    dataset = scaler.transform(series)
    train, test = dataset[0:train_size, :], dataset[train_size:len(dataset), :]
    # reshape into X=t and Y=t+1
    look_back = args.look_back
    trainX, trainY = create_dataset(train, look_back)
    testX, testY = create_dataset(test, look_back)
    # reshape input to be [samples, time steps, features]
    trainX = numpy.reshape(trainX, (trainX.shape[0], 1, trainX.shape[1]))
    testX = numpy.reshape(testX, (testX.shape[0], 1, testX.shape[1]))
    # create and fit the LSTM network
    model = Sequential()
    model.add(LSTM(args.units, input_shape=(1, look_back)))
    model.add(Dense(1))
    model.compile(loss='mean_squared_error', optimizer='adam')
    def progress_line(epoch, logs):
        if args.verbose == 0 and ((epoch + 1) % PROGRESS_EVERY == 0 or epoch + 1 == args.epochs):
            print(f"epoch {epoch + 1}/{args.epochs} - loss: {logs['loss']:.5f}")

    progress = LambdaCallback(on_epoch_end=progress_line)
    started = time.perf_counter()
    model.fit(trainX, trainY, epochs=args.epochs, batch_size=1, verbose=args.verbose, callbacks=[progress])
    print(f"Training time: {time.perf_counter() - started:.1f} s")
    # make predictions
    trainPredict = model.predict(trainX)
    testPredict = model.predict(testX)
    # invert predictions
    trainPredict = scaler.inverse_transform(trainPredict)
    trainY = scaler.inverse_transform([trainY])
    testPredict = scaler.inverse_transform(testPredict)
    testY = scaler.inverse_transform([testY])
    # calculate root mean squared error
    trainScore = rmse(trainY[0], trainPredict[:, 0])
    print('Train Score: %.2f RMSE' % (trainScore))  # noqa: UP031 (the tutorial's lines)
    testScore = rmse(testY[0], testPredict[:, 0])
    print('Test Score: %.2f RMSE' % (testScore))  # noqa: UP031
    # plot baseline and predictions
    if args.plot:
        if plot(args.plot, series, trainPredict, testPredict, look_back):
            print(f"Plot: {args.plot}")
        else:
            print("Plot: skipped (matplotlib is not installed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
