"""Nothing a run wrote is lost or silently wrong: one trainer per model directory, a best checkpoint that NaN cannot
replace, no non-finite weights saved, a full disk reported in one line, a watchdog fed by every kind of work, and
in-model randomness that comes with the batch."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_vidrep import trained
from keras_vidrep.config import Config
from keras_vidrep.errors import ConfigError
from keras_vidrep.runs import checkpoints
from keras_vidrep.runs.checkpoints import CheckpointWriteError, NonFiniteError
from keras_vidrep.runs.directory import RunDir
from keras_vidrep.training import loop

BIN = os.path.dirname(sys.executable)
TINY = ["--canvas_size=32", "--digit_size=14", "--units=16", "--batch_size=8", "--val_sequences=8",
        "--summary_every=10", "--image_every=1000", "--checkpoint_every=20", "--eval_every=1000"]


def test_a_second_trainer_on_a_model_dir_is_refused_and_the_first_run_is_whole(tmp_path):
    model_dir = tmp_path / "run"
    command = [os.path.join(BIN, "vidrep-train"), *TINY, f"--model_dir={model_dir}", "--train_steps=80"]
    runs = [subprocess.Popen([*command, f"--seed={seed}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for seed in (1, 2)]
    outputs = [run.communicate(timeout=400) for run in runs]
    codes = sorted(run.returncode for run in runs)
    assert codes == [0, 2], [err[-2000:] for _, err in outputs]
    winner = next(k for k, run in enumerate(runs) if run.returncode == 0)
    refused = outputs[1 - winner][1].strip().splitlines()[-1]
    assert refused.startswith("vidrep-train: error: `model_dir`") and "in use by another training process (pid " \
        f"{runs[winner].pid} on " in refused, refused
    result = json.loads(outputs[winner][0].strip().splitlines()[-1])
    seed = 1 + winner
    # The directory describes the run that trained there, and only it.
    assert json.loads((model_dir / "config.json").read_text())["seed"] == seed
    assert json.loads((model_dir / "export" / "config.json").read_text())["seed"] == seed
    model, _, _ = trained.restore_model(str(model_dir))
    import hashlib

    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(np.asarray(weight), np.float32).tobytes())
    assert digest.hexdigest() == result["weights_sha256"]


def test_the_lock_ends_with_its_trainer(tiny_config):
    first = loop.Trainer(tiny_config.replace(export=False).validate())
    with pytest.raises(ConfigError, match=rf"in use by another training process \(pid {os.getpid()} on "):
        loop.Trainer(tiny_config.replace(export=False).validate())
    first.train()  # released at the end of training
    loop.Trainer(tiny_config.replace(export=False).validate()).close()


def tiny_model():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    return model


def test_nan_is_never_the_best_and_a_failed_record_keeps_the_old_best(tmp_path, monkeypatch):
    best = checkpoints.BestCheckpoint(RunDir(str(tmp_path)), tiny_model(), "video_accuracy", "max")
    assert best.update(1, {"video_accuracy": 0.5})
    assert not best.update(2, {"video_accuracy": float("nan")})
    assert not best.update(3, {"video_accuracy": float("inf")})
    record = json.loads((tmp_path / "best" / "best.json").read_text())
    assert record["step"] == 1 and record["value"] == 0.5 and os.path.exists(best.path + ".index")

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoints.os, "replace", fail)  # the new checkpoint is written, its record is not
    with pytest.raises(CheckpointWriteError, match="no space left.*best checkpoint so far .*ckpt-1 is intact"):
        best.update(4, {"video_accuracy": 0.9})
    monkeypatch.undo()
    record = json.loads((tmp_path / "best" / "best.json").read_text())
    assert record["step"] == 1 and os.path.exists(os.path.join(tmp_path, "best", "ckpt-1.index"))
    assert sorted(os.listdir(tmp_path / "best")) == ["best.json", "ckpt-1.data-00000-of-00001", "ckpt-1.index"]
    assert best.update(5, {"video_accuracy": 0.9})  # a later improvement replaces it, new record first
    assert sorted(os.listdir(tmp_path / "best")) == ["best.json", "ckpt-5.data-00000-of-00001", "ckpt-5.index"]


def test_a_nan_validation_number_stops_the_run_naming_it(tiny_config):
    trainer = loop.Trainer(tiny_config.replace(export=False, eval_every=6).validate())
    real = trainer.evaluate
    trainer.evaluate = lambda: {**real(), "future": float("nan")}
    with pytest.raises(NonFiniteError, match=r"validation future is nan at step 6; stopped without saving\. The "
                                             r"last good checkpoint is .*ckpt-3"):
        trainer.train()
    assert trainer.manager.latest_checkpoint.endswith("ckpt-3")


def test_a_nan_gradient_with_a_finite_loss_is_never_saved(tiny_config):
    import tensorflow as tf

    trainer = loop.Trainer(tiny_config.replace(train_steps=6, checkpoint_every=2, export=False).validate())
    real = trainer.task.train_losses
    kernel = trainer.model.future_readout.kernel

    @tf.custom_gradient
    def trap(x):  # adds 0 to the loss; from step 5 on its gradient is NaN (an overflow in a backward pass)
        late = trainer.step >= 4
        return tf.zeros(()), lambda dy: tf.where(late, tf.fill(tf.shape(x), np.nan), tf.zeros_like(x))

    def poisoned(model, batch):
        losses = real(model, batch)
        return {**losses, "future": losses["future"] + trap(tf.convert_to_tensor(kernel))}

    trainer.task.train_losses = poisoned  # the train step is traced at its first call, after this
    with pytest.raises(NonFiniteError, match=r"non-finite gradient \(the loss is finite\) at step 5; stopped "
                                             r"without saving.*ckpt-4"):
        trainer.train()
    restored, _, path = trained.restore_model(tiny_config.model_dir)
    assert path.endswith("ckpt-4") and not checkpoints.nonfinite_variables(restored.weights)


def test_non_finite_weights_are_never_written(tmp_path):
    model = tiny_model()
    manager = checkpoints.checkpoint_manager(RunDir(str(tmp_path)), model)
    checkpoints.save(manager, 1, model.weights)
    model.layers[0].kernel.assign(np.full((3, 2), np.nan, np.float32))
    with pytest.raises(NonFiniteError, match=r"weight '.*kernel' is not finite at step 2; not saved\. The last "
                                             r"good checkpoint is .*ckpt-1"):
        checkpoints.save(manager, 2, model.weights)
    assert manager.latest_checkpoint.endswith("ckpt-1")
    assert not any(name.startswith("ckpt-2") for name in os.listdir(manager.directory))


def test_a_failed_checkpoint_write_is_one_line_and_leaves_no_temporary_files(tiny_config, monkeypatch):
    import tensorflow as tf

    trainer = loop.Trainer(tiny_config.replace(export=False).validate())
    real_save = trainer.manager.save

    def save_then_fail(checkpoint_number):
        if checkpoint_number < 6:
            return real_save(checkpoint_number=checkpoint_number)
        os.makedirs(os.path.join(trainer.manager.directory, f"ckpt-{checkpoint_number}_temp", "part-00000"))
        raise tf.errors.ResourceExhaustedError(None, None, "ckpt-6_temp/part-00000-of-00001.data-00000-of-00001; "
                                                           "No space left on device")

    monkeypatch.setattr(trainer.manager, "save", save_then_fail)
    with pytest.raises(CheckpointWriteError, match=r"no space left on the device writing .*ckpt-6'; the previous "
                                                   r"checkpoint .*ckpt-3 is intact"):
        trainer.train()
    assert sorted(os.listdir(trainer.manager.directory)) == ["checkpoint", "ckpt-3.data-00000-of-00001",
                                                             "ckpt-3.index"]


def full_disk(tmp_path):
    """A 2 MB tmpfs where this machine allows mounting one (root), else None."""
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    return mount if result.returncode == 0 else None


def test_a_full_disk_is_one_line_and_a_rerun_resumes(tmp_path):
    mount = full_disk(tmp_path)
    if mount is None:
        pytest.skip("mounting a tmpfs is not allowed here (the forced-error test above covers the code path)")
    try:
        model_dir = mount / "run"
        command = [os.path.join(BIN, "vidrep-train"), "--canvas_size=32", "--digit_size=14", "--units=8",
                   "--batch_size=4", "--val_sequences=4", "--checkpoint_every=1", "--summary_every=1000",
                   "--eval_every=1000", "--image_every=1000", "--train_steps=30", "--export=false",
                   f"--model_dir={model_dir}"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert result.returncode == 2, result.stderr[-3000:]
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("vidrep-train: error: no space left on the device writing") and "Traceback" not in \
            result.stderr, result.stderr[-3000:]
        names = os.listdir(model_dir / "checkpoints")
        assert not [n for n in names if "_temp" in n], names
        latest = checkpoints.tf.train.latest_checkpoint(str(model_dir / "checkpoints"))
        assert latest and os.path.exists(latest + ".index") and latest in last  # a 0.6 MB checkpoint: 3 fit
        step = int(latest.rsplit("-", 1)[1])
        again = subprocess.run([*command, f"--train_steps={step}"], capture_output=True, text=True, timeout=300)
        assert again.returncode == 0 and json.loads(again.stdout.strip().splitlines()[-1])["step"] == step, \
            again.stderr[-2000:]
    finally:
        subprocess.run(["umount", str(mount)], check=False)


WATCHED = """
import sys, time
sys.path.insert(0, {tests!r})
import numpy as np
from conftest import *  # noqa
from keras_vidrep.config import Config
from keras_vidrep.training import loop
from keras_vidrep.training.watchdog import Watchdog

