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
from keras_vidrep.cli import common
from keras_vidrep.data.video_datasets import PreprocessOptions

common.define_option_flags(PreprocessOptions)


def main():
    options = common.checked_options(PreprocessOptions)
    from keras_vidrep.data import video_datasets

    print(video_datasets.preprocess_videos(options))


def run():
    common.run_app(main, __name__, "vidrep-preprocess")


if __name__ == "__main__":
    run()
