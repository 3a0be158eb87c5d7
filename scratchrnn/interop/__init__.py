"""Keras and PyTorch weight conversion.

    to_torch_state_dict(layers_or_model)      scratchrnn recurrent stack -> torch.nn.RNN/LSTM/GRU state dict
    from_torch_state_dict(state_dict, layers) torch state dict (or module) -> scratchrnn layer weights
    to_torch_module(layers_or_model)          a torch.nn.RNN/LSTM/GRU holding the layers' weights
    to_keras(model)                           scratchrnn Sequential -> keras.Sequential, same weights
    from_keras(keras_model)                   keras.Sequential -> scratchrnn Sequential, same weights

Keras HDF5 weight files (``model.save_weights("x.h5")`` / ``"x.weights.h5"``) are in ``keras_h5``.
torch, keras and h5py are imported only when one of these is called.
"""

from .keras_model import from_keras, to_keras
from .pytorch import from_torch_state_dict, to_torch_module, to_torch_state_dict

__all__ = ["to_torch_state_dict", "from_torch_state_dict", "to_torch_module", "to_keras", "from_keras"]
