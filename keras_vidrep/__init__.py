"""keras_vidrep: unsupervised learning of video representations with LSTMs (TensorFlow / Keras 3).

The package is laid out as the pipeline runs, each folder importing only those below it (docs/architecture.md):

  errors, settings, pictures   one-line user errors; settings fields and the trainer's settings; frame pictures
  runs/      a run's directory (RunDir names every file in it) and its checkpoints
  runtime/   process set-up before TensorFlow loads: CPU facts, the kernel library, the quiet start-up
  data/      sources and file formats → numpy → tf.data; shards, streams, the one validation-set type
  models/    Keras 3 layers and models written with keras.ops
  board/     what TensorBoard reads beyond training summaries: HParams, Projector, Profile
  tasks/     one file per model family (the Task interface the trainer speaks to) and the registry
  config     Config: the trainer's settings + a task's; trained: a trained run opened; export: SavedModels
  training/  tf.distribute strategy, the custom loop, periodic work, budget, watchdog, the run lock
  analysis/  after training: evaluation, probes, embeddings, code maps, pictures, experiments
  cli/       the vidrep-* commands
"""
__version__ = "0.1.0"
