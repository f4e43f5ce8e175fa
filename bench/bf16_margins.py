"""How far --precision=mixed_bfloat16 lands from float32, over several seeds: the margins the tests' thresholds are
set from (tests/test_speed_options.py), measured on the CPU at hand.

  .venv/bin/python bench/bf16_margins.py --seeds=0,1,2,3,4,5 --output_json=bench/results/bf16_margins.json

First, for each seed, the tests' small composite model (20 inputs, 12 peephole units) built twice with the same
weights, in float32 and under mixed_bfloat16, on random binary frames: the largest difference of output
probabilities and the smallest cosine between corresponding gradients. Then, for each task and seed, it trains the
tests' tiny configuration twice, in float32 and in mixed_bfloat16, for the
same 8 steps, and records the smallest cosine between corresponding weight variables, the cosine between all weights
taken as one vector, and the largest relative difference of a validation number. Each row is one (task, seed); the
summary gives the worst of each over the seeds.
"""
import argparse
import os
import shutil
import tempfile
import time

import numpy as np
from report import emit

from keras_vidrep.runtime import cpu

TASKS = {
    "composite": {"conditional_future": True, "peepholes": True},
    "vae": {"latent_dim": 6, "filters": (8, 16), "val_frames": 32},
}
COMMON = dict(canvas_size=32, digit_size=14, batch_size=8, train_steps=8, export=False, eval_every=8,
              checkpoint_every=8, summary_every=4, image_every=8)


def model_margins(seed):
    """(largest probability difference, smallest gradient cosine) of the tests' composite model in bfloat16."""
    import tensorflow as tf

    from keras_vidrep.models.composite import CompositeModel
    from keras_vidrep.training import step as train_step

    def make():
        model = CompositeModel(20, (12,), 4, 3, conditional_future=True, peepholes=True, seed=seed)
        model.build((None, 4, 20))
        return model

    rng = np.random.default_rng(seed)
    inputs = tf.constant(rng.random((2, 4, 20)) > 0.5, tf.float32)
    futures = tf.constant(rng.random((2, 3, 20)) > 0.5, tf.float32)
    with train_step.dtype_policy("mixed_bfloat16"):
        mixed = make()
    plain = make()
    plain.set_weights(mixed.get_weights())
    out = []
    for model in (plain, mixed):
        with tf.GradientTape() as tape:
            logits = model.forward(inputs, futures, teacher_forcing=True)
            loss = sum(tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(t, logits[k]))
                       for k, t in (("reconstruction", tf.reverse(inputs, [1])), ("future", futures)))
        out.append(({k: tf.sigmoid(v).numpy() for k, v in logits.items()},
                    [np.asarray(g, np.float64).ravel() for g in tape.gradient(loss, model.trainable_variables)]))
    (plain_p, plain_g), (mixed_p, mixed_g) = out
    difference = max(float(np.max(np.abs(plain_p[k] - mixed_p[k]))) for k in plain_p)
    return difference, float(min(cosine(a, b) for a, b in zip(plain_g, mixed_g)))


def margins(task, values, seed, workdir):
    from keras_vidrep.config import Config
    from keras_vidrep.training import loop

    out = {}
    for precision in ("float32", "mixed_bfloat16"):
        config = Config(task, model_dir=os.path.join(workdir, f"{task}-{seed}-{precision}"), seed=seed,
                        precision=precision, **COMMON, **values)
        trainer = loop.Trainer(config.validate())
        trainer.train()
        out[precision] = ([np.asarray(w, np.float64).ravel() for w in trainer.model.weights], trainer.evaluate())
    (plain, plain_val), (mixed, mixed_val) = out["float32"], out["mixed_bfloat16"]
    cosines = [cosine(a, b) for a, b in zip(plain, mixed)]
    relative = [abs(mixed_val[k] - v) / max(abs(v), 1e-9) for k, v in plain_val.items()]
    return float(min(cosines)), float(cosine(np.concatenate(plain), np.concatenate(mixed))), float(max(relative))


def cosine(a, b):
    return a @ b / (np.linalg.norm(a) * np.linalg.norm(b))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2,3,4,5")
    parser.add_argument("--output_json", default="")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    workdir = tempfile.mkdtemp(prefix="bf16-margins-")
    rows, start = [], time.time()
    models = [dict(zip(("seed", "max_probability_difference", "min_gradient_cosine"), (seed, *model_margins(seed))))
              for seed in seeds]
    try:
        for task, values in TASKS.items():
            for seed in seeds:
                per_variable, whole, relative = margins(task, values, seed, workdir)
                rows.append({"task": task, "seed": seed, "min_weight_cosine": per_variable,
                             "all_weights_cosine": whole, "max_validation_relative_difference": relative})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = {"model": {"worst_probability_difference": max(m["max_probability_difference"] for m in models),
                         "worst_gradient_cosine": min(m["min_gradient_cosine"] for m in models)}}
    summary.update({task: {"worst_variable_cosine": min(r["min_weight_cosine"] for r in rows if r["task"] == task),
                      "worst_all_weights_cosine": min(r["all_weights_cosine"] for r in rows if r["task"] == task),
                      "worst_relative": max(r["max_validation_relative_difference"] for r in rows
                                            if r["task"] == task)} for task in TASKS})
    table = "\n".join(["| model, seed | max probability difference | min gradient cosine |", "|---:|---:|---:|"]
                      + [f"| {m['seed']} | {m['max_probability_difference']:.5f} | {m['min_gradient_cosine']:.5f} |"
                         for m in models]) + "\n\n"
    table += "\n".join(["| task | seed | min variable cosine | all-weights cosine | max validation rel. diff |",
                       "|---|---:|---:|---:|---:|"]
                      + [f"| {r['task']} | {r['seed']} | {r['min_weight_cosine']:.5f} | "
                         f"{r['all_weights_cosine']:.6f} | {r['max_validation_relative_difference']:.5f} |"
                         for r in rows])
    emit({"cpu": cpu.describe(), "date": time.strftime("%Y-%m-%d"), "seconds": round(time.time() - start, 1),
          "models": models, "rows": rows, "summary": summary}, args.output_json, table)


if __name__ == "__main__":
    main()
