"""vidrep-fewlabel: does an encoder trained without labels help a classifier that has few labels?

  vidrep-fewlabel --label=direction --labels_per_class=1,5,10 --seeds=0,1,2 --out_dir=runs/fewlabel_direction
  vidrep-fewlabel --label=direction --pretrained_dir=runs/cpu_15min --out_dir=runs/fewlabel_cpu15

The protocol: keras_vidrep.analysis.fewlabel. Writes <out_dir>/fewlabel.md, fewlabel.json and fewlabel.png.
"""
from keras_vidrep.analysis.options import FewLabelOptions
from keras_vidrep.cli import common

common.define_option_flags(FewLabelOptions)


def main():
    options = common.checked_options(FewLabelOptions)
    from keras_vidrep.analysis import fewlabel

    text, written = fewlabel.fewlabel(options)
    print(text)
    print(f"wrote {written[0]}, {written[2]}")


def run():
    common.run_app(main, __name__, "vidrep-fewlabel")


if __name__ == "__main__":
    run()
