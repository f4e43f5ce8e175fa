"""vidrep-preprocess and vidrep-features: video files (or a prepared TFDS video set) to a dataset file — patch
sequences, resized frames, fc6-format CNN features or per-frame features with a per-video index — as one HDF5 file
or as shards with an index (`keras_vidrep.data.shards`), written here or on Apache Beam."""
import dataclasses
import os

import h5py

from keras_vidrep.data import preprocess, shard_jobs, video
from keras_vidrep.data.backbone import BACKBONES, Backbone
from keras_vidrep.data.checks import check_output_path, check_replaceable
from keras_vidrep.errors import ConfigError
from keras_vidrep.settings import check_positive, check_required, setting


@dataclasses.dataclass
class ShardOptions:
    """The options of the commands that write datasets in shards."""

    shards: int = setting(0, "Write the dataset as this many shard files OUTPUT-0000k-of-0000N.h5 and an index at "
                             "`output` that every --data_file reads as the whole (0: one file). The content does not "
                             "depend on `workers`; a re-run skips complete shards.")
    workers: int = setting(1, "With `shards`: processes writing shards at once, on Apache Beam's local runner "
                              "(FnApiRunner) when more than 1 (pip install 'keras_vidrep[beam]'); Beam's log goes to "
                              "OUTPUT.beam.log.")
    beam_options: str = setting("", "With `shards`: Apache Beam pipeline options, e.g. \"--runner=FlinkRunner "
                                    "--flink_master=HOST:8081\" (every worker must see the output folder); default: "
                                    "Beam's local runner with `workers`.")

    def check_shards(self):
        """ConfigError for shard options out of range, or Beam settings without `shards`."""
        if self.shards < 0:
            raise ConfigError(f"`shards` must be >= 0, got {self.shards}")
        if self.workers <= 0:
            raise ConfigError(f"`workers` must be a positive integer, got {self.workers}")
        if not self.shards and (self.workers != 1 or self.beam_options):
            raise ConfigError("`workers` and `beam_options` write shards: give `shards` too (e.g. --shards=16)")


@dataclasses.dataclass
class PreprocessOptions(ShardOptions):
    """What vidrep-preprocess is asked (the command's flags, of the same names)."""

    videos: str = setting("", "Video files, folders (searched recursively) or globs, comma separated.")
    tfds: str = setting("", "Instead of --videos: a prepared TFDS video dataset (e.g. ucf101); needs its data on "
                            "this machine.")
    tfds_split: str = setting("train", "With --tfds: the split.")
    tfds_data_dir: str = setting(None, "With --tfds: the TFDS data directory (default: TFDS's own).")
    output: str = setting("", "The HDF5 file to write (FILE.h5; with `shards`, the index).")
    kind: str = setting("patches", "patches: sequences of square patches; frames: every kept frame resized to size x "
                                   "size; features: per-frame CNN features in the original fc6 format (labels from "
                                   "folder names).", ("patches", "frames", "features"))
    backbone: str = setting("vgg16_fc6", "features: the keras.applications backbone.", BACKBONES)
    weights: str = setting("imagenet", "features: imagenet (Keras's cached weights, downloaded if possible), random, "
                                       "or a local weights file.")
    size: int = setting(32, "Patch size (patches) or frame size (frames), in pixels.")
    seq_length: int = setting(20, "patches: frames per sequence.")
    frame_skip: int = setting(1, "Keep every N-th frame.")
    max_frames: int = setting(0, "Keep at most this many frames of each video (after frame skip; 0: all).")
    keep_aspect: bool = setting(False, "frames: cut the centred square of each frame before resizing, keeping the "
                                       "aspect ratio (default: stretch the whole frame to size x size).")
    resize: int = setting(0, "patches: first resize frames so that their shorter side is this long (0: no).")
    crops: str = setting("random", "patches: random times and places, or every non-overlapping window in time and "
                                   "space.", ("random", "grid"))
    per_video: int = setting(10, "patches with random crops: sequences cut from each video.")
    seed: int = setting(0, "Seed of the random crops.")
    skip_bad_videos: bool = setting(False, "Warn about and skip videos that cannot be decoded or are too short, "
                                           "instead of stopping.")

    def validate(self):
        check_required(self, ("output",))
        check_positive(self, ("size", "seq_length", "frame_skip", "per_video"))
        if self.max_frames < 0:
            raise ConfigError(f"`max_frames` must be >= 0, got {self.max_frames}")
        if bool(self.videos) == bool(self.tfds):
            raise ConfigError("give exactly one of `videos` and `tfds`")
        self.check_shards()
        if self.shards and self.tfds:
            raise ConfigError("`shards` splits the files of `videos`; a TFDS set is already sharded by TFDS: write "
                              "it as one file, or give its videos with `videos`")
        return self


@dataclasses.dataclass
class FeaturesOptions(ShardOptions):
    """What vidrep-features is asked (the command's flags, of the same names)."""

    videos: str = setting("", "Video files, folders (searched recursively) or globs, comma separated.")
    output: str = setting("", "The HDF5 file to write or extend (FEATURES.h5).")
    every: int = setting(1, "Keep every N-th frame of each video.")
    backbone: str = setting("resnet50", "resnet50: 2048-d average-pooled; vgg16_fc6: 4096-d first fully connected "
                                        "layer; mobilenet_v3_small: 576-d average-pooled (fast on a CPU).", BACKBONES)
    weights: str = setting("imagenet", "imagenet (Keras's cached weights, downloaded if possible), none (random: for "
                                       "tests), or a local weights file of the backbone.")
    batch_size: int = setting(32, "Frames per forward pass (split over the GPUs).")
    seed: int = setting(0, "--weights=none: the seed of the random weights (a resume must use the same).")

    def validate(self):
        check_required(self, ("videos", "output"))
        check_positive(self, ("every", "batch_size"))
        self.check_shards()
        return self


