"""vidrep-preprocess: videos → an HDF5 dataset of patch sequences or resized frames, with a per-video index.

  vidrep-preprocess --videos=UCF-101/ --output=ucf_patches.h5 --kind=patches --size=32 --seq_length=20
  vidrep-preprocess --videos="clips/*.mp4,more/a.avi" --output=frames.h5 --kind=frames --size=64 --keep_aspect
  vidrep-preprocess --tfds=ucf101 --tfds_split=train --output=ucf_train_patches.h5   # a prepared TFDS ucf101
  vidrep-preprocess --videos=UCF-101/ --output=train_fc6.h5 --kind=features --backbone=vgg16_fc6
  vidrep-preprocess --videos=kinetics/ --output=kinetics.h5 --shards=256 --workers=16       # Beam, 16 processes

Train on the result with `vidrep-train --data=patches --data_file=ucf_patches.h5`, a frame VAE with
`vidrep-train --flagfile=configs/mmd_vae.cfg --data_file=frames.h5`, or for features
`vidrep-train --task=classifier --data_file=train_fc6.h5 --num_frames_file=train_fc6_num_frames.txt
--labels_file=train_fc6_labels.txt ...`.
"""
from absl import flags

from keras_vidrep.cli import common

flags.DEFINE_string("videos", "", "Video files, folders (searched recursively) or globs, comma separated.")
flags.DEFINE_string("tfds", "", "Instead of --videos: a prepared TFDS video dataset (e.g. ucf101); needs its data "
                                "on this machine.")
flags.DEFINE_string("tfds_split", "train", "With --tfds: the split.")
flags.DEFINE_string("tfds_data_dir", None, "With --tfds: the TFDS data directory (default: TFDS's own).")
flags.DEFINE_string("output", None, "The HDF5 file to write (FILE.h5; with `shards`, the index).", required=True)
flags.DEFINE_enum("kind", "patches", ["patches", "frames", "features"],
                  "patches: sequences of square patches; frames: every kept frame resized to size x size; "
                  "features: per-frame CNN features in the original fc6 format (labels from folder names).")
flags.DEFINE_enum("backbone", "vgg16_fc6", ["vgg16_fc6", "resnet50"], "features: the keras.applications backbone.")
flags.DEFINE_string("weights", "imagenet", "features: imagenet (Keras's cached weights, downloaded if possible), "
                                           "random, or a local weights file.")
flags.DEFINE_integer("size", 32, "Patch size (patches) or frame size (frames), in pixels.")
flags.DEFINE_integer("seq_length", 20, "patches: frames per sequence.")
flags.DEFINE_integer("frame_skip", 1, "Keep every N-th frame.")
flags.DEFINE_integer("max_frames", 0, "Keep at most this many frames of each video (after frame skip; 0: all).")
flags.DEFINE_bool("keep_aspect", False, "frames: cut the centred square of each frame before resizing, keeping the "
                                        "aspect ratio (default: stretch the whole frame to size x size).")
flags.DEFINE_integer("resize", 0, "patches: first resize frames so that their shorter side is this long (0: no).")
flags.DEFINE_enum("crops", "random", ["random", "grid"], "patches: random times and places, or every "
                                                         "non-overlapping window in time and space.")
flags.DEFINE_integer("per_video", 10, "patches with random crops: sequences cut from each video.")
flags.DEFINE_integer("seed", 0, "Seed of the random crops.")
flags.DEFINE_bool("skip_bad_videos", False, "Warn about and skip videos that cannot be decoded or are too short, "
                                            "instead of stopping.")
common.define_shard_flags()
FLAGS = flags.FLAGS


