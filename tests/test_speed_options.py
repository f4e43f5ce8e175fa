"""Each speed option gives what the plain path gives, within a stated tolerance.

  * fused LSTM recurrences (the default) vs the unrolled per-step path differentiated by TensorFlow: same outputs
    and gradients up to float32 rounding (relative 1e-5 of the largest value);
  * --jit_compile (XLA) vs graph mode: the same weights after training, up to float32 rounding (1e-5 absolute);
  * --precision=mixed_bfloat16 vs float32: bfloat16 keeps 8 significant bits, so outputs and gradients agree within
    thresholds set from margins measured over 10 seeds (the BF16_* constants below); weights, states, losses and the
    optimizer stay float32.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_vidrep.config import Config
from keras_vidrep.models import fused_lstm
from keras_vidrep.models.composite import CompositeModel
from keras_vidrep.models.lstm import LSTMStack
from keras_vidrep.training import loop
from keras_vidrep.training import step as train_step

# bfloat16 thresholds, each a few times the worst of 10 seeds (bench/bf16_margins.py on an AMD EPYC with AVX2 and no
# native bfloat16, 2026-11-30; bench/results/bf16_margins.json). The small composite model: output probabilities
# differed by at most 0.00076, gradients' cosine was at least 0.99986. After 8 training steps: the cosine between all
# float32 and all bfloat16 weights was at least 0.999989 (composite) and 0.999976 (vae); a validation number differed
# by at most 0.24% (composite) and 3.2% (vae: its small kl and mmd move most). The cosine of one small variable is no
# criterion: a near-zero bias vector of 8 values reached 0.956 in a healthy run.
BF16_PROBABILITY_DIFFERENCE = 5e-3
BF16_GRADIENT_COSINE = 0.999
BF16_VALIDATION_TOLERANCE = {"composite": 0.02, "vae": 0.08}
BF16_WEIGHTS_COSINE = 0.9999


def relative_error(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-12)


def cosine(a, b):
    a, b = np.ravel(np.asarray(a, np.float64)), np.ravel(np.asarray(b, np.float64))
    return a @ b / (np.linalg.norm(a) * np.linalg.norm(b))


@pytest.mark.parametrize("peepholes", [False, True])
@pytest.mark.parametrize("with_input", [True, False])
def test_fused_lstm_matches_the_unrolled_one(peepholes, with_input):
    rng = np.random.default_rng(0)
    batch, steps, dim, units = 3, 5, 7 if with_input else 0, (6, 4)
    stacks = {}
    for implementation in ("fused", "unrolled"):
        stack = LSTMStack(units, peepholes, seed=11, implementation=implementation)
        stack.build((None, dim))
        stacks[implementation] = stack
    for a, b in zip(stacks["fused"].weights, stacks["unrolled"].weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # same seed, same weights
    x = tf.constant(rng.normal(size=(batch, steps, dim)), tf.float32) if with_input else None
    start = [(tf.constant(rng.normal(size=(batch, u)) * 0.5, tf.float32),
              tf.constant(rng.normal(size=(batch, u)) * 0.5, tf.float32)) for u in units]
    weights = tf.constant(rng.normal(size=(batch, steps, units[-1])), tf.float32)

    def run(stack):
        with tf.GradientTape() as tape:
            tape.watch([x, start] if with_input else start)
            hidden, final = stack.run(x, start, steps=steps)
            # every output matters: all hidden states, and the final h and c of every layer
            loss = tf.reduce_sum(hidden * weights) + sum(tf.reduce_sum(h * c) for h, c in final)
        sources = ([x] if with_input else []) + [t for state in start for t in state] + stack.trainable_variables
        return hidden, final, tape.gradient(loss, sources)

    fused, unrolled = run(stacks["fused"]), run(stacks["unrolled"])
    assert relative_error(fused[0], unrolled[0]) < 1e-5
    for (h1, c1), (h2, c2) in zip(fused[1], unrolled[1]):
        assert relative_error(h1, h2) < 1e-5 and relative_error(c1, c2) < 1e-5
    assert len(fused[2]) == len(unrolled[2])
    for got, want in zip(fused[2], unrolled[2]):
        assert np.max(np.abs(want)) > 0
        assert relative_error(got, want) < 1e-5
    def graph_ops():
        graph = tf.function(lambda: stacks["fused"].run(x, start, steps=steps)[0]).get_concrete_function().graph
        return {op.type for op in graph.get_operations()}

    assert "IdentityN" in graph_ops()  # tf.custom_gradient's mark in a graph
    with fused_lstm.autodiff_only():  # as exports build it: the forward operations, differentiated by autodiff
        assert "IdentityN" not in graph_ops()
        plain = run(stacks["fused"])
    assert relative_error(plain[0], unrolled[0]) < 1e-5
    for got, want in zip(plain[2], unrolled[2]):
        assert relative_error(got, want) < 1e-5


def test_every_formulation_of_the_recurrent_products_matches_the_unrolled_lstm():
    """The autotuner may pick any formulation on any CPU: each gives the plain path's numbers to float32 rounding,
    eagerly and inside a compiled graph (where the optimizer may fold a transpose into the product)."""
    from itertools import product

    from keras_vidrep.models import fused_lstm

    rng = np.random.default_rng(1)
    batch, steps, dim, units = 3, 5, 7, (6,)
    stacks = {}
    for implementation in ("fused", "unrolled"):
        stacks[implementation] = LSTMStack(units, True, seed=11, implementation=implementation)
        stacks[implementation].build((None, dim))
    x = tf.constant(rng.normal(size=(batch, steps, dim)), tf.float32)
    start = [(tf.constant(rng.normal(size=(batch, 6)) * 0.5, tf.float32),
              tf.constant(rng.normal(size=(batch, 6)) * 0.5, tf.float32))]
    weights = tf.constant(rng.normal(size=(batch, steps, 6)), tf.float32)

    def run(stack):
        with tf.GradientTape() as tape:
            tape.watch([x, start])
            hidden, final = stack.run(x, start, steps=steps)
            loss = tf.reduce_sum(hidden * weights) + tf.reduce_sum(final[0][0] * final[0][1])
        return [hidden] + tape.gradient(loss, [x, *start[0], *stack.trainable_variables])

    want = run(stacks["unrolled"])
    try:
        for forward, backward in product(fused_lstm.FORWARD, fused_lstm.BACKWARD):
            fused_lstm.set_formulation(6, "float32", forward, backward)
            for mode, got in (("eager", run(stacks["fused"])),
                              ("graph", tf.function(lambda: run(stacks["fused"]), autograph=False)())):
                for g, w in zip(got, want):
                    assert relative_error(g, w) < 1e-5, (forward, backward, mode)
    finally:
        fused_lstm.set_formulation(6, "float32", None, None)
    assert fused_lstm.formulation(6) == fused_lstm.DEFAULT
    with pytest.raises(ValueError, match="formulation must be one of"):
        fused_lstm.set_formulation(6, "float32", "sideways", "folded")


def test_autotune_picks_the_fastest_measured_formulation_and_every_process_reuses_it(monkeypatch, tmp_path):
    from keras_vidrep.models import fused_lstm
    from keras_vidrep.training import autotune

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    rates = {"forward": {"plain": 10.0, "transposed": 30.0},
             "backward": {"materialized": 5.0, "folded": 50.0, "transposed": 20.0}}
    measured = []
    monkeypatch.setattr(autotune, "measure", lambda *shape: measured.append(shape) or rates)
    model = make_composite()
    try:
        assert autotune.tune(model, 8) == {(12, "float32"): ("transposed", "folded")}
        assert fused_lstm.formulation(12) == ("transposed", "folded")
        fused_lstm.set_formulation(12, "float32", None, None)
        assert autotune.tune(model, 8) == {(12, "float32"): ("transposed", "folded")}  # from the cache
        assert measured == [(8, 12, "float32")]
        assert fused_lstm.formulation(12) == ("transposed", "folded")
    finally:
        fused_lstm.set_formulation(12, "float32", None, None)
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/no-such-cache")  # not writable: measured, not cached
    assert autotune.tune(model, 8) == {(12, "float32"): ("transposed", "folded")} and len(measured) == 2
    fused_lstm.set_formulation(12, "float32", None, None)
    real = autotune.measure(4, 8, "float32")  # the real measurement: every formulation, a positive rate
    assert {k: set(v) for k, v in real.items()} == {"forward": set(fused_lstm.FORWARD),
                                                    "backward": set(fused_lstm.BACKWARD)}
    assert all(v > 0 for r in real.values() for v in r.values())


def composite_gradients(model, inputs, futures):
    with tf.GradientTape() as tape:
        logits = model.forward(inputs, futures, teacher_forcing=True)
        loss = sum(tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(t, logits[k]))
                   for k, t in (("reconstruction", tf.reverse(inputs, [1])), ("future", futures)))
    return logits, tape.gradient(loss, model.trainable_variables)


def make_composite(**kwargs):
    model = CompositeModel(20, (12,), 4, 3, conditional_future=True, peepholes=True, seed=2, **kwargs)
    model.build((None, 4, 20))
    return model


def test_fused_composite_model_matches_the_unrolled_one():
    rng = np.random.default_rng(1)
    inputs = tf.constant(rng.random((2, 4, 20)) > 0.5, tf.float32)
    futures = tf.constant(rng.random((2, 3, 20)) > 0.5, tf.float32)
    fused, plain = make_composite(implementation="fused"), make_composite(implementation="unrolled")
    plain.set_weights(fused.get_weights())
    fused_logits, fused_grads = composite_gradients(fused, inputs, futures)
    plain_logits, plain_grads = composite_gradients(plain, inputs, futures)
    for k in fused_logits:
        assert relative_error(fused_logits[k], plain_logits[k]) < 1e-5
    for got, want in zip(fused_grads, plain_grads):
        assert relative_error(got, want) < 1e-5


def test_mixed_bfloat16_model_matches_float32_within_its_precision():
    rng = np.random.default_rng(2)
    inputs = tf.constant(rng.random((2, 4, 20)) > 0.5, tf.float32)
    futures = tf.constant(rng.random((2, 3, 20)) > 0.5, tf.float32)
    with train_step.dtype_policy("mixed_bfloat16"):
        mixed = make_composite()
    assert keras.config.dtype_policy().name == "float32"  # restored after the block
    plain = make_composite()
    plain.set_weights(mixed.get_weights())
    assert all(v.dtype == "float32" for v in mixed.weights)
    mixed_logits, mixed_grads = composite_gradients(mixed, inputs, futures)
    plain_logits, plain_grads = composite_gradients(plain, inputs, futures)
    for k in plain_logits:
        assert mixed_logits[k].dtype == tf.float32
        probabilities = tf.sigmoid(mixed_logits[k]), tf.sigmoid(plain_logits[k])
        assert np.max(np.abs(probabilities[0] - probabilities[1])) < BF16_PROBABILITY_DIFFERENCE
        assert not np.array_equal(mixed_logits[k], plain_logits[k])  # bfloat16 products did run
    for got, want in zip(mixed_grads, plain_grads):
        assert got.dtype == tf.float32
        assert cosine(got, want) > BF16_GRADIENT_COSINE


def train_weights(config):
    trainer = loop.Trainer(config.validate())
    trainer.train()
    return trainer, [np.asarray(w) for w in trainer.model.weights]


def compiled_functions(trainer):
    """How many functions inside the trainer's train step carry XLA's must-compile mark."""
    graph = trainer.train_step.get_concrete_function(trainer.batches()).graph.as_graph_def()
    return sum(f.attr["_XlaMustCompile"].b for f in graph.library.function)


def test_jit_compile_trains_the_same_weights(tiny_config):
    config = tiny_config.replace(conditional_future=True, peepholes=True, clipnorm=1.0, export=False,
                                 deterministic=True)
    plain_trainer, plain = train_weights(config)
    xla_trainer, xla = train_weights(config.replace(model_dir=config.model_dir + "_xla", jit_compile=True))
    assert compiled_functions(plain_trainer) == 0
    assert compiled_functions(xla_trainer) == 2  # the gradients, and (one replica) the update
    for a, b in zip(plain, xla):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)




@pytest.mark.parametrize("task,values", [
    ("composite", {"conditional_future": True, "peepholes": True}),
    ("vae", {"latent_dim": 6, "filters": (8, 16), "val_frames": 32}),
])
def test_mixed_bfloat16_training_stays_close_to_float32(tiny_config, task, values):
    common = {k: getattr(tiny_config, k) for k in ("canvas_size", "digit_size", "batch_size", "seed")}
    base = Config(task, model_dir=tiny_config.model_dir, train_steps=8, export=False, eval_every=8,
                  checkpoint_every=8, summary_every=4, image_every=8, **common, **values)
    plain_trainer, plain = train_weights(base)
    mixed_trainer, mixed = train_weights(base.replace(model_dir=base.model_dir + "_bf16",
                                                      precision="mixed_bfloat16"))
    assert keras.config.dtype_policy().name == "float32"
    assert all(v.dtype == "float32" for v in mixed_trainer.model.weights)
    plain_val, mixed_val = plain_trainer.evaluate(), mixed_trainer.evaluate()
    for k, v in plain_val.items():
        assert np.isfinite(mixed_val[k])
        assert abs(mixed_val[k] - v) <= BF16_VALIDATION_TOLERANCE[task] * abs(v) + 1e-3, (k, mixed_val[k], v)
    assert cosine(np.concatenate([w.ravel() for w in plain]), np.concatenate([w.ravel() for w in mixed])) \
        > BF16_WEIGHTS_COSINE
    assert not all(np.array_equal(a, b) for a, b in zip(plain, mixed))  # bfloat16 products did run


def test_fused_adam_matches_keras_adam():
    from keras_vidrep.training.optimizers import FusedAdam

    rng = np.random.default_rng(3)
    start = [rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(3,)).astype(np.float32)]
    schedule = keras.optimizers.schedules.CosineDecay(0.0, 20, warmup_target=1e-2, warmup_steps=3)
    weights = {}
    for name, cls in (("keras", keras.optimizers.Adam), ("fused", FusedAdam)):
        variables = [keras.Variable(w) for w in start]
        optimizer = cls(schedule)
        for step in range(8):
            grads = [tf.constant(np.random.default_rng(step).normal(size=w.shape), tf.float32) for w in start]
            optimizer.apply_gradients(zip(grads, variables))
        weights[name] = [np.asarray(v) for v in variables]
        assert int(optimizer.iterations) == 8
    for got, want, first in zip(weights["fused"], weights["keras"], start):
        assert np.max(np.abs(want - first)) > 1e-3  # the weights moved
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="amsgrad"):
        FusedAdam(amsgrad=True)


@pytest.mark.parametrize("flags, warned", [("fma avx2", True), ("avx2 avx512f avx512_bf16", False),
                                           ("avx2 amx_bf16", False)])
def test_mixed_bfloat16_says_when_the_cpu_has_no_native_bfloat16(tiny_config, monkeypatch, flags, warned):
    from absl import logging as absl_logging

    from keras_vidrep.runtime import cpu

    monkeypatch.setattr(cpu, "facts", lambda: {"model": "Test CPU", "cores": 2, "flags": frozenset(flags.split())})
    messages = []
    monkeypatch.setattr(absl_logging, "warning", lambda msg, *args: messages.append(msg % args))
    loop.Trainer(tiny_config.replace(precision="mixed_bfloat16").validate()).close()
    said = [m for m in messages if "no native bfloat16" in m]
    assert bool(said) == warned, messages
    if warned:
        assert "Test CPU (AVX2, FMA), 2 cores" in said[0] and "--precision=float32" in said[0]


@pytest.mark.parametrize("flags, chosen", [("fma avx2", "float32"), ("avx2 avx512f avx512_bf16", "mixed_bfloat16"),
                                           ("avx2 amx_bf16", "mixed_bfloat16")])
def test_precision_auto_takes_bfloat16_only_where_the_cpu_multiplies_it_natively(tiny_config, monkeypatch, flags,
                                                                                 chosen):
    from keras_vidrep.runtime import cpu

    monkeypatch.setattr(cpu, "facts", lambda: {"model": "Test CPU", "cores": 2, "flags": frozenset(flags.split())})
    config = tiny_config.replace(precision="auto").validate()
    assert loop.resolve_precision(config).precision == chosen
    assert loop.resolve_precision(config.replace(precision="float32")).precision == "float32"
    trainer = loop.Trainer(config)
    try:
        assert trainer.config.precision == chosen
    finally:
        trainer.close()
    assert Config.load(config.model_dir).precision == chosen  # config.json records the choice, not "auto"
    other = "avx2 amx_bf16" if chosen == "float32" else "fma avx2"  # resumed on a CPU that would choose otherwise
    monkeypatch.setattr(cpu, "facts", lambda: {"model": "Other CPU", "cores": 2, "flags": frozenset(other.split())})
    assert loop.resolve_precision(config).precision == chosen  # the run computes as it started
