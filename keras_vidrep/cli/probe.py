"""vidrep-probe: what a trained run's representation knows — linear probes for known factors, beside untrained
copies of the same model and the raw input, on held-out sequences.

  vidrep-probe --model_dir=runs/cpu_15min [--representation=code] [--labels_per_class=1,5,10,all]
      [--num_digits=1] [--ahead=5] [--speed_spread=0.5] [--out_dir=runs/cpu_15min/probe]
  vidrep-probe --model_dir=runs/video_features_ae [--data_file=features.h5] [--max_videos=20]

Composite models, frame VAEs and latent LSTMs trained on generated Bouncing MNIST are probed for the digits'
class, position, velocity, direction, speed and future position; composite models of feature windows for which
video a window comes from and when in it (keras_vidrep.analysis.probing). Writes probe.json, probe.md,
probe_factors.png, probe_labels.png and TensorBoard scalars (`probe/<factor>/<representation>`) to `out_dir`, one
HParams session per representation, labels per class and seed to `out_dir/hparams/` (compare them in the HParams
dashboard), and the trained representation of held-out sequences with their factors to `out_dir/projector/`
(Projector tab).
"""
import os

from keras_vidrep.analysis.options import ProbeOptions
from keras_vidrep.cli import common

common.define_option_flags(ProbeOptions)


def main():
    options = common.checked_options(ProbeOptions)
    from keras_vidrep.analysis import probing

    _, text, written = probing.probe(options)
    out_dir = os.path.dirname(written[0])
    print(text)
    print(f"wrote {', '.join(written)}, TensorBoard scalars in {out_dir} and HParams sessions in "
          f"{os.path.join(out_dir, 'hparams')}")


def run():
    common.run_app(main, __name__, "vidrep-probe")


if __name__ == "__main__":
    run()
