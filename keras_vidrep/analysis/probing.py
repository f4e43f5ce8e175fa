"""vidrep-probe's protocol: what a trained run's representation knows of known factors of its data, beside
controls, on held-out sequences.

Two kinds of labelled data (`BouncingProbe`, `WindowProbe`), each a training part and a held-out part:

  * generated Bouncing MNIST, with the run's own rules (canvas, digit size, step length; optionally other
    `num_digits` and a speed range): the training part on the training digits, the held-out part on the held-out
    digits (another stream); factors at the last input frame (`keras_vidrep.data.factors`);
  * windows of a features file (a composite model of feature windows, `data=video_features`): factors `video`
    (which video, a class) and `time` (where the window starts, as a fraction of its video); every fifth window of
    each video is held out, so both parts see every video.

Each representation is probed the same way (`keras_vidrep.analysis.linear_probes`):

  * `trained`: the run's representation (`keras_vidrep.analysis.representations`);
  * `random`: the same architecture untrained, one initialisation per control seed (a latent LSTM's VAE stays the
    trained one: the control is the LSTM);
  * `input_last` / `input_mean`: the last input frame (pixels or features), and the mean of the input frames,
    reduced by a PCA fitted on the training part to the trained representation's size;
  * `supervised` (optional): an LSTM classifier of the same data trained on labels (the upper bound), its state.
"""
import os

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from keras_vidrep.analysis import linear_probes, representations
from keras_vidrep.data import factors as factors_lib
from keras_vidrep.data import frames as frame_utils
from keras_vidrep.data.digits import load_digit_labels
from keras_vidrep.errors import ConfigError, DataError
from keras_vidrep.runs.checkpoints import step_of

GENERATED = ("bouncing_mnist", "bouncing_digits")  # what composite/latent/VAE runs and classifiers generate
CONTROLS = ("random", "input_last", "input_mean", "supervised")
PARTS = ("train", "test")


class BouncingProbe:
    """Labelled Bouncing MNIST sequences: `read(part, ids)` (n, input_frames, H, W), `factors(part)`, `kind`."""

    def __init__(self, settings, input_frames, num_digits=1, ahead=(5,), spread=None, train=2000, test=1000,
                 seed=1234):
        if (data := getattr(settings, "data", "bouncing_mnist")) not in GENERATED:
            raise ConfigError(f"vidrep-probe reads runs of generated Bouncing MNIST or of feature windows; this "
                              f"run's `data` is {data!r}")
        self.input_frames, self.ahead, self.counts = input_frames, tuple(ahead), {"train": train, "test": test}
        self.generators, self.labels = {}, {}
        for part in PARTS:  # the training digits, and the held-out ("test") digits in the validation stream
            try:
                self.labels[part] = load_digit_labels(settings.digits, part, settings.digits_path)
            except DataError:  # mnist.h5 holds no labels: every factor but the digit's class
                self.labels[part] = None
            self.generators[part] = frame_utils.bouncing_generator(
                settings, seed, part, num_digits, input_frames + max(self.ahead, default=0), spread)
        self.describe = (f"{train} training and {test} held-out sequences (held-out digits), {num_digits} digit(s), "
                         f"the encoder reads {input_frames} frames")

    def read(self, part, ids):
        return self.generators[part].sequences(ids)[:, :self.input_frames]

    def factors(self, part):
        generator, labels = self.generators[part], self.labels[part]
        out = factors_lib.bouncing_factors(generator, labels if labels is not None else
                                           np.zeros(len(generator.digits), np.int64),
                                           np.arange(self.counts[part]), self.input_frames - 1, self.ahead)
        if labels is None:
            out = {k: v for k, v in out.items() if k.rstrip("0123456789") != "digit"}
        return out

    @staticmethod
    def kind(factor):
        return "class" if factors_lib.is_class(factor) else "number"


