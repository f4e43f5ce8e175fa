"""The composite LSTM model written plainly in PyTorch, for a side-by-side training-speed comparison.

Same model as the package's composite task: LSTM stacks (gate order i, f, g, o; with peepholes, the input and forget
gates see c(t-1), the output gate the new c; the original's uniform initialisation or the package's Keras one), an
encoder over the input frames, an unconditioned or conditional reconstruction decoder and future predictor
(conditional ones teacher-forced: a zero frame, then the previous target frame), linear readouts, per-pixel sigmoid
cross-entropy summed over pixels and frames, Adam and gradient-norm clipping. Written the way a PyTorch user would:
each decoder's input projection and readout over the whole sequence with one nn.Linear, the recurrent product once
per step, autograd for the backward pass. Random binary frames stand in for data (bench/torch_train.py trains it on
Bouncing MNIST).

Usage (bench/train_speed.py runs it in a child process with the sizes of the config it measures):
  python bench/torch_composite.py --units=2048 --batch_size=80 --conditional_future --steps=5
  python bench/torch_composite.py --units=512 --batch_size=32 --peepholes=0 --device=cuda --steps=50   # a GPU
Prints one JSON line: steps/s, sequences/s and, on the CPU, the float32 and bfloat16 matmul peak of torch.matmul at
2048^3.
"""
import argparse
import json
import time

import torch
from torch import nn


class PeepholeLSTM(nn.Module):
    """An LSTM layer; `init`: `original` (U(+-0.01) weights, zero biases, peepholes U(+-0.1)) or `keras` (the
    package's default: Glorot-uniform input weights, orthogonal recurrent weights, forget-gate bias 1)."""

    def __init__(self, inputs, units, peepholes=True, init="original"):
        super().__init__()
        self.units = units
        self.inputs = nn.Linear(inputs, 4 * units) if inputs else None
        self.recurrent = nn.Linear(units, 4 * units, bias=inputs == 0)
        self.peepholes = nn.Parameter(torch.empty(3, units).uniform_(-0.1, 0.1)) if peepholes else None
        if init == "original":
            for p in (self.recurrent.weight, *(() if self.inputs is None else (self.inputs.weight,))):
                nn.init.uniform_(p, -0.01, 0.01)
        elif init == "keras":
            nn.init.orthogonal_(self.recurrent.weight)
            if self.inputs is not None:
                nn.init.xavier_uniform_(self.inputs.weight)
        else:
            raise ValueError(f"`init` must be original or keras, got {init!r}")
        for layer in (self.inputs, self.recurrent):
            if layer is not None and layer.bias is not None:
                nn.init.zeros_(layer.bias)
                if init == "keras":
                    nn.init.ones_(layer.bias[units:2 * units])

    def forward(self, xs, state, steps):
        h, c = state
        projected = self.inputs(xs) if self.inputs is not None else None
        outputs = []
        for t in range(steps):
            z = self.recurrent(h) if projected is None else self.recurrent(h) + projected[:, t]
            zi, zf, zg, zo = z.chunk(4, dim=-1)
            if self.peepholes is not None:
                zi, zf = zi + self.peepholes[0] * c, zf + self.peepholes[1] * c
            i, f = torch.sigmoid(zi), torch.sigmoid(zf)
            c = f * c + i * torch.tanh(zg)
            zo = zo if self.peepholes is None else zo + self.peepholes[2] * c
            h = torch.sigmoid(zo) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h, c)


class Composite(nn.Module):
    def __init__(self, frame_dim, units, conditional_reconstruction, conditional_future, peepholes=True,
                 init="original"):
        super().__init__()
        self.encoder = PeepholeLSTM(frame_dim, units, peepholes, init)
        self.reconstruction = PeepholeLSTM(frame_dim if conditional_reconstruction else 0, units, peepholes, init)
        self.future = PeepholeLSTM(frame_dim if conditional_future else 0, units, peepholes, init)
        self.reconstruction_readout = nn.Linear(units, frame_dim)
        self.future_readout = nn.Linear(units, frame_dim)
        if init == "keras":  # Keras's Dense: Glorot-uniform weights, zero bias
            for readout in (self.reconstruction_readout, self.future_readout):
                nn.init.xavier_uniform_(readout.weight)
                nn.init.zeros_(readout.bias)
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


def train_step(model, optimizer, inputs, futures, bfloat16=False, clipnorm=0.0):
    """One Adam step on the summed per-pixel sigmoid cross-entropy of both decoders, averaged over the batch; returns
    the loss (waiting for the device)."""
    with torch.autocast(inputs.device.type, dtype=torch.bfloat16, enabled=bfloat16):
        rec, fut, targets = model(inputs, futures)
    loss_fn = nn.BCEWithLogitsLoss(reduction="sum")
    loss = (loss_fn(rec.float(), targets) + loss_fn(fut.float(), futures)) / len(inputs)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clipnorm:
        nn.utils.clip_grad_norm_(model.parameters(), clipnorm)
    optimizer.step()
    return float(loss.detach())


def matmul_peak(dtype, n=2048, seconds=2.0):
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.matmul(a, b)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.matmul(a, b)
        calls += 1
    return round(2 * n ** 3 * calls / (time.perf_counter() - start) / 1e9, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    parser.add_argument("--peepholes", type=int, default=1, help="1: peephole connections (the original's); 0: none")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda: the step rate of a GPU")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Composite(args.frame_dim, args.units, args.conditional_reconstruction, args.conditional_future,
                      peepholes=bool(args.peepholes)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    batches = [(torch.rand(args.batch_size, args.input_frames, args.frame_dim).round().to(device),
                torch.rand(args.batch_size, args.future_frames, args.frame_dim).round().to(device)) for _ in range(2)]

    def step(k):
        return train_step(model, optimizer, *batches[k % 2], args.bfloat16, args.clipnorm)

    for k in range(2):  # warm-up
        step(k)
    start = time.perf_counter()
    for k in range(args.steps):
        step(k)  # float(loss) waits for the device
    elapsed = time.perf_counter() - start
    record = {"torch": torch.__version__, "device": str(device), "threads": torch.get_num_threads(),
              "bfloat16": args.bfloat16, "steps_per_second": round(args.steps / elapsed, 3),
              "examples_per_second": round(args.steps * args.batch_size / elapsed, 1)}
    if device.type == "cpu":
        record["matmul_peak_gflops"] = {"float32": matmul_peak(torch.float32), "bfloat16": matmul_peak(torch.bfloat16)}
    print(json.dumps(record))


if __name__ == "__main__":
    main()
