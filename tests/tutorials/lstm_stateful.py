"""Keras 2 example ``examples/lstm_stateful.py`` (keras-team/keras, tag 2.3.1), reduced.

A stateful and a stateless LSTM learn the moving average (window ``tsteps``) of a uniform random input,
seeing ``lahead`` steps per sample: ``LSTM(units, input_shape=(lahead, 1), batch_size=batch_size,
stateful=stateful)`` -> Dense(1), mse and adam; the stateful model is fitted one epoch at a time with
``shuffle=False`` and ``reset_states()`` after each, both predict with ``batch_size``. Written out again
with the example's layers, arguments and calls and only the imports swapped to scratchrnn. Reduced: the
example builds its series with pandas (``rolling(...).mean()``, ``shift``) and plots with matplotlib; here
the same series come from NumPy and nothing is plotted; input_len 200 (was 1000), 8 units (20), 3 epochs
(10). The last line is ``RESULT {json}``.
"""

import json

import numpy as np

from scratchrnn.layers import LSTM, Dense
from scratchrnn.models import Sequential
from scratchrnn.utils import set_random_seed

# length of input
input_len = 200
# The window length of the moving average used to generate the output from the input
tsteps = 2
# The input sequence length that the LSTM is trained on for each output point
lahead = 1
# training parameters passed to "model.fit(...)"
batch_size = 1
epochs = 3

print("*" * 33)
if lahead >= tsteps:
    print("STATELESS LSTM WILL ALSO CONVERGE")
else:
    print("STATELESS LSTM WILL NOT CONVERGE")
print("*" * 33)

np.random.seed(1986)
set_random_seed(1986)

print('Generating Data...')


def gen_uniform_amp(amp=1, xn=10000):
    """Uniform random data between -amp and +amp of length xn, as a (xn, 1) column."""
    return np.random.uniform(-1 * amp, +1 * amp, xn).reshape(-1, 1)


# The first tsteps - 1 points of a moving average are undefined and get dropped, as do the first
# lahead - 1 points of the rolling-window view: generate that many more.
to_drop = max(tsteps - 1, lahead - 1)
data_input = gen_uniform_amp(amp=0.1, xn=input_len + to_drop)

# set the target to be a N-point average of the input (pandas' rolling(window=tsteps).mean())
expected_output = np.full_like(data_input, np.nan)
for end in range(tsteps - 1, len(data_input)):
    expected_output[end] = data_input[end - tsteps + 1: end + 1].mean(axis=0)

# when lahead > 1, convert the input to a "rolling window view": column i is the input shifted by i
if lahead > 1:
    data_input = np.repeat(data_input, repeats=lahead, axis=1)
    for i in range(lahead):
        data_input[:, i] = np.concatenate([np.full(i, np.nan), data_input[: len(data_input) - i, i]])

# drop the nan
expected_output = expected_output[to_drop:]
data_input = data_input[to_drop:]

print('Input shape:', data_input.shape)
print('Output shape:', expected_output.shape)


def create_model(stateful):
    model = Sequential()
    model.add(LSTM(8,
              input_shape=(lahead, 1),
              batch_size=batch_size,
              stateful=stateful))
    model.add(Dense(1))
    model.compile(loss='mse', optimizer='adam')
    return model


print('Creating Stateful Model...')
model_stateful = create_model(stateful=True)


# split train/test data
def split_data(x, y, ratio=0.8):
    to_train = int(input_len * ratio)
    # tweak to match with batch_size
    to_train -= to_train % batch_size

    x_train = x[:to_train]
    y_train = y[:to_train]
    x_test = x[to_train:]
    y_test = y[to_train:]

    # tweak to match with batch_size
    to_drop = x.shape[0] % batch_size
    if to_drop > 0:
        x_test = x_test[:-1 * to_drop]
        y_test = y_test[:-1 * to_drop]

    # some reshaping
    def reshape_3(x):
        return x.reshape((x.shape[0], x.shape[1], 1))
    x_train = reshape_3(x_train)
    x_test = reshape_3(x_test)

    def reshape_2(x):
        return x.reshape((x.shape[0], 1))
    y_train = reshape_2(y_train)
    y_test = reshape_2(y_test)

    return (x_train, y_train), (x_test, y_test)


(x_train, y_train), (x_test, y_test) = split_data(data_input, expected_output)
print('x_train.shape: ', x_train.shape)
print('y_train.shape: ', y_train.shape)
print('x_test.shape: ', x_test.shape)
print('y_test.shape: ', y_test.shape)

stateful_losses = []
print('Training')
for i in range(epochs):
    print('Epoch', i + 1, '/', epochs)
    # The last state for sample i in a batch is the initial state for sample i in the next batch.
    history = model_stateful.fit(x_train,
                                 y_train,
                                 batch_size=batch_size,
                                 epochs=1,
                                 verbose=1,
                                 validation_data=(x_test, y_test),
                                 shuffle=False)
    stateful_losses += history.history['loss']
    model_stateful.reset_states()

print('Predicting')
predicted_stateful = model_stateful.predict(x_test, batch_size=batch_size)

print('Creating Stateless Model...')
model_stateless = create_model(stateful=False)

print('Training')
history = model_stateless.fit(x_train,
                              y_train,
                              batch_size=batch_size,
                              epochs=epochs,
                              verbose=1,
                              validation_data=(x_test, y_test),
                              shuffle=False)

print('Predicting')
predicted_stateless = model_stateless.predict(x_test, batch_size=batch_size)

# drop the first "tsteps-1": they cannot be predicted since their "previous" timesteps do not exist
stateful_error = float(np.mean((y_test - predicted_stateful).flatten()[tsteps - 1:] ** 2))
stateless_error = float(np.mean((y_test - predicted_stateless).flatten() ** 2))
print('Stateful test mse:', stateful_error, 'stateless test mse:', stateless_error)
print("RESULT", json.dumps({"stateful_loss": stateful_losses, "stateless_loss": history.history["loss"],
                            "predicted_shape": list(predicted_stateful.shape),
                            "y_test_shape": list(y_test.shape)}))
