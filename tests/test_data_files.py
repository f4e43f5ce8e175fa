"""Readers for digits and sequence files, on small files written here in the original formats."""
import numpy as np
import pytest
from conftest import write_mnist_h5, write_mnist_npz

from keras_vidrep.data import digits, sequences
from keras_vidrep.errors import DataError


def test_sklearn_digits_are_mnist_sized_and_split():
    train = digits.load_digits("sklearn", "train")
    test = digits.load_digits("sklearn", "test")
    assert train.shape == (1797 - 297, 28, 28) and test.shape == (297, 28, 28)
    assert train.dtype == np.float32 and train.min() >= 0.0 and train.max() <= 1.0
    assert train[:, :4].max() == 0.0 and train[:, -4:].max() == 0.0  # centred in a 20x20 box like MNIST
    assert train.max() > 0.9


def test_digits_resized_to_digit_size():
    assert digits.load_digits("sklearn", "test", size=14).shape == (297, 14, 14)


def test_mnist_h5_datasets(tmp_path):
    path = write_mnist_h5(tmp_path / "mnist.h5")
    import h5py

    with h5py.File(path, "r") as f:
        expected = f["train"][()].reshape(-1, 28, 28)
    np.testing.assert_array_equal(digits.load_digits("mnist_h5", "train", str(path)), expected)
    assert digits.load_digits("mnist_h5", "train_full", str(path)).shape == (42, 28, 28)
    assert digits.load_digits("mnist_h5", "test", str(path)).shape == (12, 28, 28)


def test_mnist_h5_read_however_stored(tmp_path):
    """Plain float32 datasets are memory-mapped, chunked/compressed or other-typed ones read: the same digits."""
    import h5py

    values = np.random.default_rng(1).random((5, 784)).astype(np.float32)
    for name, options in (("plain", {}), ("chunked", {"chunks": (2, 784), "compression": "gzip"}),
                          ("float64", {"dtype": np.float64})):
        path = tmp_path / f"{name}.h5"
        with h5py.File(path, "w") as f:
            f.create_dataset("train", data=values, **options)
        got = digits.load_digits("mnist_h5", "train", str(path))
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, values.reshape(-1, 28, 28), err_msg=name)
    nan = tmp_path / "nan.h5"
    with h5py.File(nan, "w") as f:
        f["train"] = np.where(np.arange(3 * 784).reshape(3, 784) == 800, np.nan, 0.5).astype(np.float32)
    with pytest.raises(DataError, match=r"non-finite value at index \(1, 0, 16\)"):
        digits.load_digits("mnist_h5", "train", str(nan))


def test_mnist_h5_errors(tmp_path):
    import h5py

    with pytest.raises(DataError, match="no such file"):
        digits.load_digits("mnist_h5", "train", str(tmp_path / "missing.h5"))
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f["train"] = np.zeros((3, 100), np.float32)
    with pytest.raises(DataError, match=r"shape \(N, 784\)"):
        digits.load_digits("mnist_h5", "train", str(bad))
    out_of_range = tmp_path / "range.h5"
    with h5py.File(out_of_range, "w") as f:
        f["train"] = np.full((3, 784), 255.0, np.float32)
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        digits.load_digits("mnist_h5", "train", str(out_of_range))
    not_h5 = tmp_path / "text.h5"
    not_h5.write_text("hello")
    with pytest.raises(DataError, match="not a readable HDF5"):
        digits.load_digits("mnist_h5", "train", str(not_h5))


def test_mnist_npz_from_path_and_keras_cache(tmp_path, monkeypatch):
    path = write_mnist_npz(tmp_path / "mnist.npz")
    train = digits.load_digits("mnist_npz", "train", str(path))
    with np.load(path) as f:
        np.testing.assert_allclose(train, f["x_train"] / 255.0, rtol=1e-6)
    cache = tmp_path / "keras_home" / "datasets"
    cache.mkdir(parents=True)
    write_mnist_npz(cache / "mnist.npz", n_test=5)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    assert digits.load_digits("mnist_npz", "test").shape == (5, 28, 28)


def test_mnist_npz_refuses_pickled_objects(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x_train=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="not a readable .npz"):
        digits.load_digits("mnist_npz", "train", str(path))


def test_tfds_mnist_under_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        images = digits.load_digits("tfds", "train")
    assert images.shape == (6, 28, 28) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_unknown_digit_source():
    with pytest.raises(DataError, match="`digits` must be one of"):
        digits.load_digits("emnist")


