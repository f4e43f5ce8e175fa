"""A budgeted search for the best composite recipe at a wall-clock budget: successive halving over random recipes.

Why successive halving: a recipe's worth depends on its budget (the cosine schedule is planned to end with the
budget, so a trial cannot be paused and continued on a longer budget as Hyperband's and keras-tuner's epoch rungs
assume), so every rung retrains its survivors from scratch with a budget --eta times longer, and the last rung trains
at the target budget itself. One bracket of it spends about (rungs) x (target) minutes; Hyperband would run several
brackets (more compute for the same target) to hedge against short budgets ranking recipes wrongly, which this search
states instead: every trial's score at every rung is in the table, so a reversal is visible.

Trials train on Bouncing MNIST of the first 50,000 MNIST training digits (mnist.h5's `train`) and are ranked on
500 sequences of the 10,000 held-out VALIDATION digits (bench/real_mnist/mnist_valid_seq_real.npy), free-running;
the test digits that bench/learning_curve.py reports on play no part in the choice. After the last rung the
incumbent is also trained at the target (unless it is there already), and the verdict — replace the shipped recipe or
keep it — compares the two at the full budget (`decision` in the JSON, the table's last line).

Trial 0 is configs/cpu_15min.cfg's recipe (the incumbent); the others are random draws (seeded) from the space:
width 256/512/1024, depth 1/2, batch 16/32/64, peak learning rate log-uniform in [5e-4, 4e-3], schedule cosine
(warm-up 100, floor 0.05) or constant, gradient clipping off or at a global norm of 100 / 1000, future decoder
unconditioned or conditioned on its own predictions (trained on them: sampling_schedule=free_running, the better
conditional training per step in the ablation), precision float32 or mixed_bfloat16 — bfloat16 only drawn where the
CPU multiplies it natively.

  .venv/bin/python bench/recipe_search.py --target_minutes=15 --trials=9 --eta=3

Every (trial, rung) is recorded as it finishes in bench/results/recipe_search_<target>.json (a rerun skips what is
there) and as an HParams session under --out_dir/hparams (point TensorBoard at --out_dir); recipe_search_<target>.md
is the table. Each row also keeps the machine's speed, measured just before its trial (machine_speed): a search that
goes on after a restart may go on on a machine of another speed, so the verdict is only drawn between equally fast
ones — before the incumbent trains at the target, a survivor's target row from a machine of another speed is set
aside (kept in the JSON's `set_aside`) and trained again on this one.
"""
import argparse
import datetime
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
BIN = os.path.dirname(sys.executable)
DIGITS = os.path.join(HERE, "real_mnist")
SEARCH_SEQUENCES = 500
SPEED_TOLERANCE = 0.15  # two rows' machines count as one speed within this (the probe varies by a few %)


def sample_recipes(count, seed, native_bfloat16):
    """`count` random recipes, each {flag: value} of vidrep-train (seeded: the same draws for the same arguments)."""
    rng = np.random.default_rng(seed)
    recipes = []
    for _ in range(count):
        schedule = str(rng.choice(["cosine", "constant"]))
        conditional = bool(rng.random() < 0.3)
        recipe = {"units": int(rng.choice([256, 512, 1024])), "layers": int(rng.choice([1, 2])),
                  "batch_size": int(rng.choice([16, 32, 64])),
                  "learning_rate": float(f"{math.exp(rng.uniform(math.log(5e-4), math.log(4e-3))):.2g}"),
                  "learning_rate_schedule": schedule, "warmup_steps": 100 if schedule == "cosine" else 0,
                  "learning_rate_floor": 0.05 if schedule == "cosine" else 0.0,
                  "clipnorm": float(rng.choice([0.0, 100.0, 1000.0])), "conditional_future": conditional,
                  "sampling_schedule": "free_running" if conditional else "teacher_forcing",
                  "precision": str(rng.choice(["float32", "mixed_bfloat16"])) if native_bfloat16 else "float32"}
        recipes.append(recipe)
    return recipes


def incumbent(native_bfloat16):
    """configs/cpu_15min.cfg's recipe, trial 0 of every search: a search can confirm it or beat it."""
    return {"units": 512, "layers": 1, "batch_size": 32, "learning_rate": 1.5e-3, "learning_rate_schedule": "cosine",
            "warmup_steps": 100, "learning_rate_floor": 0.05, "clipnorm": 0.0, "conditional_future": False,
            "sampling_schedule": "teacher_forcing", "precision": "mixed_bfloat16" if native_bfloat16 else "float32"}


