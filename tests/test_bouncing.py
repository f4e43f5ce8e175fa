"""Bouncing MNIST follows the original rules exactly."""
import numpy as np
import pytest

from keras_vidrep.data.bouncing import BouncingMNIST
from keras_vidrep.errors import ConfigError


def square_digits(n=5, size=28):
    """Digits that are solid squares of distinct brightness, so their placement is easy to read off."""
    return np.stack([np.full((size, size), (i + 1) / n, np.float32) for i in range(n)])


def test_shapes_dtype_and_every_frame_shows_its_digits():
    digits = square_digits()
    gen = BouncingMNIST(digits, seed=0)
    seq = gen.batch(step=0, batch_size=3)
    assert seq.shape == (3, 20, 64, 64) and seq.dtype == np.float32
    brightest = digits[gen.digit_indices(np.arange(3))][:, :, 0, 0].max(axis=1)  # (3,)
    np.testing.assert_array_equal(seq.max(axis=(2, 3)), np.repeat(brightest[:, None], 20, axis=1))
    on = (seq > 0).sum(axis=(2, 3))
    assert (on >= 28 * 28).all() and (on <= 2 * 28 * 28).all()  # two 28x28 digits, overlapping or not


def test_speed_is_3_6_pixels_per_frame_between_bounces():
    gen = BouncingMNIST(square_digits(), seed=1)
    ys, xs = gen.positions(np.arange(200))
    step = np.hypot(np.diff(ys, axis=-1), np.diff(xs, axis=-1)) * 36  # free range = 64 - 28
    inside = ((ys[..., 1:] > 0) & (ys[..., 1:] < 1) & (xs[..., 1:] > 0) & (xs[..., 1:] < 1) &
              (ys[..., :-1] > 0) & (ys[..., :-1] < 1) & (xs[..., :-1] > 0) & (xs[..., :-1] < 1))
    assert inside.sum() > 1000
    np.testing.assert_allclose(step[inside], 3.6, rtol=1e-9)


def test_step_is_taken_before_frame_zero():
    gen = BouncingMNIST(square_digits(), seed=2, num_digits=1)
    ys, xs = gen.positions([7])
    draws = np.random.default_rng([2, 0, 7]).random((3, 1))
    y0, x0, theta = draws[0, 0], draws[1, 0], draws[2, 0] * 2 * np.pi
    expected_y = np.clip(y0 + 0.1 * np.sin(theta), 0, 1)
    expected_x = np.clip(x0 + 0.1 * np.cos(theta), 0, 1)
    assert ys[0, 0, 0] == pytest.approx(expected_y) and xs[0, 0, 0] == pytest.approx(expected_x)


def test_bounce_clamps_and_flips_velocity():
    gen = BouncingMNIST(square_digits(), seed=4, seq_length=60)
    ys, xs = gen.positions(np.arange(50))
    for coord in (ys, xs):
        hits = np.argwhere((coord[..., 1:-1] == 0.0) | (coord[..., 1:-1] == 1.0))
        assert len(hits) > 20
        for b, d, t in hits:
            t += 1
            before, after = coord[b, d, t] - coord[b, d, t - 1], coord[b, d, t + 1] - coord[b, d, t]
            if coord[b, d, t] == 0.0:
                assert before <= 0 and after > 0  # came down to the edge, goes back up
            else:
                assert before >= 0 and after < 0


def test_pixel_positions_are_truncated_scaled_positions():
    gen = BouncingMNIST(square_digits(), seed=5)
    ys, xs = gen.positions(np.arange(4))
    rows, cols = gen.pixel_offsets(np.arange(4))
    np.testing.assert_array_equal(rows, (36 * ys).astype(np.int32))
    np.testing.assert_array_equal(cols, (36 * xs).astype(np.int32))
    many_rows, many_cols = gen.pixel_offsets(np.arange(200))
    for offsets in (many_rows, many_cols):  # digits reach both edges of the canvas and never pass them
        assert offsets.min() == 0 and offsets.max() == 36


