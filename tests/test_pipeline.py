"""tf.data pipeline: splitting, batching, per-replica sharding and resuming mid-stream."""
import numpy as np
import pytest
import tensorflow as tf

from keras_vidrep.config import Config
from keras_vidrep.data import pipeline
from keras_vidrep.errors import ConfigError


@pytest.fixture(scope="module")
def generator():
    config = Config(canvas_size=32, digit_size=14, seed=11)
    return pipeline.bouncing_generator(config)


def test_split_frames_flattens_and_splits():
    seq = np.arange(2 * 20 * 4 * 4, dtype=np.float32).reshape(2, 20, 4, 4)
    inputs, futures = pipeline.split_frames(seq, 10, 7)
    assert inputs.shape == (2, 10, 16) and futures.shape == (2, 7, 16)
    np.testing.assert_array_equal(inputs[1, 3], seq[1, 3].ravel())
    np.testing.assert_array_equal(futures[0, 0], seq[0, 10].ravel())
    with pytest.raises(ConfigError, match="fewer than"):
        pipeline.split_frames(seq, 15, 10)


def test_train_dataset_batches_in_step_order(generator):
    ds = pipeline.train_dataset(generator, 4, 10, 10)
    (x0, f0), (x1, _) = list(ds.take(2))
    assert x0.shape == (4, 10, 1024) and f0.shape == (4, 10, 1024) and x0.dtype == tf.float32
    expected = pipeline.split_frames(generator.batch(1, 4), 10, 10)[0]
    np.testing.assert_array_equal(x1.numpy(), expected)


def test_resuming_at_a_step_continues_the_same_stream(generator):
    full = [x.numpy() for x, _ in pipeline.train_dataset(generator, 4, 10, 10).take(5)]
    resumed = [x.numpy() for x, _ in pipeline.train_dataset(generator, 4, 10, 10, start_step=3).take(2)]
    np.testing.assert_array_equal(resumed[0], full[3])
    np.testing.assert_array_equal(resumed[1], full[4])


def test_replicas_split_each_global_batch(generator):
    whole = next(iter(pipeline.train_dataset(generator, 8, 10, 10)))[0].numpy()
    ctx = tf.distribute.InputContext(num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=2)
    halves = [x.numpy() for x, _ in pipeline.train_dataset(generator, 8, 10, 10, input_context=ctx).take(2)]
    np.testing.assert_array_equal(np.concatenate(halves), whole)
    worker1 = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    second = next(iter(pipeline.train_dataset(generator, 8, 10, 10, input_context=worker1)))[0].numpy()
    np.testing.assert_array_equal(second, whole[4:])
    with pytest.raises(ConfigError, match="not divisible"):
        pipeline.train_dataset(generator, 7, 10, 10, input_context=ctx)


def test_validation_sets(tmp_path):
    config = Config(canvas_size=32, digit_size=14, val_sequences=5, seed=1)
    generated = pipeline.validation_sequences(config)
    assert generated.shape == (5, 20, 32, 32)
    np.testing.assert_array_equal(generated, pipeline.validation_sequences(config))
    data = np.random.default_rng(0).integers(0, 256, (20, 7, 32, 32), dtype=np.uint8)
    np.save(tmp_path / "mnist_test_seq.npy", data)
    from_file = pipeline.validation_sequences(
        Config(canvas_size=32, val_dataset="mnist_test_seq", val_path=str(tmp_path / "mnist_test_seq.npy"),
               val_sequences=3))
    np.testing.assert_allclose(from_file, np.transpose(data, (1, 0, 2, 3))[:3] / 255.0, rtol=1e-6)
    with pytest.raises(ConfigError, match="canvas_size"):
        pipeline.validation_sequences(Config(canvas_size=64, val_dataset="mnist_test_seq",
                                             val_path=str(tmp_path / "mnist_test_seq.npy")))
    batches = list(pipeline.array_dataset(generated, 2, 10, 10))
    assert [b[0].shape[0] for b in batches] == [2, 2, 1]
