"""One picture of several `vidrep-probe` results side by side: for every factor, a bar per run (its trained
representation, all labels) with a black mark at its untrained control and a grey one at the better pixel control.

Usage:
  .venv/bin/python bench/probe_families.py --out=bench/results/probe_families.png \
      "composite (code)=runs/cpu_15min/probe/probe.json" "frame VAE (codes)=runs/vae_lstm/probe/probe.json" ...
"""
import argparse
import json
import sys

import numpy as np

sys.path.insert(0, ".")
from keras_vidrep.analysis import probe_reports  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="NAME=PATH/probe.json")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = {}
    for item in args.runs:
        name, _, path = item.partition("=")
        with open(path, encoding="utf-8") as f:
            result = json.load(f)
        for by in result["scores"].values():  # JSON keeps the labels per class as strings
            for key in by:
                by[key] = {int(k): v for k, v in by[key].items()}
        results[name] = result
    factors = [f for f in next(iter(results.values()))["factors"] if all(f in r["factors"] for r in results.values())]
    fig, ax = plt.subplots(figsize=(max(7.0, 1.1 * len(factors) + 3), 3.8))
    width = 0.8 / len(results)
    for j, (name, result) in enumerate(results.items()):
        x = np.arange(len(factors)) + (j - (len(results) - 1) / 2) * width
        groups = [probe_reports.grouped(result, f) for f in factors]
        ax.bar(x, [g["trained"][0] for g in groups], width, yerr=[g["trained"][1] for g in groups], capsize=2,
               label=f"{name}, {result['dim']}-d")
        ax.scatter(x, [g["random"][0] if "random" in g else np.nan for g in groups], marker="_", s=120, color="k",
                   zorder=3, label="its untrained copy" if j == 0 else None)
        ax.scatter(x, [max(g["input_last"][0], g["input_mean"][0]) for g in groups], marker="_", s=120,
                   color="0.55", zorder=3, label="pixels (PCA), the better of last and mean" if j == 0 else None)
    ax.set_xticks(np.arange(len(factors)), factors, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.02)
    ax.set_ylabel("accuracy (classes) / R² (numbers)")
    ax.set_title("linear probes of each family's representation, all labels, held-out sequences", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