def go():
    from keras_vidrep.data import preprocess, video
    from keras_vidrep.data.checks import check_output_path, check_replaceable
    from keras_vidrep.errors import ConfigError

    for name in ("size", "seq_length", "frame_skip", "per_video"):
        if FLAGS[name].value <= 0:
            raise ConfigError(f"`{name}` must be a positive integer, got {FLAGS[name].value}")
    if FLAGS.max_frames < 0:
        raise ConfigError(f"`max_frames` must be >= 0, got {FLAGS.max_frames}")
    if bool(FLAGS.videos) == bool(FLAGS.tfds):
        raise ConfigError("give exactly one of `videos` and `tfds`")
    common.check_shard_flags(FLAGS)
    if FLAGS.shards and FLAGS.tfds:
        raise ConfigError("`shards` splits the files of `videos`; a TFDS set is already sharded by TFDS: write it "
                          "as one file, or give its videos with `videos`")
    check_output_path(FLAGS.output)
    check_replaceable(FLAGS.output, ("patches", "frames", "hidden6"), "vidrep-preprocess")
    frames = FLAGS.kind == "frames"  # features: frames keep their size; the backbone resizes them
    size = (FLAGS.size, FLAGS.size) if frames else None
    short_side = 0 if frames else FLAGS.resize
    decode = dict(frame_skip=FLAGS.frame_skip, size=size, short_side=short_side, max_frames=FLAGS.max_frames or None,
                  crop_square=frames and FLAGS.keep_aspect)
    if FLAGS.videos:
        files = video.find_videos(FLAGS.videos)
        source, total = preprocess.video_files(files, **decode), len(files)
    else:
        source, total = preprocess.tfds_videos(FLAGS.tfds, FLAGS.tfds_split, FLAGS.tfds_data_dir, **decode), None
    settings = {name: FLAGS[name].value for name in ("kind", "size", "seq_length", "frame_skip", "max_frames",
                                                     "keep_aspect", "resize", "crops", "per_video", "seed")}
    if FLAGS.shards:
        return sharded(files, decode, settings)
    if FLAGS.kind == "features":
        from keras_vidrep.data.backbone import Backbone

        backbone = Backbone(FLAGS.backbone, FLAGS.weights, seed=FLAGS.seed)
        result = preprocess.write_features(source, FLAGS.output, backbone, FLAGS.skip_bad_videos, total)
        what = "frame features"
    else:
        result = preprocess.write_dataset(source, FLAGS.output, FLAGS.kind, FLAGS.size, FLAGS.seq_length,
                                          FLAGS.crops, FLAGS.per_video, FLAGS.seed, FLAGS.skip_bad_videos, settings,
                                          total, FLAGS.frame_skip)
        what = FLAGS.kind
    print(f"wrote {FLAGS.output}: {result['rows']} {what} from {result['videos']} videos"
          + (f"; skipped {len(result['skipped'])}" if result["skipped"] else "")
          + (f"; and {', '.join(result['files'].values())}" if "files" in result else ""))


def sharded(files, decode, settings):
    """--shards: the jobs of every shard, run here or on Beam, then the index (and the fc6 side files)."""
    import h5py

    from keras_vidrep.data import preprocess, shard_jobs

    if FLAGS.kind == "features":
        backbone = (FLAGS.backbone, FLAGS.weights, 32, FLAGS.seed)
        identity = shard_jobs.backbone(*backbone).identity  # checks the weights before any work
        specs = shard_jobs.shard_specs("fc6", files, FLAGS.output, FLAGS.shards,
                                       {**settings, "backbone": FLAGS.backbone, "weights": identity},
                                       decode=decode, skip_bad=FLAGS.skip_bad_videos, backbone=backbone)
    else:
        specs = shard_jobs.shard_specs("dataset", files, FLAGS.output, FLAGS.shards, settings, decode=decode,
                                       skip_bad=FLAGS.skip_bad_videos)
    dataset = "hidden6" if FLAGS.kind == "features" else FLAGS.kind
    videos, rows, before, _ = shard_jobs.run(specs, FLAGS.output, dataset, FLAGS.workers, FLAGS.beam_options,
                                             f"vidrep-preprocess {FLAGS.kind}")
    side = ""
    if FLAGS.kind == "features":
        with h5py.File(FLAGS.output, "r") as index:
            names = [v.decode() if isinstance(v, bytes) else str(v) for v in index["videos"][...]]
            counts = index["counts"][...].tolist()
        side = "; and " + ", ".join(preprocess.write_feature_side_files(FLAGS.output, names, counts).values())
    print(f"wrote {FLAGS.output}: an index of {FLAGS.shards} shards ({before} complete before this run) holding "
          f"{rows} {'frame features' if FLAGS.kind == 'features' else FLAGS.kind} from {videos} of {len(files)} "
          f"videos{side}{shard_jobs.log_note(FLAGS.output, FLAGS.workers, FLAGS.beam_options)}")


def run():
    common.run_app(go, __name__, "vidrep-preprocess")


if __name__ == "__main__":
    run()
