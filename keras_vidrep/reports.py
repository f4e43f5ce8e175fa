"""Markdown tables of experiments (numpy only), kept apart from the command-line tools that run them."""
import numpy as np


def fewlabel_table(runs, labels_per_class, seeds):
    """Accuracy mean ± std over `seeds` per number of labels, from scratch and from the pretrained encoder.

    Args:
      runs: {"<scratch|pretrained>_k<labels>_s<seed>": accuracy in [0, 1]}.
    """
    lines = ["| labelled sequences per class | from scratch | from the pretrained encoder | difference |",
             "| ---: | ---: | ---: | ---: |"]
    for k in labels_per_class:
        scratch, pretrained = (np.array([runs[f"{init}_k{k}_s{s}"] for s in seeds]) * 100
                               for init in ("scratch", "pretrained"))
        cells = (scratch, pretrained, pretrained - scratch)
        lines.append(f"| {k} | " + " | ".join(f"{v.mean():.1f} ± {v.std(ddof=1) if len(v) > 1 else 0:.1f} %"
                                            for v in cells) + " |")
    return "\n".join(lines)
