"""Per-frame CNN features from a keras.applications backbone: VGG16 fc6 (the original "percepts") or ResNet50
average-pooled.

Weights: `imagenet` (Keras's cached file, or a download where the network allows it), a path to a weights file
(`.h5` / `.weights.h5` of the same architecture), or `random` (for tests and smoke runs; drawn from `seed`).
`Backbone.identity` names the weights exactly (the SHA-256 of a weights file, the seed of random ones), so that
features of two different networks are never mixed in one file.
"""
import hashlib
import os

import numpy as np

from keras_vidrep.errors import ConfigError, DataError

BACKBONES = ("vgg16_fc6", "resnet50")
IMAGE_SIZE = 224


class Backbone:
    """A frozen feature extractor: uint8 RGB frames (T, H, W, 3) → float32 features (T, dim).

    Args:
      name: `vgg16_fc6` (4096 values: VGG16's first fully connected layer, after its ReLU) or `resnet50` (2048:
        the average-pooled last block).
      weights: `imagenet`, `random` (or `none`) or a weights file.
      batch_size: frames per forward pass, split evenly over `devices`.
      devices: TensorFlow device names each pass is split over; None: every GPU, or the default device without.
      seed: the seed of random weights.
    """

    def __init__(self, name="vgg16_fc6", weights="imagenet", batch_size=32, devices=None, seed=0):
        import keras

        if name not in BACKBONES:
            raise ConfigError(f"`backbone` must be one of {', '.join(BACKBONES)}, got {name!r}")
        weights = "random" if weights == "none" else weights
        if weights not in ("imagenet", "random") and not os.path.isfile(weights):
            raise ConfigError(f"`weights` must be imagenet, none (random), or a weights file, got {weights!r} (no "
                              f"such file)")
        init = "imagenet" if weights == "imagenet" else None
        if weights == "random":
            keras.utils.set_random_seed(seed)
            self.identity = f"random (seed {seed})"
        else:
            self.identity = "imagenet" if weights == "imagenet" else f"sha256:{file_sha256(weights)}"
        try:
            if name == "vgg16_fc6":
                full = keras.applications.VGG16(include_top=True, weights=init)
                self.model = keras.Model(full.input, full.get_layer("fc1").output)
                self._preprocess = keras.applications.vgg16.preprocess_input
                if init is None and weights != "random":
                    full.load_weights(weights)
            else:
                self.model = keras.applications.ResNet50(include_top=False, weights=init, pooling="avg")
                self._preprocess = keras.applications.resnet50.preprocess_input
                if init is None and weights != "random":
                    self.model.load_weights(weights)
        except Exception as e:  # a failed download or a weights file of another architecture
            raise ConfigError(f"`weights`={weights} for `backbone`={name} could not be loaded "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); give a local weights file "
                              f"with --weights=PATH") from None
        self.name, self.batch_size = name, int(batch_size)
        self.dim = int(self.model.output_shape[-1])
        if devices is None:
            import tensorflow as tf

            devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        self.devices = list(devices)

    def __call__(self, frames):
        import cv2

        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise DataError(f"frames must be RGB (T, H, W, 3), got shape {frames.shape}")
        out = []
        for i in range(0, len(frames), self.batch_size):
            batch = np.stack([cv2.resize(f, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
                              for f in frames[i:i + self.batch_size]]).astype(np.float32)
            out.append(self._forward(self._preprocess(batch)))
        return np.concatenate(out).astype(np.float32)

    def _forward(self, batch):
        """The model on one batch, split over the devices (launched on each before any result is read)."""
        import tensorflow as tf

        if len(self.devices) < 2:
            return np.asarray(self.model(batch, training=False))
        parts = []
        for device, chunk in zip(self.devices, np.array_split(batch, len(self.devices))):
            if len(chunk):
                with tf.device(device):
                    parts.append(self.model(chunk, training=False))
        return np.concatenate([np.asarray(p) for p in parts])


def file_sha256(path):
    """The SHA-256 of a file's bytes, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
