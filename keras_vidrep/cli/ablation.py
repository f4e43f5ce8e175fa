"""vidrep-ablation: the paper's four variants, each conditional one trained three ways, on one budget; one table
and one per-horizon plot.

  vidrep-ablation --train_steps=1000 --units=256 --out_dir=runs/ablation

The protocol: keras_vidrep.analysis.ablation. Writes <out_dir>/ablation.md (the table) and ablation.png.
"""
from keras_vidrep.analysis.options import AblationOptions
from keras_vidrep.cli import common

common.define_option_flags(AblationOptions)


def main():
    options = common.checked_options(AblationOptions)
    from keras_vidrep.analysis import ablation

    text, written = ablation.ablation(options)
    print(text)
    for path in written:
        print(f"wrote {path}")


def run():
    common.run_app(main, __name__, "vidrep-ablation")


if __name__ == "__main__":
    run()
