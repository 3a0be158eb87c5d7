"""Keras 2 example ``examples/imdb_lstm.py`` (keras-team/keras, tag 2.3.1), reduced.

An LSTM on IMDB sentiment: Embedding -> ``LSTM(128, dropout=0.2, recurrent_dropout=0.2)`` ->
Dense(1, sigmoid), binary_crossentropy with adam, fit with validation data, then evaluate. Written out
again with the example's layers, arguments and calls and only the imports swapped to scratchrnn.
Reduced: offline made-up reviews (``offline_data.imdb``, 96 train / 32 test), vocabulary 1000 (was
20000), maxlen 20 (80), embedding and LSTM 8 units (128), 3 epochs (15). The last line is ``RESULT {json}``.
"""

import json

from offline_data import imdb

from scratchrnn.layers import LSTM, Dense, Embedding
from scratchrnn.models import Sequential
from scratchrnn.preprocessing import sequence
from scratchrnn.utils import set_random_seed

set_random_seed(0)
max_features = 1000
# cut texts after this number of words (among top max_features most common words)
maxlen = 20
batch_size = 32

print('Loading data...')
(x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=max_features)
print(len(x_train), 'train sequences')
print(len(x_test), 'test sequences')

print('Pad sequences (samples x time)')
x_train = sequence.pad_sequences(x_train, maxlen=maxlen)
x_test = sequence.pad_sequences(x_test, maxlen=maxlen)
print('x_train shape:', x_train.shape)
print('x_test shape:', x_test.shape)

print('Build model...')
model = Sequential()
model.add(Embedding(max_features, 8))
model.add(LSTM(8, dropout=0.2, recurrent_dropout=0.2))
model.add(Dense(1, activation='sigmoid'))

# try using different optimizers and different optimizer configs
model.compile(loss='binary_crossentropy',
              optimizer='adam',
              metrics=['accuracy'])

print('Train...')
history = model.fit(x_train, y_train,
                    batch_size=batch_size,
                    epochs=3,
                    validation_data=(x_test, y_test))
score, acc = model.evaluate(x_test, y_test,
                            batch_size=batch_size)
print('Test score:', score)
print('Test accuracy:', acc)
print("RESULT", json.dumps({"loss": history.history["loss"], "test_score": score}))
