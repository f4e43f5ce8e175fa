"""A whole LSTM sequence as one differentiable operation with a hand-written backward pass (keras.ops only).

Autodiff of an unrolled LSTM computes the recurrent kernel's gradient as one small product per step,
h(t-1)^T . dz(t) with only `batch` rows, and then adds the T results: T weight-sized temporaries and T
memory-bound products. Here the backward pass keeps every step's gate gradient and computes the kernel gradient as
one product over all steps, H^T . dZ with batch x T rows, which runs near the matmul peak; bias and peephole
gradients are one reduction each. The forward pass is the same arithmetic as `LSTMCell.step`.

`compute_dtype` bfloat16 casts the operands of the recurrent products (forward and backward) to bfloat16 and their
results back to float32; the states, the gate arithmetic and every gradient leaving this function are float32.
"""
import contextlib

from keras import ops


def matmul(a, b, compute_dtype="float32"):
    """a @ b with the operands in `compute_dtype` (`b` may already be), the result in float32."""
    if compute_dtype == "float32":
        return ops.matmul(a, b)
    return ops.cast(ops.matmul(ops.cast(a, compute_dtype), ops.cast(b, compute_dtype)), "float32")


# How the two recurrent products of a step are formed; which is fastest depends on the CPU and its kernel library
# (docs/speed.md, "Why the code chooses as it does"). The trainer times them at start-up
# (keras_vidrep.training.autotune) and sets the choice per (units, compute dtype); every formulation computes the
# same dot products (results equal to float32 rounding).
FORWARD = ("plain", "transposed")  # z = h . K, or (K^T . h^T)^T with K^T materialised once per sequence
BACKWARD = ("materialized", "folded", "transposed")  # dh = dz . K^T: K^T materialised, left to the optimizer
#                                                     (MatMul transpose_b), or (K . dz^T)^T
DEFAULT = ("plain", "materialized")
_choices = {}


def formulation(units, compute_dtype="float32"):
    """(forward, backward) formulation of the recurrent products of `units` units."""
    return _choices.get((int(units), compute_dtype), DEFAULT)


def chosen():
    """{(units, compute dtype): (forward, backward)} of every formulation chosen so far."""
    return dict(_choices)


def set_formulation(units, compute_dtype, forward, backward):
    """Chooses the formulation of the recurrent products of `units` units (None: back to the default)."""
    if forward is None:
        _choices.pop((int(units), compute_dtype), None)
        return
    if forward not in FORWARD or backward not in BACKWARD:
        raise ValueError(f"formulation must be one of {FORWARD} and one of {BACKWARD}, got {forward!r}, {backward!r}")
    _choices[(int(units), compute_dtype)] = (forward, backward)


def forward_operand(kernel, name):
    """What `forward_product` multiplies by: the kernel (units, 4 units), or its materialised transpose."""
    return kernel if name == "plain" else _transposed(kernel, always=True)


def forward_product(h, operand, name, compute_dtype="float32"):
    """h . K (batch, 4 units) in formulation `name`, from `forward_operand`."""
    if name == "plain":
        return matmul(h, operand, compute_dtype)
    return ops.transpose(matmul(operand, ops.transpose(h), compute_dtype))


def backward_operand(kernel, name):
    """What `backward_product` multiplies by."""
    if name == "materialized":
        return _transposed(kernel)
    return ops.transpose(kernel) if name == "folded" else kernel


def backward_product(dz, operand, name, compute_dtype="float32"):
    """dz . K^T (batch, units) in formulation `name`, from `backward_operand`."""
    if name == "transposed":
        return ops.transpose(matmul(operand, ops.transpose(dz), compute_dtype))
    return matmul(dz, operand, compute_dtype)


def _transposed(kernel, always=False):
    """kernel^T, materialised for float32. TensorFlow's graph optimizer folds a plain 2-D transpose into the product
    (MatMul transpose_b), whose float32 CPU kernel can run far slower than the product with a materialised transpose
    (docs/speed.md); a 3-D transpose is not folded. In bfloat16 the folded product is the faster one, so it is left
    to the optimizer (unless `always`)."""
    if kernel.dtype != "float32" and not always:
        return ops.transpose(kernel)
    rows, cols = kernel.shape
    return ops.reshape(ops.transpose(ops.reshape(kernel, (rows, cols, 1)), (1, 0, 2)), (cols, rows))


def lstm_sequence(projected, h0, c0, kernel, bias, peepholes, steps, compute_dtype="float32"):
    """Runs `steps` LSTM steps from (h0, c0).

    Args:
      projected: the input contribution to the gates for every step, (batch, steps, 4 * units), or None for a cell
        without input.
      h0, c0: initial state, each (batch, units).
      kernel: the recurrent kernel (units, 4 * units); bias: (4 * units,).
      peepholes: None, or (input, forget, output) peephole vectors, each (units,).
      steps: a Python int.
      compute_dtype: `float32` or `bfloat16` for the recurrent products.

    Returns:
      (hidden states (batch, steps, units), final h, final c).
    """
    args = [h0, c0, kernel, bias] + ([projected] if projected is not None else []) + list(peepholes or [])
    with_input, with_peepholes = projected is not None, peepholes is not None
    hs, c = _fused(with_input, with_peepholes, steps, compute_dtype)(*args)
    return hs, hs[:, -1], c


