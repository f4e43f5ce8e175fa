"""The package's own commands run as child processes, by the experiments that chain them (vidrep-fewlabel trains
classifiers with vidrep-train; vidrep-ablation trains and evaluates with vidrep-train and vidrep-eval)."""
import json
import subprocess
import sys

from keras_vidrep.errors import VidrepError

MODULES = {"vidrep-train": "keras_vidrep.cli.train", "vidrep-eval": "keras_vidrep.cli.evaluate"}


class CommandFailed(VidrepError):
    """A child command of an experiment failed; its own error is above in the log."""


def run_command(command, *args, json_result=False):
    """Runs the package's `command` (e.g. vidrep-train) with `args` in a child process of this Python, its output
    on this terminal; CommandFailed if it fails. With `json_result`, its last line of standard output parsed as JSON
    is returned."""
    line = [sys.executable, "-m", MODULES[command], *args]
    print("$ " + " ".join(line), file=sys.stderr, flush=True)
    result = subprocess.run(line, stdout=subprocess.PIPE if json_result else None, text=True, check=False)
    if result.returncode:
        raise CommandFailed(f"{command} failed with exit code {result.returncode}")
    return json.loads(result.stdout.strip().splitlines()[-1]) if json_result else None
