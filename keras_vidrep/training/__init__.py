"""TensorFlow-only training machinery: tf.distribute strategy, custom loop, checkpoints, TensorBoard summaries."""
