"""Trains the PyTorch port of the composite model (bench/torch_composite.py) the way vidrep-train trains the
package's, for the learning curve (bench/learning_curve.py): the same model as configs/cpu_15min.cfg by default (no
peepholes, the package's Keras initialisation; --peepholes --init=original for the original's), the same Bouncing
MNIST stream (the package's generator,
same digits, seed and rules), the same loss, Adam, linear warm-up then cosine decay to a floor, and the same wall-clock
budget (`keras_vidrep.training.budget.TimeBudget`: pace measured after 3 + 10 steps, the step count planned and planned
again at 5 ... 97% of the budget, the schedule following each plan without a jump). Batches are generated one ahead
in a thread, as tf.data's prefetch does for the package. The budget counts from this process's start.

After training it predicts the future frames of the first --eval_sequences sequences of --eval_file (a uint8 file in
the mnist_test_seq layout) from their first 10 frames; the port's future decoder is unconditioned, so this is the
free-running prediction. The logits go to OUT_DIR/future_logits.npy (N, future, H*W) for the caller to score with the
package's metrics; OUT_DIR/torch_train.json records the plans, steps, pace, precision and the loss.

  .venv/bin/python bench/torch_train.py --train_minutes=14.5 --digits=mnist_npz \\
      --digits_path=bench/real_mnist/mnist.npz --eval_file=bench/real_mnist/mnist_test_seq_real.npy --out_dir=OUT

--precision=auto trains in bfloat16 autocast only where the CPU multiplies bfloat16 natively and 20 timed steps of
it beat 20 of float32 (both are training steps of the run).
"""
import argparse
import json
import os
import queue
import sys
import threading
import time

STARTED = time.monotonic()

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from port_schedule import Schedule  # noqa: E402
from torch_composite import Composite, train_step  # noqa: E402

from keras_vidrep.data.bouncing import TRAIN_STREAM, BouncingMNIST  # noqa: E402
from keras_vidrep.data.digits import load_digits  # noqa: E402
from keras_vidrep.data.sequences import load_named  # noqa: E402
from keras_vidrep.runtime.cpu import native_bfloat16  # noqa: E402
from keras_vidrep.training.budget import TimeBudget  # noqa: E402

NEVER = 10 ** 9  # the port does no periodic work inside its budget


def prefetched(generator, batch_size, input_frames, future_frames):
    """Batch `step` of the stream, generated one ahead in a thread: (step) -> (inputs, futures) tensors."""
    ahead = queue.Queue(maxsize=2)

    def work():
        step = 0
        while True:
            frames = generator.batch(step, batch_size).reshape(batch_size, generator.seq_length, -1)
            ahead.put((torch.from_numpy(frames[:, :input_frames].copy()),
                       torch.from_numpy(frames[:, input_frames:input_frames + future_frames].copy())))
            step += 1

    threading.Thread(target=work, daemon=True).start()
    return ahead.get


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train_minutes", type=float, required=True)
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=1.5e-3)
    parser.add_argument("--learning_rate_floor", type=float, default=0.05)
    parser.add_argument("--warmup_steps", type=int, default=100)
    parser.add_argument("--clipnorm", type=float, default=0.0)
    parser.add_argument("--peepholes", action="store_true", help="peephole connections (the package's default: none)")
    parser.add_argument("--init", choices=("keras", "original"), default="keras",
                        help="weight initialisation (the package's default: keras)")
    parser.add_argument("--input_frames", type=int, default=10)
    parser.add_argument("--future_frames", type=int, default=10)
    parser.add_argument("--digits", default="sklearn")
    parser.add_argument("--digits_path", default="")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto")
    parser.add_argument("--eval_file", required=True)
    parser.add_argument("--eval_sequences", type=int, default=1000)
    parser.add_argument("--out_dir", required=True)
    args = parser.parse_args()
    if args.train_minutes <= 0:
        parser.error(f"--train_minutes must be positive, got {args.train_minutes}")
    os.makedirs(args.out_dir, exist_ok=True)
    torch.manual_seed(args.seed)
    generator = BouncingMNIST(load_digits(args.digits, "train", args.digits_path), 64, 2,
                              args.input_frames + args.future_frames, 0.1, seed=args.seed, stream=TRAIN_STREAM)
    next_batch = prefetched(generator, args.batch_size, args.input_frames, args.future_frames)
    model = Composite(64 * 64, args.units, False, False, peepholes=args.peepholes, init=args.init)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.0)
    schedule = Schedule(args.learning_rate, NEVER, args.learning_rate_floor, args.warmup_steps)
    budget = TimeBudget(args.train_minutes, STARTED, dict.fromkeys(("validation", "pictures", "checkpoint"), NEVER),
                        export=False)
    bfloat16 = args.precision == "bfloat16"
    race = args.precision == "auto" and bool(native_bfloat16())
    times = {"float32": [], "bfloat16": []}

    def step(k, in_bfloat16):
        for group in optimizer.param_groups:
            group["lr"] = schedule(k)
        return train_step(model, optimizer, *next_batch(), in_bfloat16, args.clipnorm)

    k, train_steps, losses = 0, NEVER, []
    while k < train_steps and not budget.over():
        if race and k < 50:  # steps 10-29 timed in float32, 30-49 in bfloat16, then the faster one
            bfloat16 = k >= 30
        elif race and k == 50:
            bfloat16 = float(np.median(times["bfloat16"])) < float(np.median(times["float32"]))
        start = time.perf_counter()
        losses.append(step(k, bfloat16))
        if race and 10 <= k < 50:
            times["bfloat16" if bfloat16 else "float32"].append(time.perf_counter() - start)
        k += 1
        if (k >= 50 or not race) and (budget.measured() or budget.due(k)):
            train_steps = budget.plan(k)
            schedule.replan(k, train_steps)
    seconds = time.monotonic() - STARTED
    logits = predict(model, args, bfloat16)
    np.save(os.path.join(args.out_dir, "future_logits.npy"), logits)
    record = {"torch": torch.__version__, "threads": torch.get_num_threads(), "steps": k,
              "precision": "bfloat16" if bfloat16 else "float32",
              "precision_race_median_seconds": {p: round(float(np.median(t)), 4) for p, t in times.items() if t},
              "train_seconds": round(seconds, 1), "plans": budget.plans,
              "final_train_loss": round(float(np.mean(losses[-100:])), 2), "args": vars(args)}
    with open(os.path.join(args.out_dir, "torch_train.json"), "w") as f:
        json.dump(record, f, indent=1)
    print(json.dumps({key: record[key] for key in ("steps", "precision", "train_seconds", "final_train_loss")}))


@torch.no_grad()
def predict(model, args, bfloat16):
    """Future logits (N, future, H*W) of the first `eval_sequences` sequences of `eval_file`, 100 at a time."""
    sequences = load_named("mnist_test_seq", args.eval_file, limit=args.eval_sequences)
    model.eval()
    out = []
    for start in range(0, len(sequences), 100):
        frames = torch.from_numpy(sequences[start:start + 100].reshape(-1, sequences.shape[1], 64 * 64))
        inputs, futures = frames[:, :args.input_frames], frames[:, args.input_frames:]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            _, fut, _ = model(inputs, futures[:, :args.future_frames])
        out.append(fut.float().numpy())
    return np.concatenate(out)


if __name__ == "__main__":
    main()