class WindowProbe:
    """Windows of a features file labelled by their video and time, from at most `max_videos` videos (an even
    spread of the file's): every fifth window of a video held out."""

    def __init__(self, file, length, standardize, stride=1, max_videos=20):
        self.file, self.length, self.standardize = file, length, standardize
        starts = file.window_starts(length, stride)
        videos = np.unique(file.video_of(starts))
        keep = videos[np.unique(np.linspace(0, len(videos) - 1, min(max_videos, len(videos))).round().astype(int))]
        starts = starts[np.isin(file.video_of(starts), keep)]
        order = np.arange(len(starts)) - np.searchsorted(file.video_of(starts), file.video_of(starts))
        held = order % 5 == 4
        self.starts = {"train": starts[~held], "test": starts[held]}
        self.counts = {part: len(v) for part, v in self.starts.items()}
        if min(self.counts.values()) == 0:
            raise DataError(f"`data_file` {file.path!r}: too few windows of {length} frames to hold out every fifth")
        self.describe = (f"{self.counts['train']} training and {self.counts['test']} held-out windows of {length} "
                         f"frames (every fifth window held out) from {len(keep)} videos")

    def read(self, part, ids):
        return self.standardize(self.file.sequences(self.starts[part][np.asarray(ids)], self.length))

    def factors(self, part):
        starts = self.starts[part]
        video = self.file.video_of(starts)
        first, end = self.file.video_first[video], self.file.video_first[video + 1]
        return {"video": video.astype(np.int64), "time": (starts - first) / np.maximum(end - first - self.length, 1)}

    @staticmethod
    def kind(factor):
        return "class" if factor == "video" else "number"


def encode_parts(models, data, part, name, batch_size):
    """Each model's representation of `part` (`name`: one name for all, or {key: name}), and the input features
    (last input frame, mean input frame): ({key: (count, dim)}, last (count, values), mean (count, values))."""
    codes = {key: [] for key in models}
    last, mean = [], []
    count = data.counts[part]
    for start in range(0, count, batch_size):
        sequences = data.read(part, np.arange(start, min(count, start + batch_size)))
        for key, model in models.items():
            codes[key].append(representations.encode(model, sequences, name[key] if isinstance(name, dict) else name))
        flat = sequences.reshape(len(sequences), sequences.shape[1], -1)
        last.append(flat[:, -1])
        mean.append(flat.mean(axis=1))
    return ({k: np.concatenate(v).astype(np.float32) for k, v in codes.items()}, np.concatenate(last),
            np.concatenate(mean))


def run_probes(model, random_models, data, representation="", labels_per_class=(1, 5, 10, linear_probes.ALL),
               seeds=(0, 1, 2), batch_size=256, seed=1234, log=print, show_progress=True, only=(), supervised=None,
               encoded=None):
    """Probes `model`'s representation and the controls for every factor of `data` (a `BouncingProbe` or
    `WindowProbe`), or only those named in `only`; `supervised`: a classifier trained on labels, probed beside
    them (its representation of the same name, else its `state`); `encoded`: a dict that receives the trained
    representation of the held-out part (`test`, (count, dim)), for whoever shows it next.

    Returns:
      dict: "representation", "dim", "factors" {name: "class" or "number"}, "constant" (factors left out: the
      same for every sequence), "chance" {factor: score}, "scores" {factor: {representation: {labels per class
      (0 = all): [score per seed]}}}, "data" (what was probed).
    """
    name = representation or representations.names(model)[0]
    representations.check(model, name)
    models = {"trained": model, **{f"random{k}": m for k, m in enumerate(random_models)}}
    names = {key: name for key in models}
    if supervised is not None:
        models["supervised"] = supervised
        names["supervised"] = name if name in representations.names(supervised) else \
            representations.names(supervised)[0]
    log(f"encoding {data.describe} ({name}) with the run and {len(random_models)} untrained copies"
        + (" and the supervised run" if supervised is not None else ""))
    train_codes, train_last, train_mean = encode_parts(models, data, "train", names, batch_size)
    test_codes, test_last, test_mean = encode_parts(models, data, "test", names, batch_size)
    dim = train_codes["trained"].shape[1]
    if encoded is not None:
        encoded["test"] = test_codes["trained"]
    for key, (train_inputs, test_inputs) in (("input_last", (train_last, test_last)),
                                             ("input_mean", (train_mean, test_mean))):
        train_codes[key], test_codes[key] = linear_probes.pca_control(train_inputs, test_inputs, dim, seed)
    train_factors, test_factors = data.factors("train"), data.factors("test")
    if only:
        unknown = sorted(set(only) - set(train_factors))
        if unknown:
            raise ConfigError(f"`factors` {','.join(unknown)} not among this data's: {', '.join(train_factors)}")
        train_factors = {f: v for f, v in train_factors.items() if f in only}
    result = {"representation": name, "dim": int(dim), "data": data.describe, "factors": {}, "constant": [],
              "chance": {}, "scores": {}, "seeds": list(seeds)}
    numbers, ks = {}, tuple(k for k in labels_per_class if k != linear_probes.ALL) + (linear_probes.ALL,)  # always all labels
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
        result["scores"][factor] = {}
        for key in train_codes:
            result["scores"][factor][key] = {int(k): linear_probes.probe_factor(
                train_codes[key], train_y, test_codes[key], test_factors[factor], True, k, seeds) for k in ks}
            bar.update()
        log(f"{factor}: " + ", ".join(f"{key} {np.mean(v[linear_probes.ALL]):.3f}"
                                      for key, v in result["scores"][factor].items()))
    if numbers:  # one ridge fit per representation and seed for all numbers
        by_key = {}
        for key in train_codes:
            by_key[key] = linear_probes.probe_numbers(train_codes[key], numbers, test_codes[key],
                                               {f: test_factors[f] for f in numbers}, seeds)
            bar.update()
        for factor in numbers:
            result["scores"][factor] = {key: {linear_probes.ALL: by_key[key][factor]} for key in train_codes}
            log(f"{factor}: " + ", ".join(f"{key} {np.mean(by_key[key][factor]):.3f}" for key in train_codes))
    bar.close()
    result["factors"] = {f: result["factors"][f] for f in train_factors if f in result["factors"]}  # data order
    return result


