"""vidrep-probe's protocol: what a trained run's representation knows of known factors of its data, beside
controls, on held-out sequences.

Two kinds of labelled data (`keras_vidrep.analysis.probe_data`): generated Bouncing MNIST with the run's own
rules, and windows of a features file; each a training part and a held-out part.

Each representation is probed the same way (`keras_vidrep.analysis.linear_probes`):

  * `trained`: the run's representation (its task's `represent`, see `keras_vidrep.tasks.representations`);
  * `random`: the same architecture untrained, one initialisation per control seed (a latent LSTM's VAE stays the
    trained one: the control is the LSTM);
  * `input_last` / `input_mean`: the last input frame (pixels or features), and the mean of the input frames,
    reduced by a PCA fitted on the training part to the trained representation's size;
  * `supervised` (optional): an LSTM classifier of the same data trained on labels (the upper bound), its state;
    when its size differs from the trained representation's, the larger of the two is also probed reduced by PCA to
    the smaller size (`trained_pca` or `supervised_pca`).

Every score is also measured on a control task (`control_task`): the same probe fitted and scored on each part's
labels in a random order (the same label distribution, no relation to the sequences); the selectivity of a
representation is its score minus its control-task score.
"""
import json
import os

import numpy as np
from tqdm import tqdm

from keras_vidrep import tasks, trained
from keras_vidrep.analysis import linear_probes, probe_reports
from keras_vidrep.analysis.probe_data import BouncingProbe, WindowProbe
from keras_vidrep.board import hparams, projector
from keras_vidrep.data import video_sequences
from keras_vidrep.data.frame_file import FeatureFile
from keras_vidrep.errors import ConfigError
from keras_vidrep.runs.directory import RunDir


def encode_parts(models, data, part, name, batch_size):
    """Each model's representation of `part` (`models`: {key: (task, model)}; `name`: {key: representation}), and
    the input features (last input frame, mean input frame): ({key: (count, dim)}, last (count, values), mean
    (count, values))."""
    codes = {key: [] for key in models}
    last, mean = [], []
    count = data.counts[part]
    for start in range(0, count, batch_size):
        sequences = data.read(part, np.arange(start, min(count, start + batch_size)))
        for key, (task, model) in models.items():
            codes[key].append(task.represent(model, sequences, name[key]))
        flat = sequences.reshape(len(sequences), sequences.shape[1], -1)
        last.append(flat[:, -1])
        mean.append(flat.mean(axis=1))
    return ({k: np.concatenate(v).astype(np.float32) for k, v in codes.items()}, np.concatenate(last),
            np.concatenate(mean))


