"""Per-example frame losses (keras.ops), reported the paper's way: summed over pixels, averaged over frames.

Each function returns one value per sequence, shape (batch,); the training loop averages over the global batch.
"""
from keras import ops


def bernoulli_nats(targets, logits):
    """Bernoulli cross-entropy in nats of each frame, summed over its pixels: (..., pixels) → (...).

    Computed from logits in the numerically stable form max(l, 0) - l*t + log(1 + exp(-|l|)).
    """
    per_pixel = ops.relu(logits) - logits * targets + ops.log1p(ops.exp(-ops.abs(logits)))
    return ops.sum(per_pixel, axis=-1)


def half_squared_error(targets, outputs):
    """0.5 * squared error of each frame, summed over its pixels: (..., pixels) → (...)."""
    return 0.5 * ops.sum(ops.square(outputs - targets), axis=-1)


def bernoulli_nats_per_frame(targets, logits):
    """Bernoulli cross-entropy in nats, summed over pixels and averaged over frames: (batch, frames, pixels) →
    (batch,)."""
    return ops.mean(bernoulli_nats(targets, logits), axis=-1)


def squared_error_per_frame(targets, outputs):
    """0.5 * squared error, summed over pixels and averaged over frames (real-valued data, linear output)."""
    return ops.mean(half_squared_error(targets, outputs), axis=-1)


def frame_loss(output, per_frame=False):
    """The loss for a model's `output` kind (`sigmoid` or `linear`), taking (targets, logits): per example
    (averaged over frames), or with `per_frame` one value per frame."""
    losses = ({"sigmoid": bernoulli_nats, "linear": half_squared_error} if per_frame else
              {"sigmoid": bernoulli_nats_per_frame, "linear": squared_error_per_frame})
    if output not in losses:
        raise ValueError(f"`output` must be one of {', '.join(losses)}, got {output!r}")
    return losses[output]


def composite_losses(model, inputs, futures, logits):
    """Per-example losses of a CompositeModel's `forward` logits: dict `reconstruction` / `future` → (batch,)."""
    loss = frame_loss(model.output_kind)
    out = {}
    if "reconstruction" in logits:
        out["reconstruction"] = loss(ops.flip(inputs, axis=1), logits["reconstruction"])
    if "future" in logits:
        out["future"] = loss(futures[:, :ops.shape(logits["future"])[1]], logits["future"])
    return out


def step_cross_entropy(step_logits, labels):
    """Cross-entropy at every step, averaged over the steps: (batch,)."""
    steps = ops.shape(step_logits)[1]
    targets = ops.repeat(ops.expand_dims(ops.cast(labels, "int32"), 1), steps, axis=1)
    log_probs = ops.log_softmax(step_logits, axis=-1)
    picked = ops.take_along_axis(log_probs, ops.expand_dims(targets, -1), axis=-1)[..., 0]
    return -ops.mean(picked, axis=1)
