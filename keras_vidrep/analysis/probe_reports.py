"""vidrep-probe's results shown: markdown tables, pictures, TensorBoard scalars and images, and the Embedding
Projector rows of the held-out sequences."""
import os

import numpy as np
import tensorflow as tf

from keras_vidrep.analysis import linear_probes
from keras_vidrep.analysis.probe_data import BouncingProbe
from keras_vidrep.runs.checkpoints import step_of

CONTROLS = ("random", "input_last", "input_mean", "supervised", "supervised_pca", "trained_pca")


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


def grouped(result, factor, k=linear_probes.ALL, scores="scores"):
    """{representation: (mean, std over the probe seeds)} of one factor — `random` each seed's score averaged over
    the untrained initialisations first, so that every ± is the spread over the same seeds. `scores`: "scores", or
    "control_task" (all labels only)."""
    by = result[scores][factor]
    pick = (lambda v: v[k]) if scores == "scores" else (lambda v: v)
    out = {"trained": linear_probes.summary(pick(by["trained"]))}
    randoms = [pick(v) for key, v in by.items() if key.startswith("random")]
    if randoms:
        out["random"] = linear_probes.summary(np.mean(randoms, axis=0))
    for key in CONTROLS[1:]:
        if key in by:
            out[key] = linear_probes.summary(pick(by[key]))
    return out


def markdown(result, what):
    """The probe tables: every factor at all labels with its selectivity, and the class factors against labels per
    class."""
    present = next(iter(result["scores"].values()), {})
    columns = ["trained"] + [c for c in CONTROLS if c in present or c == "random" and "random0" in present]
    dims = result.get("dims", {})
    pca = next((key for key in ("supervised_pca", "trained_pca") if key in dims), "")
    randoms = sum(key.startswith("random") for key in present)
    lines = [f"Linear probes of {what}: representation `{result['representation']}` ({result['dim']} numbers); "
             f"{result['data']}; accuracy (classes) or R² (numbers), mean ± std over the probe seeds "
             f"{result['seeds']} in every column (random: each seed's score first averaged over {randoms} untrained "
             f"initialisations); input_last / input_mean: the last / mean input frame, PCA to {result['dim']} "
             f"dimensions" + (f"; supervised at its own size ({dims['supervised']}), {pca} the larger of trained and "
                              f"supervised reduced by PCA to the smaller size ({dims[pca]})" if pca else "") + ".", "",
             "| factor | chance | " + " | ".join(columns) + " |", "| --- | ---: |" + " ---: |" * len(columns)]
    for factor in result["factors"]:
        g = grouped(result, factor)
        cells = [f"{g[c][0]:.3f} ± {g[c][1]:.3f}" if c in g else "" for c in columns]
        lines.append(f"| {factor} | {result['chance'][factor]:.3f} | " + " | ".join(cells) + " |")
    if result.get("control_task"):
        lines += ["", "Selectivity: the score above minus the score of the same probe on a control task (each part's "
                  "labels in a random order: the same label distribution, no relation to the sequences).", "",
                  "| factor | " + " | ".join(columns) + " |", "| --- |" + " ---: |" * len(columns)]
        for factor in result["factors"]:
            real, control = grouped(result, factor), grouped(result, factor, scores="control_task")
            cells = [f"{real[c][0] - control[c][0]:.3f}" if c in real else "" for c in columns]
            lines.append(f"| {factor} | " + " | ".join(cells) + " |")
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
    present = next(iter(result["scores"].values()), {})
    colours.update({key: colour for key, colour in (("supervised", "tab:red"), ("supervised_pca", "tab:purple"),
                                                    ("trained_pca", "tab:cyan")) if key in present})
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