@contextlib.contextmanager
def autodiff_only():
    """Within it, `lstm_sequence` is built without its hand-written backward pass: the graph holds the forward
    operations only (differentiated in this process, autodiff gives the same gradients to float rounding). For
    graphs saved to be loaded elsewhere for inference (SavedModel export), which would otherwise trace and save
    every custom gradient function as well: about a third of an export's time."""
    global _autodiff_only
    before, _autodiff_only = _autodiff_only, True
    try:
        yield
    finally:
        _autodiff_only = before


_autodiff_only = False


def _fused(with_input, with_peepholes, steps, compute_dtype):
    def run(h0, c0, kernel, bias, *rest):
        pi, pf, po = rest[-3:] if with_peepholes else (None, None, None)
        inputs = ops.unstack(rest[0], axis=1) if with_input else None  # one operation, not one slice a step
        h, c = h0, c0
        hs, cs, tanh_cs, gates = [], [c0], [], []
        kernel_c = ops.cast(kernel, compute_dtype)  # cast once, not once a step
        forward, backward = formulation(kernel.shape[0], compute_dtype)
        kernel_f = forward_operand(kernel_c, forward)
        for t in range(steps):
            z = forward_product(h, kernel_f, forward, compute_dtype) + bias  # in `LSTMCell.step`'s order
            zi, zf, zg, zo = ops.split(z + inputs[t] if with_input else z, 4, axis=-1)
            if with_peepholes:
                zi, zf = zi + pi * c, zf + pf * c
            i, f, g = ops.sigmoid(zi), ops.sigmoid(zf), ops.tanh(zg)
            c = f * c + i * g
            o = ops.sigmoid(zo + po * c if with_peepholes else zo)
            tanh_c = ops.tanh(c)
            h = o * tanh_c
            hs.append(h)
            cs.append(c)
            tanh_cs.append(tanh_c)
            gates.append((i, f, g, o))
        hidden = ops.stack(hs, axis=1)

        def grad(*upstream, **kwargs):
            upstream = kwargs.get("upstream", upstream)
            d_hidden, d_c_last = upstream
            # Everything but the recurrence through dh and dc is computed for all steps at once, (batch, steps, .):
            #   dc += dh * dc_dh;  dz = [dc, dc, dc, dh] * dz_d;  dh = dz . kernel^T;  dc *= dc_carry
            # where dz_d holds d(zi, zf, zg)/dc and d(zo)/dh, and dc_carry is f (+ the peepholes' paths).
            i, f, g, o = (ops.stack(gate, axis=1) for gate in zip(*gates))
            c_prev, c_new, tanh_c = ops.stack(cs[:-1], axis=1), ops.stack(cs[1:], axis=1), ops.stack(tanh_cs, axis=1)
            dzo_dh = tanh_c * o * (1.0 - o)
            dzi_dc, dzf_dc, dzg_dc = g * i * (1.0 - i), c_prev * f * (1.0 - f), i * (1.0 - g * g)
            dc_dh = o * (1.0 - tanh_c * tanh_c)
            dc_carry = f
            if with_peepholes:
                dc_dh = dc_dh + dzo_dh * po
                dc_carry = dc_carry + dzi_dc * pi + dzf_dc * pf
            dz_d = ops.unstack(ops.concatenate([dzi_dc, dzf_dc, dzg_dc, dzo_dh], axis=-1), axis=1)
            dc_dh, dc_carry = ops.unstack(dc_dh, axis=1), ops.unstack(dc_carry, axis=1)
            d_hs = ops.unstack(d_hidden, axis=1) if d_hidden is not None else None
            dh = ops.zeros_like(h0)
            dc = ops.zeros_like(c0) if d_c_last is None else d_c_last
            dzs = [None] * steps
            kernel_b = backward_operand(kernel_c, backward)
            for t in reversed(range(steps)):
                if d_hs is not None:
                    dh = dh + d_hs[t]
                dc = dc + dh * dc_dh[t]
                dzs[t] = ops.concatenate([dc, dc, dc, dh], axis=-1) * dz_d[t]
                dh = backward_product(dzs[t], kernel_b, backward, compute_dtype)
                dc = dc * dc_carry[t]
            d_z = ops.stack(dzs, axis=1)  # (batch, steps, 4 * units)
            units = ops.shape(h0)[-1]
            previous_h = ops.reshape(ops.stack([h0] + hs[:-1], axis=1), (-1, units))
            d_kernel = matmul(ops.transpose(previous_h), ops.reshape(d_z, (-1, 4 * units)), compute_dtype)
            grads = [dh, dc, d_kernel, ops.sum(d_z, axis=(0, 1))]
            if with_input:
                grads.append(d_z)
            if with_peepholes:
                dzi_all, dzf_all, _, dzo_all = ops.split(d_z, 4, axis=-1)
                grads += [ops.sum(dzi_all * c_prev, axis=(0, 1)), ops.sum(dzf_all * c_prev, axis=(0, 1)),
                          ops.sum(dzo_all * c_new, axis=(0, 1))]
            return tuple(grads)

        return (hidden, c), grad

    if _autodiff_only:
        return lambda *args: run(*args)[0]
    return ops.custom_gradient(run)
