"""The LSTM layers, the composite model and its losses."""
import keras
import numpy as np
import pytest

from keras_vidrep.models import CompositeModel, LSTMCell, LSTMStack, losses


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_peephole_cell_matches_the_original_equations():
    rng = np.random.default_rng(0)
    cell = LSTMCell(4, peepholes=True, initializer="original", seed=1)
    cell.build((None, 3))
    for w in cell.weights:  # non-trivial values everywhere, biases included
        w.assign(rng.normal(size=w.shape).astype(np.float32))
    x = rng.normal(size=(2, 3)).astype(np.float32)
    h = rng.normal(size=(2, 4)).astype(np.float32)
    c = rng.normal(size=(2, 4)).astype(np.float32)
    got_h, got_c = cell(cell.project(x), (h, c))
    W, U, b = (np.asarray(v) for v in (cell.kernel, cell.recurrent_kernel, cell.bias))
    z = x @ W + h @ U + b
    zi, zf, zg, zo = np.split(z, 4, axis=-1)
    i = sigmoid(zi + np.asarray(cell.peephole_input) * c)
    f = sigmoid(zf + np.asarray(cell.peephole_forget) * c)
    c_new = f * c + i * np.tanh(zg)
    o = sigmoid(zo + np.asarray(cell.peephole_output) * c_new)
    np.testing.assert_allclose(np.asarray(got_c), c_new, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(got_h), o * np.tanh(c_new), rtol=1e-5, atol=1e-6)


def test_original_initializer_ranges_and_zero_forget_bias():
    cell = LSTMCell(64, peepholes=True, initializer="original", seed=0)
    cell.build((None, 32))
    assert np.abs(np.asarray(cell.kernel)).max() <= 0.01
    assert np.abs(np.asarray(cell.peephole_input)).max() <= 0.1
    assert np.abs(np.asarray(cell.peephole_input)).max() > 0.05
    assert not np.asarray(cell.bias).any()
    keras_cell = LSTMCell(8, seed=0)
    keras_cell.build((None, 4))
    np.testing.assert_array_equal(np.asarray(keras_cell.bias)[8:16], 1.0)  # forget gate


def test_stack_run_equals_stepping():
    rng = np.random.default_rng(1)
    stack = LSTMStack([5, 3], peepholes=True, seed=2)
    stack.build((None, 4))
    seq = rng.normal(size=(2, 6, 4)).astype(np.float32)
    top, final = stack.run(seq, stack.zero_state(2))
    states = stack.zero_state(2)
    for t in range(6):
        h, states = stack.step(seq[:, t], states)
        np.testing.assert_allclose(np.asarray(top[:, t]), np.asarray(h), rtol=1e-5, atol=1e-6)
    for (a, _b), (c, _d) in zip(final, states):
        np.testing.assert_allclose(np.asarray(a), np.asarray(c), rtol=1e-5, atol=1e-6)


def make_model(**kwargs):
    args = dict(frame_dim=12, units=(8, 6), input_frames=4, future_frames=3, seed=0)
    args.update(kwargs)
    model = CompositeModel(**args)
    model.build((None, args["input_frames"], args["frame_dim"]))
    return model


def frames(batch=2, steps=4, dim=12, seed=0):
    return np.random.default_rng(seed).random((batch, steps, dim)).astype(np.float32)


def test_composite_shapes_and_representation():
    model = make_model()
    out = model(frames())
    assert out["reconstruction"].shape == (2, 4, 12) and out["future"].shape == (2, 3, 12)
    assert model.predict_future(frames(), steps=9).shape == (2, 9, 12)
    states = model.encode(frames())
    assert [tuple(h.shape) for h, _ in states] == [(2, 8), (2, 6)]
    assert float(np.asarray(out["future"]).min()) >= 0.0 and float(np.asarray(out["future"]).max()) <= 1.0


