"""A training process killed with SIGKILL resumes from its last checkpoint and ends with the weights of an
uninterrupted run (same seed, same data order); so does vidrep-encode, from the videos it finished."""
import os
import re
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from conftest import write_video

from keras_vidrep import trained
from keras_vidrep.config import Config
from keras_vidrep.training import loop

FLAGS = ["--canvas_size=32", "--digit_size=14", "--units=16", "--batch_size=4", "--checkpoint_every=2",
         "--summary_every=5", "--eval_every=1000", "--image_every=1000", "--val_sequences=4", "--seed=5",
         "--export=false", "--deterministic"]


def train_command(model_dir, steps):
    return [sys.executable, "-m", "keras_vidrep.cli.train", f"--model_dir={model_dir}", f"--train_steps={steps}",
            *FLAGS]


def latest_step(model_dir):
    state = os.path.join(model_dir, "checkpoints", "checkpoint")
    if not os.path.exists(state):
        return None
    with open(state, encoding="utf-8") as f:
        match = re.search(r'model_checkpoint_path: "ckpt-(\d+)"', f.read())
    return int(match.group(1)) if match else None


def test_sigkill_then_same_command_resumes(tmp_path):
    model_dir = str(tmp_path / "run")
    proc = subprocess.Popen(train_command(model_dir, 100000), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while (latest_step(model_dir) or 0) < 6:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = latest_step(model_dir)
    target = killed_at + 3
    resumed = subprocess.run(train_command(model_dir, target), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"restored {os.path.join(model_dir, 'checkpoints', f'ckpt-{killed_at}')}" in resumed.stderr
    assert latest_step(model_dir) == target

    reference_config = Config(model_dir=str(tmp_path / "reference"), train_steps=target, canvas_size=32,
                              digit_size=14, units=(16,), batch_size=4, checkpoint_every=2, summary_every=5,
                              eval_every=1000, image_every=1000, val_sequences=4, seed=5, export=False,
                              deterministic=True)
    reference = loop.Trainer(reference_config.validate())
    reference.train()
    restored, _, _ = trained.restore_model(model_dir)
    for a, b in zip(reference.model.weights, restored.weights):  # --deterministic: bit-identical, as promised
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)


@pytest.mark.parametrize("signum,code,word", [(signal.SIGINT, 130, "interrupted"),
                                               (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_or_sigterm_saves_a_checkpoint(tmp_path, signum, code, word):
    model_dir = str(tmp_path / "run")
    # Default signal handling in the child, even where this test runs with SIGINT ignored (a background job).
    proc = subprocess.Popen(train_command(model_dir, 100000) + ["--checkpoint_every=100000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = ""
    while "validation baselines" not in seen:  # logged just before the first training step
        line = proc.stderr.readline()
        assert line, seen[-2000:]
        seen += line
    time.sleep(8)  # some steps
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr[-2000:]
    assert f"vidrep-train: {word}" in stderr
    assert (latest_step(model_dir) or 0) > 0  # saved on the way out, though no interval checkpoint was due


# vidrep-encode, slowed to half a second a video so that it is killed between two videos.
SLOW_ENCODE = """
import sys, time
from keras_vidrep.runtime import startup
startup.prepare()  # TensorFlow loads as the command loads it
from keras_vidrep.analysis import video_models
clip_outputs = video_models.clip_outputs
video_models.clip_outputs = lambda *args, **kwargs: (time.sleep(0.5), clip_outputs(*args, **kwargs))[1]
from keras_vidrep.cli import encode
sys.argv = ["vidrep-encode", *sys.argv[1:]]
encode.run()
"""


def test_sigkill_then_the_same_vidrep_encode_goes_on_after_the_videos_it_finished(tiny_config, tmp_path):
    from keras_vidrep.analysis.encode import encode
    from keras_vidrep.analysis.options import EncodeOptions

    loop.train(tiny_config.replace(export=False).validate())
    (tmp_path / "videos").mkdir()
    for i in range(6):
        write_video(tmp_path / "videos" / f"v{i}.avi", frames=12 + i)
    args = [f"--model_dir={tiny_config.model_dir}", f"--videos={tmp_path / 'videos'}", "--stride=2",
            f"--output={tmp_path / 'codes.h5'}", "--projector_points=0"]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_ENCODE, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    partial, deadline, done = tmp_path / "codes.h5.partial", time.time() + 240, 0
    while done < 2:
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.time() < deadline, "no video was finished"
        try:
            with h5py.File(partial, "r", locking=False) as f:
                done = len(f["videos"]) if "videos" in f else 0
        except (OSError, KeyError):
            pass  # not made yet, or read while being written
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (tmp_path / "codes.h5").exists() and partial.exists()
    with h5py.File(partial, "r") as f:
        killed_after = len(f["videos"])
    assert 2 <= killed_after < 6
    again = subprocess.run([os.path.join(os.path.dirname(sys.executable), "vidrep-encode"), *args],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"going on after the {killed_after} videos done in {partial}" in again.stdout
    assert not partial.exists()
    reference = encode(EncodeOptions(model_dir=tiny_config.model_dir, videos=str(tmp_path / "videos"), stride=2,
                                     output=str(tmp_path / "reference.h5"), projector_points=0), log=lambda line: None)
    assert reference["videos"] == 6
    with h5py.File(tmp_path / "codes.h5", "r") as got, h5py.File(tmp_path / "reference.h5", "r") as want:
        assert list(got["videos"][...]) == list(want["videos"][...])
        for name in ("video_index", "frame_number", "end_frame_number"):
            np.testing.assert_array_equal(got[name][...], want[name][...], err_msg=name)
        for name in ("codes", "video_codes"):
            np.testing.assert_allclose(got[name][...], want[name][...], rtol=1e-5, atol=1e-6, err_msg=name)
