"""A run's model directory: the name of every file in it (`directory.RunDir`, plain Python) and its checkpoints
(`checkpoints`, TensorFlow)."""