def test_digits_placed_at_offsets_and_combined_with_max():
    digits = square_digits(n=3)
    gen = BouncingMNIST(digits, seed=6, num_digits=2, seq_length=30)
    ids = np.arange(40)
    seq = gen.sequences(ids)
    rows, cols = gen.pixel_offsets(ids)
    which = gen.digit_indices(ids)
    values = digits[which][:, :, 0, 0]  # brightness of each placed digit, (n, 2)
    overlaps = 0
    for b in range(len(ids)):
        for t in range(30):
            expected = np.zeros((64, 64), np.float32)
            for d in range(2):
                r, c = rows[b, d, t], cols[b, d, t]
                expected[r:r + 28, c:c + 28] = np.maximum(expected[r:r + 28, c:c + 28], values[b, d])
            np.testing.assert_array_equal(seq[b, t], expected)
            r0, c0, r1, c1 = rows[b, 0, t], cols[b, 0, t], rows[b, 1, t], cols[b, 1, t]
            overlaps += abs(r0 - r1) < 28 and abs(c0 - c1) < 28 and values[b, 0] != values[b, 1]
    assert overlaps > 0  # the max rule was exercised on overlapping, differently bright digits


def test_deterministic_for_a_seed_and_independent_of_batch_split():
    a = BouncingMNIST(square_digits(), seed=7).batch(step=3, batch_size=6)
    b = BouncingMNIST(square_digits(), seed=7).batch(step=3, batch_size=6)
    np.testing.assert_array_equal(a, b)
    halves = [BouncingMNIST(square_digits(), seed=7).batch(3, 6, start=s, count=3) for s in (0, 3)]
    np.testing.assert_array_equal(np.concatenate(halves), a)
    c = BouncingMNIST(square_digits(), seed=8).batch(step=3, batch_size=6)
    assert not np.array_equal(a, c)


def test_single_frames_equal_the_frames_of_whole_sequences():
    generator = BouncingMNIST(square_digits(), num_digits=3, seed=4)
    ids, times = np.arange(10, 30), np.arange(20)[::-1]
    np.testing.assert_array_equal(generator.frames(ids, times), generator.sequences(ids)[np.arange(20), times])


def test_digits_walk_a_reshuffled_permutation_per_pass():
    gen = BouncingMNIST(square_digits(n=5), seed=9, num_digits=1)
    picks = gen.digit_indices(np.arange(15)).ravel()
    for epoch in range(3):
        assert sorted(picks[5 * epoch:5 * epoch + 5]) == [0, 1, 2, 3, 4]


def test_flags_change_the_geometry():
    gen = BouncingMNIST(square_digits(size=10), canvas_size=40, num_digits=3, seq_length=7, step_length=0.2)
    seq = gen.batch(0, 2)
    assert seq.shape == (2, 7, 40, 40)
    ys, xs = gen.positions(np.arange(20))
    step = np.hypot(np.diff(ys, axis=-1), np.diff(xs, axis=-1))
    inside = (ys[..., 1:] > 0) & (ys[..., 1:] < 1) & (xs[..., 1:] > 0) & (xs[..., 1:] < 1) & \
        (ys[..., :-1] > 0) & (ys[..., :-1] < 1) & (xs[..., :-1] > 0) & (xs[..., :-1] < 1)
    np.testing.assert_allclose(step[inside], 0.2, rtol=1e-9)  # step_length
    rows, _ = BouncingMNIST(square_digits(size=10), canvas_size=40, seq_length=60).pixel_offsets(np.arange(50))
    assert rows.max() == 30  # canvas 40 - digit 10


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="canvas_size"):
        BouncingMNIST(square_digits(), canvas_size=20)
    with pytest.raises(ConfigError, match="num_digits"):
        BouncingMNIST(square_digits(), num_digits=0)


def test_permutation_walk_is_safe_from_parallel_threads(monkeypatch):
    """tf.data calls the generator from parallel threads, which share the walk's cache of permutations: each pass's
    permutation must be drawn once and be the same for every thread (drawing is slowed down here so that threads
    really do overlap)."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from keras_vidrep.data.bouncing import PermutationWalk

    expected = PermutationWalk(7, seed=1).indices(np.arange(7 * 8))
    blocks = [np.random.default_rng(i).permutation(56) for i in range(32)]  # every pass, in random orders
    draws, real_rng, lock = [], np.random.default_rng, threading.Lock()

    def slow_rng(seed):
        with lock:
            draws.append(seed[2])
        time.sleep(0.02)
        return real_rng(seed)

    monkeypatch.setattr(np.random, "default_rng", slow_rng)
    monkeypatch.setattr(PermutationWalk, "CACHED_PASSES", 100)
    walk = PermutationWalk(7, seed=1)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(walk.indices, blocks))
    for block, got in zip(blocks, results):
        np.testing.assert_array_equal(got, expected[block])
    assert sorted(draws) == [2**31 + p for p in range(8)]  # every pass drawn exactly once
