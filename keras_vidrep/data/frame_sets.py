"""Frames and frame sequences for the frame models (the VAE and the LSTM in its latent space).

Two sources: Bouncing MNIST generated on the fly (grey), or a frames file (`vidrep-preprocess --kind=frames`, see
`frame_file`) of which a part is held out for validation (`val_split`). `FrameData` holds the settings both tasks share.
Frames come out as (N, H, W, C) float32 in [0, 1]; sequences as (N, T, *frame_shape) like every other video task
(grey frames (H, W), colour (H, W, 3)), so the evaluation tools read them alike.
"""
import dataclasses

import numpy as np

from keras_vidrep.data import video_sequences
from keras_vidrep.data.frame_file import SPLITS, FrameFile, WindowStream
from keras_vidrep.data.streams import batch_ids
from keras_vidrep.data.validation_set import ValidationSet
from keras_vidrep.data.video_input import VideoInput, file_attributes
from keras_vidrep.errors import ConfigError, DataError
from keras_vidrep.settings import check_choices, check_positive, refuse_unread, setting

DATA = ("bouncing_mnist", "frames")
FRAME_SPREAD = 7919  # a prime: which frame of a generated sequence a frame example takes


@dataclasses.dataclass
class FrameData(video_sequences.BouncingSettings):
    """Where the frames come from; field names are the flag names."""

    data: str = setting("bouncing_mnist", "Training frames: Bouncing MNIST generated on the fly, or a frames file "
                                          "(`data_file`).", DATA)
    data_file: str = setting("", "data=frames: HDF5 from vidrep-preprocess --kind=frames, or .npy (F, H, W[, C]).")
    val_fraction: float = setting(0.1, "data=frames: fraction held out for validation (see `val_split`).")
    val_split: str = setting("videos", "data=frames: hold out the last videos (judged on unseen videos), or the last "
                                       "frames of every video (`tail`: judged on unseen moments of the same videos).",
                             SPLITS)
    frame_size: int = setting(64, "data=frames: frame height and width in pixels (the file's).")
    channels: int = setting(1, "Colour channels: 1 (grey) or 3 (RGB).")

    seq_length: int = setting(20, "Bouncing MNIST: frames per generated sequence.")

    @property
    def size(self):
        return self.canvas_size if self.data == "bouncing_mnist" else self.frame_size

    @property
    def frame_shape(self):
        """Frames as users see them: (H, W) grey, (H, W, 3) colour."""
        return (self.size, self.size) if self.channels == 1 else (self.size, self.size, self.channels)

    @property
    def image_shape(self):
        """Frames as convolutions read them: (H, W, C)."""
        return (self.size, self.size, self.channels)

    def validate_data(self):
        check_positive(self, ("frame_size", "canvas_size", "digit_size", "num_digits", "seq_length"))
        check_choices(self)
        if self.channels not in (1, 3):
            raise ConfigError(f"`channels` must be 1 or 3, got {self.channels}")
        if self.data == "bouncing_mnist" and self.channels != 1:
            raise ConfigError(f"`data`=bouncing_mnist is grey: set `channels`=1, got {self.channels}")
        if self.data == "frames" and not self.data_file:
            raise ConfigError("`data`=frames needs `data_file` (write one with vidrep-preprocess --kind=frames)")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"`val_fraction` must be in (0, 1), got {self.val_fraction}")
        if self.digit_size > self.canvas_size:
            raise ConfigError(f"`digit_size` ({self.digit_size}) must not exceed `canvas_size` ({self.canvas_size})")
        video_sequences.speed_range(self)  # checks speed_spread
        if self.data == "bouncing_mnist":
            refuse_unread(self, ("data_file",), "`data`=bouncing_mnist (generated digits)")
        else:
            refuse_unread(self, ("speed_spread",), f"`data`={self.data} (only generated digits move at a speed)")
        video_sequences.check_digits_path(self)


def open_frame_file(settings):
    """The settings' frames file, checked against `frame_size`."""
    file = FrameFile(settings.data_file, settings.channels)
    if file.frame_shape != settings.image_shape:
        raise DataError(f"`data_file` {settings.data_file!r} holds frames of {file.frame_shape[:2]}, but "
                        f"`frame_size` is {settings.frame_size}")
    return file


