"""vidrep-viz: pictures of a trained model on chosen sequences (maps of the codes of a vidrep-embed output:
`keras_vidrep.analysis.code_maps`).

For each chosen sequence (every picture labelled: truth | model, input | future, frame numbers):
  sequence_<i>.png  ground truth (input, then true future) over the model (reconstruction, then prediction);
  sequence_<i>.gif  animation: ground truth left, the model right;
  rollout_<i>.png / .gif   (with `rollout`=N) a free-running prediction of N frames beside the truth, which ends
                    after the model's trained future length (a red line and `no truth` mark where).
"""
import os

from keras_vidrep import pictures
from keras_vidrep.analysis import predictors
from keras_vidrep.analysis.evaluate import open_sequences
from keras_vidrep.errors import ConfigError


def draw(options):
    """Draws the sequences `options` (a `VizOptions` without `codes`: see `code_maps`) asks for; returns the paths
    written."""
    indices = options.indices()
    predictor = predictors.predictor(options.model_dir, options.saved_model, options.checkpoint)
    t_in, t_out = predictor.input_frames, predictor.future_frames or 10
    if len(predictor.frame_shape) == 1:
        raise ConfigError(f"the model reads feature vectors {predictor.frame_shape}, not images: nothing to draw")
    data = open_sequences(options.dataset, max(indices) + 1, t_in + t_out, predictor.frame_shape,
                          options.data_path, options.seed, options.num_digits, predictor.config).take(indices)
    inputs, futures = data[:, :t_in], data[:, t_in:t_in + t_out]
    # The strips take the reconstruction in the model's reversed order, as training summaries do.
    recon = predictor.reconstruct(inputs)[0][:, ::-1] if predictor.reconstructs else [None] * len(data)
    pred = predictor.predict(inputs, t_out)[0] if predictor.predicts else [None] * len(data)
    rollout = predictor.predict(inputs, options.rollout)[0] if options.rollout and predictor.predicts else None
    os.makedirs(options.out_dir, exist_ok=True)
    written = []
    for k, index in enumerate(indices):
        out = os.path.join(options.out_dir, f"{{}}_{index}.{{}}")
        for name, shown in (("sequence", pred), ("rollout", rollout)):
            if shown is None:
                continue
            written.append(pictures.save_png(pictures.comparison_strip(inputs[k], futures[k], recon[k], shown[k]),
                                             out.format(name, "png")))
            written.append(pictures.save_gif(pictures.side_by_side_frames(inputs[k], futures[k], recon[k],
                                                                          shown[k]),
                                             out.format(name, "gif"), options.fps))
    return written
