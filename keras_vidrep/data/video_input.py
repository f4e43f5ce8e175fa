"""What a model reads of a video as decoded (`VideoInput`: frame size, channels, clip length, frame skip, crop), and
the one-line check of a decoded video against it. Plain Python: tasks answer with it, and the TensorFlow preparation
of the frames is `raw_frames.prepare`."""
import dataclasses
import json

from keras_vidrep.errors import DataError

CROPS = ("centre_square", "stretch")


@dataclasses.dataclass(frozen=True)
class VideoInput:
    """What a model reads of a video (stored in its export as assets/video_input.json and by `describe`)."""

    height: int
    width: int
    channels: int
    frames: int
    frame_skip: int = 1
    crop: str = "centre_square"

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


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
