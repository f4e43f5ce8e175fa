"""The composite LSTM model written plainly in PyTorch, for a side-by-side training-speed comparison.

Same model as the package's composite task: peephole LSTM stacks (gate order i, f, g, o; input and forget gates see
c(t-1), the output gate the new c), an encoder over the input frames, an unconditioned or conditional reconstruction
decoder and future predictor (conditional ones teacher-forced: a zero frame, then the previous target frame), linear
readouts, per-pixel sigmoid cross-entropy summed over pixels and frames, Adam and gradient-norm clipping. Written the
way a PyTorch user would: each decoder's input projection and readout over the whole sequence with one nn.Linear,
the recurrent product once per step, autograd for the backward pass. Random binary frames stand in for data.

Usage (bench/train_speed.py runs it in a child process with the sizes of the config it measures):
  python bench/torch_composite.py --units=2048 --batch_size=80 --conditional_future --steps=5
Prints one JSON line: steps/s, sequences/s, the float32 and bfloat16 matmul peak of torch.matmul at 2048^3.
"""
import argparse
import json
import time

import torch
from torch import nn


class PeepholeLSTM(nn.Module):
    def __init__(self, inputs, units):
        super().__init__()
        self.units = units
        self.inputs = nn.Linear(inputs, 4 * units) if inputs else None
        self.recurrent = nn.Linear(units, 4 * units, bias=inputs == 0)
        self.peepholes = nn.Parameter(torch.empty(3, units).uniform_(-0.1, 0.1))
        for p in (self.recurrent.weight, *(() if self.inputs is None else (self.inputs.weight,))):
            nn.init.uniform_(p, -0.01, 0.01)
        for layer in (self.inputs, self.recurrent):
            if layer is not None and layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def forward(self, xs, state, steps):
        h, c = state
        projected = self.inputs(xs) if self.inputs is not None else None
        outputs = []
        for t in range(steps):
            z = self.recurrent(h) if projected is None else self.recurrent(h) + projected[:, t]
            zi, zf, zg, zo = z.chunk(4, dim=-1)
            i, f = torch.sigmoid(zi + self.peepholes[0] * c), torch.sigmoid(zf + self.peepholes[1] * c)
            c = f * c + i * torch.tanh(zg)
            h = torch.sigmoid(zo + self.peepholes[2] * c) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h, c)


class Composite(nn.Module):
    def __init__(self, frame_dim, units, conditional_reconstruction, conditional_future):
        super().__init__()
        self.encoder = PeepholeLSTM(frame_dim, units)
        self.reconstruction = PeepholeLSTM(frame_dim if conditional_reconstruction else 0, units)
        self.future = PeepholeLSTM(frame_dim if conditional_future else 0, units)
        self.reconstruction_readout = nn.Linear(units, frame_dim)
        self.future_readout = nn.Linear(units, frame_dim)
        self.conditional = (conditional_reconstruction, conditional_future)

    def forward(self, inputs, futures):
        batch, steps, _ = inputs.shape
        zeros = inputs.new_zeros(batch, self.encoder.units)
        _, state = self.encoder(inputs, (zeros, zeros), steps)
        targets = inputs.flip(1)
        first = inputs.new_zeros(batch, 1, inputs.shape[-1])
        rec_in = torch.cat([first, targets[:, :-1]], 1) if self.conditional[0] else None
        fut_in = torch.cat([first, futures[:, :-1]], 1) if self.conditional[1] else None
        rec, _ = self.reconstruction(rec_in, state, steps)
        fut, _ = self.future(fut_in, state, futures.shape[1])
        return self.reconstruction_readout(rec), self.future_readout(fut), targets


def matmul_peak(dtype, n=2048, seconds=2.0):
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.matmul(a, b)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.matmul(a, b)
        calls += 1
    return round(2 * n ** 3 * calls / (time.perf_counter() - start) / 1e9, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=2048)
    parser.add_argument("--frame_dim", type=int, default=64 * 64)
    parser.add_argument("--input_frames", type=int, default=10)
    parser.add_argument("--future_frames", type=int, default=10)
    parser.add_argument("--batch_size", type=int, default=80)
    parser.add_argument("--conditional_reconstruction", action="store_true")
    parser.add_argument("--conditional_future", action="store_true")
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--clipnorm", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--bfloat16", action="store_true", help="torch.autocast(cpu, bfloat16) around the model")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Composite(args.frame_dim, args.units, args.conditional_reconstruction, args.conditional_future)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    loss_fn = nn.BCEWithLogitsLoss(reduction="sum")
    batches = [(torch.rand(args.batch_size, args.input_frames, args.frame_dim).round(),
                torch.rand(args.batch_size, args.future_frames, args.frame_dim).round()) for _ in range(2)]

    def step(k):
        inputs, futures = batches[k % 2]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bfloat16):
            rec, fut, targets = model(inputs, futures)
        loss = (loss_fn(rec.float(), targets) + loss_fn(fut.float(), futures)) / args.batch_size
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if args.clipnorm:
            nn.utils.clip_grad_norm_(model.parameters(), args.clipnorm)
        optimizer.step()
        return float(loss)

    for k in range(2):  # warm-up
        step(k)
    start = time.perf_counter()
    for k in range(args.steps):
        step(k)
    elapsed = time.perf_counter() - start
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "bfloat16": args.bfloat16,
                      "steps_per_second": round(args.steps / elapsed, 3),
                      "examples_per_second": round(args.steps * args.batch_size / elapsed, 1),
                      "matmul_peak_gflops": {"float32": matmul_peak(torch.float32),
                                             "bfloat16": matmul_peak(torch.bfloat16)}}))


if __name__ == "__main__":
    main()