config = Config(model_dir={model_dir!r}, canvas_size=32, digit_size=14, units=(8,), batch_size=2, train_steps=2,
                val_sequences=8, eval_every=2, image_every=2, checkpoint_every=2, export=False)
trainer = loop.Trainer(config.validate())
trainer.evaluate()  # traced before the watchdog starts, like the train step below: the test times only the waits
trainer.train_step.get_concrete_function(trainer.batches())
real_eval, real_pictures = trainer._eval_step, trainer.task.pictures

def slow_eval(*batch):  # 4 validation batches of 2 s: 8 s of validation, more than the 5 s limit
    time.sleep(2)
    return real_eval(*batch)

def slow_pictures(model):  # 7 s in one piece
    time.sleep(7)
    return real_pictures(model)

trainer._eval_step, trainer.task.pictures = slow_eval, slow_pictures
trainer.watchdog = Watchdog(5, "the test")  # 5 s without a kick kills this process
trainer.train()
print("survived")
"""


def test_the_watchdog_is_fed_by_validation_and_pictures(tmp_path):
    code = WATCHED.format(tests=os.path.dirname(__file__), model_dir=str(tmp_path / "run"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "survived" in result.stdout, result.stderr[-3000:]
    # and a validation batch longer than the limit is killed: the limit is real
    starved = code.replace("time.sleep(2)", "time.sleep(8)").replace(str(tmp_path / "run"), str(tmp_path / "run2"))
    result = subprocess.run([sys.executable, "-c", starved], capture_output=True, text=True, timeout=300)
    assert result.returncode == -9 and "the test made no progress for 5 s" in result.stderr


def test_the_watchdog_pauses_for_local_work():
    code = ("import time; from keras_vidrep.training.watchdog import Watchdog; w = Watchdog(1, 'the test'); "
            "ctx = w.paused(); ctx.__enter__(); time.sleep(2.5); ctx.__exit__(None, None, None); w.kick(); "
            "time.sleep(0.3); w.stop(); print('ok')")
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    assert time.monotonic() - start < 30


def classifier_config(model_dir, **changes):
    values = dict(data="bouncing_digits", num_classes=10, clip_length=6, canvas_size=32, digit_size=14, units=(16,),
                  batch_size=4, val_sequences=8, export=False, input_dropout=0.4, train_steps=6, eval_every=6,
                  checkpoint_every=3, summary_every=3, image_every=6, seed=5)
    return Config("classifier", model_dir=str(model_dir), **{**values, **changes}).validate()


def test_classifier_dropout_comes_with_the_batch_so_a_resumed_run_equals_a_straight_one(tmp_path):
    straight = loop.Trainer(classifier_config(tmp_path / "straight"))
    straight.train()
    loop.Trainer(classifier_config(tmp_path / "resumed", train_steps=3)).train()
    resumed = loop.Trainer(classifier_config(tmp_path / "resumed"))
    assert int(resumed.step.numpy()) == 3
    resumed.train()
    for a, b in zip(straight.model.weights, resumed.model.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6, err_msg=a.path)
    plain = loop.Trainer(classifier_config(tmp_path / "plain", input_dropout=0.0))
    plain.train()
    assert not np.allclose(np.asarray(plain.model.readout.kernel), np.asarray(straight.model.readout.kernel))
    task = straight.task
    whole, halves = task.train_batch(2, 4, 0, 4), [task.train_batch(2, 4, 0, 2), task.train_batch(2, 4, 2, 2)]
    np.testing.assert_array_equal(whole[2], np.concatenate([h[2] for h in halves]))  # any replica split