def write_sequences(path, n=3, t=20, size=64, time_first=False):
    rng = np.random.default_rng(2)
    data = rng.integers(0, 256, (n, t, size, size), dtype=np.uint8)
    np.save(path, np.transpose(data, (1, 0, 2, 3)) if time_first else data)
    return data


def test_bouncing_mnist_test_npy(tmp_path):
    data = write_sequences(tmp_path / "bouncing_mnist_test.npy")
    loaded = sequences.load_bouncing_mnist_test(str(tmp_path / "bouncing_mnist_test.npy"))
    assert loaded.shape == (3, 20, 64, 64) and loaded.dtype == np.float32
    np.testing.assert_allclose(loaded, data / 255.0, rtol=1e-6)


def test_mnist_test_seq_npy_is_time_first(tmp_path):
    data = write_sequences(tmp_path / "mnist_test_seq.npy", n=4, time_first=True)
    loaded = sequences.load_mnist_test_seq(str(tmp_path / "mnist_test_seq.npy"))
    assert loaded.shape == (4, 20, 64, 64)
    np.testing.assert_allclose(loaded, data / 255.0, rtol=1e-6)
    limited = sequences.load_named("mnist_test_seq", str(tmp_path / "mnist_test_seq.npy"), limit=2)
    np.testing.assert_allclose(limited, data[:2] / 255.0, rtol=1e-6)


def test_sequence_file_errors(tmp_path):
    np.save(tmp_path / "float.npy", np.zeros((2, 20, 64, 64), np.float32))
    with pytest.raises(DataError, match="uint8"):
        sequences.load_bouncing_mnist_test(str(tmp_path / "float.npy"))
    np.save(tmp_path / "3d.npy", np.zeros((20, 64, 64), np.uint8))
    with pytest.raises(DataError, match="4-d"):
        sequences.load_mnist_test_seq(str(tmp_path / "3d.npy"))
    np.save(tmp_path / "obj.npy", np.array([None, 1], dtype=object))
    with pytest.raises(DataError, match="not a readable .npy"):
        sequences.load_bouncing_mnist_test(str(tmp_path / "obj.npy"))
    write_sequences(tmp_path / "full.npy")
    truncated = tmp_path / "truncated.npy"
    truncated.write_bytes((tmp_path / "full.npy").read_bytes()[:5000])
    with pytest.raises(DataError, match="not a readable .npy"):
        sequences.load_bouncing_mnist_test(str(truncated))
    with pytest.raises(DataError, match="no such file"):
        sequences.load_bouncing_mnist_test(str(tmp_path / "absent.npy"))
    with pytest.raises(DataError, match="unknown sequence set"):
        sequences.load_named("kth")


def test_tfds_moving_mnist_under_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=3):
        loaded = sequences.load_tfds_moving_mnist()
    assert loaded.shape == (3, 20, 64, 64) and loaded.dtype == np.float32
    assert loaded.min() >= 0.0 and loaded.max() <= 1.0


def test_non_finite_digits_are_rejected_with_file_and_index(tmp_path):
    import h5py

    data = np.zeros((4, 784), np.float32)
    data[2, 100] = np.nan
    with h5py.File(tmp_path / "nan.h5", "w") as f:
        f["train"] = data
    with pytest.raises(DataError, match=r"nan\.h5:train: non-finite value at index \(2, 3, 16\)"):
        digits.load_digits("mnist_h5", "train", str(tmp_path / "nan.h5"))


def test_generated_validation_opens_its_digits_first_and_draws_sequences_when_asked(tmp_path, tiny_config):
    """Held-out digits that cannot be read stop the run before it starts; the sequences themselves are drawn batch
    by batch when the validation reads them, and are the set `video_sequences.validation_set` describes."""
    import h5py

    from keras_vidrep import tasks
    from keras_vidrep.data import video_sequences

    no_test = tmp_path / "train_only.h5"
    with h5py.File(no_test, "w") as f:
        f["train"] = np.zeros((30, 784), np.float32)
    config = tiny_config.replace(digits="mnist_h5", digits_path=str(no_test))
    with pytest.raises(DataError, match="no dataset 'test'"):
        tasks.create(config).prepare_data()
    config = config.replace(digits_path=str(write_mnist_h5(tmp_path / "mnist.h5")))
    task = tasks.create(config)
    task.prepare_data()
    inputs, futures = task.validation_set().whole()
    s = task.settings
    expected = video_sequences.validation_set(s, config.seed).whole()
    assert inputs.shape == (config.val_sequences, s.input_frames, s.frame_dim)
    np.testing.assert_array_equal(np.concatenate([inputs, futures], axis=1),
                                  expected.reshape(len(expected), s.seq_length, -1))
