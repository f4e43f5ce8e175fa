"""tf.data pipeline: splitting, batching, per-replica sharding and resuming mid-stream, for any task."""
import numpy as np
import pytest
import tensorflow as tf

from keras_vidrep import tasks
from keras_vidrep.config import Config
from keras_vidrep.data import pipeline, video_sequences
from keras_vidrep.data.validation_set import ValidationSet
from keras_vidrep.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def task():
    task = tasks.create(Config(canvas_size=32, digit_size=14, seed=11, val_sequences=4))
    task.prepare_data()
    return task


def test_split_frames_flattens_and_splits():
    seq = np.arange(2 * 20 * 4 * 4, dtype=np.float32).reshape(2, 20, 4, 4)
    inputs, futures = video_sequences.split_frames(seq, 10, 7)
    assert inputs.shape == (2, 10, 16) and futures.shape == (2, 7, 16)
    np.testing.assert_array_equal(inputs[1, 3], seq[1, 3].ravel())
    np.testing.assert_array_equal(futures[0, 0], seq[0, 10].ravel())
    with pytest.raises(ConfigError, match="fewer than"):
        video_sequences.split_frames(seq, 15, 10)
    rgb = np.random.default_rng(0).random((1, 3, 2, 2, 3)).astype(np.float32)
    np.testing.assert_array_equal(video_sequences.unflatten(video_sequences.flatten(rgb), (2, 2, 3)), rgb)


def test_train_dataset_batches_in_step_order(task):
    ds = pipeline.train_dataset(task, 4)
    (x0, f0), (x1, _) = list(ds.take(2))
    assert x0.shape == (4, 10, 1024) and f0.shape == (4, 10, 1024) and x0.dtype == tf.float32
    expected = video_sequences.split_frames(task.source.batch(1, 4), 10, 10)[0]
    np.testing.assert_array_equal(x1.numpy(), expected)


def test_resuming_at_a_step_continues_the_same_stream(task):
    full = [x.numpy() for x, _ in pipeline.train_dataset(task, 4).take(5)]
    resumed = [x.numpy() for x, _ in pipeline.train_dataset(task, 4, start_step=3).take(2)]
    np.testing.assert_array_equal(resumed[0], full[3])
    np.testing.assert_array_equal(resumed[1], full[4])


def test_replicas_split_each_global_batch(task):
    whole = next(iter(pipeline.train_dataset(task, 8)))[0].numpy()
    ctx = tf.distribute.InputContext(num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=2)
    halves = [x.numpy() for x, _ in pipeline.train_dataset(task, 8, input_context=ctx).take(2)]
    np.testing.assert_array_equal(np.concatenate(halves), whole)
    worker1 = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    second = next(iter(pipeline.train_dataset(task, 8, input_context=worker1)))[0].numpy()
    np.testing.assert_array_equal(second, whole[4:])
    with pytest.raises(ConfigError, match="not divisible"):
        pipeline.train_dataset(task, 7, input_context=ctx)


def test_validation_sets(tmp_path):
    settings = Config(canvas_size=32, digit_size=14, val_sequences=5).settings
    generated = video_sequences.validation_set(settings, seed=1).whole()
    assert generated.shape == (5, 20, 32, 32)
    np.testing.assert_array_equal(generated, video_sequences.validation_set(settings, seed=1).whole())
    data = np.random.default_rng(0).integers(0, 256, (20, 7, 32, 32), dtype=np.uint8)
    np.save(tmp_path / "mnist_test_seq.npy", data)
    config = Config(canvas_size=32, val_dataset="mnist_test_seq", val_path=str(tmp_path / "mnist_test_seq.npy"),
                    val_sequences=3)
    task = tasks.create(config)
    task.prepare_data()
    np.testing.assert_allclose(task.sequence_set.whole(), np.transpose(data, (1, 0, 2, 3))[:3] / 255.0, rtol=1e-6)
    with pytest.raises(DataError, match=r"frames of shape \(32, 32\), but the model reads frames of \(64, 64\)"):
        tasks.create(config.replace(canvas_size=64)).prepare_data()
    split = video_sequences.split_frames(generated, 10, 10)
    batches = list(pipeline.streamed_dataset(ValidationSet.of_arrays(split), 2))
    assert [b[0].shape[0] for b in batches] == [2, 2, 1]
