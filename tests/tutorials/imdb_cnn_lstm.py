"""Keras 2 example ``examples/imdb_cnn_lstm.py`` (keras-team/keras, tag 2.3.1), reduced.

A recurrent convolutional network for IMDB sentiment: Embedding -> Dropout -> Conv1D(relu, valid) ->
MaxPooling1D -> LSTM -> Dense(1) -> Activation('sigmoid'), then evaluate, written out again with the
example's layers, arguments and calls and only the imports swapped to scratchrnn. Reduced: offline made-up
reviews (``offline_data.imdb``, 96 train / 32 test), vocabulary 1000 (was 20000), maxlen 40 (100),
embedding 8 (128), 8 filters (64), LSTM 8 (70), 3 epochs (2). The last line is ``RESULT {json}``.
"""

import json

from offline_data import imdb

from scratchrnn.layers import LSTM, Activation, Conv1D, Dense, Dropout, Embedding, MaxPooling1D
from scratchrnn.models import Sequential
from scratchrnn.preprocessing import sequence
from scratchrnn.utils import set_random_seed

set_random_seed(0)

# Embedding
max_features = 1000
maxlen = 40
embedding_size = 8

# Convolution
kernel_size = 5
filters = 8
pool_size = 4

# LSTM
lstm_output_size = 8

# Training
batch_size = 30
epochs = 3

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
model.add(Embedding(max_features, embedding_size, input_length=maxlen))
model.add(Dropout(0.25))
model.add(Conv1D(filters,
                 kernel_size,
                 padding='valid',
                 activation='relu',
                 strides=1))
model.add(MaxPooling1D(pool_size=pool_size))
model.add(LSTM(lstm_output_size))
model.add(Dense(1))
model.add(Activation('sigmoid'))

model.compile(loss='binary_crossentropy',
              optimizer='adam',
              metrics=['accuracy'])

print('Train...')
history = model.fit(x_train, y_train,
                    batch_size=batch_size,
                    epochs=epochs,
                    validation_data=(x_test, y_test))
score, acc = model.evaluate(x_test, y_test, batch_size=batch_size)
print('Test score:', score)
print('Test accuracy:', acc)
print("RESULT", json.dumps({"loss": history.history["loss"], "test_score": score}))
