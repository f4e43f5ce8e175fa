"""How long `vidrep-export` takes for each family: the whole command (start-up, restoring the checkpoint, tracing
every signature, writing the SavedModel), after a small run of the family trained for 2 steps (an export's time
does not depend on the weights). The families and their runs are bench/encode_speed.py's: bouncing
(configs/quickstart.cfg), patches (configs/ucf_patches.cfg) and features (an LSTM classifier of ResNet50 features,
whose export holds the backbone).

  .venv/bin/python bench/export_speed.py [--families=bouncing,patches,features --repeats=2]

Writes bench/results/export_speed.json (the median of the repeats per family, with the CPU and the date). The
package timed is the one `vidrep-export` imports: to time another commit's, put its checkout first on PYTHONPATH
(`PYTHONPATH=/tmp/before .venv/bin/python bench/export_speed.py --label=before`).
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile

from encode_speed import BIN, HERE, timed, train_run, write_videos

RESULTS = os.path.join(HERE, "results", "export_speed.json")


def package_commit():
    """The checkout and commit of the keras_vidrep that `vidrep-export` imports (run away from this checkout, whose
    folder `python -c` would put first on the path)."""
    where = subprocess.run([sys.executable, "-c", "import keras_vidrep, os; print(os.path.dirname(os.path.dirname("
                                                  "os.path.abspath(keras_vidrep.__file__))))"],
                           capture_output=True, text=True, check=True, cwd=tempfile.gettempdir()).stdout.strip()
    head = subprocess.run(["git", "-C", where, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return where, head.stdout.strip() or "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default="bouncing,patches,features")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--label", default="now", help="the name of this measurement in the JSON")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="export_speed-")
    folder = os.path.join(work, "videos")
    write_videos(folder, 4, 80)  # 20 kept frames at every 4th: a clip of 16 for the features family
    from keras_vidrep.runtime import cpu

    where, commit = package_commit()
    result = json.load(open(RESULTS)) if os.path.isfile(RESULTS) else {}
    entry = {"cpu": cpu.describe(), "date": datetime.date.today().isoformat(), "commit": commit, "families": {}}
    for family in args.families.split(","):
        run, _, model = train_run(work, family, folder)
        seconds = [timed([os.path.join(BIN, "vidrep-export"), f"--model_dir={run}",
                          f"--export_dir={os.path.join(work, f'{family}_again_{k}')}"])[0]
                   for k in range(args.repeats)]
        entry["families"][family] = {"model": model, "seconds": [round(s, 1) for s in seconds],
                                     "median_seconds": round(statistics.median(seconds), 1)}
        print(json.dumps({"family": family, **entry["families"][family]}), flush=True)
    result[args.label] = {**entry, "package": os.path.relpath(where, os.path.dirname(HERE))
                          if where.startswith(os.path.dirname(HERE)) else where,
                          "command": " ".join(["bench/export_speed.py", *sys.argv[1:]])}
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
