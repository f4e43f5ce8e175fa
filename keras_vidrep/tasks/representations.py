"""The fixed-size representations of a sequence that each model family learns (what vidrep-probe probes); each
task answers with its own (`Task.representations()`, `Task.represent()`), using the functions here.

  * composite model: `code` — the encoder's final h and c of every layer (or the bottleneck code); `h`, `c` — only
    the h or the c of every layer; `h1`, `c1`, `h2`, ... — one layer's;
  * latent LSTM: `state` — its final h and c after reading the input frames' code means; `h`, `c` likewise;
    `code` — its VAE's code mean of the last input frame (what the LSTM adds is the difference);
  * frame VAE: `code` — the code mean of the last input frame; `codes` — of every input frame, concatenated;
  * LSTM classifier (trained on labels: the supervised upper bound): `state` — its encoder's final h and c of every
    layer; `h`, `c`, `h1`, ... likewise.

Sequences are (n, T, H, W[, C]) in [0, 1] (or (n, T, D) feature vectors); every representation is float32 (n, dim).
"""
import numpy as np
from keras import ops

VAE = ("code", "codes")
LATENT = ("state", "h", "c", "code")


def layer_names(first, layers):
    """The representations of an LSTM stack of `layers` layers: `first` (all of it), `h`, `c`, and with several
    layers each layer's `h1`, `c1`, ..."""
    return [first, "h", "c"] + [f"{part}{k}" for k in range(1, layers + 1) for part in "hc"] * (layers > 1)


def _states(states, name):
    """Concatenates the parts of [(h, c) per layer] that `name` selects: `state` (every layer's h then c), `h`,
    `c`, or one layer's (`h2`, `c1`, ...)."""
    if name == "state":
        return ops.concatenate([t for h, c in states for t in (h, c)], axis=-1)
    part, layer = name[0], name[1:]
    chosen = states if not layer else [states[int(layer) - 1]]
    return ops.concatenate([h if part == "h" else c for h, c in chosen], axis=-1)


def _flat(sequences):
    n, steps = sequences.shape[:2]
    return ops.convert_to_tensor(np.asarray(sequences).reshape(n, steps, -1))


def composite(model, sequences, name):
    """A composite model's representation `name` (see `layer_names("code", ...)`)."""
    flat = _flat(sequences)
    if name == "code":
        return np.asarray(model.code(flat))
    return np.asarray(_states(model.encoder_states(flat), name))


def classifier(model, sequences, name):
    """An LSTM classifier's representation `name` (see `layer_names("state", ...)`): its encoder's states."""
    flat = _flat(sequences)
    _, states = model.encoder.run(flat, model.encoder.zero_state(len(sequences), flat.dtype))
    return np.asarray(_states(states, name))


def _code_means(vae, sequences):
    n, steps = sequences.shape[:2]
    frames = np.asarray(sequences).reshape(n * steps, *vae.frame_shape)
    return np.asarray(vae.encode(ops.convert_to_tensor(frames))[0]).reshape(n, steps, -1)


def vae(model, sequences, name):
    """A frame VAE's representation `name` (one of VAE)."""
    means = _code_means(model, sequences)
    return means[:, -1] if name == "code" else means.reshape(len(means), -1)


def latent(model, sequences, name):
    """A latent LSTM's representation `name` (one of LATENT)."""
    means = _code_means(model.vae, sequences)
    if name == "code":
        return means[:, -1]
    _, states = model.lstm.run(ops.convert_to_tensor(means), model.lstm.zero_state(len(means), "float32"))
    return np.asarray(_states(states, name))