def run_probes(task, model, random_models, data, representation="",
               labels_per_class=(1, 5, 10, linear_probes.ALL), seeds=(0, 1, 2), batch_size=256, seed=1234, log=print,
               show_progress=True, only=(), supervised=None, encoded=None):
    """Probes the representation of `model` (of `task`) and the controls (`random_models`: untrained models of
    the same task) for every factor of `data` (a `BouncingProbe` or `WindowProbe`), or only those named in `only`;
    `supervised`: (task, model) of a classifier trained on labels, probed beside them (its representation of the
    same name, else its default); `encoded`: a dict that receives the trained representation of the held-out part
    (`test`, (count, dim)), for whoever shows it next.

    Returns:
      dict: "representation", "dim", "factors" {name: "class" or "number"}, "constant" (factors left out: the
      same for every sequence), "chance" {factor: score}, "scores" {factor: {representation: {labels per class
      (0 = all): [score per seed]}}}, "data" (what was probed).
    """
    name = task.check_representation(representation)
    models = {"trained": (task, model), **{f"random{k}": (task, m) for k, m in enumerate(random_models)}}
    names = dict.fromkeys(models, name)
    if supervised is not None:
        models["supervised"] = supervised
        offered = supervised[0].representations()
        names["supervised"] = name if name in offered else offered[0]
    log(f"encoding {data.describe} ({name}) with the run and {len(random_models)} untrained copies"
        + (" and the supervised run" if supervised is not None else ""))
    train_codes, train_last, train_mean = encode_parts(models, data, "train", names, batch_size)
    test_codes, test_last, test_mean = encode_parts(models, data, "test", names, batch_size)
    dim = train_codes["trained"].shape[1]
    if encoded is not None:
        encoded["test"] = test_codes["trained"]
    matched = [("input_last", (train_last, test_last), dim), ("input_mean", (train_mean, test_mean), dim)]
    if supervised is not None and train_codes["supervised"].shape[1] != dim:  # the larger also at the smaller size
        size = min(dim, train_codes["supervised"].shape[1])
        larger = "trained" if dim > size else "supervised"
        matched.append((f"{larger}_pca", (train_codes[larger], test_codes[larger]), size))
    for key, (train_inputs, test_inputs), size in matched:
        train_codes[key], test_codes[key] = linear_probes.pca_control(train_inputs, test_inputs, size, seed)
    train_factors, test_factors = data.factors("train"), data.factors("test")
    if only:
        unknown = sorted(set(only) - set(train_factors))
        if unknown:
            raise ConfigError(f"`factors` {','.join(unknown)} not among this data's: {', '.join(train_factors)}")
        train_factors = {f: v for f, v in train_factors.items() if f in only}
    result = {"representation": name, "dim": int(dim), "data": data.describe, "factors": {}, "constant": [],
              "chance": {}, "scores": {}, "control_task": {}, "seeds": list(seeds),
              "dims": {key: int(codes.shape[1]) for key, codes in train_codes.items()}}
    shuffle = np.random.default_rng(seed)  # the control task: each part's labels in a random order
    numbers = {}
    ks = tuple(k for k in labels_per_class if k != linear_probes.ALL) + (linear_probes.ALL,)  # always all labels
    classes = sum(data.kind(f) == "class" for f in train_factors)
    bar = tqdm(total=len(train_codes) * (classes + 1), desc="vidrep-probe", unit="probe", dynamic_ncols=True,
               disable=not show_progress)
    for factor, train_y in train_factors.items():
        is_class = data.kind(factor) == "class"
        if np.ptp(train_y) <= 1e-9 * max(1.0, float(np.abs(train_y).max())):
            result["constant"].append(factor)  # the same value for every sequence: nothing to probe
            continue
        result["factors"][factor] = data.kind(factor)
        result["chance"][factor] = linear_probes.chance(test_factors[factor], is_class)
        if not is_class:
            numbers[factor] = train_y
            continue
        result["scores"][factor], result["control_task"][factor] = {}, {}
        control_train, control_test = shuffle.permutation(train_y), shuffle.permutation(test_factors[factor])
        for key in train_codes:
            result["scores"][factor][key] = {int(k): linear_probes.probe_factor(
                train_codes[key], train_y, test_codes[key], test_factors[factor], True, k, seeds) for k in ks}
            result["control_task"][factor][key] = linear_probes.probe_factor(
                train_codes[key], control_train, test_codes[key], control_test, True, linear_probes.ALL, seeds)
            bar.update()
        log(f"{factor}: " + ", ".join(f"{key} {np.mean(v[linear_probes.ALL]):.3f}"
                                      for key, v in result["scores"][factor].items()))
    if numbers:  # one ridge fit per representation and seed for all numbers
        by_key, control = {}, {}
        control_train = {f: shuffle.permutation(v) for f, v in numbers.items()}
        control_test = {f: shuffle.permutation(test_factors[f]) for f in numbers}
        for key in train_codes:
            by_key[key] = linear_probes.probe_numbers(train_codes[key], numbers, test_codes[key],
                                                      {f: test_factors[f] for f in numbers}, seeds)
            control[key] = linear_probes.probe_numbers(train_codes[key], control_train, test_codes[key], control_test,
                                                       seeds)
            bar.update()
        for factor in numbers:
            result["scores"][factor] = {key: {linear_probes.ALL: by_key[key][factor]} for key in train_codes}
            result["control_task"][factor] = {key: control[key][factor] for key in train_codes}
            log(f"{factor}: " + ", ".join(f"{key} {np.mean(by_key[key][factor]):.3f}" for key in train_codes))
    bar.close()
    result["factors"] = {f: result["factors"][f] for f in train_factors if f in result["factors"]}  # data order
    return result