def preprocess_videos(options):
    """vidrep-preprocess: writes the dataset `options` (a `PreprocessOptions`) describes; returns the line that
    says what was written."""
    options.validate()
    check_output_path(options.output)
    check_replaceable(options.output, ("patches", "frames", "hidden6"), "vidrep-preprocess")
    frames = options.kind == "frames"  # features: frames keep their size; the backbone resizes them
    size = (options.size, options.size) if frames else None
    short_side = 0 if frames else options.resize
    decode = dict(frame_skip=options.frame_skip, size=size, short_side=short_side,
                  max_frames=options.max_frames or None, crop_square=frames and options.keep_aspect)
    if options.videos:
        files = video.find_videos(options.videos)
        source, total = preprocess.video_files(files, **decode), len(files)
    else:
        source = preprocess.tfds_videos(options.tfds, options.tfds_split, options.tfds_data_dir, **decode)
        total = None
    settings = {name: getattr(options, name) for name in ("kind", "size", "seq_length", "frame_skip", "max_frames",
                                                          "keep_aspect", "resize", "crops", "per_video", "seed")}
    if options.shards:
        return sharded_dataset(options, files, decode, settings)
    if options.kind == "features":
        backbone = Backbone(options.backbone, options.weights, seed=options.seed)
        result = preprocess.write_features(source, options.output, backbone, options.skip_bad_videos, total,
                                           attributes=settings)
        what = "frame features"
    else:
        result = preprocess.write_dataset(source, options.output, options.kind, options.size, options.seq_length,
                                          options.crops, options.per_video, options.seed, options.skip_bad_videos,
                                          settings, total, options.frame_skip)
        what = options.kind
    return (f"wrote {options.output}: {result['rows']} {what} from {result['videos']} videos"
            + (f"; skipped {len(result['skipped'])}" if result["skipped"] else "")
            + (f"; and {', '.join(result['files'].values())}" if "files" in result else ""))


def sharded_dataset(options, files, decode, settings):
    """--shards: the jobs of every shard, run here or on Beam, then the index (and the fc6 side files)."""
    if options.kind == "features":
        backbone = (options.backbone, options.weights, 32, options.seed)
        identity = shard_jobs.backbone(*backbone).identity  # checks the weights before any work
        specs = shard_jobs.shard_specs("fc6", files, options.output, options.shards,
                                       {**settings, "backbone": options.backbone, "weights": identity},
                                       decode=decode, skip_bad=options.skip_bad_videos, backbone=backbone)
    else:
        specs = shard_jobs.shard_specs("dataset", files, options.output, options.shards, settings, decode=decode,
                                       skip_bad=options.skip_bad_videos)
    dataset = "hidden6" if options.kind == "features" else options.kind
    videos, rows, before, _ = shard_jobs.run(specs, options.output, dataset, options.workers, options.beam_options,
                                             f"vidrep-preprocess {options.kind}")
    side = ""
    if options.kind == "features":
        with h5py.File(options.output, "r") as index:
            names = [v.decode() if isinstance(v, bytes) else str(v) for v in index["videos"][...]]
            counts = index["counts"][...].tolist()
        side = "; and " + ", ".join(preprocess.write_feature_side_files(options.output, names, counts).values())
    what = "frame features" if options.kind == "features" else options.kind
    return (f"wrote {options.output}: an index of {options.shards} shards ({before} complete before this run) "
            f"holding {rows} {what} from {videos} of {len(files)} videos{side}"
            f"{shard_jobs.log_note(options.output, options.workers, options.beam_options)}")


def video_features(options):
    """vidrep-features: writes (or extends) the features file `options` (a `FeaturesOptions`) describes; returns
    the line that says what was written."""
    options.validate()
    paths = [os.path.abspath(p) for p in video.find_videos(options.videos)]
    check_output_path(options.output)
    backbone = shard_jobs.backbone(options.backbone, options.weights, options.batch_size, options.seed)
    if options.shards:  # the index is replaced by every run (the single file is extended: checked as it is read)
        check_replaceable(options.output, ("features",), "vidrep-features")
        settings = {"backbone": backbone.name, "every": options.every, "weights": backbone.identity}
        specs = shard_jobs.shard_specs("features", paths, options.output, options.shards, settings,
                                       backbone=(options.backbone, options.weights, options.batch_size, options.seed),
                                       every=options.every, attributes={"weights": backbone.identity})
        videos, rows, before, unreadable = shard_jobs.run(specs, options.output, "features", options.workers,
                                                          options.beam_options, f"vidrep-features ({backbone.name})")
        return (f"wrote {options.output}: an index of {options.shards} shards ({before} complete before this run) "
                f"holding {rows} feature vectors of {videos} of {len(paths)} videos"
                + shard_jobs.log_note(options.output, options.workers, options.beam_options)
                + (f"; {len(unreadable)} unreadable, recorded in the index and tried again by the next run: "
                   f"{', '.join(unreadable)}" if unreadable else ""))
    result = preprocess.write_video_features(paths, options.output, backbone, options.every,
                                             {"weights": backbone.identity})
    return (f"wrote {options.output}: {result['rows']} feature vectors; {result['done']} videos added, "
            f"{result['already']} already there"
            + (f", {len(result['failed'])} unreadable" if result["failed"] else ""))
