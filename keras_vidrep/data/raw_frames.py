"""Video as it is decoded (uint8 RGB or grey frames of any size) → the frames a model reads, in TensorFlow, so that the
same graph runs inside a SavedModel (its `*_video` signatures) and in the package (`analysis.encode`).

A model's `VideoInput` (`data.video_input`) says what it reads: frames of `height` x `width`, grey (1 channel) or
RGB (3), every `frame_skip`-th frame, `frames` of them a clip. The steps, in order:

  1. every `frame_skip`-th frame;
  2. values / 255 (uint8) → float32 in [0, 1];
  3. RGB → grey (ITU-R 601 luma, `tf.image.rgb_to_grayscale`) for a grey model; a grey video for an RGB model is an
     error;
  4. the centred square of each frame (`crop` = `centre_square`; nothing is stretched) or the whole frame
     (`stretch`);
  5. resized to height x width (`tf.image.resize`, area averaging when shrinking, bilinear when enlarging).
"""
import tensorflow as tf


def prepare(video, video_input):
    """(batch, T, H, W, C) uint8 or float in [0, 1] → float32 (batch, T', height, width[, channels]) as the model
    reads them (no channel axis for a grey model, as its frames have none)."""
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
    frames = tf.reshape(x, (batch * steps, height, width, video_input.channels))
    shrink = tf.logical_and(height >= video_input.height, width >= video_input.width)
    size = (video_input.height, video_input.width)
    frames = tf.cond(shrink, lambda: tf.image.resize(frames, size, method="area"),
                     lambda: tf.image.resize(frames, size, method="bilinear"))
    frames = tf.reshape(frames, (batch, steps, video_input.height, video_input.width, video_input.channels))
    return frames[..., 0] if video_input.channels == 1 else frames