def rung_minutes(target, trials, eta):
    """The budget of each rung, shortest first, the last the target: as many rungs as halvings leave a trial."""
    rungs = 1 + int(math.floor(math.log(trials, eta) + 1e-9))
    return [target / eta ** k for k in reversed(range(rungs))]


def survivors(scores, eta):
    """Of {trial: score} (lower is better), the best len/eta (at least one), best first."""
    keep = max(1, len(scores) // eta)
    return sorted(scores, key=lambda t: (scores[t], t))[:keep]


def recipe_flags(recipe):
    """vidrep-train's flags for a recipe (`units` x `layers` as one --units=U,U,...)."""
    out = [f"--units={','.join([str(recipe['units'])] * recipe['layers'])}"]
    for name, value in recipe.items():
        if name not in ("units", "layers"):
            out.append(f"--{name}={str(value).lower() if isinstance(value, bool) else value}")
    return out


def machine_speed(steps=100):
    """The machine's speed just before a trial: steps per second of the incumbent's recipe (configs/cpu_15min.cfg,
    timed by bench/train_speed.py in a fresh process). Two machines that print the same CPU name can train at very
    different speeds (a shared host, another VM type), so rows compare fairly only between machines of equal speed."""
    out = subprocess.run([sys.executable, os.path.join(HERE, "train_speed.py"), "--flagfile=configs/cpu_15min.cfg",
                          f"--steps={steps}", "--peaks=false", "--torch=false"], check=True, capture_output=True,
                         text=True, cwd=ROOT)
    return round(json.loads(out.stdout.strip().splitlines()[-1])["steps_per_second"], 2)


def train_and_score(trial, recipe, minutes, out_dir):
    """Trains one recipe for `minutes` and scores it on the validation sequences: the row of the table."""
    h5, valid = os.path.join(DIGITS, "mnist.h5"), os.path.join(DIGITS, "mnist_valid_seq_real.npy")
    for path in (h5, valid):
        if not os.path.isfile(path):
            raise SystemExit(f"{path}: missing; run .venv/bin/python bench/real_digits.py first")
    model_dir = os.path.join(out_dir, f"trial{trial}_{minutes:g}min")
    command = [os.path.join(BIN, "vidrep-train"), "--flagfile=configs/quickstart.cfg", *recipe_flags(recipe),
               f"--model_dir={model_dir}", "--export=false", f"--experiment=search_trial{trial}",
               "--digits=mnist_h5", f"--digits_path={h5}", "--val_dataset=mnist_test_seq", f"--val_path={valid}",
               "--val_sequences=256", "--checkpoint_every=100000", "--eval_every=100000", "--image_every=100000",
               "--train_steps=200000", f"--train_minutes={minutes:g}"]
    if os.path.isdir(model_dir):  # a trial cut short: it starts again
        shutil.rmtree(model_dir)
    os.makedirs(out_dir, exist_ok=True)
    speed = machine_speed()
    with open(model_dir + ".log", "w") as log:
        subprocess.run(command, check=True, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    scored = os.path.join(model_dir, "eval.json")
    subprocess.run([os.path.join(BIN, "vidrep-eval"), f"--model_dir={model_dir}", "--dataset=mnist_test_seq",
                    f"--data_path={valid}", f"--num_sequences={SEARCH_SEQUENCES}", f"--output_json={scored}",
                    "--summary_dir=none"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    with open(scored) as f:
        future = json.load(f)["future/free_running"]
    return {"trial": trial, "minutes": minutes, "recipe": recipe, "steps": steps_trained(model_dir + ".log"),
            "future_nats": future["loss"]["mean"], "future_mse": future["mse"]["mean"],
            "machine_steps_per_second": speed, "date": datetime.date.today().isoformat()}


def steps_trained(log_path):
    """The steps a run trained: its final summary's (vidrep-train's last line, JSON). A run the budget ends stops at
    the step where time ran out, a few steps before the count its config.json planned."""
    with open(log_path) as f:
        summaries = [line for line in f if line.startswith("{")]
    if not summaries:
        raise SystemExit(f"{log_path}: no final summary; the run did not finish")
    return json.loads(summaries[-1])["step"]


def same_speed(a, b):
    """Whether two machine speeds (machine_speed; None: not measured) are one within SPEED_TOLERANCE."""
    return bool(a and b) and abs(a / b - 1) <= SPEED_TOLERANCE


def set_aside_for_the_verdict(record, speed_now):
    """Before the incumbent trains at the target: the target rows that must train again first, because they ran on a
    machine of another speed than this one (or of an unmeasured speed) — the last rung's survivors; and, after a
    verdict that could not be drawn, the incumbent's row too. They move to record["set_aside"] (kept, not ranked);
    returns the survivors' trials, to train again on this machine before the incumbent."""
    target = record["rungs"][-1]
    verdict = decision(record)
    stale = [r for r in record["rows"] if r["minutes"] == target and (
        (r["trial"] == 0 and verdict is not None and verdict["replace"] is None)
        or (r["trial"] != 0 and not same_speed(r.get("machine_steps_per_second"), speed_now)))]
    record.setdefault("set_aside", []).extend(stale)
    record["rows"] = [r for r in record["rows"] if all(r is not s for s in stale)]
    return [r["trial"] for r in stale if r["trial"] != 0]


def decision(record):
    """The verdict at the target budget, or None before the last rung (and the incumbent at it) has run: the best
    trial of the last rung against the incumbent (trial 0), both trained for the target on the same digits and
    scored on the same validation sequences. `replace`: whether the shipped recipe should change — None when the two
    ran on machines whose speed (machine_speed) differs by more than SPEED_TOLERANCE (`speed_ratio`, the best other
    trial's machine's over the incumbent's; None where a row predates the measurement): then both must train again
    on one machine."""
    target = record["rungs"][-1]
    final = {r["trial"]: r for r in record["rows"] if r["minutes"] == target}
    if 0 not in final:
        return None
    best = min(final.values(), key=lambda r: (r["future_nats"], r["trial"]))
    challenger = min(final.values(), key=lambda r: (r["trial"] == 0, r["future_nats"], r["trial"]))
    speeds = [r.get("machine_steps_per_second") for r in (challenger, final[0])]
    ratio = speeds[0] / speeds[1] if all(speeds) else None
    comparable = ratio is None or same_speed(*speeds)
    return {"winner": best["trial"], "winner_nats": best["future_nats"], "winner_steps": best["steps"],
            "challenger": challenger["trial"], "challenger_nats": challenger["future_nats"],
            "challenger_steps": challenger["steps"], "incumbent_nats": final[0]["future_nats"],
            "incumbent_steps": final[0]["steps"], "speed_ratio": ratio,
            "replace": best["trial"] != 0 if comparable else None}


def write_hparams(out_dir, row):
    from keras_vidrep.runtime import startup

    startup.prepare()  # TensorFlow loads as the commands load it: its native start-up notices filtered
    from keras_vidrep.board import hparams

    hparams.write_session(os.path.join(out_dir, "hparams", f"trial{row['trial']}_{row['minutes']:g}min"),
                          {**row["recipe"], "trial": row["trial"], "rung_minutes": row["minutes"]},
                          {"search/future_nats": row["future_nats"], "search/future_mse": row["future_mse"],
                           "search/steps": row["steps"]}, trial_id=f"trial{row['trial']}_{row['minutes']:g}min")


def table(record):
    lines = [f"# Recipe search for {record['target_minutes']:g} minutes ({record['cpu']})", "",
             f"Successive halving, {record['trials']} recipes (trial 0 the incumbent), eta {record['eta']}, rungs "
             f"{', '.join(f'{m:.3g}' for m in record['rungs'])} min; ranked by free-running future nats/frame on "
             f"{SEARCH_SEQUENCES} validation sequences (bench/recipe_search.py). The last column is the machine's "
             "speed measured just before the trial: steps per second of the incumbent's recipe (- where a row "
             "predates the measurement).", "",
             "| rung (min) | trial | units x layers | batch | lr | schedule | clip | conditional | precision | steps "
             "| future nats | MSE | machine steps/s |",
             "|---:|---:|---|---:|---:|---|---:|---|---|---:|---:|---:|---:|"]
    for row in sorted(record["rows"], key=lambda r: (r["minutes"], r["future_nats"])):
        r = row["recipe"]
        lines.append(f"| {row['minutes']:.3g} | {row['trial']} | {r['units']} x {r['layers']} | {r['batch_size']} | "
                     f"{r['learning_rate']:g} | {r['learning_rate_schedule']} | {r['clipnorm']:g} | "
                     f"{'yes' if r['conditional_future'] else 'no'} | {r['precision']} | {row['steps']:,} | "
                     f"{row['future_nats']:.1f} | {row['future_mse']:.1f} | "
                     f"{row.get('machine_steps_per_second', '-')} |")
    verdict = decision(record)
    if verdict:
        head = (f"Decision at {record['rungs'][-1]:g} minutes: trial {verdict['challenger']} "
                f"({verdict['challenger_nats']:.1f}) against the incumbent ({verdict['incumbent_nats']:.1f}): ")
        if verdict["replace"] is None:
            lines += ["", head + f"no verdict: their machines' speeds differ by a factor of "
                                 f"{verdict['speed_ratio']:.2f}; train both again on one machine."]
        else:
            lines += ["", head + ("replace the incumbent." if verdict["replace"] else "keep the incumbent.")]
    return "\n".join(lines) + "\n"


def save(record, results):
    """The record (JSON) and its table (.md beside it), after every trial: a search cut short keeps both."""
    with open(results, "w") as f:
        json.dump(record, f, indent=1)
    with open(results.replace(".json", ".md"), "w") as f:
        f.write(table(record))


def run_trial(record, trial, minutes, out_dir, results):
    """Trains and scores one (trial, rung) and records it at once (JSON, table, HParams session): its row."""
    row = train_and_score(trial, record["recipes"][trial], minutes, out_dir)
    record["rows"].append(row)
    write_hparams(out_dir, row)
    save(record, results)
    print(json.dumps({k: row[k] for k in ("trial", "minutes", "steps", "future_nats")}), flush=True)
    return row


def main():
    from keras_vidrep.runtime import cpu

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target_minutes", type=float, default=15.0)
    parser.add_argument("--trials", type=int, default=9)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out_dir", default=os.path.join(ROOT, "runs", "search"))
    parser.add_argument("--results_dir", default=os.path.join(HERE, "results"), help="where the table goes")
    parser.add_argument("--rungs", type=int, default=0, help="run only the first N rungs now (0: all); a later run "
                                                             "with the same arguments goes on from there")
    args = parser.parse_args()
    os.makedirs(args.results_dir, exist_ok=True)
    results = os.path.join(args.results_dir, f"recipe_search_{args.target_minutes:g}.json")
    record = {"target_minutes": args.target_minutes, "trials": args.trials, "eta": args.eta, "seed": args.seed,
              "cpu": cpu.describe(), "rungs": rung_minutes(args.target_minutes, args.trials, args.eta), "rows": []}
    native = bool(cpu.native_bfloat16())
    record["recipes"] = [incumbent(native)] + sample_recipes(args.trials - 1, args.seed, native)
    if os.path.isfile(results):  # a search that stopped goes on, on the CPU it started on, with its own recipes
        with open(results) as f:
            record = json.load(f)
        if record["cpu"] != cpu.describe() or (record["trials"], record["eta"]) != (args.trials, args.eta):
            raise SystemExit(f"{results} is a search of {record['trials']} trials, eta {record['eta']} on "
                             f"{record['cpu']}; this is {args.trials}, {args.eta} on {cpu.describe()}: give another "
                             f"--results_dir")
    alive = list(range(args.trials))
    for minutes in record["rungs"][:args.rungs or None]:
        done = {r["trial"]: r for r in record["rows"] if r["minutes"] == minutes}
        for trial in alive:
            if trial not in done:
                done[trial] = run_trial(record, trial, minutes, args.out_dir, results)
        alive = survivors({t: done[t]["future_nats"] for t in alive}, args.eta)
    target = record["rungs"][-1]
    if not args.rungs or args.rungs >= len(record["rungs"]):  # the incumbent also trains at the target: the verdict
        verdict = decision(record)
        if verdict is None or verdict["replace"] is None:
            for trial in set_aside_for_the_verdict(record, machine_speed()):
                run_trial(record, trial, target, args.out_dir, results)
            if not any(r["trial"] == 0 and r["minutes"] == target for r in record["rows"]):
                run_trial(record, 0, target, args.out_dir, results)
        record["decision"] = decision(record)
    save(record, results)
    print(table(record))


if __name__ == "__main__":
    main()