def projector_rows(codes, data, count=1000):
    """The first `count` held-out sequences for the Embedding Projector, given their `codes` (the held-out part's,
    as `run_probes(encoded=...)` gives them): (codes (n, dim), {column: n values} — the sequence and every factor,
    numbers to 3 decimals —, thumbnails: the last input frames, or None for feature windows)."""
    count = min(count, len(codes))
    columns = {"sequence": list(range(count))}
    for factor, values in data.factors("test").items():
        values = values[:count]
        columns[factor] = values.tolist() if data.kind(factor) == "class" else np.round(values, 3).tolist()
    thumbnails = None
    if isinstance(data, BouncingProbe):  # the last input frame, read a batch at a time
        thumbnails = np.concatenate([data.read("test", np.arange(start, min(count, start + 256)))[:, -1]
                                     for start in range(0, count, 256)])
    return np.asarray(codes[:count], np.float32), columns, thumbnails


def grouped(result, factor, k=linear_probes.ALL):
    """{"trained" / "random" / "input_last" / "input_mean": (mean, std)} of one factor (random pooled over its
    initialisations and seeds)."""
    by = result["scores"][factor]
    out = {"trained": linear_probes.summary(by["trained"][k])}
    randoms = [s for key, v in by.items() if key.startswith("random") for s in v[k]]
    if randoms:
        out["random"] = linear_probes.summary(randoms)
    for key in ("input_last", "input_mean", "supervised"):
        if key in by:
            out[key] = linear_probes.summary(by[key][k])
    return out


