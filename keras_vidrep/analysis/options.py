"""The options of the analysis commands (vidrep-probe, vidrep-fewlabel, vidrep-ablation), as dataclasses whose fields
are the commands' flags: plain Python, so that a command parses and checks its flags before TensorFlow loads."""
import dataclasses

from keras_vidrep.data.digits import SOURCES as DIGIT_SOURCES
from keras_vidrep.data.video_sequences import SEQUENCE_SETS
from keras_vidrep.errors import ConfigError
from keras_vidrep.settings import check_positive, check_required, setting

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
    labels_per_class: tuple[str, ...] = setting(("1", "5", "10", "all"), "Labelled training sequences per class "
                                                "for the class factors (`all`: the whole training part).")
    seeds: tuple[str, ...] = setting(("0", "1", "2"), "Probe seeds (labelled subsets).")
    factors: tuple[str, ...] = setting((), "Probe only these factors (e.g. digit0_direction; empty: every factor).")
    random_controls: int = setting(3, "Untrained initialisations of the same architecture probed as controls.")
    supervised_dir: str = setting("", "Model directory of an LSTM classifier of the same generated digits trained "
                                      "on labels (e.g. --label=direction): its state is probed beside the controls, "
                                      "the upper bound.")
    train_sequences: int = setting(2000, "Labelled training sequences (training digits).")
    test_sequences: int = setting(1000, "Held-out sequences the probes are scored on (held-out digits).")
    num_digits: int = setting(1, "Digits per probe sequence (0: the run's).")
    input_frames: int = setting(0, "Frames the encoder reads (0: the run's; 10 for a frame VAE).")
    ahead: tuple[str, ...] = setting(("5",), "Future positions probed, in frames after the last input frame.")
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
        check_required(self, ("model_dir",))
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


FEWLABEL_INITS = ("scratch", "finetune", "frozen")
FEWLABEL_LABELS = ("digit", "direction", "speed")


@dataclasses.dataclass
class FewLabelOptions:
    """What vidrep-fewlabel is asked (the command's flags, of the same names)."""

    out_dir: str = setting("runs/fewlabel", "Model directories, fewlabel.md and fewlabel.json go here.")
    labels_per_class: tuple[str, ...] = setting(("1", "5", "10"), "Labelled training sequences per class; `all`: a "
                                                "fresh labelled sequence every step (the supervised upper bound).")
    seeds: tuple[str, ...] = setting(("0", "1", "2"), "Seeds (labelled subset, initialisation, data order).")
    units: tuple[str, ...] = setting(("256",), "LSTM units (encoder and classifier).")
    pretrain_steps: int = setting(2000, "Steps of the unsupervised composite model.")
    train_steps: int = setting(500, "Steps of each classifier.")
    clip_length: int = setting(10, "Frames the encoder and the classifier read.")
    encoder: str = setting("", "Only one pretrained classifier: fine-tuned or frozen (when given, `inits` is scratch "
                               "and this one).", ("", "finetune", "freeze"))
    inits: tuple[str, ...] = setting(FEWLABEL_INITS, "Classifiers to train: from scratch, from the pretrained "
                                                     "encoder fine-tuned, from it frozen (linear head only).")
    label: str = setting("digit", "What a sequence's class is.", FEWLABEL_LABELS)
    speed_spread: float = setting(0.5, "label=speed: speeds drawn from step_length x [1 - spread, 1 + spread] "
                                       "(pretraining too), 4 classes.")
    pretrained_dir: str = setting("", "Use this composite run (e.g. runs/cpu_15min) instead of pretraining one.")
    digits: str = setting("", "Digit images of the pretraining and the classifiers (empty: the pretrained run's, "
                              "else sklearn); mnist_h5 / mnist_npz read `digits_path`.", ("", *DIGIT_SOURCES))
    digits_path: str = setting("", "Path of mnist.h5 / mnist.npz for `digits`.")
    val_sequences: int = setting(1000, "Held-out labelled sequences the classifiers are scored on.")
    learning_rate: float = setting(1e-3, "Learning rate of the classifiers.")

    def validate(self):
        """ConfigError for the first option out of range; returns (labels per class, seeds, inits)."""
        try:
            labels_per_class = [ALL_LABELS if k == "all" else int(k) for k in self.labels_per_class]
            seeds = [int(s) for s in self.seeds]
        except ValueError as e:
            raise ConfigError(f"`labels_per_class` takes positive integers and `all`, `seeds` integers: {e}") \
                from None
        if any(k < 0 for k in labels_per_class):
            raise ConfigError(f"`labels_per_class` must be positive, got {','.join(self.labels_per_class)}")
        if self.pretrained_dir and (self.digits or self.digits_path):
            raise ConfigError(f"`digits`={self.digits!r} / `digits_path`={self.digits_path!r} cannot be given with "
                              f"`pretrained_dir` {self.pretrained_dir!r}: the classifiers read that run's digits")
        if self.digits_path and self.digits not in ("mnist_h5", "mnist_npz"):
            raise ConfigError(f"`digits_path` {self.digits_path!r} is read only with `digits`=mnist_h5 or mnist_npz, "
                              f"got `digits`={self.digits!r}")
        inits = ["scratch", {"finetune": "finetune", "freeze": "frozen"}[self.encoder]] if self.encoder \
            else list(self.inits)
        if not inits or inits[0] != "scratch" or not set(inits) <= set(FEWLABEL_INITS):
            raise ConfigError(f"`inits` must start with scratch and name finetune and/or frozen, got "
                              f"{','.join(inits)!r}")
        return labels_per_class, seeds, inits


