"""keras-io example ``examples/nlp/bidirectional_lstm_imdb.py`` (keras-team/keras-io, "Bidirectional
LSTM on IMDB", fchollet 2020), reduced.

A 2-layer bidirectional LSTM classifier in the functional API: ``keras.Input(shape=(None,),
dtype="int32")`` -> Embedding -> Bidirectional(LSTM(return_sequences=True)) -> Bidirectional(LSTM) ->
Dense(1, sigmoid), ``keras.Model(inputs, outputs)``, ``model.summary()``,
``keras.preprocessing.sequence.pad_sequences``, compile with adam and binary_crossentropy, fit with
validation data. Written out again with the example's layers, arguments and calls and only the imports
swapped to scratchrnn (``from tensorflow import keras`` -> ``import scratchrnn as keras``). Reduced: offline
made-up reviews (``offline_data.imdb`` in place of ``keras.datasets.imdb``, 96 train / 32 validation),
vocabulary 1000 (was 20000), maxlen 20 (200), embedding 8 (128), LSTM 8 units (64); epochs stay 2, plus a
``predict``. The last line is ``RESULT {json}``.
"""

import json

from offline_data import imdb

import scratchrnn as keras
from scratchrnn import layers

keras.set_random_seed(0)
max_features = 1000  # Only consider the top 1k words
maxlen = 20  # Only consider the first 20 words of each movie review

# Input for variable-length sequences of integers
inputs = keras.Input(shape=(None,), dtype="int32")
# Embed each integer in an 8-dimensional vector
x = layers.Embedding(max_features, 8)(inputs)
# Add 2 bidirectional LSTMs
x = layers.Bidirectional(layers.LSTM(8, return_sequences=True))(x)
x = layers.Bidirectional(layers.LSTM(8))(x)
# Add a classifier
outputs = layers.Dense(1, activation="sigmoid")(x)
model = keras.Model(inputs, outputs)
model.summary()

(x_train, y_train), (x_val, y_val) = imdb.load_data(num_words=max_features)
print(len(x_train), "Training sequences")
print(len(x_val), "Validation sequences")
# pad_sequences truncates longer sequences and zero-pads shorter ones to maxlen
x_train = keras.preprocessing.sequence.pad_sequences(x_train, maxlen=maxlen)
x_val = keras.preprocessing.sequence.pad_sequences(x_val, maxlen=maxlen)

model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=32, epochs=2, validation_data=(x_val, y_val))
probabilities = model.predict(x_val)
print("RESULT", json.dumps({"loss": history.history["loss"], "val_loss": history.history.get("val_loss"),
                            "predict_shape": list(probabilities.shape)}))
