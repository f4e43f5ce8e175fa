"""What the package writes for TensorBoard beyond the training summaries (`training.summaries`): HParams sessions
(`hparams`), Embedding Projector log directories (`projector`) and Profiler traces of chosen steps (`profile`).
TensorFlow/TensorBoard code only."""
