"""Data sources → numpy arrays → tf.data pipelines. Nothing here imports a model."""
