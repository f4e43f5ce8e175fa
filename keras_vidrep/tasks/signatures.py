"""The SavedModel signatures of the sequence and frame models (composite, frame VAE; the latent LSTM uses both kinds),
written with keras.ops: the task's `export_endpoints` return them, `keras_vidrep.export` writes them."""
import numpy as np
from keras import ops

from keras_vidrep.tasks import base


def composite_endpoints(model, input_frames, frame_shape, standardization=None):
    """Signatures of a CompositeModel; `frames` is (batch, input_frames, *frame_shape) in [0, 1] (or feature
    vectors in their own units: with `standardization` (shift, scale) the signatures standardize the frames they
    read and return frames in the original units).

      * `encode` → `representation` (every layer's final h then c, concatenated; or the bottleneck code) and
        `h_<l>`, `c_<l>` per layer (the encoder's final states);
      * `reconstruct` → `reconstruction` (batch, input_frames, *frame_shape), put back into input order;
      * `predict_future` → `future` (batch, steps, *frame_shape), free-running; `steps` is an int32 scalar, by
        default the trained length when the loaded function is called (the serving signature needs it), and any
        length runs one in-graph loop.
    Sigmoid models also return the logits (`reconstruction_logits`, `future_logits`), so that a loss computed
    from the export equals the training loss even where the sigmoid rounds to 0 or 1.
    """
    frame_dim = int(np.prod(frame_shape))
    inputs = [("frames", (None, input_frames, *frame_shape), "float32")]

    shift, scale = (np.zeros(frame_dim, np.float32), np.ones(frame_dim, np.float32)) if standardization is None \
        else (np.reshape(v, frame_dim) for v in standardization)

    def flat(frames):
        x = ops.reshape(frames, (-1, input_frames, frame_dim))
        return x if standardization is None else (x - shift) / scale

    def framed(x):
        return ops.reshape(x, (ops.shape(x)[0], ops.shape(x)[1], *frame_shape))

    def outputs(name, logits):
        frames = model.activate(logits)
        out = {name: framed(frames if standardization is None else frames * scale + shift)}
        if model.output_kind == "sigmoid":
            out[f"{name}_logits"] = framed(logits)
        return out

    def encode(frames):
        states = model.encoder_states(flat(frames))
        out = {"representation": model.code(None, states)}
        for i, (h, c) in enumerate(states):
            out[f"h_{i}"], out[f"c_{i}"] = h, c
        return out

    endpoints = [base.Endpoint("encode", encode, inputs)]
    if model.reconstructs:
        endpoints.append(base.Endpoint("reconstruct", lambda frames: outputs("reconstruction", ops.flip(
            model.reconstruction_logits(flat(frames)), axis=1)), inputs))
    if model.predicts:
        steps = ("steps", (), "int32", model.future_frames)
        endpoints.append(base.Endpoint("predict_future", lambda frames, steps: outputs(
            "future", model.future_logits(flat(frames), steps)), inputs + [steps]))
    return endpoints


def vae_endpoints(model, frame_shape):
    """Signatures of a ConvVAE; `frames` is (batch, *frame_shape) in [0, 1], `codes` (batch, latent_dim).

      * `encode` → `mean`, `log_variance` of q(z | frames);
      * `decode` → `frames` (and `logits` for a Bernoulli decoder);
      * `reconstruct` → `reconstruction` of frames from their code means;
      * `sample` (`count`, `seed` int32 scalars) → `frames`, `codes`: `count` draws from the prior, the same for the
        same seed.
    """
    image_shape = tuple(model.frame_shape)

    def images(frames):
        return ops.reshape(frames, (-1, *image_shape))

    def framed(x):
        return ops.reshape(x, (-1, *frame_shape))

    def decode(codes):
        logits = model.decode_logits(codes)
        out = {"frames": framed(model.activate(logits))}
        if model.output_kind == "sigmoid":
            out["logits"] = framed(logits)
        return out

    def encode(frames):
        mean, log_variance = model.encode(images(frames))
        return {"mean": mean, "log_variance": log_variance}

    def sample(count, seed):
        frames, codes = model.sample(count, seed)
        return {"frames": framed(frames), "codes": codes}

    frames_in = [("frames", (None, *frame_shape), "float32")]
    return [base.Endpoint("encode", encode, frames_in),
            base.Endpoint("decode", decode, [("codes", (None, model.latent_dim), "float32")]),
            base.Endpoint("reconstruct", lambda frames: {"reconstruction": framed(model.decode(
                model.encode(images(frames))[0]))}, frames_in),
            base.Endpoint("sample", sample, [("count", (), "int32"), ("seed", (), "int32")])]
