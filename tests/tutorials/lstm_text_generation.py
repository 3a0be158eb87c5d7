"""Keras 2 example ``examples/lstm_text_generation.py`` (keras-team/keras, tag 2.3.1), reduced.

Character-level text generation: 40-character windows (step 3) one-hot encoded, LSTM -> Dense(softmax),
RMSprop(learning_rate=0.01), and a LambdaCallback whose ``on_epoch_end`` samples text at four
temperatures with ``model.predict``. Written out again with the example's layers, arguments and calls
and only the imports swapped to scratchrnn. Reduced: the Nietzsche corpus that the example downloads with
``keras.utils.data_utils.get_file`` is replaced by the first 3000 characters of chapter I of Alice's
Adventures in Wonderland from the shared data folder (so the ``get_file`` import goes with the download),
LSTM 32 units (was 128), 3 epochs (60), 30 generated characters per temperature (400).
The last line is ``RESULT {json}``.
"""

import io
import json
import random
import sys

import numpy as np
from offline_data import data_file

from scratchrnn.callbacks import LambdaCallback
from scratchrnn.layers import LSTM, Dense
from scratchrnn.models import Sequential
from scratchrnn.optimizers import RMSprop
from scratchrnn.utils import set_random_seed

random.seed(0)
np.random.seed(0)
set_random_seed(0)
path = data_file("alice.txt")
with io.open(path, encoding='utf-8') as f:
    text = f.read().lower()
text = text[text.index('chapter i.'):][:3000]
print('corpus length:', len(text))

chars = sorted(list(set(text)))
print('total chars:', len(chars))
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
print('nb sequences:', len(sentences))

print('Vectorization...')
x = np.zeros((len(sentences), maxlen, len(chars)), dtype=bool)
y = np.zeros((len(sentences), len(chars)), dtype=bool)
for i, sentence in enumerate(sentences):
    for t, char in enumerate(sentence):
        x[i, t, char_indices[char]] = 1
    y[i, char_indices[next_chars[i]]] = 1


# build the model: a single LSTM
print('Build model...')
model = Sequential()
model.add(LSTM(32, input_shape=(maxlen, len(chars))))
model.add(Dense(len(chars), activation='softmax'))

optimizer = RMSprop(learning_rate=0.01)
model.compile(loss='categorical_crossentropy', optimizer=optimizer)


def sample(preds, temperature=1.0):
    # helper function to sample an index from a probability array
    preds = np.asarray(preds).astype('float64')
    preds = np.log(preds) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    probas = np.random.multinomial(1, preds, 1)
    return np.argmax(probas)


samples = []


def on_epoch_end(epoch, _):
    # Function invoked at end of each epoch. Prints generated text.
    print()
    print('----- Generating text after Epoch: %d' % epoch)

    start_index = random.randint(0, len(text) - maxlen - 1)
    for diversity in [0.2, 0.5, 1.0, 1.2]:
        print('----- diversity:', diversity)

        generated = ''
        sentence = text[start_index: start_index + maxlen]
        generated += sentence
        print('----- Generating with seed: "' + sentence + '"')
        sys.stdout.write(generated)

        for i in range(30):
            x_pred = np.zeros((1, maxlen, len(chars)))
            for t, char in enumerate(sentence):
                x_pred[0, t, char_indices[char]] = 1.

            preds = model.predict(x_pred, verbose=0)[0]
            next_index = sample(preds, diversity)
            next_char = indices_char[next_index]

            sentence = sentence[1:] + next_char
            generated += next_char

            sys.stdout.write(next_char)
            sys.stdout.flush()
        samples.append(generated)
        print()


print_callback = LambdaCallback(on_epoch_end=on_epoch_end)

history = model.fit(x, y,
                    batch_size=128,
                    epochs=3,
                    callbacks=[print_callback])
print("RESULT", json.dumps({"loss": history.history["loss"], "samples": samples, "maxlen": maxlen}))
