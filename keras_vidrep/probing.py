"""vidrep-probe's protocol: what a trained run's representation knows of the factors of Bouncing MNIST, beside
controls, on held-out sequences.

Labelled sequences are generated with the run's own rules (canvas, digit size, step length; optionally other
`num_digits` and a `speed_range`): a training part on the training digits and a held-out part on the held-out digits
(another stream). The encoder reads the first `input_frames` frames; factors are taken at the last of them
(`keras_vidrep.data.factors`). Each representation is probed the same way (`keras_vidrep.probes`):

  * `trained`: the run's representation (`keras_vidrep.representations`);
  * `random`: the same architecture untrained, one initialisation per control seed (a latent LSTM's VAE stays the
    trained one: the control is the LSTM);
  * `pixels_last` / `pixels_mean`: the last input frame, and the mean of the input frames, reduced by a PCA fitted
    on the training part to the trained representation's size.
"""
import numpy as np

from keras_vidrep import probes, representations
from keras_vidrep.data import factors as factors_lib
from keras_vidrep.data.bouncing import TRAIN_STREAM, VALIDATION_STREAM, BouncingMNIST
from keras_vidrep.data.digits import load_digit_labels, load_digits
from keras_vidrep.errors import ConfigError, DataError

CONTROLS = ("random", "pixels_last", "pixels_mean")


def probe_generators(settings, num_digits, seq_length, speed_range, seed):
    """(train generator, train labels or None, held-out generator, held-out labels or None)."""
    out = []
    for split, stream in (("train", TRAIN_STREAM), ("test", VALIDATION_STREAM)):
        digits = load_digits(settings.digits, split, settings.digits_path, settings.digit_size)
        try:
            labels = load_digit_labels(settings.digits, split, settings.digits_path)
        except DataError:  # mnist.h5 holds no labels: every factor but the digit's class
            labels = None
        out += [BouncingMNIST(digits, settings.canvas_size, num_digits, seq_length, settings.step_length,
                              seed=seed, stream=stream, speed_range=speed_range), labels]
    return out


def encode_parts(models, generator, count, input_frames, name, batch_size):
    """Each model's representation of sequences 0..count-1 of `generator`, and the pixel features (last input
    frame, mean input frame): ({key: (count, dim)}, last (count, pixels), mean (count, pixels))."""
    codes = {key: [] for key in models}
    last, mean = [], []
    for start in range(0, count, batch_size):
        sequences = generator.sequences(np.arange(start, min(count, start + batch_size)))[:, :input_frames]
        for key, model in models.items():
            codes[key].append(representations.encode(model, sequences, name))
        flat = sequences.reshape(len(sequences), input_frames, -1)
        last.append(flat[:, -1])
        mean.append(flat.mean(axis=1))
    return ({k: np.concatenate(v).astype(np.float32) for k, v in codes.items()}, np.concatenate(last),
            np.concatenate(mean))


def run_probes(model, random_models, settings, input_frames, representation="", num_digits=1, ahead=(5,),
               speed_range=None, labels_per_class=(1, 5, 10, probes.ALL), seeds=(0, 1, 2), train_sequences=2000,
               test_sequences=1000, batch_size=256, seed=1234, log=print):
    """Probes `model`'s representation and the controls for every factor.

    Returns:
      dict: "representation", "dim", "factors" {name: "class" or "number"}, "constant" (factors left out: the
      same for every sequence), "chance" {factor: score}, "scores" {factor: {representation: {labels per class
      (0 = all): [score per seed]}}}.
    """
    name = representation or representations.names(model)[0]
    representations.check(model, name)
    if (data := getattr(settings, "data", "bouncing_mnist")) != "bouncing_mnist":
        raise ConfigError(f"vidrep-probe reads runs trained on generated Bouncing MNIST, whose factors are known; "
                          f"this run's `data` is {data!r}")
    seq_length = input_frames + max(ahead, default=0)
    train_gen, train_labels, test_gen, test_labels = probe_generators(settings, num_digits, seq_length, speed_range,
                                                                      seed)
    models = {"trained": model, **{f"random{k}": m for k, m in enumerate(random_models)}}
    log(f"encoding {train_sequences} + {test_sequences} sequences ({name}) with the run and "
        f"{len(random_models)} untrained copies")
    train_codes, train_last, train_mean = encode_parts(models, train_gen, train_sequences, input_frames, name,
                                                       batch_size)
    test_codes, test_last, test_mean = encode_parts(models, test_gen, test_sequences, input_frames, name, batch_size)
    dim = train_codes["trained"].shape[1]
    for key, (train_pixels, test_pixels) in (("pixels_last", (train_last, test_last)),
                                             ("pixels_mean", (train_mean, test_mean))):
        train_codes[key], test_codes[key] = probes.pca_control(train_pixels, test_pixels, dim, seed)
    at = input_frames - 1
    train_factors = factors_lib.bouncing_factors(train_gen, train_labels if train_labels is not None else
                                                 np.zeros(len(train_gen.digits), np.int64), np.arange(train_sequences),
                                                 at, ahead)
    test_factors = factors_lib.bouncing_factors(test_gen, test_labels if test_labels is not None else
                                                np.zeros(len(test_gen.digits), np.int64), np.arange(test_sequences),
                                                at, ahead)
    result = {"representation": name, "dim": int(dim), "factors": {}, "constant": [], "chance": {}, "scores": {},
              "train_sequences": train_sequences, "test_sequences": test_sequences, "seeds": list(seeds),
              "input_frames": input_frames, "num_digits": num_digits, "ahead": list(ahead),
              "speed_range": list(speed_range) if speed_range else None}
    for factor, train_y in train_factors.items():
        is_class = factors_lib.is_class(factor)
        spread = np.ptp(train_y)
        if (is_class and factor.rstrip("0123456789") == "digit" and train_labels is None) or \
                spread <= 1e-9 * max(1.0, float(np.abs(train_y).max())):
            result["constant"].append(factor)  # no labels, or the same value for every sequence
            continue
        test_y = test_factors[factor]
        result["factors"][factor] = "class" if is_class else "number"
        result["chance"][factor] = probes.chance(test_y, is_class)
        ks = labels_per_class if is_class else (probes.ALL,)
        result["scores"][factor] = {
            key: {int(k): probes.probe_factor(train_codes[key], train_y, test_codes[key], test_y, is_class, k, seeds)
                  for k in ks} for key in train_codes}
        log(f"{factor}: " + ", ".join(f"{key} {np.mean(v[probes.ALL]):.3f}"
                                      for key, v in result["scores"][factor].items()))
    return result


