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
from keras_vidrep.cli import common
from keras_vidrep.data.video_datasets import FeaturesOptions

common.define_option_flags(FeaturesOptions)


def main():
    options = common.checked_options(FeaturesOptions)
    from keras_vidrep.data import video_datasets

    print(video_datasets.video_features(options))


def run():
    common.run_app(main, __name__, "vidrep-features")


if __name__ == "__main__":
    run()