def test_decoders_have_their_own_weights_and_start_from_encoder_state():
    model = make_model()
    names = {v.path for v in model.trainable_variables}
    for part in ("encoder", "reconstruction_decoder", "future_decoder"):
        assert any(f"/{part}/layer_1/recurrent_kernel" in n for n in names), part
    # An unconditioned decoder has no input kernel; its output still depends on the input through the state.
    assert model.future_decoder.cells[0].kernel is None
    a, b = model.predict_future(frames(seed=1)), model.predict_future(frames(seed=2))
    assert not np.allclose(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("model_type,parts", [("composite", {"reconstruction", "future"}),
                                              ("autoencoder", {"reconstruction"}), ("future", {"future"})])
def test_ablation_variants(model_type, parts):
    model = make_model(model_type=model_type)
    assert set(model(frames())) == parts


def test_teacher_forcing_versus_free_running():
    model = make_model(conditional_future=True)
    x, truth = frames(), frames(steps=3, seed=5)
    forced = np.asarray(model.forward(x, truth, teacher_forcing=True)["future"])
    free = np.asarray(model.forward(x)["future"])
    np.testing.assert_allclose(forced[:, 0], free[:, 0], rtol=1e-5, atol=1e-6)  # step 0 reads a zero frame
    assert not np.allclose(forced[:, 1:], free[:, 1:], atol=1e-4)  # then ground truth vs its own output
    # Free-running = teacher-forced on the model's own sigmoid outputs.
    own = np.asarray(model.predict_future(x))
    refed = np.asarray(model.forward(x, own, teacher_forcing=True)["future"])
    np.testing.assert_allclose(refed, free, rtol=1e-4, atol=1e-5)
    # An unconditioned predictor ignores teacher forcing.
    plain = make_model()
    np.testing.assert_allclose(np.asarray(plain.forward(x, truth, teacher_forcing=True)["future"]),
                               np.asarray(plain.forward(x)["future"]), rtol=1e-6)


def test_conditional_reconstruction_reads_reversed_ground_truth():
    model = make_model(conditional_reconstruction=True)
    x = frames()
    changed = x.copy()
    changed[:, 0] += 1.0  # the first input frame is the last reconstruction target: never fed to the decoder
    a = np.asarray(model.forward(x)["reconstruction"])
    states = model.encode(x)
    b = np.asarray(model._decode(model.reconstruction_decoder, model.reconstruction_readout, states, 4,
                                 np.flip(changed, axis=1)))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_keras_save_and_load_give_the_same_outputs(tmp_path):
    model = make_model(peepholes=True, conditional_future=True, output="linear", initializer="original")
    x = frames()
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, CompositeModel) and loaded.get_config() == model.get_config()
    for name, value in model(x).items():
        np.testing.assert_allclose(np.asarray(loaded(x)[name]), np.asarray(value), rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(np.asarray(loaded.predict_future(x, steps=6)), np.asarray(model.predict_future(x, 6)),
                               rtol=1e-6)


def test_peephole_vectors_are_drawn_independently():
    for initializer in ("original", "keras"):
        cell = LSTMCell(16, peepholes=True, initializer=initializer, seed=3)
        cell.build((None, 4))
        vectors = [np.asarray(v) for v in (cell.peephole_input, cell.peephole_forget, cell.peephole_output)]
        for i in range(3):
            for j in range(i + 1, 3):
                assert not np.allclose(vectors[i], vectors[j]), (initializer, i, j)


def test_invalid_arguments_name_the_argument():
    with pytest.raises(ValueError, match="`units` must be a positive integer, got -3"):
        LSTMCell(-3)
    with pytest.raises(ValueError, match="model_type"):
        make_model(model_type="vae")
    with pytest.raises(ValueError, match="future_frames"):
        make_model(future_frames=0)


def test_bernoulli_nats_per_frame():
    t = np.array([[[1.0, 0.0, 0.3], [0.5, 1.0, 0.0]]], np.float32)  # (1 sequence, 2 frames, 3 pixels)
    logits = np.array([[[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]]], np.float32)
    p = sigmoid(logits)
    per_pixel = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    expected = per_pixel.sum(-1).mean(-1)
    np.testing.assert_allclose(np.asarray(losses.bernoulli_nats_per_frame(t, logits)), expected, rtol=1e-5)
    huge = np.asarray(losses.bernoulli_nats_per_frame(t[:, :, :2] * 0 + 1, np.full((1, 2, 2), 200.0, np.float32)))
    assert np.isfinite(huge).all() and huge[0] < 1e-6


def test_squared_error_per_frame_and_reversed_reconstruction_target():
    t = np.zeros((2, 3, 4), np.float32)
    out = np.ones((2, 3, 4), np.float32)
    np.testing.assert_allclose(np.asarray(losses.squared_error_per_frame(t, out)), [2.0, 2.0])
    model = make_model(model_type="autoencoder", frame_dim=4, input_frames=3)
    x = (np.random.default_rng(0).random((2, 3, 4)) > 0.5).astype(np.float32)
    perfect = {"reconstruction": (np.flip(x, axis=1) * 2 - 1) * 50}  # confident and right, in reverse order
    assert float(np.max(losses.composite_losses(model, x, None, perfect)["reconstruction"])) < 1e-6
    unreversed = {"reconstruction": (x * 2 - 1) * 50}
    assert float(np.max(losses.composite_losses(model, x, None, unreversed)["reconstruction"])) > 1.0


def test_baselines_by_hand():
    from keras_vidrep.tasks import baselines

    train = np.zeros((2, 3, 1, 2), np.float32)
    train[0, :, 0, 0] = 1.0  # pixel 0 is on in half the training frames, pixel 1 never
    val = np.zeros((1, 3, 1, 2), np.float32)
    val[0, 2, 0, 0] = 1.0
    mean = baselines.mean_frame(train)
    np.testing.assert_allclose(mean, [[0.5, 0.0]])
    out = baselines.baseline_losses(mean, val, input_frames=2, future_frames=1)
    clip = baselines.PROBABILITY_CLIP
    assert out["baseline/mean_training_frame/future"] == pytest.approx(-np.log(0.5) - np.log(1 - clip), rel=1e-5)
    assert out["baseline/mean_training_frame/reconstruction"] == pytest.approx(-np.log(0.5) - np.log(1 - clip),
                                                                               rel=1e-5)
    assert out["baseline/copy_last/future"] == pytest.approx(-np.log(clip) - np.log(1 - clip), rel=1e-5)  # finite
    linear = baselines.baseline_losses(mean, val, 2, 1, output="linear")
    assert linear["baseline/copy_last/future"] == pytest.approx(0.5)
