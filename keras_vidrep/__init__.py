"""keras_vidrep: unsupervised learning of video representations with LSTMs (TensorFlow / Keras 3).

The package is laid out as the pipeline runs: `data` (sources to arrays and tf.data), `models` (Keras layers written
with keras.ops), `training` (tf.distribute loop, checkpoints, TensorBoard), `export` (SavedModel) and `cli`.
"""
__version__ = "0.1.0"
