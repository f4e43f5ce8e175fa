"""Data sources → numpy arrays → tf.data pipelines: readers of every file format (the original's and the package's),
generated Bouncing MNIST, video decoding and dataset writing, shards, seeded resumable streams, and the one
validation-set type (`validation_set.ValidationSet`). Nothing here imports a task, the training code or a model of
this package (the feature backbone is a keras.applications network).

Three kinds of "features", three modules: `fc6` (the original's VGG fc6 clips of labelled videos),
`patches.SequenceFile` (sequence files of feature vectors, `data=features`) and `frame_file.FeatureFile` (per-frame
features of whole videos written by vidrep-features, `data=video_features`).
"""
