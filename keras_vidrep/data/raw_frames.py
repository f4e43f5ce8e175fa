"""Video as it is decoded (uint8 RGB or grey frames of any size) → what a model reads, in TensorFlow, so that the
same graph runs inside a SavedModel (its `*_video*` signatures) and in the package (`analysis.encode`).

A model's `VideoInput` (`data.video_input`) says what it reads. The steps, in order:

  1. every `frame_skip`-th frame;
  2. values / 255 (uint8) → float32 in [0, 1];
  3. RGB → grey (ITU-R 601 luma, `tf.image.rgb_to_grayscale`) for a grey model; a grey video for an RGB model is an
     error;
  4. `centre_square`: each frame's centred square (nothing is stretched), `stretch`: the whole frame, both resized to
     height x width (`tf.image.resize`, area averaging when shrinking, bilinear when enlarging); `patch_grid`: the
     frame resized so that its shorter side is `short_side` (when set), then cut into every non-overlapping
     height x width patch from the top left, each patch a sequence of its own;
  5. a feature model's backbone (`backbone`): the frames, as the uint8 values OpenCV's resize gives, through the
     network (`data.backbone.Backbone.graph_features`), one feature vector per frame.

The wrappers below turn a function of what the model reads into one of raw video: on its first clip
(`on_first_clip`), on every clip at a stride (`on_all_clips`), or on every frame (`on_frames`).
"""
import tensorflow as tf


