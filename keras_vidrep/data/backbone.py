"""Per-frame CNN features from a keras.applications backbone: VGG16 fc6 (the original "percepts"), ResNet50
average-pooled, or MobileNetV3-Small average-pooled (576 values; ~40x fewer operations than ResNet50, for a CPU).

Weights: `imagenet` (Keras's cached file, or a download where the network allows it), a path to a weights file
(`.h5` / `.weights.h5` of the same architecture), or `random` (for tests and smoke runs; drawn from `seed`).
`Backbone.identity` names the weights exactly (the SHA-256 of a weights file, the seed of random ones), so that
features of two different networks are never mixed in one file.
"""
import hashlib
import os

import numpy as np

from keras_vidrep.errors import ConfigError, DataError

BACKBONES = ("vgg16_fc6", "resnet50", "mobilenet_v3_small")
IMAGE_SIZE = 224
# How frames are resized to IMAGE_SIZE (recorded in every features file: files of another resize are never extended).
RESIZE = "tf.image.resize of values in [0, 1] (area when shrinking, bilinear when enlarging)"
# What each backbone's features are, and how frames are made ready for it (said in an export that reads them).
DESCRIPTIONS = {
    "vgg16_fc6": ("keras.applications.VGG16(include_top=True), layer fc1 (the paper's fc6) after its ReLU",
                  "keras.applications.vgg16.preprocess_input"),
    "resnet50": ("keras.applications.ResNet50(include_top=False, pooling='avg')",
                 "keras.applications.resnet50.preprocess_input"),
    "mobilenet_v3_small": ("keras.applications.MobileNetV3Small(include_top=False, pooling='avg')",
                           "none (the network rescales its uint8-valued input itself)"),
}


def describe(name, identity):
    """The backbone `name` of weights `identity` in words: {name, weights, layer, preprocessing}."""
    layer, preprocessing = DESCRIPTIONS[name]
    return {"name": name, "weights": identity, "layer": layer,
            "preprocessing": f"each RGB frame stretched to {IMAGE_SIZE}x{IMAGE_SIZE} by {RESIZE}, rounded to uint8 "
                             f"values, as float32; then {preprocessing}"}


class Backbone:
    """A frozen feature extractor: uint8 RGB frames (T, H, W, 3) → float32 features (T, dim).

    Args:
      name: `vgg16_fc6` (4096 values: VGG16's first fully connected layer, after its ReLU), `resnet50` (2048:
        the average-pooled last block) or `mobilenet_v3_small` (576: the average-pooled last block).
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
                network, module = ((keras.applications.ResNet50, keras.applications.resnet50) if name == "resnet50"
                                   else (keras.applications.MobileNetV3Small, keras.applications.mobilenet_v3))
                self.model = network(include_top=False, weights=init, pooling="avg",
                                     input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
                self._preprocess = module.preprocess_input
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
        self._graph_pass = None  # graph_features' tf.function, made at its first call

    def __call__(self, frames):
        """uint8 RGB frames (T, H, W, 3) of any size → features (T, dim): each frame stretched to 224 x 224 as the
        raw-video signatures of an export stretch it (`raw_frames.prepare`: values / 255, `tf.image.resize`, area
        averaging when shrinking, bilinear when enlarging), then `graph_features`' steps, `batch_size` frames a pass
        split over the devices."""
        import tensorflow as tf

        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise DataError(f"frames must be RGB (T, H, W, 3), got shape {frames.shape}")
        method = "area" if frames.shape[1] * frames.shape[2] > IMAGE_SIZE * IMAGE_SIZE else "bilinear"
        out = []
        for i in range(0, len(frames), self.batch_size):
            batch = tf.cast(frames[i:i + self.batch_size], tf.float32) / 255.0
            out.append(self._forward(self._ready(tf.image.resize(batch, (IMAGE_SIZE, IMAGE_SIZE), method=method))))
        return np.concatenate(out).astype(np.float32)

    def _ready(self, frames):
        """Resized frames in [0, 1] → the network's input: rounded to uint8 values (what a decoder's resize would
        give), then the backbone's own preprocessing."""
        import tensorflow as tf

        return self._preprocess(tf.round(tf.convert_to_tensor(frames, tf.float32) * 255.0))

    def graph_features(self, frames):
        """TensorFlow ops for a graph (a SavedModel's signatures): frames (n, 224, 224, 3) in [0, 1], already resized
        (`raw_frames.prepare`) → features (n, dim), `batch_size` frames a pass."""
        import tensorflow as tf

        x = tf.convert_to_tensor(frames, tf.float32)
        count = tf.shape(x)[0]
        x = tf.pad(x, [[0, (-count) % self.batch_size], [0, 0], [0, 0], [0, 0]])
        chunks = tf.reshape(x, (-1, self.batch_size, IMAGE_SIZE, IMAGE_SIZE, 3))
        if self._graph_pass is None:
            # One function for every graph that reads video: the network is traced once, and an export's
            # signatures all call the one copy (traced per signature, an export took 16 traces of ResNet50).
            spec = tf.TensorSpec((self.batch_size, IMAGE_SIZE, IMAGE_SIZE, 3), tf.float32)
            self._graph_pass = tf.function(lambda chunk: self.model(self._ready(chunk), training=False),
                                           input_signature=[spec], autograph=False)
        out = tf.map_fn(self._graph_pass, chunks,
                        fn_output_signature=tf.TensorSpec((self.batch_size, self.dim), tf.float32))
        return tf.reshape(out, (-1, self.dim))[:count]

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


def backbone_for(name, identity, weights_file="", batch_size=32):
    """The `Backbone` that computed features of weights `identity` (as a features file records it: `imagenet`,
    `random (seed N)`, `sha256:...`), for a model of those features to read raw video. A weights file is found by
    its hash: `weights_file` must be that file. ConfigError when the weights cannot be had."""
    if identity.startswith("random (seed "):
        return Backbone(name, "random", batch_size, devices=[], seed=int(identity[len("random (seed "):-1]))
    if identity == "imagenet":  # Keras's cached file, or a copy of it given here
        return Backbone(name, weights_file or "imagenet", batch_size, devices=[])
    if identity.startswith("sha256:") and weights_file:
        if not os.path.isfile(weights_file) or f"sha256:{file_sha256(weights_file)}" != identity:
            raise ConfigError(f"`backbone_weights` {weights_file!r} is not the weights file the features were "
                              f"computed with ({identity})")
        return Backbone(name, weights_file, batch_size, devices=[])
    raise ConfigError(f"the features were computed by {name} with weights {identity}: give that weights file with "
                      f"--backbone_weights=PATH")


def file_sha256(path):
    """The SHA-256 of a file's bytes, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
