"""vidrep-probe: what a trained run's representation knows — linear probes for known factors, beside untrained
copies of the same model and the raw input, on held-out sequences.

  vidrep-probe --model_dir=runs/cpu_15min [--representation=code] [--labels_per_class=1,5,10,all]
      [--num_digits=1] [--ahead=5] [--speed_spread=0.5] [--out_dir=runs/cpu_15min/probe]
  vidrep-probe --model_dir=runs/video_features_ae [--data_file=features.h5] [--max_videos=20]

Composite models, frame VAEs and latent LSTMs trained on generated Bouncing MNIST are probed for the digits'
class, position, velocity, direction, speed and future position; composite models of feature windows for which
video a window comes from and when in it (keras_vidrep.analysis.probing). Writes probe.json, probe.md, probe_factors.png,
probe_labels.png and TensorBoard scalars (`probe/<factor>/<representation>`) to `out_dir`, one HParams session per
representation, labels per class and seed to `out_dir/hparams/` (compare them in the HParams dashboard), and the
trained representation of held-out sequences with their factors to `out_dir/projector/` (Projector tab).
"""
import json
import os

from absl import flags

from keras_vidrep.cli import common

flags.DEFINE_string("model_dir", None, "Model directory of a composite model, frame VAE or latent LSTM trained on "
                                     "bouncing_mnist, of an LSTM classifier of generated digits (the supervised "
                                     "upper bound), or of a composite model of feature windows.", required=True)
flags.DEFINE_string("checkpoint", "", "A checkpoint prefix instead of the latest.")
flags.DEFINE_string("representation", "", "What to probe (empty: the model's default): composite code, h, c, h1, "
                                          "c1, ...; latent LSTM state, h, c, code; VAE code, codes; classifier "
                                          "state, h, c, h1, ...")
flags.DEFINE_list("labels_per_class", ["1", "5", "10", "all"], "Labelled training sequences per class for the class "
                                                               "factors (`all`: the whole training part).")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Probe seeds (labelled subsets).")
flags.DEFINE_list("factors", [], "Probe only these factors (e.g. digit0_direction; empty: every factor).")
flags.DEFINE_integer("random_controls", 3, "Untrained initialisations of the same architecture probed as controls.")
flags.DEFINE_string("supervised_dir", "", "Model directory of an LSTM classifier of the same generated digits trained "
                    "on labels (e.g. --label=direction): its state is probed beside the controls, the upper bound.")
flags.DEFINE_integer("train_sequences", 2000, "Labelled training sequences (training digits).")
flags.DEFINE_integer("test_sequences", 1000, "Held-out sequences the probes are scored on (held-out digits).")
flags.DEFINE_integer("num_digits", 1, "Digits per probe sequence (0: the run's).")
flags.DEFINE_integer("input_frames", 0, "Frames the encoder reads (0: the run's; 10 for a frame VAE).")
flags.DEFINE_list("ahead", ["5"], "Future positions probed, in frames after the last input frame.")
flags.DEFINE_float("speed_spread", -1.0, "Each digit's speed drawn from step_length x [1 - spread, 1 + spread] (a "
                   "speed to probe); -1: the run's own rules.")
flags.DEFINE_string("data_file", "", "Feature-window runs: the features file to probe (empty: the run's).")
flags.DEFINE_integer("max_videos", 20, "Feature-window runs: videos probed (an even spread of the file's).")
flags.DEFINE_integer("stride", 1, "Feature-window runs: probe every N-th window.")
flags.DEFINE_integer("batch_size", 256, "Sequences encoded at a time.")
flags.DEFINE_string("out_dir", "", "Where the results go (empty: <model_dir>/probe).")
flags.DEFINE_integer("projector_points", 1000, "Held-out sequences whose trained representation goes to a "
                     "TensorBoard Projector log directory (<out_dir>/projector: factors as metadata, the last input "
                     "frame as thumbnail); 0: none.")
FLAGS = flags.FLAGS


def parse_labels(values):
    from keras_vidrep.errors import ConfigError

    out = []
    for value in values:
        if value == "all":
            out.append(0)
        elif value.isdigit() and int(value) > 0:
            out.append(int(value))
        else:
            raise ConfigError(f"`labels_per_class` takes positive integers and `all`, got {value!r}")
    return tuple(out)


