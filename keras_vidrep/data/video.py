"""Video files → RGB frames (OpenCV), and frames → fixed-size sequences of patches.

Shared by `vidrep-preprocess` and every tool that reads videos. Any file OpenCV decodes is accepted; frames come
back as uint8 RGB (OpenCV decodes BGR).
"""
import glob
import os

import cv2
import numpy as np

from keras_vidrep.errors import DataError

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv", ".ogv")
CROPS = ("random", "grid")


def find_videos(spec):
    """The video files named by `spec`: comma-separated files, folders (searched recursively for video
    extensions) and glob patterns, in a stable order. Raises DataError for a part that matches nothing."""
    found, seen = [], set()
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if os.path.isdir(part):
            matches = sorted(os.path.join(root, name) for root, _, names in os.walk(part) for name in names
                             if name.lower().endswith(VIDEO_EXTENSIONS))
        elif os.path.isfile(part):
            matches = [part]
        else:
            matches = sorted(p for p in glob.glob(part, recursive=True) if os.path.isfile(p))
        if not matches:
            raise DataError(f"`videos` {part!r}: no such file, no video in that folder, or no match for that pattern")
        found.extend(m for m in matches if not (m in seen or seen.add(m)))
    if not found:
        raise DataError("`videos` is empty: give files, folders or globs, comma separated")
    return found


def resize_frame(frame, width, height):
    """Resizes one (H, W, C) uint8 frame (area interpolation when shrinking, linear when enlarging)."""
    shrink = width * height < frame.shape[0] * frame.shape[1]
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def center_square(frame):
    """The largest centred square of an (H, W, C) frame."""
    h, w = frame.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return frame[top:top + side, left:left + side]


def read_video(path, frame_skip=1, size=None, short_side=0, max_frames=None, crop_square=False):
    """Decodes a video file.

    Args:
      path: any file OpenCV decodes.
      frame_skip: keep every `frame_skip`-th frame (1: all).
      size: (width, height) to resize every frame to, or None.
      short_side: if > 0 (and no `size`), resize keeping the aspect ratio so the shorter side has this length.
      max_frames: stop after this many kept frames.
      crop_square: first cut the centred square of each frame, so that resizing to a square `size` keeps the
        aspect ratio.

    Returns:
      uint8 RGB frames (T, H, W, 3).
    """
    if frame_skip < 1:
        raise DataError(f"`frame_skip` must be a positive integer, got {frame_skip}")
    if not os.path.isfile(path):
        raise DataError(f"{path!r}: no such video file")
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise DataError(f"{path}: OpenCV cannot decode this file as a video")
    frames, index = [], 0
    try:
        while max_frames is None or len(frames) < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            if index % frame_skip == 0:
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                if crop_square:
                    frame = center_square(frame)
                if size:
                    frame = resize_frame(frame, *size)
                elif short_side:
                    scale = short_side / min(frame.shape[:2])
                    frame = resize_frame(frame, max(1, round(frame.shape[1] * scale)),
                                         max(1, round(frame.shape[0] * scale)))
                frames.append(frame)
            index += 1
    finally:
        capture.release()
    if not frames:
        raise DataError(f"{path}: OpenCV decoded no frames from this file")
    return np.stack(frames)


def frames_at(path, numbers, side):
    """The frames numbered `numbers` (any order, repeats allowed) of a video file, each its centred square resized
    to side × side: uint8 RGB (len(numbers), side, side, 3). Reads the file once, front to back; DataError if it
    cannot be decoded or ends before the largest number."""
    wanted = {int(n) for n in numbers}
    capture = cv2.VideoCapture(path) if os.path.isfile(path) else None
    if capture is None or not capture.isOpened():
        raise DataError(f"{path!r}: no video file OpenCV decodes")
    found, index = {}, 0
    try:
        while len(found) < len(wanted):
            ok, frame = capture.read()
            if not ok:
                raise DataError(f"{path}: the video ends at frame {index}, before frame {max(wanted)}")
            if index in wanted:
                found[index] = resize_frame(center_square(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)), side, side)
            index += 1
    finally:
        capture.release()
    return np.stack([found[int(n)] for n in numbers])


def patch_sequences(frames, seq_length, patch_size, crops="random", count=10, rng=None, name="video"):
    """Cuts sequences of `seq_length` frames and `patch_size` x `patch_size` pixels out of a video's frames.

    Args:
      frames: (T, H, W, C) frames of one video.
      crops: `random` (`count` sequences at random times and places) or `grid` (every non-overlapping window in
        time and space: T // seq_length windows x (H // patch_size) x (W // patch_size) places).
      rng: a numpy Generator for `random`.
      name: how errors name the video.

    Returns:
      (patches (n, seq_length, patch_size, patch_size, C), start frames (n,)).
    """
    t, h, w = frames.shape[:3]
    if t < seq_length:
        raise DataError(f"{name}: {t} frames (after frame skip), fewer than the {seq_length} of one sequence")
    if h < patch_size or w < patch_size:
        raise DataError(f"{name}: frames of {w}x{h} pixels are smaller than a {patch_size}x{patch_size} patch")
    if crops == "random":
        rng = rng or np.random.default_rng()
        starts = rng.integers(0, t - seq_length + 1, count)
        ys, xs = rng.integers(0, h - patch_size + 1, count), rng.integers(0, w - patch_size + 1, count)
    elif crops == "grid":
        grid = np.stack(np.meshgrid(np.arange(t // seq_length) * seq_length, np.arange(h // patch_size) * patch_size,
                                    np.arange(w // patch_size) * patch_size, indexing="ij"), -1).reshape(-1, 3)
        starts, ys, xs = grid.T
    else:
        raise DataError(f"`crops` must be one of {', '.join(CROPS)}, got {crops!r}")
    patches = np.stack([frames[s:s + seq_length, y:y + patch_size, x:x + patch_size]
                        for s, y, x in zip(starts, ys, xs)])
    return patches, np.asarray(starts, np.int64)
