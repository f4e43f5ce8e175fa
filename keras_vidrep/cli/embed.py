"""vidrep-embed: per-frame latent codes of a frames file by a trained frame VAE (with pictures), or one code per
window of a features file by a composite model trained on it.

  vidrep-preprocess --videos=clips/ --output=frames.h5 --kind=frames --size=64 --keep_aspect
  vidrep-embed --model_dir=runs/mmd_vae --data_file=frames.h5 --output=codes.h5 [--log_variances]
      [--reconstructions]

  vidrep-embed --model_dir=runs/video_features_ae --data_file=features.h5 --output=codes.h5 [--stride=1]

Writes the code means of every frame (and optionally log-variances and reconstructions) with each frame's video and
frame number, plus CODES_samples.png and CODES_reconstructions.png; or one code per window with its video and first
and last frame numbers (see keras_vidrep.analysis.embed). Either way also CODES_projector/, for TensorBoard's Embedding
Projector: `tensorboard --logdir=CODES_projector`, tab Projector (codes with their video, frame, label, cluster and
a thumbnail).
"""
from absl import flags

from keras_vidrep.cli import common

flags.DEFINE_string("model_dir", None, "Model directory of a frame VAE (task vae), a latent predictor, or a "
                                     "composite model of feature windows (data=video_features).", required=True)
flags.DEFINE_string("checkpoint", "", "A checkpoint prefix instead of the latest.")
flags.DEFINE_string("data_file", None, "Frames file (vidrep-preprocess --kind=frames) or .npy (F, H, W[, C]); or a "
                                     "features file (vidrep-features).", required=True)
flags.DEFINE_string("output", None, "CODES.h5 or CODES.npy.", required=True)
flags.DEFINE_bool("log_variances", False, "Also write the log-variances of q(z | frame).")
flags.DEFINE_bool("reconstructions", False, "Also write each frame's reconstruction (uint8).")
flags.DEFINE_integer("batch_size", 256, "Frames encoded at a time.")
flags.DEFINE_integer("seed", 0, "Seed of the prior samples in CODES_samples.png.")
flags.DEFINE_integer("stride", 1, "Feature windows: embed every N-th window.")
flags.DEFINE_integer("projector_points", 10000, "Codes (evenly spread) in the TensorBoard Projector log directory "
                     "written beside the output (CODES_projector/); 0: none.")
flags.DEFINE_integer("clusters", 8, "k-means clusters, a column of the Projector's metadata.")
FLAGS = flags.FLAGS


def go():
    from keras_vidrep.analysis.embed import embed
    from keras_vidrep.errors import ConfigError

    if FLAGS.projector_points < 0 or FLAGS.clusters < 1:
        raise ConfigError(f"`projector_points` must be >= 0 and `clusters` >= 1, got {FLAGS.projector_points} and "
                          f"{FLAGS.clusters}")
    for name in ("batch_size", "stride"):
        if FLAGS[name].value <= 0:
            raise ConfigError(f"`{name}` must be a positive integer, got {FLAGS[name].value}")
    result = embed(FLAGS.model_dir, FLAGS.data_file, FLAGS.output, FLAGS.checkpoint, FLAGS.batch_size,
                   FLAGS.log_variances, FLAGS.reconstructions, FLAGS.seed, FLAGS.stride, FLAGS.projector_points,
                   FLAGS.clusters)
    what = (f"{result['frames']} frames (z={result['latent_dim']})" if "frames" in result else
            f"{result['windows']} windows (code size {result['code_size']})")
    print(f"embedded {what}; wrote {', '.join(result['files'])}")


def run():
    common.run_app(go, __name__, "vidrep-embed")


if __name__ == "__main__":
    run()