def probe_data(task, settings, ahead):
    """The labelled data of the run's kind: generated sequences, or windows of a features file."""
    from keras_vidrep.analysis import probing
    from keras_vidrep.data import frames as frame_utils
    from keras_vidrep.data.frame_file import FeatureFile
    from keras_vidrep.errors import ConfigError

    if getattr(settings, "data", "") == frame_utils.VIDEO_FEATURES:
        if FLAGS.max_videos < 2 or FLAGS.stride <= 0:
            raise ConfigError(f"`max_videos` must be >= 2 and `stride` positive, got {FLAGS.max_videos} and "
                              f"{FLAGS.stride}")
        file = FeatureFile(FLAGS.data_file or settings.data_file)
        if file.dim != settings.feature_dim:
            raise ConfigError(f"`data_file` {file.path!r} holds {file.dim}-d features, but the model reads "
                              f"{settings.feature_dim}-d")
        task.prepare_data()  # the input standardization comes from the training data
        return probing.WindowProbe(file, settings.input_frames, task.source.standardize, FLAGS.stride,
                                   FLAGS.max_videos)
    if FLAGS.data_file:
        raise ConfigError(f"`data_file` {FLAGS.data_file!r} is read only for runs of feature windows; this run's "
                          f"sequences are generated")
    run_frames = getattr(settings, "input_frames", 0) or getattr(settings, "clip_length", 10)
    return probing.BouncingProbe(settings, FLAGS.input_frames or run_frames,
                                 FLAGS.num_digits or getattr(settings, "num_digits", 1), ahead,
                                 None if FLAGS.speed_spread < 0 else FLAGS.speed_spread, FLAGS.train_sequences,
                                 FLAGS.test_sequences)


def go():
    from keras_vidrep import tasks, trained
    from keras_vidrep.analysis import probing, representations
    from keras_vidrep.board import hparams, projector
    from keras_vidrep.errors import ConfigError

    for name in ("train_sequences", "test_sequences", "batch_size"):
        if FLAGS[name].value <= 0:
            raise ConfigError(f"`{name}` must be a positive integer, got {FLAGS[name].value}")
    if FLAGS.projector_points < 0:
        raise ConfigError(f"`projector_points` must be >= 0, got {FLAGS.projector_points}")
    if FLAGS.random_controls < 0 or FLAGS.num_digits < 0 or FLAGS.input_frames < 0:
        raise ConfigError("`random_controls`, `num_digits` and `input_frames` must be >= 0")
    labels = parse_labels(FLAGS.labels_per_class)
    try:
        seeds, ahead = [int(s) for s in FLAGS.seeds], [int(a) for a in FLAGS.ahead]
    except ValueError as e:
        raise ConfigError(f"`seeds` and `ahead` take integers: {e}") from None
    model, task, path = trained.restore_model(FLAGS.model_dir, FLAGS.checkpoint)
    settings = task.settings
    representations.check(model, FLAGS.representation or representations.names(model)[0])
    data = probe_data(task, settings, ahead)
    randoms = []
    for k in range(FLAGS.random_controls):
        control = tasks.create(task.config.replace(seed=10_000 + k))
        randoms.append(control.build_model())
        if representations.family(model) == "latent":
            control.initialize(randoms[-1])  # the trained VAE under an untrained LSTM
    supervised = None
    if FLAGS.supervised_dir:
        supervised, other, _ = trained.restore_model(FLAGS.supervised_dir)
        if representations.family(supervised) != "classifier" or other.settings.data != "bouncing_digits":
            raise ConfigError(f"`supervised_dir` {FLAGS.supervised_dir!r} must hold an LSTM classifier of generated "
                              f"digits (--task=classifier --data=bouncing_digits), got task {other.config.task!r}")
        if other.settings.canvas_size != getattr(settings, "canvas_size", None):
            raise ConfigError(f"`supervised_dir` {FLAGS.supervised_dir!r} reads {other.settings.canvas_size}-pixel "
                              f"frames, the run {settings.canvas_size}-pixel ones")
    encoded = {}
    result = probing.run_probes(model, randoms, data, FLAGS.representation, labels, seeds, FLAGS.batch_size,
                                only=FLAGS.factors, supervised=supervised, encoded=encoded)
    out_dir = FLAGS.out_dir or os.path.join(FLAGS.model_dir, "probe")
    os.makedirs(out_dir, exist_ok=True)  # only once there is something to write
    result.update(model_dir=os.path.abspath(FLAGS.model_dir), checkpoint=path, task=task.config.task)
    what = f"{task.config.task} run {os.path.basename(os.path.abspath(FLAGS.model_dir))}"
    text = probing.markdown(result, what)
    with open(os.path.join(out_dir, "probe.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(out_dir, "probe.md"), "w", encoding="utf-8") as f:
        f.write(text)
    files = probing.pictures(result, os.path.join(out_dir, "probe"), what)
    probing.write_probe(out_dir, result, files)
    hparams.write_probe_sweep(os.path.join(out_dir, "hparams"), result)
    if FLAGS.projector_points:
        codes, columns, thumbnails = probing.projector_rows(encoded["test"], data, FLAGS.projector_points)
        files.append(projector.write(os.path.join(out_dir, "projector"), codes, columns, thumbnails))
    print(text)
    print(f"wrote {', '.join(os.path.join(out_dir, n) for n in ('probe.json', 'probe.md'))}, {', '.join(files)}, "
          f"TensorBoard scalars in {out_dir} and HParams sessions in {os.path.join(out_dir, 'hparams')}")


def run():
    common.run_app(go, __name__, "vidrep-probe")


if __name__ == "__main__":
    run()
