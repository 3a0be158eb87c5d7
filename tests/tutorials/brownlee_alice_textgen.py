"""Jason Brownlee, "Text Generation With LSTM Recurrent Neural Networks in Python with Keras"
(machinelearningmastery.com/text-generation-lstm-recurrent-neural-networks-python-keras/; fetched as its
tf.keras transcription in Deep-Learning-Challenge/challenge-notebooks, "3.Recurrent Neural Networks/
2.Guided Projects/2.Text Generation With Alice in Wonderland.ipynb", commit c7870f6), the small network,
reduced.

Alice's Adventures in Wonderland lower-cased, 100-character windows of character indices scaled by the
vocabulary size -> the next character one-hot (``np_utils.to_categorical``), ``LSTM(256,
input_shape=(X.shape[1], X.shape[2]))`` -> ``Dropout(0.2)`` -> ``Dense(y.shape[1], activation='softmax')``,
categorical_crossentropy with adam, a ``ModelCheckpoint("weights-improvement-{epoch:02d}-{loss:.4f}.hdf5",
monitor='loss', verbose=1, save_best_only=True, mode='min')``; then the best checkpoint is loaded with
``model.load_weights`` and the model generates text by argmax from a random seed window. Written out again
with the tutorial's layers, arguments and calls and only the imports swapped to scratchrnn. Reduced: the
first 1500 characters of chapter I (the tutorial strips the Gutenberg header and footer and uses the whole
book), LSTM 16 units (was 256), 3 epochs (20), 30 generated characters (1000); the tutorial names the
best checkpoint of its author's run ("weights-improvement-20-1.9277.hdf5"), here the last one this run
saved (the best, with save_best_only). The last line is ``RESULT {json}``.
"""

import glob
import json
import sys

import numpy
from offline_data import data_file

from scratchrnn.callbacks import ModelCheckpoint
from scratchrnn.layers import LSTM, Dense, Dropout
from scratchrnn.models import Sequential
from scratchrnn.utils import np_utils, set_random_seed

numpy.random.seed(0)
set_random_seed(0)
# load ascii text and covert to lowercase
filename = data_file("alice.txt")
raw_text = open(filename, encoding="utf-8").read()
raw_text = raw_text.lower()
raw_text = raw_text[raw_text.index("chapter i."):][:1500]
# create mapping of unique chars to integers, and a reverse mapping
chars = sorted(list(set(raw_text)))
char_to_int = dict((c, i) for i, c in enumerate(chars))
int_to_char = dict((i, c) for i, c in enumerate(chars))
# summarize the loaded data
n_chars = len(raw_text)
n_vocab = len(chars)
print("Total Characters: ", n_chars)
print("Total Vocab: ", n_vocab)
# prepare the dataset of input to output pairs encoded as integers
seq_length = 100
dataX = []
dataY = []
for i in range(0, n_chars - seq_length, 1):
    seq_in = raw_text[i:i + seq_length]
    seq_out = raw_text[i + seq_length]
    dataX.append([char_to_int[char] for char in seq_in])
    dataY.append(char_to_int[seq_out])
n_patterns = len(dataX)
print("Total Patterns: ", n_patterns)
# reshape X to be [samples, time steps, features]
X = numpy.reshape(dataX, (n_patterns, seq_length, 1))
# normalize
X = X / float(n_vocab)
# one hot encode the output variable
y = np_utils.to_categorical(dataY)
# define the LSTM model
model = Sequential()
model.add(LSTM(16, input_shape=(X.shape[1], X.shape[2])))
model.add(Dropout(0.2))
model.add(Dense(y.shape[1], activation='softmax'))
model.compile(loss='categorical_crossentropy', optimizer='adam')
# define the checkpoint
filepath = "weights-improvement-{epoch:02d}-{loss:.4f}.hdf5"
checkpoint = ModelCheckpoint(filepath, monitor='loss', verbose=1, save_best_only=True, mode='min')
callbacks_list = [checkpoint]
# fit the model
history = model.fit(X, y, epochs=3, batch_size=128, callbacks=callbacks_list)

# load the network weights: the best checkpoint (save_best_only saves only improvements, so the last)
filename = sorted(glob.glob("weights-improvement-*.hdf5"))[-1]
model.load_weights(filename)
model.compile(loss='categorical_crossentropy', optimizer='adam')
# pick a random seed
start = numpy.random.randint(0, len(dataX) - 1)
pattern = dataX[start]
print("Seed:")
print("\"", ''.join([int_to_char[value] for value in pattern]), "\"")
# generate characters
generated = ''
for i in range(30):
    x = numpy.reshape(pattern, (1, len(pattern), 1))
    x = x / float(n_vocab)
    prediction = model.predict(x, verbose=0)
    index = numpy.argmax(prediction)
    result = int_to_char[index]
    seq_in = [int_to_char[value] for value in pattern]
    sys.stdout.write(result)
    generated += result
    pattern.append(index)
    pattern = pattern[1:len(pattern)]
print("\nDone.")
print("RESULT", json.dumps({"loss": history.history["loss"], "checkpoint": filename, "generated": generated}))
