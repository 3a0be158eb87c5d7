"""keras-io example ``examples/generative/lstm_character_level_text_generation.py`` (keras-team/keras-io,
"Character-level text generation with LSTM", fchollet), reduced.

``keras.Sequential([keras.Input(shape=(maxlen, len(chars))), layers.LSTM(...), layers.Dense(len(chars),
activation="softmax")])`` with ``keras.optimizers.RMSprop(learning_rate=0.01)``, trained one
``model.fit(..., epochs=1)`` at a time, sampling text at four temperatures with ``model.predict`` after each.
Written out again with the example's layers, arguments and calls and only the imports swapped to
scratchrnn (``from tensorflow import keras`` -> ``import scratchrnn as keras``). Reduced: the Nietzsche
corpus that ``keras.utils.get_file`` downloads is replaced by the first 3000 characters of chapter I of
Alice's Adventures in Wonderland from the shared data folder, LSTM 32 units (was 128), 3 epochs (40),
30 generated characters per temperature (400). The last line is ``RESULT {json}``.
"""

import io
import json
import random
import sys

import numpy as np
from offline_data import data_file

import scratchrnn as keras
from scratchrnn import layers

random.seed(0)
np.random.seed(0)
keras.set_random_seed(0)

path = data_file("alice.txt")
with io.open(path, encoding="utf-8") as f:
    text = f.read().lower()
text = text[text.index("chapter i."):][:3000]
print("corpus length:", len(text))

chars = sorted(list(set(text)))
print("total chars:", len(chars))
char_indices = dict((c, i) for i, c in enumerate(chars))
indices_char = dict((i, c) for i, c in enumerate(chars))

# cut the text in semi-redundant sequences of maxlen characters
maxlen = 40
step = 3
sentences = []
next_chars = []
for i in range(0, len(text) - maxlen, step):
    sentences.append(text[i: i + maxlen])
    next_chars.append(text[i + maxlen])
print("nb sequences:", len(sentences))

print("Vectorization...")
x = np.zeros((len(sentences), maxlen, len(chars)), dtype=bool)
y = np.zeros((len(sentences), len(chars)), dtype=bool)
for i, sentence in enumerate(sentences):
    for t, char in enumerate(sentence):
        x[i, t, char_indices[char]] = 1
    y[i, char_indices[next_chars[i]]] = 1

model = keras.Sequential(
    [
        keras.Input(shape=(maxlen, len(chars))),
        layers.LSTM(32),
        layers.Dense(len(chars), activation="softmax"),
    ]
)
optimizer = keras.optimizers.RMSprop(learning_rate=0.01)
model.compile(loss="categorical_crossentropy", optimizer=optimizer)


def sample(preds, temperature=1.0):
    # helper function to sample an index from a probability array
    preds = np.asarray(preds).astype("float64")
    preds = np.log(preds) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    probas = np.random.multinomial(1, preds, 1)
    return np.argmax(probas)


epochs = 3
batch_size = 128
losses = []
samples = []

for epoch in range(epochs):
    history = model.fit(x, y, batch_size=batch_size, epochs=1)
    losses += history.history["loss"]

    print("Generating text after epoch: %d" % epoch)

    start_index = random.randint(0, len(text) - maxlen - 1)
    for diversity in [0.2, 0.5, 1.0, 1.2]:
        print("----- diversity:", diversity)

        generated = ""
        sentence = text[start_index: start_index + maxlen]
        generated += sentence
        print('----- Generating with seed: "' + sentence + '"')
        sys.stdout.write(generated)

        for i in range(30):
            x_pred = np.zeros((1, maxlen, len(chars)))
            for t, char in enumerate(sentence):
                x_pred[0, t, char_indices[char]] = 1.0

            preds = model.predict(x_pred, verbose=0)[0]
            next_index = sample(preds, diversity)
            next_char = indices_char[next_index]

            sentence = sentence[1:] + next_char
            generated += next_char

            sys.stdout.write(next_char)
            sys.stdout.flush()
        samples.append(generated)
        print()
print("RESULT", json.dumps({"loss": losses, "samples": samples}))
