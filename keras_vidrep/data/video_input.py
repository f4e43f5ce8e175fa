"""What a model reads of a video as decoded (`VideoInput`: frame size, channels, clip length, frame skip, crop, and
for patch and feature models the patch grid or the backbone), and the one-line check of a decoded video against it.
Plain Python: tasks answer with it, and the TensorFlow preparation of the frames is `raw_frames`."""
import dataclasses
import json
import os

import numpy as np

from keras_vidrep.data.backbone import IMAGE_SIZE
from keras_vidrep.errors import DataError

# centre_square: each frame's centred square resized to height x width; stretch: the whole frame resized to it;
# patch_grid: frames resized so that their shorter side is `short_side` (0: as decoded), then cut into every
# non-overlapping height x width patch from the top left (vidrep-preprocess --kind=patches --crops=grid).
CROPS = ("centre_square", "stretch", "patch_grid")


@dataclasses.dataclass(frozen=True)
class VideoInput:
    """What a model reads of a video (stored in its run as video_input.json, in its export as assets/export.json and
    by the `describe` signature).

    `backbone` (a `data.backbone` name) and `backbone_weights` (its weights' identity) are set for a model of
    per-frame CNN features: its frames (height x width, stretched) go through that network first."""

    height: int
    width: int
    channels: int
    frames: int
    frame_skip: int = 1
    crop: str = "centre_square"
    short_side: int = 0
    backbone: str = ""
    backbone_weights: str = ""

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def frame_size_after_resize(self, height, width):
        """(height, width) of a decoded frame of that size once resized for a patch grid (`short_side`)."""
        if not self.short_side:
            return height, width
        scale = self.short_side / min(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))


GREY_SPREAD = 8  # the most a grey video's channels differ after decoding (chroma rounding in YUV → RGB)


def is_grey(video):
    """Whether decoded RGB frames (T, H, W, 3) are grey: in 99% of the pixels of every 10th frame the three channels
    differ by at most GREY_SPREAD (OpenCV decodes a grey video as RGB, within a few levels of each other)."""
    if video.ndim != 4 or video.shape[-1] != 3:
        return False
    sample = np.asarray(video[::10], np.int16)
    return float(np.percentile(sample.max(axis=-1) - sample.min(axis=-1), 99)) <= GREY_SPREAD


def check_video(shape, video_input, what="video"):
    """DataError (one line) for a decoded video of `shape` (T, H, W[, C]) the model cannot read."""
    if len(shape) not in (3, 4):
        raise DataError(f"{what}: expected frames (T, H, W[, C]), got shape {tuple(shape)}")
    channels = shape[3] if len(shape) == 4 else 1
    if channels not in (1, 3):
        raise DataError(f"{what}: frames of {channels} channels; expected grey (1) or RGB (3)")
    if channels == 1 and video_input.channels == 3:
        raise DataError(f"{what} is grey, but the model reads RGB frames")
    kept = -(-shape[0] // video_input.frame_skip)
    if kept < video_input.frames:
        raise DataError(f"{what} has {shape[0]} frames ({kept} kept at every {video_input.frame_skip}-th), shorter "
                        f"than one clip of {video_input.frames}")
    if video_input.crop == "patch_grid":
        height, width = video_input.frame_size_after_resize(shape[1], shape[2])
        if height < video_input.height or width < video_input.width:
            resized = f" (resized to {width}x{height})" if (height, width) != tuple(shape[1:3]) else ""
            raise DataError(f"{what}: frames of {shape[2]}x{shape[1]} pixels{resized} are smaller than a "
                            f"{video_input.width}x{video_input.height} patch")


def plain_attributes(attrs):
    """HDF5 attributes (h5py's `attrs`) as plain Python values: numpy scalars as numbers, bytes as text."""
    return {key: value.item() if hasattr(value, "item") else value.decode() if isinstance(value, bytes) else value
            for key, value in attrs.items()}


def file_attributes(path):
    """The attributes of an HDF5 data file (or shard index) as plain Python values; {} for another file."""
    import h5py

    if not (path.endswith((".h5", ".hdf5")) and os.path.isfile(path)):
        return {}
    with h5py.File(path, "r") as f:
        return plain_attributes(f.attrs)


def patch_video_input(path, patch_size, channels, frames):
    """What a model of the patch sequences in `path` reads of a video: a grid of patches cut as vidrep-preprocess
    cut the file's (its attributes: `resize`, `frame_skip`); a file without them (the original .npy) is taken as
    patches of frames as decoded, every frame."""
    attributes = file_attributes(path)
    return VideoInput(height=patch_size, width=patch_size, channels=channels, frames=frames,
                      frame_skip=int(attributes.get("frame_skip", 1)), crop="patch_grid",
                      short_side=int(attributes.get("resize", 0)))


def backbone_video_input(path, frames):
    """What a model of the per-frame CNN features in `path` reads of a video: whole frames stretched to the
    backbone's input, every `every` (vidrep-features) or `frame_skip` (vidrep-preprocess) frames, through the
    backbone and weights the file names; None for a file that names no backbone (the original fc6 files)."""
    attributes = file_attributes(path)
    if not attributes.get("backbone") or not attributes.get("weights"):
        return None
    return VideoInput(height=IMAGE_SIZE, width=IMAGE_SIZE, channels=3, frames=frames,
                      frame_skip=int(attributes.get("every", attributes.get("frame_skip", 1))), crop="stretch",
                      backbone=str(attributes["backbone"]), backbone_weights=str(attributes["weights"]))
