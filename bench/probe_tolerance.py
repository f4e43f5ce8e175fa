"""The probes' logistic tolerance: time and accuracy of `linear_probes.probe_factor` at scikit-learn's default
tolerance (1e-4) and at the package's (`linear_probes.TOLERANCE`), on a probe of vidrep-probe's default size
(2,000 labelled training and 1,000 held-out sequences, a 512-d representation, 10 classes, 3 seeds), with codes
drawn as noisy class means (seeded). Writes bench/results/probe_tolerance.json.

  .venv/bin/python bench/probe_tolerance.py
"""
import json
import os
import time

import numpy as np

from keras_vidrep.analysis import linear_probes
from keras_vidrep.runtime import cpu

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "probe_tolerance.json")


def data(seed=0, train=2000, test=1000, dim=512, classes=10, noise=3.0):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(classes, dim))
    labels = rng.integers(0, classes, train + test)
    codes = (means[labels] + noise * rng.normal(size=(train + test, dim))).astype(np.float32)
    return codes[:train], labels[:train], codes[train:], labels[train:]


def main():
    train_x, train_y, test_x, test_y = data()
    package = linear_probes.TOLERANCE
    rows = {}
    for name, tolerance in (("scikit_learn_default", 1e-4), ("package", package)):
        linear_probes.TOLERANCE = tolerance
        start = time.perf_counter()
        scores = {k: linear_probes.probe_factor(train_x, train_y, test_x, test_y, True, k, seeds=(0, 1, 2))
                  for k in (1, 10, linear_probes.ALL)}
        rows[name] = {"tolerance": tolerance, "seconds": time.perf_counter() - start, "scores": scores}
    linear_probes.TOLERANCE = package
    difference = max(abs(a - b) for k in rows["package"]["scores"]
                     for a, b in zip(rows["package"]["scores"][k], rows["scikit_learn_default"]["scores"][k]))
    result = {"date": time.strftime("%Y-%m-%d"), "cpu": cpu.describe(), "rows": rows,
              "speedup": rows["scikit_learn_default"]["seconds"] / rows["package"]["seconds"],
              "largest_accuracy_difference": difference}
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
