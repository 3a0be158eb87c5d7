"""Keras 2 example ``examples/imdb_bidirectional_lstm.py`` (keras-team/keras, tag 2.3.1), reduced.

Trains an Embedding -> Bidirectional(LSTM) -> Dropout -> Dense(sigmoid) sentiment classifier on IMDB-shaped
data, written out again with the example's layers, arguments and calls and only the imports swapped to
scratchrnn. Reduced: offline made-up reviews (``offline_data.imdb``, 96 train / 32 test) instead of the
download, vocabulary 1000 (was 20000), maxlen 20 (100), embedding 8 (128), LSTM 8 units (64), 3 epochs (4).
The last line is ``RESULT {json}`` with the loss of every epoch.
"""

import json

import numpy as np
from offline_data import imdb

from scratchrnn.layers import LSTM, Bidirectional, Dense, Dropout, Embedding
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
y_train = np.array(y_train)
y_test = np.array(y_test)

model = Sequential()
model.add(Embedding(max_features, 8, input_length=maxlen))
model.add(Bidirectional(LSTM(8)))
model.add(Dropout(0.5))
model.add(Dense(1, activation='sigmoid'))

# the example passes the optimizer and the loss by position
model.compile('adam', 'binary_crossentropy', metrics=['accuracy'])

print('Train...')
history = model.fit(x_train, y_train,
                    batch_size=batch_size,
                    epochs=3,
                    validation_data=[x_test, y_test])
probabilities = model.predict(x_test)
print("RESULT", json.dumps({"loss": history.history["loss"], "x_train_shape": list(x_train.shape),
                            "predict_shape": list(probabilities.shape)}))
