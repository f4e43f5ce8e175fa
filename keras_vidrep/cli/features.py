"""vidrep-features: video files → per-frame CNN feature vectors in one HDF5 file, with a per-video index.

  vidrep-features --videos=recordings/ --output=features.h5 --every=50            # ResNet50, 2048-d, ImageNet
  vidrep-features --videos="day1/*.mp4,day2/" --output=features.h5 --backbone=vgg16_fc6 --weights=vgg16.h5
  vidrep-features --videos=kinetics/ --output=features.h5 --shards=512 --workers=8      # Apache Beam, 8 processes

Samples every N-th frame of each video, runs the frames through a keras.applications backbone in batches (each
split over all GPUs, or on the CPU without one), and appends them to FEATURES.h5 (`features`,
`video_index`, `frame_number`, `videos`, `counts`; see keras_vidrep.data.preprocess.write_video_features). A
re-run skips the videos already in the file; a video that cannot be read is one line on stderr, the rest go on.
With `--shards`, the same file in shards plus an index (keras_vidrep.data.shards), written on Apache Beam.
Train on it with `vidrep-train --flagfile=configs/video_features_ae.cfg --data_file=features.h5`.
"""
import os

from absl import flags

from keras_vidrep.cli import common

flags.DEFINE_string("videos", None, "Video files, folders (searched recursively) or globs, comma separated.",
                    required=True)
flags.DEFINE_string("output", None, "The HDF5 file to write or extend (FEATURES.h5).", required=True)
flags.DEFINE_integer("every", 1, "Keep every N-th frame of each video.")
flags.DEFINE_enum("backbone", "resnet50", ["resnet50", "vgg16_fc6"], "resnet50: 2048-d average-pooled; vgg16_fc6: "
                                                                     "4096-d first fully connected layer.")
flags.DEFINE_string("weights", "imagenet", "imagenet (Keras's cached weights, downloaded if possible), none "
                                           "(random: for tests), or a local weights file of the backbone.")
flags.DEFINE_integer("batch_size", 32, "Frames per forward pass (split over the GPUs).")
flags.DEFINE_integer("seed", 0, "--weights=none: the seed of the random weights (a resume must use the same).")
common.define_shard_flags()
FLAGS = flags.FLAGS


def go():
    from keras_vidrep.data import preprocess, shard_jobs, video
    from keras_vidrep.data.checks import check_output_path, check_replaceable
    from keras_vidrep.errors import ConfigError

    for name in ("every", "batch_size"):
        if FLAGS[name].value <= 0:
            raise ConfigError(f"`{name}` must be a positive integer, got {FLAGS[name].value}")
    common.check_shard_flags(FLAGS)
    paths = [os.path.abspath(p) for p in video.find_videos(FLAGS.videos)]
    check_output_path(FLAGS.output)
    backbone = shard_jobs.backbone(FLAGS.backbone, FLAGS.weights, FLAGS.batch_size, FLAGS.seed)
    if FLAGS.shards:  # the index is replaced by every run (the single file is extended: checked as it is read)
        check_replaceable(FLAGS.output, ("features",), "vidrep-features")
        settings = {"backbone": backbone.name, "every": FLAGS.every, "weights": backbone.identity}
        specs = shard_jobs.shard_specs("features", paths, FLAGS.output, FLAGS.shards, settings,
                                       backbone=(FLAGS.backbone, FLAGS.weights, FLAGS.batch_size, FLAGS.seed),
                                       every=FLAGS.every, attributes={"weights": backbone.identity})
        videos, rows, before, unreadable = shard_jobs.run(specs, FLAGS.output, "features", FLAGS.workers,
                                                          FLAGS.beam_options, f"vidrep-features ({backbone.name})")
        print(f"wrote {FLAGS.output}: an index of {FLAGS.shards} shards ({before} complete before this run) "
              f"holding {rows} feature vectors of {videos} of {len(paths)} videos"
              + shard_jobs.log_note(FLAGS.output, FLAGS.workers, FLAGS.beam_options)
              + (f"; {len(unreadable)} unreadable, recorded in the index and tried again by the next run: "
                 f"{', '.join(unreadable)}" if unreadable else ""))
        return
    result = preprocess.write_video_features(paths, FLAGS.output, backbone, FLAGS.every,
                                             {"weights": backbone.identity})
    print(f"wrote {FLAGS.output}: {result['rows']} feature vectors; {result['done']} videos added, "
          f"{result['already']} already there" + (f", {len(result['failed'])} unreadable" if result["failed"]
                                                  else ""))


def run():
    common.run_app(go, __name__, "vidrep-features")


if __name__ == "__main__":
    run()
