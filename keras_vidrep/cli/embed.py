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
from keras_vidrep.analysis.options import EmbedOptions
from keras_vidrep.cli import common

common.define_option_flags(EmbedOptions)


def main():
    from keras_vidrep.analysis.embed import embed

    o = common.options_from_flags(EmbedOptions).validate()
    result = embed(o.model_dir, o.data_file, o.output, o.checkpoint, o.batch_size, o.log_variances, o.reconstructions,
                   o.seed, o.stride, o.projector_points, o.clusters)
    what = (f"{result['frames']} frames (z={result['latent_dim']})" if "frames" in result else
            f"{result['windows']} windows (code size {result['code_size']})")
    print(f"embedded {what}; wrote {', '.join(result['files'])}")


def run():
    common.run_app(main, __name__, "vidrep-embed")


if __name__ == "__main__":
    run()
