"""Jason Brownlee, "Time Series Prediction with LSTM Recurrent Neural Networks in Python with Keras"
(machinelearningmastery.com/time-series-prediction-lstm-recurrent-neural-networks-python-keras/; fetched
as its tf.keras transcription in Deep-Learning-Challenge/challenge-notebooks, "3.Recurrent Neural
Networks/1.Lessons/2.Time Series Prediction with LSTM Recurrent Neural Networks.ipynb", commit c7870f6),
the "LSTM with memory between batches" and "stacked LSTMs with memory between batches" sections, reduced.

The airline passengers series as three time steps (look_back 3) of one feature; a stateful
``LSTM(4, batch_input_shape=(batch_size, look_back, 1), stateful=True)`` -> ``Dense(1)``, then two such
LSTMs stacked (the first with ``return_sequences=True``), each fitted one epoch at a time with
``shuffle=False`` and ``model.reset_states()`` after each, then ``predict(..., batch_size=batch_size)`` on
the training part, ``reset_states()``, and on the test part. Written out again with the tutorial's layers,
arguments and calls and only the imports swapped to scratchrnn. Reduced: 3 epochs (was 100), no plots;
pandas' ``read_csv`` and scikit-learn's MinMaxScaler and mean_squared_error come from ``offline_data``.
The last line is ``RESULT {json}``.
"""

import json
import math

import numpy
from offline_data import MinMaxScaler, data_file, mean_squared_error, read_csv_column

from scratchrnn.layers import LSTM, Dense
from scratchrnn.models import Sequential
from scratchrnn.utils import set_random_seed


# convert an array of values into a dataset matrix
def create_dataset(dataset, look_back=1):
    dataX, dataY = [], []
    for i in range(len(dataset) - look_back - 1):
        a = dataset[i:(i + look_back), 0]
        dataX.append(a)
        dataY.append(dataset[i + look_back, 0])
    return numpy.array(dataX), numpy.array(dataY)


# fix random seed for reproducibility
numpy.random.seed(7)
set_random_seed(7)
# load the dataset
dataset = read_csv_column(data_file("airline-passengers.csv"))
dataset = dataset.astype('float32')
# normalize the dataset
scaler = MinMaxScaler(feature_range=(0, 1))
dataset = scaler.fit_transform(dataset)
# split into train and test sets
train_size = int(len(dataset) * 0.67)
test_size = len(dataset) - train_size
train, test = dataset[0:train_size, :], dataset[train_size:len(dataset), :]
# reshape into X=t and Y=t+1
look_back = 3
trainX, trainY = create_dataset(train, look_back)
testX, testY = create_dataset(test, look_back)
# reshape input to be [samples, time steps, features]
trainX = numpy.reshape(trainX, (trainX.shape[0], trainX.shape[1], 1))
testX = numpy.reshape(testX, (testX.shape[0], testX.shape[1], 1))

results = {}
batch_size = 1
for variant in ("stateful", "stacked_stateful"):
    # create and fit the LSTM network
    model = Sequential()
    if variant == "stateful":
        model.add(LSTM(4, batch_input_shape=(batch_size, look_back, 1), stateful=True))
    else:
        model.add(LSTM(4, batch_input_shape=(batch_size, look_back, 1), stateful=True, return_sequences=True))
        model.add(LSTM(4, batch_input_shape=(batch_size, look_back, 1), stateful=True))
    model.add(Dense(1))
    model.compile(loss='mean_squared_error', optimizer='adam')
    losses = []
    for i in range(3):
        history = model.fit(trainX, trainY, epochs=1, batch_size=batch_size, verbose=2, shuffle=False)
        losses += history.history['loss']
        model.reset_states()
    # make predictions
    trainPredict = model.predict(trainX, batch_size=batch_size)
    model.reset_states()
    testPredict = model.predict(testX, batch_size=batch_size)
    # invert predictions
    trainPredict = scaler.inverse_transform(trainPredict)
    trainY_passengers = scaler.inverse_transform([trainY])
    testPredict = scaler.inverse_transform(testPredict)
    testY_passengers = scaler.inverse_transform([testY])
    # calculate root mean squared error
    trainScore = math.sqrt(mean_squared_error(trainY_passengers[0], trainPredict[:, 0]))
    print('Train Score: %.2f RMSE' % (trainScore))
    testScore = math.sqrt(mean_squared_error(testY_passengers[0], testPredict[:, 0]))
    print('Test Score: %.2f RMSE' % (testScore))
    results[variant] = {"loss": losses, "test_predict_shape": list(testPredict.shape),
                        "train_rmse": trainScore, "test_rmse": testScore}
print("RESULT", json.dumps(results))
