"""Keras 2 example ``examples/mnist_irnn.py`` (keras-team/keras, tag 2.3.1), reduced.

The IRNN of Le, Jaitly & Hinton (2015) on pixel-by-pixel MNIST: a SimpleRNN with relu, a
RandomNormal(stddev=0.001) kernel and an Identity(gain=1.0) recurrent kernel, reading the 784 pixels as
784 time steps of one feature, then Dense(10) and softmax, trained with RMSprop; written out again with the
example's layers, arguments and calls and only the imports swapped to scratchrnn. Reduced: offline made-up
digits of MNIST's shapes and dtypes (``offline_data.mnist``, 64 train / 32 test), 16 hidden units (was
100), 3 epochs (200) and a learning rate of 1e-4 (1e-6, which needs the example's hundreds of epochs to
show anything). The last line is ``RESULT {json}``.
"""

import json

from offline_data import mnist

import scratchrnn as keras
from scratchrnn import initializers
from scratchrnn.layers import Activation, Dense, SimpleRNN
from scratchrnn.models import Sequential
from scratchrnn.optimizers import RMSprop

keras.set_random_seed(0)
batch_size = 32
num_classes = 10
epochs = 3
hidden_units = 16

learning_rate = 1e-4
clip_norm = 1.0  # defined and unused, as in the example

# the data, split between train and test sets
(x_train, y_train), (x_test, y_test) = mnist.load_data()

x_train = x_train.reshape(x_train.shape[0], -1, 1)
x_test = x_test.reshape(x_test.shape[0], -1, 1)
x_train = x_train.astype('float32')
x_test = x_test.astype('float32')
x_train /= 255
x_test /= 255
print('x_train shape:', x_train.shape)
print(x_train.shape[0], 'train samples')
print(x_test.shape[0], 'test samples')

# convert class vectors to binary class matrices
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

print('Evaluate IRNN...')
model = Sequential()
model.add(SimpleRNN(hidden_units,
                    kernel_initializer=initializers.RandomNormal(stddev=0.001),
                    recurrent_initializer=initializers.Identity(gain=1.0),
                    activation='relu',
                    input_shape=x_train.shape[1:]))
model.add(Dense(num_classes))
model.add(Activation('softmax'))
rmsprop = RMSprop(learning_rate=learning_rate)
model.compile(loss='categorical_crossentropy',
              optimizer=rmsprop,
              metrics=['accuracy'])

history = model.fit(x_train, y_train,
                    batch_size=batch_size,
                    epochs=epochs,
                    verbose=1,
                    validation_data=(x_test, y_test))

scores = model.evaluate(x_test, y_test, verbose=0)
print('IRNN test score:', scores[0])
print('IRNN test accuracy:', scores[1])
print("RESULT", json.dumps({"loss": history.history["loss"], "x_train_shape": list(x_train.shape),
                            "test_score": scores[0], "test_accuracy": scores[1]}))
