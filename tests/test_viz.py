"""Labelled pictures: rows, parts and frame numbers written on strips and animations, and the end of the truth
marked in a rollout longer than it."""
import numpy as np

from keras_vidrep import pictures


def frames(n, size=16, value=None, seed=0):
    rng = np.random.default_rng(seed)
    return np.full((n, size, size), value, np.float32) if value is not None else rng.random((n, size, size))


def test_rollout_strip_marks_where_the_truth_ends():
    inputs, futures = frames(4, value=0.0), frames(3, value=1.0)
    short = pictures.comparison_strip(inputs, futures, frames(4, value=0.0), frames(3, value=1.0))
    long = pictures.comparison_strip(inputs, futures, frames(4, value=0.0), frames(9, value=1.0))
    assert short.ndim == 3 and short.shape[2] == 3
    assert long.shape[0] == short.shape[0] and long.shape[1] > short.shape[1]  # 13 columns instead of 7
    red = np.all(np.isclose(long, pictures.TRUTH_END, atol=0.02), axis=-1)
    white = np.all(np.isclose(long, pictures.BOUNDARY, atol=0.02), axis=-1)
    red_columns = np.where(red.sum(axis=0) > long.shape[0] // 2)[0]
    assert red_columns.size and not np.any(np.all(np.isclose(short, pictures.TRUTH_END, atol=0.02), axis=-1))
    white_columns = np.where(white.sum(axis=0) > long.shape[0] // 2)[0]
    assert white_columns.size and white_columns.max() < red_columns.min()  # input | future, then the truth ends
    # Past the red line the truth row is hatched (two grey levels), the model row shows the white prediction.
    right = long[:, red_columns.max() + 1:]
    greys = np.unique(np.round(right[..., 0], 2))
    assert any(np.isclose(greys, pictures.HATCH[0], atol=0.01)) and any(np.isclose(greys, pictures.HATCH[0] + 0.2,
                                                                              atol=0.01))
    assert (right == 1.0).all(axis=-1).sum() >= 6 * 16 * 16


def test_labels_are_drawn_and_long_rollouts_wrap():
    strip = pictures.comparison_strip(frames(10, value=0.0), frames(10, value=0.0), None, frames(10, value=0.0))
    blank = strip.copy()
    bright = strip > 0.6  # text (and nothing else: frames are black, bands dark, hatching grey)
    assert bright.any(axis=-1).sum() > 200
    wrapped = pictures.comparison_strip(frames(10), frames(10), None, frames(45), per_row=20)
    assert wrapped.shape[0] > 2.5 * blank.shape[0]  # 55 columns: three blocks


def test_animation_frames_are_captioned_and_hatch_the_missing_truth():
    anim = pictures.side_by_side_frames(frames(2, value=0.0), frames(2, value=0.0), None, frames(5, value=0.0))
    assert anim.shape[0] == 7 and anim.shape[-1] == 3
    assert not np.array_equal(anim[2], anim[3])  # captions differ (future 1/2 and future 2/2)
    captions_red = [bool(((a[..., 0] > 0.6) & (a[..., 1] < 0.45)).any()) for a in anim]  # red text
    assert captions_red == [False] * 4 + [True] * 3  # "future 3 (no truth)" and on
