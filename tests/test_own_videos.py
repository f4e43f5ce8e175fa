"""A user's own videos, end to end, for the patch and the feature families: video files → vidrep-preprocess → a
trained run and its export → codes, classes by name and continuations of new videos, the same from the run
(`vidrep-encode --model_dir`) as from the export in a TensorFlow process without this package (OpenCV decodes the
file, the raw frames go to a signature); and what such a model cannot read is one line, with nothing written."""
import csv
import json
import os
import subprocess
import sys

import cv2
import h5py
import numpy as np
from conftest import plain_client
from PIL import Image

from keras_vidrep import trained
from keras_vidrep.data import raw_frames
from keras_vidrep.data.backbone import backbone_for
from keras_vidrep.data.video import read_video

BIN = os.path.dirname(sys.executable)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLOURS = {"run": (200, 60, 20), "walk": (20, 60, 200)}  # BGR backgrounds: each class looks different


def write_videos(folder, frames=16, width=56, height=40):
    """Two videos of each class, UCF-101 style (a folder per class): a square moving over the class's colour."""
    paths = []
    for name, colour in COLOURS.items():
        for i in range(2):
            path = folder / name / f"{name}{i}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (width, height))
            for t in range(frames + 2 * i):
                frame = np.full((height, width, 3), colour, np.uint8)
                frame[8 + i:20 + i, 3 + 2 * t:15 + 2 * t] = 255
                writer.write(frame)
            writer.release()
            paths.append(path)
    return paths


