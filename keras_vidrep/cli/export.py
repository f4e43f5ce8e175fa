"""vidrep-export: writes the SavedModel of a model directory's latest (or a chosen) checkpoint."""
from absl import flags

from keras_vidrep.cli import common

flags.DEFINE_string("model_dir", None, "Model directory written by vidrep-train.", required=True)
flags.DEFINE_string("export_dir", "", "Destination; empty means the run's own: its config's export_dir, else "
                                      "<model_dir>/export.")
flags.DEFINE_string("checkpoint", "", "A checkpoint prefix to export instead of the latest.")
flags.DEFINE_string("backbone_weights", "", "Models of CNN features: the backbone's weights file the features were "
                                            "computed with (checked by its SHA-256), when not ImageNet's or random.")
flags.DEFINE_bool("with_backbone", True, "Models of CNN features: put the backbone in the export, so that its "
                                         "*_video signatures read raw video (VGG16 up to fc6: ~470 MB); without it the "
                                         "export reads features only and its `describe` names the backbone.")
FLAGS = flags.FLAGS


def main():
    common.load_tensorflow()
    from keras_vidrep.export import export_checkpoint

    path = export_checkpoint(FLAGS.model_dir, FLAGS.export_dir, FLAGS.checkpoint, FLAGS.backbone_weights,
                             FLAGS.with_backbone)
    print(path)


def run():
    common.run_app(main, __name__, "vidrep-export")


if __name__ == "__main__":
    run()
