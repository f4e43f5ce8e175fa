"""The options of the analysis commands (vidrep-probe, vidrep-fewlabel, vidrep-ablation), as dataclasses whose fields
are the commands' flags: plain Python, so that a command parses and checks its flags before TensorFlow loads."""
import dataclasses
from typing import Tuple

from keras_vidrep.errors import ConfigError
from keras_vidrep.settings import check_positive, setting

ALL_LABELS = 0  # labels per class meaning "the whole training part" (`all`)


@dataclasses.dataclass
class ProbeOptions:
    """What vidrep-probe is asked (the command's flags, of the same names)."""

    model_dir: str = setting("", "Model directory of a composite model, frame VAE or latent LSTM trained on "
                                 "bouncing_mnist, of an LSTM classifier of generated digits (the supervised upper "
                                 "bound), or of a composite model of feature windows.")
    checkpoint: str = setting("", "A checkpoint prefix instead of the latest.")
    representation: str = setting("", "What to probe (empty: the model's default): composite code, h, c, h1, c1, "
                                      "...; latent LSTM state, h, c, code; VAE code, codes; classifier state, h, c, "
                                      "h1, ...")
    labels_per_class: Tuple[str, ...] = setting(("1", "5", "10", "all"), "Labelled training sequences per class "
                                                "for the class factors (`all`: the whole training part).")
    seeds: Tuple[str, ...] = setting(("0", "1", "2"), "Probe seeds (labelled subsets).")
    factors: Tuple[str, ...] = setting((), "Probe only these factors (e.g. digit0_direction; empty: every factor).")
    random_controls: int = setting(3, "Untrained initialisations of the same architecture probed as controls.")
    supervised_dir: str = setting("", "Model directory of an LSTM classifier of the same generated digits trained "
                                      "on labels (e.g. --label=direction): its state is probed beside the controls, "
                                      "the upper bound.")
    train_sequences: int = setting(2000, "Labelled training sequences (training digits).")
    test_sequences: int = setting(1000, "Held-out sequences the probes are scored on (held-out digits).")
    num_digits: int = setting(1, "Digits per probe sequence (0: the run's).")
    input_frames: int = setting(0, "Frames the encoder reads (0: the run's; 10 for a frame VAE).")
    ahead: Tuple[str, ...] = setting(("5",), "Future positions probed, in frames after the last input frame.")
    speed_spread: float = setting(-1.0, "Each digit's speed drawn from step_length x [1 - spread, 1 + spread] (a "
                                        "speed to probe); -1: the run's own rules.")
    data_file: str = setting("", "Feature-window runs: the features file to probe (empty: the run's).")
    max_videos: int = setting(20, "Feature-window runs: videos probed (an even spread of the file's).")
    stride: int = setting(1, "Feature-window runs: probe every N-th window.")
    batch_size: int = setting(256, "Sequences encoded at a time.")
    out_dir: str = setting("", "Where the results go (empty: <model_dir>/probe).")
    projector_points: int = setting(1000, "Held-out sequences whose trained representation goes to a TensorBoard "
                                          "Projector log directory (<out_dir>/projector: factors as metadata, the "
                                          "last input frame as thumbnail); 0: none.")

    def validate(self):
        """ConfigError for the first option out of range; returns (labels per class, seeds, ahead) as numbers."""
        if not self.model_dir:
            raise ConfigError("`model_dir` is required")
        check_positive(self, ("train_sequences", "test_sequences", "batch_size"))
        if self.projector_points < 0:
            raise ConfigError(f"`projector_points` must be >= 0, got {self.projector_points}")
        if self.random_controls < 0 or self.num_digits < 0 or self.input_frames < 0:
            raise ConfigError("`random_controls`, `num_digits` and `input_frames` must be >= 0")
        labels = []
        for value in self.labels_per_class:
            if value == "all":
                labels.append(ALL_LABELS)
            elif value.isdigit() and int(value) > 0:
                labels.append(int(value))
            else:
                raise ConfigError(f"`labels_per_class` takes positive integers and `all`, got {value!r}")
        try:
            seeds, ahead = [int(s) for s in self.seeds], [int(a) for a in self.ahead]
        except ValueError as e:
            raise ConfigError(f"`seeds` and `ahead` take integers: {e}") from None
        return tuple(labels), seeds, ahead