def grouped(result, factor, k=probes.ALL):
    """{"trained" / "random" / "pixels_last" / "pixels_mean": (mean, std)} of one factor (random pooled over its
    initialisations and seeds)."""
    by = result["scores"][factor]
    out = {"trained": probes.summary(by["trained"][k])}
    randoms = [s for key, v in by.items() if key.startswith("random") for s in v[k]]
    if randoms:
        out["random"] = probes.summary(randoms)
    for key in ("pixels_last", "pixels_mean"):
        out[key] = probes.summary(by[key][k])
    return out


def markdown(result, what):
    """The probe tables: every factor at all labels, and the class factors against labels per class."""
    columns = ["trained"] + [c for c in CONTROLS]
    lines = [f"Linear probes of {what}: representation `{result['representation']}` ({result['dim']} numbers); "
             f"{result['train_sequences']} training and {result['test_sequences']} held-out sequences (held-out "
             f"digits), {result['num_digits']} digit(s), the encoder reads {result['input_frames']} frames; "
             f"accuracy (classes) or R² (numbers), mean ± std over seeds {result['seeds']} "
             f"(random: over its initialisations too).", "",
             "| factor | chance | " + " | ".join(columns) + " |", "| --- | ---: |" + " ---: |" * len(columns)]
    for factor in result["factors"]:
        g = grouped(result, factor)
        cells = [f"{g[c][0]:.3f} ± {g[c][1]:.3f}" if c in g else "" for c in columns]
        lines.append(f"| {factor} | {result['chance'][factor]:.3f} | " + " | ".join(cells) + " |")
    if result["constant"]:
        lines += ["", f"Not probed (no labels, or the same for every sequence): {', '.join(result['constant'])}."]
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

    colours = {"trained": "tab:blue", "random": "tab:orange", "pixels_last": "tab:green", "pixels_mean": "tab:gray"}
    factors = list(result["factors"])
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(factors) + 2), 3.6))
    width = 0.8 / len(colours)
    for j, key in enumerate(colours):
        values = [grouped(result, f).get(key, (np.nan, 0.0)) for f in factors]
        ax.bar(np.arange(len(factors)) + (j - 1.5) * width, [v[0] for v in values], width,
               yerr=[v[1] for v in values], color=colours[key], label=key, capsize=2)
    ax.scatter(np.arange(len(factors)), [result["chance"][f] for f in factors], marker="_", s=300, color="k",
               label="chance", zorder=3)
    ax.set_xticks(np.arange(len(factors)), factors, rotation=35, ha="right", fontsize=8)
    ax.set_ylim(min(0.0, *(grouped(result, f)[k][0] for f in factors for k in grouped(result, f))) - 0.05, 1.02)
    ax.set_ylabel("accuracy (classes) / R² (numbers)")
    ax.set_title(f"linear probes: {what}, `{result['representation']}` ({result['dim']}-d), held-out sequences",
                 fontsize=9)
    ax.legend(fontsize=7, ncol=5, loc="lower left")
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
