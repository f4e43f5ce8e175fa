"""Markdown tables of experiments (numpy only), kept apart from the command-line tools that run them."""
import numpy as np

INIT_NAMES = {"scratch": "from scratch", "pretrained": "from the pretrained encoder",
              "finetune": "pretrained, fine-tuned", "frozen": "pretrained, frozen (linear head)"}


def fewlabel_table(runs, labels_per_class, seeds, inits=("scratch", "pretrained")):
    """Accuracy mean ± std over `seeds` per number of labels for each initialisation, and each one's difference
    to the first (from scratch), paired by seed.

    Args:
      runs: {"<init>_k<labels>_s<seed>": accuracy in [0, 1]}.
    """
    others = inits[1:]
    header = [INIT_NAMES.get(i, i) for i in inits] + [f"{INIT_NAMES.get(i, i)} − scratch" if len(others) > 1
                                                       else "difference" for i in others]
    lines = ["| labelled sequences per class | " + " | ".join(header) + " |",
             "| ---: |" + " ---: |" * len(header)]
    for k in labels_per_class:
        values = [np.array([runs[f"{init}_k{k}_s{s}"] for s in seeds]) * 100 for init in inits]
        cells = values + [v - values[0] for v in values[1:]]
        lines.append(f"| {k or 'all (a fresh sequence every step)'} | " + " | ".join(
            f"{v.mean():.1f} ± {v.std(ddof=1) if len(v) > 1 else 0:.1f} %" for v in cells) + " |")
    return "\n".join(lines)


def fewlabel_picture(runs, labels_per_class, seeds, inits, chance, path, title):
    """Accuracy against labelled sequences per class, one curve (mean ± std over seeds) per initialisation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 3.5))
    few = [k for k in labels_per_class if k]
    for j, init in enumerate(inits):
        values = np.array([[runs[f"{init}_k{k}_s{s}"] for s in seeds] for k in few]) * 100
        line = ax.errorbar(few, values.mean(1), yerr=values.std(1), marker="o", capsize=2,
                           label=INIT_NAMES.get(init, init))
        if 0 in labels_per_class:  # all labels: a dashed level in the same colour
            ax.axhline(100 * np.mean([runs[f"{init}_k0_s{s}"] for s in seeds]), color=line[0].get_color(),
                       lw=0.8, ls="--")
    all_labels, labels_per_class = 0 in labels_per_class, few
    ax.axhline(100 * chance, color="k", lw=0.8, ls=":", label="chance")
    ax.set_xscale("log")
    ax.set_xticks(labels_per_class, [str(k) for k in labels_per_class])
    ax.set_xlabel("labelled sequences per class")
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_title(title + ("\n(dashed: all labels, a fresh sequence every step)" if all_labels else ""),
                 fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
