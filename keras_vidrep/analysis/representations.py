"""The representation of a sequence that each model family learns, as a fixed-size vector to probe.

  * composite model: `code` — the encoder's final h and c of every layer (or the bottleneck code); `h`, `c` — only
    the h or the c of every layer; `h1`, `c1`, `h2`, ... — one layer's;
  * latent LSTM: `state` — its final h and c after reading the input frames' code means; `h`, `c` likewise;
    `code` — its VAE's code mean of the last input frame (what the LSTM adds is the difference);
  * frame VAE: `code` — the code mean of the last input frame; `codes` — of every input frame, concatenated;
  * LSTM classifier (trained on labels: the supervised upper bound): `state` — its encoder's final h and c of every
    layer; `h`, `c`, `h1`, ... likewise.
"""
import numpy as np
from keras import ops

from keras_vidrep.errors import ConfigError


def family(model):
    """`composite`, `latent`, `vae` or `classifier`: how `model` represents a sequence."""
    if hasattr(model, "encoder_states"):
        return "composite"
    if hasattr(model, "step_logits"):
        return "classifier"
    if hasattr(model, "predict_codes"):
        return "latent"
    if hasattr(model, "encode") and hasattr(model, "latent_dim"):
        return "vae"
    raise ConfigError(f"no sequence representation is defined for a {type(model).__name__}")


def names(model):
    """The representations `model` offers, the default first."""
    kind = family(model)
    if kind in ("composite", "classifier"):
        layers = range(1, len(model.units) + 1)
        first = "code" if kind == "composite" else "state"
        return [first, "h", "c"] + [f"{part}{k}" for k in layers for part in "hc"] * (len(model.units) > 1)
    if kind == "latent":
        return ["state", "h", "c", "code"]
    return ["code", "codes"]


def check(model, name):
    if name not in names(model):
        raise ConfigError(f"`representation` must be one of {', '.join(names(model))} for a {family(model)} "
                          f"model, got {name!r}")


def _states(states, name):
    """Concatenates the parts of [(h, c) per layer] that `name` selects: `state` (every layer's h then c), `h`,
    `c`, or one layer's (`h2`, `c1`, ...)."""
    if name == "state":
        return ops.concatenate([t for h, c in states for t in (h, c)], axis=-1)
    part, layer = name[0], name[1:]
    chosen = states if not layer else [states[int(layer) - 1]]
    return ops.concatenate([h if part == "h" else c for h, c in chosen], axis=-1)


def encode(model, sequences, name):
    """The representation `name` of `sequences` (n, T, H, W[, C]) in [0, 1]: float32 (n, dim)."""
    kind = family(model)
    n, steps = sequences.shape[:2]
    if kind == "composite":
        flat = ops.convert_to_tensor(sequences.reshape(n, steps, -1))
        if name == "code":
            return np.asarray(model.code(flat))
        return np.asarray(_states(model.encoder_states(flat), name))
    if kind == "classifier":
        flat = ops.convert_to_tensor(sequences.reshape(n, steps, -1))
        _, states = model.encoder.run(flat, model.encoder.zero_state(n, flat.dtype))
        return np.asarray(_states(states, name))
    vae = model.vae if kind == "latent" else model
    frames = sequences.reshape(n * steps, *vae.frame_shape)
    means = np.asarray(vae.encode(ops.convert_to_tensor(frames))[0]).reshape(n, steps, -1)
    if name == "code":
        return means[:, -1]
    if name == "codes":
        return means.reshape(n, -1)
    _, states = model.lstm.run(ops.convert_to_tensor(means), model.lstm.zero_state(n, "float32"))
    return np.asarray(_states(states, name))


def encode_batches(model, read, count, name, batch_size=256):
    """`encode` over sequences `read(ids)` in batches: (count, dim)."""
    parts = [encode(model, read(np.arange(start, min(count, start + batch_size))), name)
             for start in range(0, count, batch_size)]
    return np.concatenate(parts).astype(np.float32)