class FrameSource:
    """Single training and validation frames (N, H, W, C)."""

    def __init__(self, settings, seed):
        self.settings, self.seed = settings, seed
        if settings.data == "bouncing_mnist":
            self.generator = video_sequences.bouncing_generator(settings, seed, "train")
        else:  # a frame is a window of one frame
            self.frames = WindowStream(open_frame_file(settings), 1, seed, settings.val_fraction, settings.val_split)

    def batch(self, step, global_batch_size, start, count):
        """Frames of rows [start, start + count) of global batch `step`."""
        if self.settings.data == "bouncing_mnist":
            ids = batch_ids(step, global_batch_size, start, count)
            times = (ids * FRAME_SPREAD) % self.settings.seq_length  # one frame of each sequence, spread over time
            return self.generator.frames(ids, times)[..., None]
        return self.frames.batch(step, global_batch_size, start, count)[:, 0]

    def own_shards(self, part, parts):
        """Keeps to worker `part` of `parts`'s shards of a sharded frames file; False otherwise."""
        return hasattr(self, "frames") and self.frames.own_shards(part, parts)

    def validation_set(self, count):
        """`count` fixed held-out frames (fewer if the held-out videos have fewer), as a `ValidationSet` drawn or
        read from the file when asked."""
        if self.settings.data == "bouncing_mnist":
            generator, length = video_sequences.bouncing_generator(self.settings, self.seed, "test"), \
                self.settings.seq_length

            def read(ids):  # frame i is frame i % length of held-out sequence i // length
                ids = np.asarray(ids, np.int64)
                sequences, inverse = np.unique(ids // length, return_inverse=True)
                drawn = generator.sequences(sequences)
                return drawn[inverse.reshape(-1), ids % length][..., None]

            return ValidationSet(read, count)
        return self.frames.validation_set(count).map(lambda windows: windows[:, 0])


class SequenceSource:
    """Sequences (N, length, *frame_shape) of consecutive frames: generated Bouncing MNIST sequences, or windows of
    a frames file taken every `frame_skip`-th frame that never cross from one video into the next."""

    def __init__(self, settings, seed, length, frame_skip=1):
        self.settings, self.seed, self.length = settings, seed, length
        if settings.data == "bouncing_mnist":
            if frame_skip != 1:
                raise ConfigError(f"`frame_skip` applies to `data`=frames; Bouncing MNIST is generated at the rate "
                                  f"it is trained on (got `frame_skip`={frame_skip})")
            self.generator = video_sequences.bouncing_generator(settings, seed, "train")
        else:
            self.windows = WindowStream(open_frame_file(settings), length, seed, settings.val_fraction,
                                        settings.val_split, frame_skip)

    def _framed(self, frames):
        return frames.reshape(*frames.shape[:2], *self.settings.frame_shape)

    def sequences(self, ids):
        """Training sequences at stream positions `ids`."""
        if self.settings.data == "bouncing_mnist":
            return self.generator.sequences(ids)[:, :self.length]
        return self._framed(self.windows.sequences(ids))

    def batch(self, step, global_batch_size, start, count):
        if self.settings.data == "bouncing_mnist":
            return self.sequences(batch_ids(step, global_batch_size, start, count))
        return self._framed(self.windows.batch(step, global_batch_size, start, count))

    def own_shards(self, part, parts):
        """Keeps to worker `part` of `parts`'s shards of a sharded frames file; False otherwise."""
        return hasattr(self, "windows") and self.windows.own_shards(part, parts)

    def validation_set(self, count):
        """`count` fixed held-out sequences (evenly spread over the held-out windows of a file), as a
        `ValidationSet` drawn or read from the file when asked."""
        if self.settings.data == "bouncing_mnist":
            generator = video_sequences.bouncing_generator(self.settings, self.seed, "test")
            return ValidationSet(lambda ids: generator.sequences(np.asarray(ids))[:, :self.length], count)
        return self.windows.validation_set(count).map(self._framed)


def frame_video_input(settings, frames, frame_skip=1):
    """What a model of these frame settings reads of a video as decoded (`video_input.VideoInput`), `frames` a clip
    every `frame_skip`-th frame of the data: generated digits are grey squares of the canvas (a video's centred
    square); a frames file of vidrep-preprocess was cut as its attributes say (`keep_aspect`: the centred square,
    else the whole frame stretched; its own `frame_skip`)."""
    if settings.data == "bouncing_mnist":
        return VideoInput(height=settings.size, width=settings.size, channels=1, frames=frames, frame_skip=frame_skip)
    attributes = file_attributes(settings.data_file)
    return VideoInput(height=settings.size, width=settings.size, channels=settings.channels, frames=frames,
                      frame_skip=int(attributes.get("frame_skip", 1)) * frame_skip,
                      crop="centre_square" if bool(attributes.get("keep_aspect", False)) else "stretch")
