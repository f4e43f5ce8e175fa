"""Dense LSTM layers written with keras.ops only (they run on any Keras backend).

Gate order in the fused kernels is (input, forget, candidate, output). With peepholes, the input and forget gates see
the previous cell state c(t-1) and the output gate sees the new cell state c(t).
"""
import keras
from keras import ops

from keras_vidrep.models.fused_lstm import lstm_sequence, matmul

INITIALIZERS = ("keras", "original")
IMPLEMENTATIONS = ("fused", "unrolled")


def _initializers(kind, seed):
    """(kernel, recurrent, bias) initializers for `kind`; seeds are offset so each weight differs. Peepholes are
    U(+-0.1) for both kinds."""
    if kind == "keras":  # Keras's LSTM defaults, forget bias 1 (Jozefowicz et al. 2015)
        return (keras.initializers.GlorotUniform(seed=seed), keras.initializers.Orthogonal(seed=_offset(seed, 1)),
                "zeros")
    if kind == "original":  # uniform +-0.01 weights, zero biases
        return (keras.initializers.RandomUniform(-0.01, 0.01, seed=seed),
                keras.initializers.RandomUniform(-0.01, 0.01, seed=_offset(seed, 1)), "zeros")
    raise ValueError(f"`initializer` must be one of {', '.join(INITIALIZERS)}, got {kind!r}")


def _offset(seed, k):
    return None if seed is None else seed + k


@keras.saving.register_keras_serializable(package="keras_vidrep")
class LSTMCell(keras.layers.Layer):
    """One LSTM layer, advanced one step at a time.

    The input projection is applied separately (`project`), so a caller that knows all inputs in advance can
    project a whole sequence with one matrix product. A cell built with input dimension 0 has no input kernel
    (an unconditioned decoder).

    Args:
      units: state size.
      peepholes: add peephole connections from the cell state to the gates.
      initializer: `keras` (Glorot / orthogonal, forget-gate bias 1) or `original` (U(+-0.01), biases 0).
      seed: seed for the initializers.
      implementation: how `sequence` runs a known input sequence: `fused` (one operation with a hand-written
        backward pass, see `fused_lstm`) or `unrolled` (`step` per step, differentiated by the backend); the two
        give the same outputs and gradients up to float rounding.

    Under a mixed dtype policy (e.g. Keras `mixed_bfloat16`) the matrix products run in the policy's compute dtype
    and everything else (weights, states, gate arithmetic) in float32.
    """

    def __init__(self, units, peepholes=False, initializer="keras", seed=None, implementation="fused", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"`units` must be a positive integer, got {units!r}")
        _initializers(initializer, seed)  # validates `initializer`
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"`implementation` must be one of {', '.join(IMPLEMENTATIONS)}, got {implementation!r}")
        self.units = units
        self.peepholes = bool(peepholes)
        self.initializer = initializer
        self.seed = seed
        self.implementation = implementation

    def build(self, input_shape):
        input_dim = int(input_shape[-1])
        kernel_init, recurrent_init, bias_init = _initializers(self.initializer, self.seed)
        self.input_dim = input_dim
        self.kernel = (self.add_weight(name="kernel", shape=(input_dim, 4 * self.units), initializer=kernel_init)
                       if input_dim else None)
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(self.units, 4 * self.units),
                                                initializer=recurrent_init)
        if self.initializer == "keras":
            bias_init = _unit_forget_bias(self.units)
        self.bias = self.add_weight(name="bias", shape=(4 * self.units,), initializer=bias_init)
        if self.peepholes:  # each vector drawn on its own (one seeded initializer would give three equal ones)
            for k, gate in enumerate(("input", "forget", "output")):
                setattr(self, f"peephole_{gate}", self.add_weight(
                    name=f"peephole_{gate}", shape=(self.units,),
                    initializer=keras.initializers.RandomUniform(-0.1, 0.1, seed=_offset(self.seed, 2 + k))))

    def project(self, inputs):
        """Input contribution to the gates, (..., 4 * units); works on one step or a whole sequence."""
        return self._matmul(inputs, self.kernel)

    def _matmul(self, a, b):
        return matmul(a, b, self.compute_dtype)

    def sequence(self, projected_inputs, state, steps):
        """`steps` steps from `state` = (h, c) with known inputs (`project(x)` of the whole sequence, (batch, steps,
        4 * units), or None for a cell without input).

        Returns:
          (hidden states (batch, steps, units), (final h, final c)).
        """
        if self.implementation == "fused":  # weights passed as values read here (`copy`), not as variables
            peepholes = ([ops.copy(v) for v in (self.peephole_input, self.peephole_forget, self.peephole_output)]
                         if self.peepholes else None)
            hs, h, c = lstm_sequence(projected_inputs, state[0], state[1], ops.copy(self.recurrent_kernel),
                                     ops.copy(self.bias), peepholes, steps, self.compute_dtype)
            return hs, (h, c)
        outputs = []
        for t in range(steps):
            state = self.step(projected_inputs[:, t] if projected_inputs is not None else None, state)
            outputs.append(state[0])
        return ops.stack(outputs, axis=1), state

    def call(self, projected_inputs, state):
        return self.step(projected_inputs, state)

    def step(self, projected_inputs, state):
        """One step (what `call` does, without Keras's per-call bookkeeping, for use inside unrolled loops).

        Args:
          projected_inputs: `project(x_t)`, (batch, 4 * units), or None for a cell without input.
          state: (h, c) from the previous step, each (batch, units).

        Returns:
          The new (h, c).
        """
        h, c = state
        z = self._matmul(h, self.recurrent_kernel) + self.bias
        if projected_inputs is not None:
            z = z + projected_inputs
        zi, zf, zg, zo = ops.split(z, 4, axis=-1)
        if self.peepholes:
            zi = zi + self.peephole_input * c
            zf = zf + self.peephole_forget * c
        c_new = ops.sigmoid(zf) * c + ops.sigmoid(zi) * ops.tanh(zg)
        if self.peepholes:
            zo = zo + self.peephole_output * c_new
        h_new = ops.sigmoid(zo) * ops.tanh(c_new)
        return h_new, c_new

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, peepholes=self.peepholes, initializer=self.initializer, seed=self.seed,
                      implementation=self.implementation)
        return config


