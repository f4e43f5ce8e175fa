"""vidrep-ablation: the paper's four variants, each conditional one trained three ways, on one budget; one table
and one per-horizon plot.

  vidrep-ablation --train_steps=1000 --units=256 --out_dir=runs/ablation

Variants (configs/ablation/*.cfg): future predictor, composite model, conditional future predictor, composite model
with conditional future predictor. A conditional future predictor is trained teacher-forced (the original),
with scheduled sampling (p falls linearly from 1 to 0 over the first `--sampling_fraction` of the steps, then
free-running) and free-running (p = 0); an unconditioned one reads nothing, so it is trained once. Each run is
trained with vidrep-train (resuming if its directory already holds a run), then evaluated with vidrep-eval on the
same generated held-out set, free-running and (conditional ones) teacher-forced, per horizon. Writes
`<out_dir>/ablation.md` (the table) and `<out_dir>/ablation.png` (free-running loss per horizon).
"""
from keras_vidrep.analysis.options import AblationOptions
from keras_vidrep.cli import common

common.define_option_flags(AblationOptions)


def main():
    from keras_vidrep.analysis import ablation

    text, written = ablation.ablation(common.options_from_flags(AblationOptions))
    print(text)
    for path in written:
        print(f"wrote {path}")


def run():
    common.run_app(main, __name__, "vidrep-ablation")


if __name__ == "__main__":
    run()