def markdown(result, what):
    """The probe tables: every factor at all labels, and the class factors against labels per class."""
    columns = ["trained"] + [c for c in CONTROLS if c != "supervised" or "supervised" in
                             next(iter(result["scores"].values()), {})]
    lines = [f"Linear probes of {what}: representation `{result['representation']}` ({result['dim']} numbers); "
             f"{result['data']}; accuracy (classes) or R² (numbers), mean ± std over seeds {result['seeds']} "
             f"(random: over its initialisations too); input_last / input_mean: the last / mean input frame, "
             f"PCA to {result['dim']} dimensions.", "",
             "| factor | chance | " + " | ".join(columns) + " |", "| --- | ---: |" + " ---: |" * len(columns)]
    for factor in result["factors"]:
        g = grouped(result, factor)
        cells = [f"{g[c][0]:.3f} ± {g[c][1]:.3f}" if c in g else "" for c in columns]
        lines.append(f"| {factor} | {result['chance'][factor]:.3f} | " + " | ".join(cells) + " |")
    if result["constant"]:
        lines += ["", f"Not probed (the same for every sequence): {', '.join(result['constant'])}."]
    classes = [f for f, kind in result["factors"].items() if kind == "class"]
    ks = sorted({k for f in classes for k in result["scores"][f]["trained"]}, key=lambda k: (k == 0, k))
    if classes and len(ks) > 1:
        lines += ["", "| factor | labels per class | " + " | ".join(columns) + " |",
                  "| --- | ---: |" + " ---: |" * len(columns)]
        for factor in classes:
            for k in ks:
                g = grouped(result, factor, k)
                cells = [f"{g[c][0]:.3f} ± {g[c][1]:.3f}" if c in g else "" for c in columns]
                lines.append(f"| {factor} | {k or 'all'} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def pictures(result, path_prefix, what):
    """`<prefix>_factors.png` (a bar per representation and control for every factor) and, when class factors were
    probed at several numbers of labels, `<prefix>_labels.png` (score against labels per class). Returns paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"trained": "tab:blue", "random": "tab:orange", "input_last": "tab:green", "input_mean": "tab:gray"}
    if "supervised" in next(iter(result["scores"].values()), {}):
        colours["supervised"] = "tab:red"
    factors = list(result["factors"])
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(factors) + 3), 3.6))
    width = 0.8 / len(colours)
    for j, key in enumerate(colours):
        values = [grouped(result, f).get(key, (np.nan, 0.0)) for f in factors]
        ax.bar(np.arange(len(factors)) + (j - (len(colours) - 1) / 2) * width, [v[0] for v in values], width,
               yerr=[v[1] for v in values], color=colours[key], label=key, capsize=2)
    ax.scatter(np.arange(len(factors)), [result["chance"][f] for f in factors], marker="_", s=300, color="k",
               label="chance", zorder=3)
    ax.set_xticks(np.arange(len(factors)), factors, rotation=35, ha="right", fontsize=8)
    ax.set_ylim(min(0.0, *(grouped(result, f)[k][0] for f in factors for k in grouped(result, f))) - 0.05, 1.02)
    ax.set_ylabel("accuracy (classes) / R² (numbers)")
    ax.set_title(f"linear probes: {what}, `{result['representation']}` ({result['dim']}-d), held-out sequences",
                 fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    paths = [f"{path_prefix}_factors.png"]
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)
    classes = [f for f, kind in result["factors"].items() if kind == "class"]
    ks = sorted({k for f in classes for k in result["scores"][f]["trained"] if k})
    if classes and ks:
        fig, axes = plt.subplots(1, len(classes), figsize=(3.6 * len(classes), 3.2), squeeze=False)
        for ax, factor in zip(axes[0], classes):
            for key, colour in colours.items():
                points = [grouped(result, factor, k).get(key) for k in ks]
                ax.errorbar(ks, [p[0] for p in points], yerr=[p[1] for p in points], marker="o", color=colour,
                            label=key, capsize=2)
            ax.axhline(result["chance"][factor], color="k", lw=0.8, ls=":", label="chance")
            ax.set_xscale("log")
            ax.set_xticks(ks, [str(k) for k in ks])
            ax.set_xlabel("labelled sequences per class")
            ax.set_title(factor, fontsize=9)
        axes[0][0].set_ylabel("held-out accuracy")
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        paths.append(f"{path_prefix}_labels.png")
        fig.savefig(paths[1], dpi=110)
        plt.close(fig)
    return paths


def write_probe(logdir, result, pictures=()):
    """vidrep-probe's numbers for TensorBoard, in `logdir`: `probe/<factor>/<representation>` (the mean over seeds,
    all labels; random pooled) at the run's checkpoint step, `probe_labels/<factor>/<representation>` at step =
    labels per class, and the probe pictures."""

    step = step_of(result["checkpoint"])
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        for factor in result["factors"]:
            for key, (mean, _) in grouped(result, factor).items():
                tf.summary.scalar(f"probe/{factor}/{key}", mean, step=step)
            for k in (k for k in result["scores"][factor]["trained"] if k):
                for key, (mean, _) in grouped(result, factor, k).items():
                    tf.summary.scalar(f"probe_labels/{factor}/{key}", mean, step=k)
        for path in pictures:
            image = tf.io.decode_png(tf.io.read_file(path), channels=3)
            tf.summary.image(f"probe/{os.path.basename(path)[:-4]}", image[None], step=step)
    writer.close()
