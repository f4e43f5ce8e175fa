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


class VideoAccuracy:
    """Clip and video accuracy of the whole validation set, accumulated as batches of clips arrive: per video, the
    sum of its clips' probabilities (videos x classes numbers, whatever the number of clips). A video with no clip
    (shorter than `clip_length`) has no prediction and counts as wrong.

    Args:
      video_labels: the label of every validation video (V,).
      num_classes: classes.
    """

    def __init__(self, video_labels, num_classes):
        self.video_labels = np.asarray(video_labels)
        self.sums = np.zeros((len(self.video_labels), num_classes), np.float64)
        self.clip_counts = np.zeros(len(self.video_labels), np.int64)
        self.right_clips = 0
        self.means = MeanSummary()

    def add(self, per_example):
        probabilities, labels, videos = (np.asarray(per_example[k]) for k in ("probabilities", "labels", "videos"))
        np.add.at(self.sums, videos, probabilities)
        np.add.at(self.clip_counts, videos, 1)
        self.right_clips += int((probabilities.argmax(-1) == labels).sum())
        self.means.add({"cross_entropy": per_example["cross_entropy"]})

    def result(self):
        seen = self.clip_counts > 0
        video_probabilities = self.sums[seen] / self.clip_counts[seen, None]
        right_videos = int((video_probabilities.argmax(-1) == self.video_labels[seen]).sum())
        return {**self.means.result(), "clip_accuracy": self.right_clips / max(1, int(self.clip_counts.sum())),
                "video_accuracy": right_videos / len(self.video_labels)}
