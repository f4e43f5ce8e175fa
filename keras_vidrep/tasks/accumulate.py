"""Whole-set numbers accumulated batch by batch (numpy only): validation and evaluation read their sets a batch at
a time, so nothing here holds a set — only running float64 sums (and, where a number needs every example at once,
the values of a set of bounded size)."""
import numpy as np


class MeanSummary:
    """Whole-set means of per-example values added batch by batch (float64 running sums: memory does not grow
    with the set). Values named in `keep` are gathered whole instead (`kept`), for numbers of a bounded set that
    need every example at once (an MMD of codes)."""

    def __init__(self, keep=()):
        self.sums, self.counts = {}, {}
        self.kept = {name: [] for name in keep}

    def add(self, per_example):
        for name, values in per_example.items():
            values = np.asarray(values)
            if name in self.kept:
                self.kept[name].append(values)
            else:
                self.sums[name] = self.sums.get(name, 0.0) + float(values.sum(dtype=np.float64))
                self.counts[name] = self.counts.get(name, 0) + values.size

    def gathered(self, name):
        """The kept values of `name`, concatenated in order."""
        return np.concatenate(self.kept[name])

    def result(self):
        return {name: total / self.counts[name] for name, total in self.sums.items()}


class HorizonMeans:
    """`summarize` of per-frame metrics added batch by batch ({metric: (n, K)}): float64 sums per horizon, so that
    the whole set's numbers come without the set in memory."""

    def __init__(self):
        self.sums, self.count = {}, 0

    def add(self, per_frame):
        for name, values in per_frame.items():
            self.sums[name] = self.sums.get(name, 0.0) + np.asarray(values, np.float64).sum(axis=0)
        self.count += len(next(iter(per_frame.values())))

    def result(self):
        return {name: {"mean": float(sums.mean() / self.count), "per_horizon": [float(v) for v in sums / self.count]}
                for name, sums in self.sums.items()}