ABLATION_TRAINING = ("teacher_forcing", "scheduled_sampling", "free_running")


@dataclasses.dataclass
class AblationOptions:
    """What vidrep-ablation is asked (the command's flags, of the same names)."""

    out_dir: str = setting("runs/ablation", "One model directory per run goes here, ablation.md and .png.")
    train_steps: int = setting(1000, "Training steps of each run.")
    units: tuple[str, ...] = setting(("256",), "LSTM units per layer.")
    eval_sequences: int = setting(500, "Held-out generated sequences evaluated.")
    configs: str = setting("configs/ablation", "Folder of the four variant flagfiles.")
    training: tuple[str, ...] = setting(ABLATION_TRAINING, "How the conditional variants are trained.")
    sampling_fraction: float = setting(0.75, "scheduled_sampling: p reaches 0 after this fraction of the steps.")

    def validate(self):
        unknown = sorted(set(self.training) - set(ABLATION_TRAINING))
        if unknown or not self.training:
            raise ConfigError(f"`training` must list some of {', '.join(ABLATION_TRAINING)}, got "
                              f"{','.join(self.training)!r}")
        if not 0.0 < self.sampling_fraction <= 1.0:
            raise ConfigError(f"`sampling_fraction` must be in (0, 1], got {self.sampling_fraction}")
        return self


@dataclasses.dataclass
class RunSourceOptions:
    """A trained model: a run directory (one of its checkpoints) or its export."""

    model_dir: str = setting("", "Model directory written by vidrep-train (uses its checkpoint).")
    checkpoint: str = setting("", "With --model_dir: a checkpoint prefix instead of the latest.")
    saved_model: str = setting("", "An exported SavedModel directory (instead of --model_dir).")

    def check_source(self):
        if bool(self.model_dir) == bool(self.saved_model):
            raise ConfigError("give exactly one of `model_dir` and `saved_model`")


@dataclasses.dataclass
class ModelSourceOptions(RunSourceOptions):
    """A trained model and a sequence set (the flags vidrep-eval and vidrep-viz share)."""

    dataset: str = setting("generated", "Sequence set.", SEQUENCE_SETS)
    data_path: str = setting("", "File for bouncing_mnist_test / mnist_test_seq / patches / features.")
    num_digits: int = setting(2, "generated: digits per sequence (1 or 3 for out-of-domain runs).")
    seed: int = setting(12345, "generated: seed of the set (held-out digits of the model's config).")


@dataclasses.dataclass
class EvalOptions(ModelSourceOptions):
    """What vidrep-eval is asked (the command's flags, of the same names)."""

    num_sequences: int = setting(1000, "Sequences evaluated (the first N of a file; read batch by batch, so any "
                                       "number fits in memory).")
    future_frames: int = setting(0, "Future frames to predict (0: the model's own); more than trained on to test "
                                    "long-range prediction.")
    batch_size: int = setting(64, "Sequences per prediction batch.")
    val_clip_stride: int = setting(0, "A classifier run: frames between the clips of a validation video (1: every "
                                      "clip, the original evaluation; 0: the run's own).")
    output_json: str = setting("", "Write all results here.")
    plot: str = setting("", "Write per-horizon curves (PNG) here.")
    summary_dir: str = setting("", "With --model_dir: TensorBoard scalars of the overall means go here, at the "
                                   "checkpoint's step (empty: <model_dir>/eval; `none`: not written).")

    def validate(self):
        check_positive(self, ("num_sequences", "num_digits", "batch_size"))
        if self.val_clip_stride < 0:
            raise ConfigError(f"`val_clip_stride` must be positive (or 0: the run's own), got "
                              f"{self.val_clip_stride}")
        return self


