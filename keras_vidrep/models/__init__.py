"""Keras 3 layers and models, written with keras.ops only so they run on any Keras backend."""
from keras_vidrep.models.composite import CompositeModel
from keras_vidrep.models.lstm import LSTMCell, LSTMStack

__all__ = ["CompositeModel", "LSTMCell", "LSTMStack"]