def command(name, *args, cwd=None):
    result = subprocess.run([os.path.join(BIN, name), *map(str, args)], capture_output=True, text=True, timeout=300,
                            cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def refused(args, tmp_path, output):
    """vidrep-encode with `args` fails with one line on stderr and writes nothing named after `output`."""
    result = subprocess.run([os.path.join(BIN, "vidrep-encode"), *args, f"--output={tmp_path / output}"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(os.path.splitext(output)[0])]
    return result.stderr.strip().splitlines()[-1]


def test_patch_model_reads_new_videos_as_its_patches_were_cut(tmp_path):
    videos = write_videos(tmp_path / "videos")
    command("vidrep-preprocess", f"--videos={tmp_path / 'videos'}", f"--output={tmp_path / 'patches.h5'}",
            "--kind=patches", "--size=16", "--seq_length=8", "--resize=32", "--per_video=6")
    run, export = tmp_path / "run", tmp_path / "export"
    command("vidrep-train", f"--flagfile={os.path.join(ROOT, 'configs', 'ucf_patches.cfg')}", f"--model_dir={run}",
            f"--export_dir={export}", f"--data_file={tmp_path / 'patches.h5'}", f"--val_path={tmp_path / 'patches.h5'}",
            "--val_sequences=4", "--frame_size=16", "--seq_length=8", "--input_frames=4", "--future_frames=4",
            "--units=16", "--batch_size=4", "--train_steps=4", "--learning_rate=1e-2", "--checkpoint_every=4",
            "--summary_every=2", "--eval_every=4", "--image_every=4")
    # The run kept how its patches were cut: frames resized to a 32-pixel short side, 16 x 16 patches on a grid.
    assert json.loads((run / "video_input.json").read_text()) == {
        "height": 16, "width": 16, "channels": 3, "frames": 4, "frame_skip": 1, "crop": "patch_grid",
        "short_side": 32, "backbone": "", "backbone_weights": ""}
    codes = {}
    for source in (f"--model_dir={run}", f"--saved_model={export}"):
        out = tmp_path / f"{source[2:7]}.h5"
        command("vidrep-encode", source, f"--videos={tmp_path / 'videos'}", f"--output={out}", "--stride=1",
                "--projector_points=0", "--predict_frames=4")
        with h5py.File(out, "r") as f:
            codes[source] = {key: f[key][...] for key in ("codes", "video_index", "frame_number", "video_codes")}
    by_run, by_export = codes.values()
    np.testing.assert_allclose(by_export["codes"], by_run["codes"], rtol=1e-4, atol=1e-5)
    assert list(by_run["video_index"]).count(0) == 16 - 4 + 1 and by_run["codes"].shape[1] == 2 * 16

    # A program without the package: the export's codes of every clip of a 56x40 video are vidrep-encode's, and the
    # code of a clip is the mean over its 2 x 2 patches of the model's codes of each (45x32 after resizing).
    got = plain_client(export, videos[1], tmp_path / "client.npz")
    first = by_run["video_index"] == 1
    np.testing.assert_allclose(got["encode_video_clips/clip_representation"][0], by_run["codes"][first], rtol=1e-4,
                               atol=1e-5)
    model, task, _ = trained.restore_model(str(run))
    frames = np.asarray(raw_frames.prepare(read_video(str(videos[1]))[None], task.video_input()))[0]
    assert frames.shape == (18, 32, 45, 3)
    patches = [frames[:4, y:y + 16, x:x + 16].reshape(1, 4, -1) for y in (0, 16) for x in (0, 16)]
    np.testing.assert_allclose(got["encode_video/representation"][0],
                               np.mean([np.asarray(model.code(p))[0] for p in patches], axis=0), rtol=1e-4, atol=1e-5)
    # Its continuation: every patch's, put back in place (the top-right patch at rows 0-15, columns 16-31).
    future = got["predict_future_frames/future"][0]
    assert future.shape == (4, 32, 32, 3)
    np.testing.assert_allclose(future[:, :16, 16:], np.asarray(model.predict_future(patches[1], 4)).reshape(
        4, 16, 16, 3), rtol=1e-4, atol=1e-5)
    for name in ("run1.gif", "run1.mp4"):  # 4 input frames and 4 continued, beside the truth
        path = tmp_path / "model_continuations" / name
        count = Image.open(path).n_frames if name.endswith(".gif") else int(cv2.VideoCapture(str(path)).get(
            cv2.CAP_PROP_FRAME_COUNT))
        assert count == 8, name

    # What the model cannot read: a grey video (OpenCV decodes it with three equal channels) for this RGB model; and,
    # for a run of patches cut at the frames' own size (as the original .npy patches were), frames smaller than one.
    grey = write_clip(tmp_path / "grey" / "grey.mp4", 56, 40, colour=(90, 90, 90))
    assert refused([f"--model_dir={run}", f"--videos={grey}"], tmp_path, "refused_grey.h5") == (
        f"vidrep-encode: error: {grey} is grey (its three channels are equal), but the model reads RGB "
        f"frames: give --grey_as_rgb to read it all the same")
    stored = json.loads((run / "video_input.json").read_text())
    (run / "video_input.json").write_text(json.dumps({**stored, "short_side": 0}))
    tiny = write_clip(tmp_path / "tiny" / "tiny.mp4", 12, 10)
    assert refused([f"--model_dir={run}", f"--videos={tiny}"], tmp_path, "refused_tiny.h5") == (
        f"vidrep-encode: error: {tiny}: frames of 12x10 pixels are smaller than a 16x16 patch")


def write_clip(path, width, height, frames=8, colour=(20, 60, 200)):
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (width, height))
    for t in range(frames):
        frame = np.full((height, width, 3), colour, np.uint8)
        frame[2:6, t:t + 4] = 255
        writer.write(frame)
    writer.release()
    return path


def test_feature_classifier_names_the_classes_of_new_videos(tmp_path):
    """A classifier of per-frame ResNet50 features (random weights) of a UCF-101-style tree: its export holds the
    backbone, so a program without the package gives it the frames of a video file and gets each clip's and the
    video's class by name — the numbers of vidrep-encode --model_dir, whose CSV tables name the top classes."""
    videos = write_videos(tmp_path / "videos", frames=12)
    stem = tmp_path / "fc6"
    command("vidrep-preprocess", f"--videos={tmp_path / 'videos'}", f"--output={stem}.h5", "--kind=features",
            "--backbone=resnet50", "--weights=none", "--frame_skip=2")
    assert (tmp_path / "fc6_classes.txt").read_text().split() == ["run", "walk"]
    files = [f"--{{prefix}}data_file={stem}.h5", f"--{{prefix}}num_frames_file={stem}_num_frames.txt",
             f"--{{prefix}}labels_file={stem}_labels.txt"]
    run, export = tmp_path / "run", tmp_path / "export"
    command("vidrep-train", "--task=classifier", "--data=fc6", f"--model_dir={run}", f"--export_dir={export}",
            *[f.format(prefix="") for f in files], *[f.format(prefix="val_") for f in files], "--feature_dim=2048",
            "--num_classes=2", "--clip_length=4", "--units=8", "--batch_size=4", "--train_steps=4",
            "--checkpoint_every=4", "--summary_every=2", "--eval_every=4")
    described = json.loads((export / "assets" / "export.json").read_text())
    assert described["video_input"] == {"height": 224, "width": 224, "channels": 3, "frames": 4, "frame_skip": 2,
                                        "crop": "stretch", "short_side": 0, "backbone": "resnet50",
                                        "backbone_weights": "random (seed 0)"}
    assert described["backbone"]["in_graph"] and "ResNet50" in described["backbone"]["layer"]
    command("vidrep-encode", f"--model_dir={run}", f"--videos={tmp_path / 'videos'}", f"--output={tmp_path / 'c.h5'}",
            "--top_k=1", "--projector_points=0")
    with h5py.File(tmp_path / "c.h5", "r") as f:
        clips, index = f["probabilities"][...], f["video_index"][...]
        assert [n.decode() for n in f["class_names"][...]] == ["run", "walk"]
        np.testing.assert_allclose(f["video_probabilities"][2], clips[index == 2].mean(axis=0), rtol=1e-6)
    assert list(index) == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3]  # 6 or 7 kept frames: 3 or 4 clips of 4
    got = plain_client(export, videos[2], tmp_path / "client.npz")
    np.testing.assert_allclose(got["classify_video_frames/clip_probabilities"][0], clips[index == 2], rtol=1e-4,
                               atol=1e-5)
    names = got["classify_video_frames/clip_class_name"][0]
    assert list(names) == [["run", "walk"][k] for k in clips[index == 2].argmax(axis=1)]
    assert got["classify_video_frames/video_class_name"][0] == ["run", "walk"][clips[index == 2].mean(0).argmax()]
    # The graph's backbone reads the video as vidrep-preprocess did: the classifier of the file's own features of
    # that video gives the same probabilities, and the features are the file's (float32 rounding).
    model, task, _ = trained.restore_model(str(run))
    with h5py.File(f"{stem}.h5", "r") as f:
        rows = f["hidden6"][13:19]  # the third video's 6 kept frames (6 + 7 rows of the videos before it)
    own = np.stack([np.asarray(model(rows[None, s:s + 4])["per_step"]).mean(axis=1)[0] for s in range(3)])
    np.testing.assert_allclose(got["classify_video_frames/clip_probabilities"][0], own, rtol=1e-4, atol=1e-5)
    backbone = backbone_for("resnet50", "random (seed 0)")
    graph = np.asarray(raw_frames.model_inputs(read_video(str(videos[2]))[None], task.video_input(),
                                               backbone.graph_features)[0])[0]
    np.testing.assert_allclose(graph, rows, rtol=1e-3, atol=1e-4)
    with open(tmp_path / "c_videos.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["video", "class_1", "probability_1"] and len(table) == 5
    assert table[3][0] == str(videos[2]) and table[3][1] == got["classify_video_frames/video_class_name"][0]
    with open(tmp_path / "c_clips.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["video", "first_frame", "last_frame", "class_1", "probability_1"] and len(table) == 15
    assert table[8][:3] == [str(videos[2]), "0", "6"]  # first clip of the third video: kept frames 0, 2, 4, 6


def test_videos_of_the_same_name_get_pictures_of_their_own():
    from keras_vidrep.analysis.encode import picture_names

    paths = ["v/walk/clip.mp4", "v/run/clip.mp4", "v/run/other.avi", "w/run/clip.mp4"]
    assert picture_names(paths) == ["walk-clip", "run-clip-1", "other", "run-clip-3"]
