"""What is known exactly about a generated Bouncing MNIST sequence: the factors a representation can be probed for.

For the frame `at` (the last frame an encoder reads) and each digit d of a sequence:
  * `digit{d}`: its class (0-9), a label of the digit image;
  * `digit{d}_x`, `digit{d}_y`: its position, the top-left corner as a fraction of the free range [0, 1];
  * `digit{d}_vx`, `digit{d}_vy`: the velocity it leaves that frame with (after a bounce), free range per frame;
  * `digit{d}_direction`: that velocity's direction in 8 sectors of 45 degrees (0: moving right, 2: down,
    4: left, 6: up — rows grow downwards);
  * `digit{d}_speed`: its length (constant under the original rules, drawn per digit with a speed range);
  * `digit{d}_x_ahead{k}`, `digit{d}_y_ahead{k}`: the position k frames later (what a predictive representation
    should hold).
Classes are int64 arrays, everything else float64; all of shape (n,).
"""
import numpy as np

from keras_vidrep.errors import ConfigError

SECTORS = 8


def direction_sector(v_y, v_x):
    """The direction of (v_y, v_x) in `SECTORS` sectors centred on 0, 45, ... degrees (0: +x, 2: +y)."""
    angle = np.mod(np.arctan2(v_y, v_x), 2.0 * np.pi)
    return (np.floor(angle / (2.0 * np.pi / SECTORS) + 0.5).astype(np.int64)) % SECTORS


def is_class(name):
    """Whether the factor `name` is a class (probed by classification) rather than a number (by regression)."""
    return name.endswith("_direction") or name.rstrip("0123456789") == "digit"


def bouncing_factors(generator, labels, sample_ids, at, ahead=()):
    """{name: (n,) array} for `sample_ids` of `generator` (a BouncingMNIST) at frame `at`; `labels`: the class of
    each of its digit images; `ahead`: frame offsets for future positions (each within the sequence)."""
    at = int(at)
    if not 0 <= at < generator.seq_length:
        raise ConfigError(f"frame `at` must be in [0, {generator.seq_length}), got {at}")
    for k in ahead:
        if not 0 < int(k) < generator.seq_length - at:
            raise ConfigError(f"`ahead` {k} must be in [1, {generator.seq_length - at - 1}] for sequences of "
                              f"{generator.seq_length} frames read up to frame {at}")
    labels = np.asarray(labels, np.int64)
    ys, xs, vys, vxs = generator.trajectories(sample_ids)
    classes = labels[generator.digit_indices(sample_ids)]
    out = {}
    for d in range(generator.num_digits):
        name = f"digit{d}"
        out[name] = classes[:, d]
        out[f"{name}_x"], out[f"{name}_y"] = xs[:, d, at], ys[:, d, at]
        out[f"{name}_vx"], out[f"{name}_vy"] = vxs[:, d, at], vys[:, d, at]
        out[f"{name}_direction"] = direction_sector(vys[:, d, at], vxs[:, d, at])
        out[f"{name}_speed"] = np.hypot(vys[:, d, at], vxs[:, d, at])
        for k in ahead:
            out[f"{name}_x_ahead{k}"], out[f"{name}_y_ahead{k}"] = xs[:, d, at + k], ys[:, d, at + k]
    return out