def _unit_forget_bias(units):
    def init(shape, dtype=None):
        return ops.concatenate([ops.zeros((units,), dtype), ops.ones((units,), dtype),
                                ops.zeros((2 * units,), dtype)])
    return init


@keras.saving.register_keras_serializable(package="keras_vidrep")
class LSTMStack(keras.layers.Layer):
    """Stacked LSTM cells; layer l reads layer l-1's hidden state.

    Args:
      units: a sequence of state sizes, one per layer.
      peepholes, initializer, seed, implementation: passed to each `LSTMCell`.
    """

    def __init__(self, units, peepholes=False, initializer="keras", seed=None, implementation="fused", **kwargs):
        super().__init__(**kwargs)
        units = [int(u) for u in units]
        if not units:
            raise ValueError("`units` must name at least one layer, got []")
        self.units = units
        self.peepholes = bool(peepholes)
        self.initializer = initializer
        self.seed = seed
        self.implementation = implementation
        # One attribute per cell (not a list), so that tf.train.Checkpoint tracks every cell's weights.
        for i, u in enumerate(units):
            setattr(self, f"layer_{i}", LSTMCell(u, peepholes, initializer, seed=_offset(seed, 10 * i),
                                                 implementation=implementation, name=f"layer_{i}"))

    @property
    def cells(self):
        return [getattr(self, f"layer_{i}") for i in range(len(self.units))]

    def build(self, input_shape):
        dim = int(input_shape[-1])
        for cell in self.cells:
            cell.build((None, dim))
            dim = cell.units

    def zero_state(self, batch_size, dtype="float32"):
        return [(ops.zeros((batch_size, u), dtype), ops.zeros((batch_size, u), dtype)) for u in self.units]

    def step(self, inputs, states):
        """One time step through all layers. `inputs` (batch, input_dim) or None; returns (top h, new states)."""
        new_states = []
        x = inputs
        for cell, state in zip(self.cells, states):
            projected = cell.project(x) if x is not None and cell.kernel is not None else None
            h, c = cell.step(projected, state)
            new_states.append((h, c))
            x = h
        return x, new_states

    def call(self, sequence, states):
        return self.run(sequence, states)

    def run(self, sequence, states, steps=None):
        """Runs a whole known input sequence (batch, time, input_dim) from `states`; `sequence` None (with `steps`)
        runs a stack whose first layer has no input.

        Layer by layer: each layer's input projection for all steps is one matrix product, and its recurrence one
        `LSTMCell.sequence`.

        Returns:
          (hidden states of the top layer (batch, time, units[-1]), final states per layer).
        """
        steps = int(sequence.shape[1]) if sequence is not None else int(steps)
        xs = sequence
        final = []
        for cell, state in zip(self.cells, states):
            projected = cell.project(xs) if xs is not None and cell.kernel is not None else None
            xs, state = cell.sequence(projected, state, steps)
            final.append(state)
        return xs, final

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, peepholes=self.peepholes, initializer=self.initializer, seed=self.seed,
                      implementation=self.implementation)
        return config