def prepare(video, video_input):
    """(batch, T, H, W, C) uint8 or float in [0, 1] → float32 (batch, T', height, width[, channels]) as the model
    reads them (no channel axis for a grey model, as its frames have none); for `patch_grid`, the whole resized
    frames (batch, T', H', W', channels), cut by `patch_grid`."""
    x = tf.convert_to_tensor(video)
    x = x[:, ::video_input.frame_skip]
    x = tf.cast(x, tf.float32) / 255.0 if x.dtype == tf.uint8 else tf.cast(x, tf.float32)
    if video_input.channels == 1:
        x = tf.cond(tf.shape(x)[-1] == 3, lambda: tf.image.rgb_to_grayscale(x), lambda: x[..., :1])
    else:
        tf.debugging.assert_equal(tf.shape(x)[-1], 3, message="the model reads RGB frames")
    shape = tf.shape(x)
    batch, steps, height, width = shape[0], shape[1], shape[2], shape[3]
    if video_input.crop == "centre_square":
        side = tf.minimum(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        x = x[:, :, top:top + side, left:left + side]
        height = width = side
    if video_input.crop == "patch_grid":
        if not video_input.short_side:
            return x
        scale = video_input.short_side / tf.cast(tf.minimum(height, width), tf.float64)
        size = (tf.maximum(1, tf.cast(tf.round(tf.cast(height, tf.float64) * scale), tf.int32)),
                tf.maximum(1, tf.cast(tf.round(tf.cast(width, tf.float64) * scale), tf.int32)))
    else:
        size = (video_input.height, video_input.width)
    frames = tf.reshape(x, (batch * steps, height, width, video_input.channels))
    shrink = size[0] * size[1] < height * width
    frames = tf.cond(shrink, lambda: tf.image.resize(frames, size, method="area"),
                     lambda: tf.image.resize(frames, size, method="bilinear"))
    frames = tf.reshape(frames, (batch, steps, size[0], size[1], video_input.channels))
    return frames[..., 0] if video_input.channels == 1 and video_input.crop != "patch_grid" else frames


def patch_grid(frames, height, width, channels):
    """(batch, T, H, W, channels) → (batch * rows * cols, T, height, width, channels), every non-overlapping patch
    from the top left (row by row), and the grid (batch, rows, cols) as an int32 vector."""
    shape = tf.shape(frames)
    rows, cols = shape[2] // height, shape[3] // width
    tf.debugging.assert_positive(rows * cols, message="the frames are smaller than one patch")
    x = tf.reshape(frames[:, :, :rows * height, :cols * width],
                   (shape[0], shape[1], rows, height, cols, width, channels))
    x = tf.transpose(x, (0, 2, 4, 1, 3, 5, 6))
    return tf.reshape(x, (-1, shape[1], height, width, channels)), tf.stack([shape[0], rows, cols])


def model_inputs(video, video_input, features=None):
    """Raw video (batch, T, H, W, C) → (what the model reads (n, T', *frame), the patch grid or None): frames,
    feature vectors (`features`: prepared frames (k, height, width, 3) → (k, dim)), or the sequences of every patch
    (n = batch * rows * cols)."""
    frames = prepare(video, video_input)
    if video_input.backbone:
        shape = tf.shape(frames)
        vectors = features(tf.reshape(frames, (shape[0] * shape[1], video_input.height, video_input.width, 3)))
        return tf.reshape(vectors, (shape[0], shape[1], -1)), None
    if video_input.crop == "patch_grid":
        return patch_grid(frames, video_input.height, video_input.width, video_input.channels)
    return frames, None


def _check_length(inputs, video_input):
    tf.debugging.assert_greater_equal(tf.shape(inputs)[1], video_input.frames,
                                      message=f"the video is shorter than one clip of {video_input.frames} kept frames")


def _merge_patches(out, grid):
    """Outputs of every patch's sequence → those of the video: a vector per sequence (n, d) → the mean over the
    patches (batch, d) and `<name>_per_patch` (batch, rows, cols, d); frames (n, T, h, w, C) → the patches put back
    in place (batch, T, rows * h, cols * w, C)."""
    merged = {}
    for key, value in out.items():
        if len(value.shape) == 2:
            per_patch = tf.reshape(value, tf.concat([grid, tf.shape(value)[1:]], 0))
            merged[key], merged[f"{key}_per_patch"] = tf.reduce_mean(per_patch, axis=(1, 2)), per_patch
        else:
            shape = tf.shape(value)
            x = tf.reshape(value, tf.concat([grid, shape[1:]], 0))  # (batch, rows, cols, T, h, w, C)
            x = tf.transpose(x, (0, 3, 1, 4, 2, 5, 6))
            merged[key] = tf.reshape(x, (grid[0], shape[1], grid[1] * shape[2], grid[2] * shape[3], shape[4]))
    return merged


def on_first_clip(fn, video_input, features=None):
    """`fn` of clips (n, frames, *frame) → the same of raw video, on its first clip (a patch model's outputs merged
    over the grid)."""
    def on_video(video, *rest, **named):
        inputs, grid = model_inputs(video[:, :video_input.frames * video_input.frame_skip], video_input, features)
        _check_length(inputs, video_input)
        out = fn(inputs[:, :video_input.frames], *rest, **named)
        return out if grid is None else _merge_patches(out, grid)
    return on_video


def on_all_clips(fn, video_input, features=None):
    """`fn` of clips → one of raw video and an int32 `stride`: every clip of the video starting `stride` kept frames
    apart. Each vector output of `fn` (clips, d) comes back as `clip_<name>` (batch, clips, d) and its mean over the
    clips, `video_<name>` (batch, d); a patch model's clip vector is the mean over its patches."""
    length = video_input.frames

    def on_video(video, stride):
        inputs, grid = model_inputs(video, video_input, features)
        _check_length(inputs, video_input)
        starts = tf.range(0, tf.shape(inputs)[1] - length + 1, stride)
        windows = tf.gather(inputs, starts[:, None] + tf.range(length)[None], axis=1)  # (n, clips, length, ...)
        shape = tf.shape(windows)
        out = fn(tf.reshape(windows, tf.concat([[shape[0] * shape[1]], shape[2:]], 0)))
        merged = {}
        for key, value in out.items():
            if len(value.shape) != 2:
                continue
            clips = tf.reshape(value, (shape[0], shape[1], -1))
            if grid is not None:
                clips = tf.reduce_mean(tf.reshape(clips, (grid[0], grid[1] * grid[2], shape[1], -1)), axis=1)
            merged[f"clip_{key}"], merged[f"video_{key}"] = clips, tf.reduce_mean(clips, axis=1)
        return merged
    return on_video


def on_frames(fn, video_input):
    """`fn` of single frames (n, *frame) → the same of raw video, on every prepared frame: outputs (batch, T', ...)."""
    def on_video(video, *rest, **named):
        frames = prepare(video, video_input)
        shape = tf.shape(frames)
        out = fn(tf.reshape(frames, tf.concat([[shape[0] * shape[1]], shape[2:]], 0)), *rest, **named)
        return {key: tf.reshape(value, tf.concat([shape[:2], tf.shape(value)[1:]], 0)) for key, value in out.items()}
    return on_video