def probe_data(task, options, ahead):
    """The labelled data of the run's kind: generated sequences, or windows of a features file."""
    settings = task.settings
    if getattr(settings, "data", "") == video_sequences.VIDEO_FEATURES:
        if options.max_videos < 2 or options.stride <= 0:
            raise ConfigError(f"`max_videos` must be >= 2 and `stride` positive, got {options.max_videos} and "
                              f"{options.stride}")
        file = FeatureFile(options.data_file or settings.data_file)
        if file.dim != settings.feature_dim:
            raise ConfigError(f"`data_file` {file.path!r} holds {file.dim}-d features, but the model reads "
                              f"{settings.feature_dim}-d")
        return WindowProbe(file, settings.input_frames, task.standardize_inputs, options.stride, options.max_videos)
    if options.data_file:
        raise ConfigError(f"`data_file` {options.data_file!r} is read only for runs of feature windows; this run's "
                          f"sequences are generated")
    run_frames = getattr(settings, "input_frames", 0) or getattr(settings, "clip_length", 10)
    return BouncingProbe(settings, options.input_frames or run_frames,
                         options.num_digits or getattr(settings, "num_digits", 1), ahead,
                         None if options.speed_spread < 0 else options.speed_spread, options.train_sequences,
                         options.test_sequences)


def supervised_run(options, settings):
    """(task, model) of `options.supervised_dir`, checked: an LSTM classifier of generated digits of the run's
    canvas."""
    supervised, other, _ = trained.restore_model(options.supervised_dir, what="supervised_dir")
    if other.name != "classifier" or other.settings.data != "bouncing_digits":
        raise ConfigError(f"`supervised_dir` {options.supervised_dir!r} must hold an LSTM classifier of generated "
                          f"digits (--task=classifier --data=bouncing_digits), got task {other.config.task!r}")
    if other.settings.canvas_size != getattr(settings, "canvas_size", None):
        raise ConfigError(f"`supervised_dir` {options.supervised_dir!r} reads {other.settings.canvas_size}-pixel "
                          f"frames, the run {settings.canvas_size}-pixel ones")
    return other, supervised


def probe(options):
    """vidrep-probe: probes the run of `options.model_dir` and writes probe.json, probe.md, the pictures, TensorBoard
    scalars, HParams sessions and the projector into the run's probe folder (or `out_dir`).

    Returns:
      (the result dict, the markdown text, the paths written).
    """
    labels, seeds, ahead = options.validate()
    model, task, path = trained.restore_model(options.model_dir, options.checkpoint)
    task.check_representation(options.representation)
    data = probe_data(task, options, ahead)
    randoms = []
    for k in range(options.random_controls):
        control = tasks.create(task.config.replace(seed=10_000 + k))
        randoms.append(control.build_model())
        if task.name == "latent":
            control.initialize(randoms[-1])  # the trained VAE under an untrained LSTM
    supervised = supervised_run(options, task.settings) if options.supervised_dir else None
    encoded = {}
    result = run_probes(task, model, randoms, data, options.representation, labels, seeds, options.batch_size,
                        only=options.factors, supervised=supervised, encoded=encoded)
    out_dir = options.out_dir or RunDir(options.model_dir).probe
    os.makedirs(out_dir, exist_ok=True)  # only once there is something to write
    result.update(model_dir=os.path.abspath(options.model_dir), checkpoint=path, task=task.config.task)
    what = f"{task.config.task} run {os.path.basename(os.path.abspath(options.model_dir))}"
    text = probe_reports.markdown(result, what)
    written = [os.path.join(out_dir, "probe.json"), os.path.join(out_dir, "probe.md")]
    with open(written[0], "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    with open(written[1], "w", encoding="utf-8") as f:
        f.write(text)
    written += probe_reports.pictures(result, os.path.join(out_dir, "probe"), what)
    probe_reports.write_probe(out_dir, result, written[2:])
    hparams.write_probe_sweep(os.path.join(out_dir, "hparams"), result)
    if options.projector_points:
        codes, columns, thumbnails = probe_reports.projector_rows(encoded["test"], data, options.projector_points)
        written.append(projector.write(os.path.join(out_dir, "projector"), codes, columns, thumbnails))
    return result, text, written
