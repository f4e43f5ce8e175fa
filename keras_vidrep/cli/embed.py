"""vidrep-embed: per-frame latent codes of a frames file by a trained frame VAE, with pictures.

  vidrep-preprocess --videos=clips/ --output=frames.h5 --kind=frames --size=64 --keep_aspect
  vidrep-embed --model_dir=runs/mmd_vae --data_file=frames.h5 --output=codes.h5 [--log_variances]
      [--reconstructions]

Writes the code means of every frame (and optionally log-variances and reconstructions) with each frame's video and
frame number, plus CODES_samples.png and CODES_reconstructions.png (see keras_vidrep.embed).
"""
from absl import flags

from keras_vidrep.cli import common

flags.DEFINE_string("model_dir", None, "Model directory of a frame VAE (task vae) or of a latent predictor.",
                    required=True)
flags.DEFINE_string("checkpoint", "", "A checkpoint prefix instead of the latest.")
flags.DEFINE_string("data_file", None, "Frames file (vidrep-preprocess --kind=frames) or .npy (F, H, W[, C]).",
                    required=True)
flags.DEFINE_string("output", None, "CODES.h5 or CODES.npy.", required=True)
flags.DEFINE_bool("log_variances", False, "Also write the log-variances of q(z | frame).")
flags.DEFINE_bool("reconstructions", False, "Also write each frame's reconstruction (uint8).")
flags.DEFINE_integer("batch_size", 256, "Frames encoded at a time.")
flags.DEFINE_integer("seed", 0, "Seed of the prior samples in CODES_samples.png.")
FLAGS = flags.FLAGS


def go():
    from keras_vidrep.embed import embed
    from keras_vidrep.errors import ConfigError

    if FLAGS.batch_size <= 0:
        raise ConfigError(f"`batch_size` must be a positive integer, got {FLAGS.batch_size}")
    result = embed(FLAGS.model_dir, FLAGS.data_file, FLAGS.output, FLAGS.checkpoint, FLAGS.batch_size,
                   FLAGS.log_variances, FLAGS.reconstructions, FLAGS.seed)
    print(f"embedded {result['frames']} frames (z={result['latent_dim']}); wrote {', '.join(result['files'])}")


def run():
    common.run_app(go, __name__, "vidrep-embed")


if __name__ == "__main__":
    run()
