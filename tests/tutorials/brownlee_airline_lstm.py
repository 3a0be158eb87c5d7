"""Jason Brownlee, "Time Series Prediction with LSTM Recurrent Neural Networks in Python with Keras"
(machinelearningmastery.com/time-series-prediction-lstm-recurrent-neural-networks-python-keras/; fetched
as its tf.keras transcription in Deep-Learning-Challenge/challenge-notebooks, "3.Recurrent Neural
Networks/1.Lessons/2.Time Series Prediction with LSTM Recurrent Neural Networks.ipynb", commit c7870f6),
the three stateless framings, reduced.

The international airline passengers series, min-max scaled, split 67/33, ``create_dataset`` pairs of
``look_back`` months -> next month, and ``LSTM(4, input_shape=...)`` -> ``Dense(1)``, mean_squared_error,
adam, ``fit(epochs=..., batch_size=1, verbose=2)``, ``predict``, RMSE in passengers: the regression
framing (look_back 1, shape (n, 1, 1)), the window framing (look_back 3 as three features, (n, 1, 3)) and
the time-steps framing (look_back 3 as three time steps, (n, 3, 1)). Written out again with the tutorial's
layers, arguments and calls and only the imports swapped to scratchrnn. Reduced: 3 epochs (was 100), no
plots; pandas' ``read_csv`` and scikit-learn's MinMaxScaler and mean_squared_error come from
``offline_data`` (a few lines of ``csv`` and NumPy); the CSV is the shared data folder's copy.
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

results = {}
for framing, look_back in (("regression", 1), ("window", 3), ("time_steps", 3)):
    # reshape into X=t and Y=t+1
    trainX, trainY = create_dataset(train, look_back)
    testX, testY = create_dataset(test, look_back)
    # reshape input to be [samples, time steps, features]
    if framing == "time_steps":
        trainX = numpy.reshape(trainX, (trainX.shape[0], trainX.shape[1], 1))
        testX = numpy.reshape(testX, (testX.shape[0], testX.shape[1], 1))
    else:
        trainX = numpy.reshape(trainX, (trainX.shape[0], 1, trainX.shape[1]))
        testX = numpy.reshape(testX, (testX.shape[0], 1, testX.shape[1]))
    # create and fit the LSTM network
    model = Sequential()
    if framing == "time_steps":
        model.add(LSTM(4, input_shape=(look_back, 1)))
    else:
        model.add(LSTM(4, input_shape=(1, look_back)))
    model.add(Dense(1))
    model.compile(loss='mean_squared_error', optimizer='adam')
    history = model.fit(trainX, trainY, epochs=3, batch_size=1, verbose=2)
    # make predictions
    trainPredict = model.predict(trainX)
    testPredict = model.predict(testX)
    # invert predictions
    trainPredict = scaler.inverse_transform(trainPredict)
    trainY = scaler.inverse_transform([trainY])
    testPredict = scaler.inverse_transform(testPredict)
    testY = scaler.inverse_transform([testY])
    # calculate root mean squared error
    trainScore = math.sqrt(mean_squared_error(trainY[0], trainPredict[:, 0]))
    print('Train Score: %.2f RMSE' % (trainScore))
    testScore = math.sqrt(mean_squared_error(testY[0], testPredict[:, 0]))
    print('Test Score: %.2f RMSE' % (testScore))
    results[framing] = {"loss": history.history["loss"], "input_shape": list(trainX.shape),
                        "train_rmse": trainScore, "test_rmse": testScore}
print("RESULT", json.dumps(results))
