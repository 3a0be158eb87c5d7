"""Jason Brownlee, "Understanding Stateful LSTM Recurrent Neural Networks in Python with Keras"
(machinelearningmastery.com/understanding-stateful-lstm-recurrent-neural-networks-python-keras/; fetched
as its tf.keras transcription in Deep-Learning-Challenge/challenge-notebooks, "3.Recurrent Neural
Networks/1.Lessons/3.Understanding Stateful LSTM Recurrent Neural Networks.ipynb", commit c7870f6),
reduced. The repository's demos/alphabet.py runs every variant at the tutorial's sizes.

Learning the alphabet, letters scaled to [0, 1) and next letters one-hot (``np_utils.to_categorical``):
the naive one-char -> one-char ``LSTM(32, input_shape=(X.shape[1], X.shape[2]))``; a three-char window as
three time steps; the stateful ``LSTM(50, batch_input_shape=(batch_size, X.shape[1], X.shape[2]),
stateful=True)`` fitted one epoch at a time with ``shuffle=False`` and ``reset_states()``, evaluated with
``batch_size``, then reciting the alphabet from "A" by feeding each prediction back in; and the
variable-length inputs (1 to 5 letters) zero-padded in front by ``pad_sequences(..., maxlen=max_len,
dtype='float32')``. Each compiles categorical_crossentropy with adam and accuracy. Written out again with
the tutorial's layers, arguments and calls and only the imports swapped to scratchrnn. Reduced: 8 epochs
(the tutorial has 500; the stateful model 300), 100 variable-length patterns (1000).
The last line is ``RESULT {json}``.
"""

import json

import numpy

from scratchrnn.layers import LSTM, Dense
from scratchrnn.models import Sequential
from scratchrnn.preprocessing.sequence import pad_sequences
from scratchrnn.utils import np_utils, set_random_seed

# fix random seed for reproducibility
numpy.random.seed(7)
set_random_seed(7)
# define the raw dataset
alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# create mapping of characters to integers (0-25) and the reverse
char_to_int = dict((c, i) for i, c in enumerate(alphabet))
int_to_char = dict((i, c) for i, c in enumerate(alphabet))
epochs = 8
results = {}


def prepare(seq_length):
    # prepare the dataset of input to output pairs encoded as integers
    dataX = []
    dataY = []
    for i in range(0, len(alphabet) - seq_length, 1):
        seq_in = alphabet[i:i + seq_length]
        seq_out = alphabet[i + seq_length]
        dataX.append([char_to_int[char] for char in seq_in])
        dataY.append(char_to_int[seq_out])
        print(seq_in, '->', seq_out)
    return dataX, dataY


# Naive LSTM to learn one-char to one-char mapping, and a three-char time step window
for name, seq_length in (("one_char", 1), ("window_time_steps", 3)):
    dataX, dataY = prepare(seq_length)
    # reshape X to be [samples, time steps, features]
    X = numpy.reshape(dataX, (len(dataX), seq_length, 1))
    # normalize
    X = X / float(len(alphabet))
    # one hot encode the output variable
    y = np_utils.to_categorical(dataY)
    # create and fit the model
    model = Sequential()
    model.add(LSTM(32, input_shape=(X.shape[1], X.shape[2])))
    model.add(Dense(y.shape[1], activation='softmax'))
    model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
    history = model.fit(X, y, epochs=epochs, batch_size=1, verbose=2)
    # summarize performance of the model
    scores = model.evaluate(X, y, verbose=0)
    print("Model Accuracy: %.2f%%" % (scores[1] * 100))
    # demonstrate some model predictions
    for pattern in dataX:
        x = numpy.reshape(pattern, (1, len(pattern), 1))
        x = x / float(len(alphabet))
        prediction = model.predict(x, verbose=0)
        index = numpy.argmax(prediction)
        result = int_to_char[index]
        seq_in = [int_to_char[value] for value in pattern]
        print(seq_in, "->", result)
    results[name] = {"loss": history.history["loss"], "accuracy": scores[1]}

# Stateful LSTM to learn one-char to one-char mapping
dataX, dataY = prepare(1)
seq_length = 1
X = numpy.reshape(dataX, (len(dataX), seq_length, 1))
X = X / float(len(alphabet))
y = np_utils.to_categorical(dataY)
batch_size = 1
model = Sequential()
model.add(LSTM(50, batch_input_shape=(batch_size, X.shape[1], X.shape[2]), stateful=True))
model.add(Dense(y.shape[1], activation='softmax'))
model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
losses = []
for i in range(epochs):
    history = model.fit(X, y, epochs=1, batch_size=batch_size, verbose=2, shuffle=False)
    losses += history.history['loss']
    model.reset_states()
# summarize performance of the model
scores = model.evaluate(X, y, batch_size=batch_size, verbose=0)
model.reset_states()
print("Model Accuracy: %.2f%%" % (scores[1] * 100))
# demonstrate some model predictions
seed = [char_to_int[alphabet[0]]]
recited = alphabet[0]
for i in range(0, len(alphabet) - 1):
    x = numpy.reshape(seed, (1, len(seed), 1))
    x = x / float(len(alphabet))
    prediction = model.predict(x, verbose=0)
    index = numpy.argmax(prediction)
    print(int_to_char[seed[0]], "->", int_to_char[index])
    recited += int_to_char[index]
    seed = [index]
model.reset_states()
results["stateful"] = {"loss": losses, "accuracy": scores[1], "recited": recited}

# LSTM with variable length input sequences to one character output
num_inputs = 100
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
    print(sequence_in, '->', sequence_out)
# convert list of lists to array and pad sequences if needed
X = pad_sequences(dataX, maxlen=max_len, dtype='float32')
# reshape X to be [samples, time steps, features]
X = numpy.reshape(X, (X.shape[0], max_len, 1))
# normalize
X = X / float(len(alphabet))
# one hot encode the output variable
y = np_utils.to_categorical(dataY)
# create and fit the model
batch_size = 1
model = Sequential()
model.add(LSTM(32, input_shape=(X.shape[1], 1)))
model.add(Dense(y.shape[1], activation='softmax'))
model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
history = model.fit(X, y, epochs=epochs, batch_size=batch_size, verbose=2)
# summarize performance of the model
scores = model.evaluate(X, y, verbose=0)
print("Model Accuracy: %.2f%%" % (scores[1] * 100))
# demonstrate some model predictions
for i in range(20):
    pattern_index = numpy.random.randint(len(dataX))
    pattern = dataX[pattern_index]
    x = pad_sequences([pattern], maxlen=max_len, dtype='float32')
    x = numpy.reshape(x, (1, max_len, 1))
    x = x / float(len(alphabet))
    prediction = model.predict(x, verbose=0)
    index = numpy.argmax(prediction)
    result = int_to_char[index]
    seq_in = [int_to_char[value] for value in pattern]
    print(seq_in, "->", result)
results["variable_length"] = {"loss": history.history["loss"], "accuracy": scores[1],
                              "padded_shape": list(X.shape)}
print("RESULT", json.dumps(results))