@dataclasses.dataclass
class VizOptions(ModelSourceOptions):
    """What vidrep-viz is asked (the command's flags, of the same names)."""

    sequences: tuple[str, ...] = setting(("0", "1", "2"), "Indices of the sequences to show.")
    rollout: int = setting(0, "Also roll the model out free-running for this many frames.")
    fps: int = setting(4, "GIF frames per second.")
    out_dir: str = setting("viz", "Where the pictures go.")
    codes: str = setting("", "Draw the codes of this vidrep-embed output (.h5 or .npy) instead of a model.")
    perplexities: tuple[str, ...] = setting(("5", "30", "50"), "--codes: t-SNE perplexities, side by side.")
    clusters: int = setting(6, "--codes: clusters of k-means and of agglomerative clustering.")
    labels_file: str = setting("", "--codes: one label per video (a line each, in the codes' video order) to "
                                   "colour the t-SNE maps by, instead of the video.")
    max_points: int = setting(5000, "--codes: draw a seeded random subsample of this many codes from a larger "
                                    "file (t-SNE and Ward clustering grow with the square of the points).")

    def indices(self):
        """The sequences to show, checked."""
        try:
            indices = [int(i) for i in self.sequences]
        except ValueError:
            raise ConfigError(f"`sequences` must be comma-separated integers, got {','.join(self.sequences)!r}") \
                from None
        if not indices or min(indices) < 0:
            raise ConfigError(f"`sequences` must be non-negative indices, got {indices}")
        if self.rollout < 0:
            raise ConfigError(f"`rollout` must be >= 0, got {self.rollout}")
        return indices

    def map_seed(self):
        """The seed of the maps of `codes`: `seed` where it was given, else 0 (`seed`'s default is a sequence
        set's)."""
        return self.seed if "seed" in getattr(self, "given", ("seed",)) else 0

    def perplexity_values(self):
        """The t-SNE perplexities (and `max_points`), checked."""
        try:
            perplexities = [float(p) for p in self.perplexities]
        except ValueError:
            raise ConfigError(f"`perplexities` must be comma-separated numbers, got "
                              f"{','.join(self.perplexities)!r}") from None
        if self.max_points < 3:
            raise ConfigError(f"`max_points` must be at least 3, got {self.max_points}")
        if not perplexities or min(perplexities) <= 0:
            raise ConfigError(f"`perplexities` must be positive, got {perplexities}")
        return perplexities


@dataclasses.dataclass
class EncodeOptions(RunSourceOptions):
    """What vidrep-encode (and its other name, vidrep-embed) is asked (the command's flags, of the same names)."""

    videos: str = setting("", "Video files, folders (searched recursively) or globs, comma separated.")
    data_file: str = setting("", "Instead of --videos (with --model_dir): a frames file (vidrep-preprocess "
                                 "--kind=frames) or .npy (F, H, W[, C]) for a frame VAE or latent predictor, or a "
                                 "features file (vidrep-features) for a composite model of feature windows.")
    output: str = setting("", "CODES.h5: codes (a classifier's probabilities) per clip and per video, with the clip "
                              "and video index; with --data_file also CODES.npy.")
    stride: int = setting(1, "Kept frames between the starts of two clips of a video (data_file: every N-th window).")
    batch_size: int = setting(64, "Clips (data_file: frames or windows) encoded at a time.")
    backbone_weights: str = setting("", "Models of CNN features, with --model_dir: the backbone's weights file the "
                                        "features were computed with (when not ImageNet's or random).")
    grey_as_rgb: bool = setting(False, "Read a grey video (equal channels) with a model of RGB frames (it is refused "
                                       "by default: the model never saw grey frames).")
    skip_bad_videos: bool = setting(False, "Warn about and skip a video that cannot be decoded or that the model "
                                           "cannot read (too short, too small, grey for an RGB model), instead of "
                                           "stopping; the skipped ones are named in `skipped_videos`.")
    top_k: int = setting(5, "Classifiers: classes by name per video and per clip in CODES_videos.csv and "
                            "CODES_clips.csv.")
    projector_points: int = setting(10000, "Codes (evenly spread) in the TensorBoard Projector log directory "
                                           "written beside the output (CODES_projector/); 0: none.")
    clusters: int = setting(8, "k-means clusters, a column of the Projector's metadata.")
    predict_frames: int = setting(0, "Also write each video's continuation by the model (this many frames after its "
                                     "first clip) as a GIF and an MP4 beside the truth, in CODES_continuations/ "
                                     "(composite models of frames or patches with a future predictor); 0: none.")
    log_variances: bool = setting(False, "data_file, frame models: also write the log-variances of q(z | frame).")
    reconstructions: bool = setting(False, "data_file, frame models: also write each frame's reconstruction (uint8).")
    seed: int = setting(0, "data_file, frame models: seed of the prior samples in CODES_samples.png.")

    def validate(self):
        self.check_source()
        check_required(self, ("output",))
        if bool(self.videos) == bool(self.data_file):
            raise ConfigError("give exactly one of `videos` and `data_file`")
        if self.data_file and not self.model_dir:
            raise ConfigError("`data_file` is encoded by a run: give `model_dir` (not `saved_model`)")
        formats = (".h5", ".npy") if self.data_file else (".h5",)
        if not self.output.endswith(formats):
            raise ConfigError(f"`output` must end in {' or '.join(formats)}, got {self.output!r}")
        if self.predict_frames < 0 or self.projector_points < 0:
            raise ConfigError(f"`predict_frames` and `projector_points` must be >= 0, got {self.predict_frames} and "
                              f"{self.projector_points}")
        if self.data_file and (self.predict_frames or self.backbone_weights or self.skip_bad_videos):
            raise ConfigError("`predict_frames`, `backbone_weights` and `skip_bad_videos` are for `videos`, not "
                              "`data_file`")
        check_positive(self, ("stride", "batch_size", "clusters", "top_k"))
        return self
