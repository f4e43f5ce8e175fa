"""TensorBoard's HParams dashboard: every training run is a session whose hyperparameters are its settings and whose
metrics are its own scalars (the last `validation/...` values are the final validation numbers); a sweep
(`vidrep-probe`) writes one session per point, its numbers as scalars of that session.

No experiment summary (`hparams_config`) is written anywhere: with several, TensorBoard would show only one of them.
It infers the columns from the sessions found under `--logdir`, so any set of runs, sweeps included, can be
compared by pointing TensorBoard at their common parent directory.
"""
import os

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp


def plain(value):
    """`value` as one of the types a hyperparameter may have (bool, int, float, str): sequences comma-joined."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def settings(config):
    """A Config's settings as hyperparameters (paths and unset values left out: they differ without meaning)."""
    skip = ("model_dir", "export_dir")
    return {k: plain(v) for k, v in config.to_dict().items() if v is not None and k not in skip}


def write_session(logdir, hyperparameters, metrics=None, step=0, trial_id=None):
    """One HParams session in `logdir`: its `hyperparameters` ({name: value}) and optionally `metrics` ({tag:
    number}) written as scalars of the same run at `step`."""
    writer = tf.summary.create_file_writer(logdir)
    try:
        with writer.as_default():
            hp.hparams({k: plain(v) for k, v in hyperparameters.items()}, trial_id=trial_id)
            for tag, value in (metrics or {}).items():
                tf.summary.scalar(tag, float(value), step=step)
    finally:
        writer.close()


def write_probe_sweep(logdir, result):
    """`vidrep-probe`'s result as sessions in `logdir/<representation>_k<labels>_s<seed>`: hyperparameters
    `representation` (trained, random, input_last, input_mean), `initialisation` (random0, random1, ... for the
    untrained copies), `labels_per_class` (0: all), `seed`, `probed` (which state) and `run`; one metric
    `probe/<factor>` per factor probed with those labels. Returns the session directories."""
    sessions = {}
    for factor, by in result["scores"].items():
        for key, per_labels in by.items():
            for labels, scores in per_labels.items():
                for seed, score in zip(result["seeds"], scores):
                    sessions.setdefault((key, int(labels), seed), {})[f"probe/{factor}"] = score
    if os.path.isdir(logdir):  # the sessions of an earlier probe into the same folder: replaced, not doubled
        tf.io.gfile.rmtree(logdir)
    paths = []
    for (key, labels, seed), metrics in sorted(sessions.items()):
        paths.append(os.path.join(logdir, f"{key}_k{labels}_s{seed}"))
        write_session(paths[-1], {"representation": key.rstrip("0123456789"), "initialisation": key,
                                  "labels_per_class": labels, "seed": seed, "probed": result["representation"],
                                  "run": os.path.basename(result.get("model_dir", ""))}, metrics)
    return paths
