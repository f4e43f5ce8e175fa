"""README and docs: every relative link and picture resolves (anchors included), every `--flag` written there
exists, and the README stays a page a newcomer reads in minutes."""
import dataclasses
import glob
import os
import re
import sys

from absl import flags

from keras_vidrep.analysis.options import (
    AblationOptions,
    EncodeOptions,
    EvalOptions,
    FewLabelOptions,
    ProbeOptions,
    VizOptions,
)
from keras_vidrep.cli import common
from keras_vidrep.data.video_datasets import FeaturesOptions, PreprocessOptions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))  # the benchmarks' own functions recompute what they recorded
import recipe_search  # noqa: E402

PAGES = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
# Flags of other programs that the pages show next to ours.
OTHER_PROGRAMS = {"logdir", "host", "port", "reload_interval", "no-deps", "headless", "upgrade", "exclude-editable",
                  "runner", "flink_master", "environment_type"}  # the last: Apache Beam's pipeline options
ABSL = {"flagfile", "help", "helpfull", "helpshort", "undefok", "verbosity"}


def slug(heading):
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path):
    with open(path, encoding="utf-8") as f:
        return {slug(line.lstrip("#")) for line in f if line.startswith("#") and not line.startswith("#!")}


def without_code_blocks(text):
    return re.sub(r"```.*?```", "", text, flags=re.S)


def test_every_relative_link_and_picture_resolves():
    broken = []
    for page in PAGES:
        with open(page, encoding="utf-8") as f:
            text = without_code_blocks(f.read())
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
                continue
            path, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            if not os.path.exists(resolved):
                broken.append(f"{os.path.relpath(page, ROOT)}: {target} (no such file)")
            elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
                broken.append(f"{os.path.relpath(page, ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def known_flags():
    values = flags.FlagValues()
    common.define_config_flags(values)
    for options in (ProbeOptions, FewLabelOptions, AblationOptions, EvalOptions, VizOptions, EncodeOptions,
                    PreprocessOptions, FeaturesOptions):
        for name in (f.name for f in dataclasses.fields(options)):
            if name not in values:
                flags.DEFINE_string(name, "", "", flag_values=values)
    names = set(values) | ABSL | OTHER_PROGRAMS
    sources = glob.glob(os.path.join(ROOT, "keras_vidrep", "**", "*.py"), recursive=True)
    sources += glob.glob(os.path.join(ROOT, "bench", "*.py"))
    for source in sources:
        with open(source, encoding="utf-8") as f:
            text = f.read()
        names |= set(re.findall(r"DEFINE_\w+\(\s*\"(\w+)\"", text))
        names |= set(re.findall(r"add_argument\(\s*\"--([\w-]+)\"", text))
    return names


def test_every_flag_written_in_readme_and_docs_exists():
    known = known_flags()
    unknown = []
    for page in PAGES:
        with open(page, encoding="utf-8") as f:
            text = "".join(line for line in f if not line.startswith("#SBATCH"))  # sbatch's own options
        for name in set(re.findall(r"(?<![\w-])--([a-z][\w-]*)", text)):
            negated = name.startswith("no") and name[2:] in known  # absl's --nofoo for a boolean foo
            if name not in known and not negated:
                unknown.append(f"{os.path.relpath(page, ROOT)}: --{name}")
    assert not unknown, "\n".join(sorted(unknown))


def test_readme_is_short_and_every_config_links_its_page():
    with open(PAGES[0], encoding="utf-8") as f:
        assert len(f.read().splitlines()) <= 250
    for config in glob.glob(os.path.join(ROOT, "configs", "**", "*.cfg"), recursive=True):
        with open(config, encoding="utf-8") as f:
            header = "".join(line for line in f if line.startswith("#"))
        pages = re.findall(r"docs/(\w+\.md)", header)
        assert pages, f"{os.path.relpath(config, ROOT)}: its header links no docs/ page"
        for page in pages:
            assert os.path.isfile(os.path.join(ROOT, "docs", page)), f"{config}: docs/{page} does not exist"


# Numbers quoted in the pages that a results file holds: each is checked against the file, to the digits quoted.
RESULTS = os.path.join(ROOT, "bench", "results")
REFERENCE_MACHINE = "Intel Xeon (AVX-512, AVX512_BF16), 2 cores; model name not recorded"  # bench/suite.py, 2026-11-23


def result(name):
    import json

    with open(os.path.join(RESULTS, name), encoding="utf-8") as f:
        return json.load(f)


def speed_rows():
    return result("train_speed.json")["machines"][REFERENCE_MACHINE]["rows"]


def probe_margin(name, factors):
    """(trained − mean of the untrained copies) of `factors` in a probe result, all labels: sorted."""
    import numpy as np

    scores = result(name)["scores"]
    margins = []
    for factor in factors:
        by = scores[factor]
        randoms = [s for key, v in by.items() if key.startswith("random") for s in v["0"]]
        margins.append(float(np.mean(by["trained"]["0"]) - np.mean(randoms)))
    return sorted(margins)


def page(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def quoted(path, pattern):
    """The numbers (as written) that the groups of `pattern` find in `path` (whitespace and comment marks folded)."""
    match = re.search(pattern, re.sub(r"\s+", " ", re.sub(r"\n#", "\n", page(path))))
    assert match, f"{path}: no text matches {pattern!r}"
    return list(match.groups())


def matches(quoted_values, measured, what):
    """Each quoted value (a number as written) equals the measured one rounded to the digits written."""
    assert len(quoted_values) == len(measured)
    for text, value in zip(quoted_values, measured):
        text = str(text).replace(",", "")
        digits = len(text.split(".")[1]) if "." in text else 0
        assert abs(float(text) - value) <= 0.5 * 10 ** -digits + 1e-9, f"{what}: quoted {text}, measured {value}"


def test_quoted_training_speeds_are_the_measured_ones():
    rows = speed_rows()
    text = page("docs/speed.md")
    for key, row in rows.items():
        line = re.search(rf"^\| `{key}` [^|]*\| ([\d.,]+) \| ([\d.,]+) \| ([\d.]+) \| ([\d.]+) \|", text, re.M)
        assert line, f"docs/speed.md has no row {key} of bench/results/train_speed.json"
        values = list(line.groups())
        measured = [row["steps_per_second"], row["examples_per_second"], row["seconds_to_first_step"],
                    row["peak_resident_gb"]]
        matches(values, measured, f"docs/speed.md row {key}")
    for config in ("bouncing_mnist.cfg", "bouncing_mnist_2layer.cfg"):
        matches(quoted(f"configs/{config}", r"trains at ([\d.]+) steps/s in float32"),
                [rows["paper"]["steps_per_second"]], config)
    matches(quoted("configs/bouncing_mnist.cfg", r"float32 and ([\d.]+) with --precision=mixed_bfloat16"),
            [rows["paper_bf16"]["steps_per_second"]], "bouncing_mnist.cfg")


def test_quoted_probe_margins_are_the_measured_ones():
    velocity, direction, future = (("digit0_vx", "digit0_vy"), ("digit0_direction",),
                                   ("digit0_x_ahead5", "digit0_y_ahead5"))
    for name, pattern in (
            ("probe_cpu_15min.json", r"the composite code by \+([\d.]+)–([\d.]+) R² on velocity, \+(\d+) points on "
                                     r"direction and \+([\d.]+)–([\d.]+) on the future position"),
            ("probe_vae_codes.json", r"ten codes side by side by \+([\d.]+)–([\d.]+), \+(\d+) points and "
                                     r"\+([\d.]+)–([\d.]+)"),
            ("probe_supervised_direction.json", r"the supervised LSTM by \+([\d.]+)–([\d.]+), \+(\d+) points and "
                                                r"\+([\d.]+)–([\d.]+)")):
        v, d, f = probe_margin(name, velocity), probe_margin(name, direction), probe_margin(name, future)
        matches(quoted("docs/probes.md", pattern), [*v, 100 * d[0], *f], f"docs/probes.md, {name}")
    latent = quoted("docs/probes.md", r"latent LSTM's are small \(\+([\d.]+) velocity, \+(\d+) points direction\)")
    v = probe_margin("probe_latent_h.json", velocity)
    matches([latent[0], latent[0]], v, "docs/probes.md, latent velocity (both coordinates)")
    matches(latent[1:], [100 * probe_margin("probe_latent_h.json", direction)[0]], "docs/probes.md, latent")


def test_quoted_encoding_speeds_are_the_measured_ones():
    for family, measured in result("encode_speed.json")["families"].items():
        rows, client = measured["vidrep_encode"], measured["plain_tf_client"]
        matches(quoted("docs/exports.md", rf"\| {family} \| [^|]+ \| ([\d,]+) \| ([\d.]+) s \(([\d.]+) clips/s\) \| "
                                          rf"([\d.]+) s \(([\d.]+) clips/s\) \| ([\d.]+) s \|"),
                [measured["clips"], rows["model_dir"]["seconds"], rows["model_dir"]["clips_per_second"],
                 rows["saved_model"]["seconds"], rows["saved_model"]["clips_per_second"],
                 client["process_seconds"]], f"docs/exports.md, {family}")
        assert f"{measured['date']}, {measured['cpu']}" in page("docs/exports.md"), family


def test_quoted_probe_tolerance_is_the_measured_one():
    measured = result("probe_tolerance.json")
    matches(quoted("docs/speed.md", r"size: ([\d.]+)× faster, accuracies within ([\d.]+)"),
            [measured["speedup"], measured["largest_accuracy_difference"]], "docs/speed.md, probe tolerance")


def test_quoted_own_video_trials_are_the_measured_ones():
    """Each trial of bench/own_videos.py (bench/results/trial_*.json) is a row of docs/own_videos.md: its minutes,
    steps and free-running, teacher-forced and reconstruction errors, to the digits quoted."""
    text = re.sub(r"\*\*", "", page("docs/own_videos.md"))
    for path in sorted(glob.glob(os.path.join(RESULTS, "trial_*.json"))):
        measured = result(os.path.basename(path))
        key = f"| {measured['minutes']:g} | {measured['steps']:,} | "
        rows = [line for line in text.splitlines() if key in line]
        assert len(rows) == 1, f"docs/own_videos.md: no single row for {os.path.basename(path)} ({key})"
        values = measured["final_validation"]
        cells = rows[0].split(key)[1].strip(" |").split(" | ")
        quoted = [c for c in cells if c != "—"]
        wanted = [values["future"], values.get("future_teacher_forced"), values["reconstruction"]]
        matches(quoted, [v for v in wanted if v is not None], f"docs/own_videos.md, {os.path.basename(path)}")


def test_quoted_own_video_result_is_the_measured_one():
    measured = result("own_videos_real.json")
    values = measured["final_validation"]
    matches(quoted("docs/own_videos.md", r"`own_videos.cfg`, 15 minutes \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|"),
            [values["future"], values["future_teacher_forced"], values["reconstruction"]], "docs/own_videos.md")
    matches(quoted("docs/own_videos.md", r"copy the last input frame \| ([\d.]+) \|"),
            [values["baseline/copy_last/future"]], "docs/own_videos.md, copy last")
    matches(quoted("docs/own_videos.md", r"ran ([\d,]+) steps in its 15"), [measured["steps"]], "own_videos.md")
    matches(quoted("configs/own_videos.cfg", r"([\d.]+) s, ([\d,]+) steps"), [measured["seconds"]["train"],
                                                                           measured["steps"]], "own_videos.cfg")
    matches(quoted("configs/own_videos.cfg", r"future ([\d.]+) free-running against ([\d.]+)"),
            [values["future"], values["baseline/copy_last/future"]], "configs/own_videos.cfg")


def test_quoted_window_probe_is_the_measured_one():
    import numpy as np

    measured = result("probe_video_features.json")
    time, video = measured["scores"]["time"], measured["scores"]["video"]
    randoms = np.mean([v["0"] for key, v in time.items() if key.startswith("random")], axis=0)
    quoted_values = quoted("docs/probes.md", r"\| time \(R²\) \| 0 \| −([\d.]+) ± ([\d.]+) \| −([\d.]+) ± ([\d.]+) \|")
    matches(quoted_values, [-np.mean(time["trained"]["0"]), np.std(time["trained"]["0"]), -randoms.mean(),
                            randoms.std()], "docs/probes.md, window probe time")
    matches(quoted("docs/probes.md", r"video, 1 labelled window per video \| \| ([\d.]+) ±"),
            [np.mean(video["trained"]["1"])], "docs/probes.md, window probe video")


def test_quoted_learning_curve_and_real_digit_probes_are_the_measured_ones():
    import numpy as np

    machine = "AMD EPYC (AVX-512, AVX2, FMA, AVX512_BF16), 2 cores"
    points = result("learning_curve.json")["machines"][machine]
    names = {"package": "package", "torch": "PyTorch port"}
    for key, point in points.items():
        row = quoted("docs/quality.md", rf"\| {names[point['framework']]} \| {point['minutes']:g} min \| ([\d,]+) \| "
                                        rf"{point['precision']} \| \**([\d.]+)\** \| ([\d.]+) \|")
        matches(row, [point["steps"], point["future_nats"], point["future_mse"]], f"docs/quality.md, {key}")
    sixty = points["package_60"]
    matches(quoted("docs/quality.md", r"mean training frame scores ([\d.]+) nats/frame \(MSE ([\d.]+)\)"),
            [sixty["mean_frame_nats"], sixty["mean_frame_mse"]], "docs/quality.md, mean frame")
    matches(quoted("configs/cpu_60min.cfg", r"ran ([\d,]+) \("), [sixty["steps"]], "cpu_60min.cfg steps")
    fifteen = points["package_15"]
    matches(quoted("configs/cpu_15min.cfg", r"([\d,]+) steps, future ([\d.]+) nats/frame \(MSE ([\d.]+)\) on 1,000"),
            [fifteen["steps"], fifteen["future_nats"], fifteen["future_mse"]], "cpu_15min.cfg, real digits")
    matches(quoted("configs/cpu_60min.cfg", r"future ([\d.]+) nats/frame \(MSE ([\d.]+) per frame\), mean training "
                                            r"frame ([\d.]+), reconstruction ([\d.]+)"),
            [sixty["future_nats"], sixty["future_mse"], sixty["mean_frame_nats"], sixty["reconstruction_nats"]],
            "cpu_60min.cfg")
    probe = result("probe_real_digits_15min.json")["scores"]
    for factor, label in (("digit0", r"digit \(10 classes\)"), ("digit0_vx", r"velocity x \(R²\)"),
                          ("digit0_direction", r"direction \(8 sectors\)"),
                          ("digit0_x_ahead5", r"x, 5 frames ahead \(R²\)")):
        cells = quoted("docs/quality.md", rf"\| {label} \| [\d.]+ \| \*\*([\d.]+) ± ([\d.]+)\*\* \| "
                                          rf"([\d.]+) ± ([\d.]+) \| (−?[\d.]+) ± ([\d.]+) \| (−?[\d.]+) ± ([\d.]+) \|")
        measured = []
        for column in ("trained", "random0", "input_last", "input_mean"):
            measured += [np.mean(probe[factor][column]["0"]), np.std(probe[factor][column]["0"])]
        matches([c.replace("−", "-") for c in cells], measured, f"docs/quality.md, probe {factor}")


def test_quoted_curve_fit_and_leads_are_the_measured_ones():
    import sys

    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import curve_report

    points = result("learning_curve.json")["machines"]["AMD EPYC (AVX-512, AVX2, FMA, AVX512_BF16), 2 cores"]
    sixty = points["package_60"]
    matches(quoted("docs/quality.md", r"and copying the last input frame ([\d,.]+) \(MSE ([\d.]+);"),
            [sixty["copy_last_nats"], sixty["copy_last_mse"]], "docs/quality.md, copy last")
    matches(quoted("docs/quality.md", r"reconstruction is ([\d.]+)\. The error grows with the horizon, from ([\d.]+) "
                                      r"nats one frame ahead to ([\d.]+) ten frames ahead"),
            [sixty["reconstruction_nats"], sixty["future_nats_per_horizon"][0], sixty["future_nats_per_horizon"][-1]],
            "docs/quality.md, per horizon")
    leads = [100 * (1 - points[f"package_{m}"]["future_nats"] / points[f"torch_{m}"]["future_nats"])
             for m in (5, 15, 60)]
    matches(quoted("docs/quality.md", r"missed\*\*: ([\d.]+)% at 5 minutes .*, ([\d.]+)% at 15 minutes .* and "
                                      r"([\d.]+)% at 60 minutes"), leads, "docs/quality.md, lead over the port")
    race = points["torch_15"]["precision_race_median_seconds"]
    matches(quoted("docs/quality.md", r"picked bfloat16, ([\d.]+) s a step against ([\d.]+) s in float32"),
            [race["bfloat16"], race["float32"]], "docs/quality.md, the port's precision race")
    fit = curve_report.fits(points)["package"]
    slopes = [b for _, _, b in curve_report.local_slopes(sorted(
        (p["minutes"], p["future_nats"]) for p in points.values() if p["framework"] == "package"))]
    matches(quoted("docs/quality.md", r"is ([\d.]+) from 5 to 15 minutes and ([\d.]+) from 15 to 60"), slopes,
            "docs/quality.md, local exponents")
    matches(quoted("docs/quality.md", r"nats ≈ (\d+) × minutes\^−([\d.]+) ± ([\d.]+)\) reaches the paper's 341.2 after "
                                      r"([\d.]+) hours of this machine \(([\d.]+) to ([\d.]+) hours .*? gives ([\d.]+) "
                                      r"hours"),
            [fit["a"], fit["b"], fit["b_se"], fit["paper_minutes"] / 60, *(m / 60 for m in fit["paper_minutes_range"]),
             fit["paper_minutes_last_slope"] / 60], "docs/quality.md, fit")
    port = curve_report.fits(points)["torch"]
    port_slopes = [b for _, _, b in curve_report.local_slopes(sorted(
        (p["minutes"], p["future_nats"]) for p in points.values() if p["framework"] == "torch"))]
    matches(quoted("docs/quality.md", r"The port's curve bends the same way \(exponents ([\d.]+) and ([\d.]+); a power "
                                      r"law nats ≈ (\d+) × minutes\^−([\d.]+) ± ([\d.]+) reaches 341.2 after ([\d.]+) "
                                      r"hours, ([\d.]+) to ([\d.]+); its last exponent held gives ([\d.]+) hours"),
            [*port_slopes, port["a"], port["b"], port["b_se"], port["paper_minutes"] / 60,
             *(m / 60 for m in port["paper_minutes_range"]), port["paper_minutes_last_slope"] / 60],
            "docs/quality.md, the port's fit")
    matches(quoted("docs/quality.md", r"the port's ([\d.]+) after ([\d,]+) steps lies between the package's ([\d.]+) "
                                      r"after ([\d,]+) and ([\d.]+) after ([\d,]+)\."),
            [points["torch_60"]["future_nats"], points["torch_60"]["steps"], points["package_15"]["future_nats"],
             points["package_15"]["steps"], points["package_60"]["future_nats"], points["package_60"]["steps"]],
            "docs/quality.md, per step")


def test_quoted_recipe_search_is_the_measured_one():
    rows = {row["trial"]: row for row in result("recipe_search_15.json")["rows"] if row["minutes"] < 2}
    for trial in (4, 0, 1):
        matches(quoted("docs/quality.md", rf"\| {trial} \| [^|]+ \| ([\d,]+) \| ([\d.]+) \|"),
                [rows[trial]["steps"], rows[trial]["future_nats"]], f"docs/quality.md, search trial {trial}")
    assert rows[4]["recipe"]["units"] == 256 and rows[4]["recipe"]["precision"] == "float32"
    five = {row["trial"]: row for row in result("recipe_search_15.json")["rows"] if row["minutes"] == 5}
    for trial in five:
        matches(quoted("docs/quality.md", rf"trial {trial} \([^)]+\) ([\d.]+) in ([\d,]+) steps"),
                [five[trial]["future_nats"], five[trial]["steps"]], f"docs/quality.md, search trial {trial} at 5 min")
    verdict = result("recipe_search_15.json")["decision"]
    best = next(r for r in result("recipe_search_15.json")["rows"] if r["minutes"] == 15 and r["trial"] == 4)
    matches(quoted("docs/quality.md", r"trial 4 reached ([\d.]+) in ([\d,]+) steps, the incumbent ([\d.]+) in ([\d,]+) "
                                      r"steps\. \*\*Verdict: keep the incumbent"),
            [best["future_nats"], best["steps"], verdict["incumbent_nats"], verdict["incumbent_steps"]],
            "docs/quality.md, the search's verdict")
    assert not verdict["replace"]
    matches(quoted("configs/cpu_15min.cfg", r"reached ([\d.]+) nats/frame \(([\d,]+) steps\) against ([\d.]+) for the "
                                            r"search's best draw \(1x256, float32, constant 9.3e-4; ([\d,]+) steps"),
            [verdict["incumbent_nats"], verdict["incumbent_steps"], best["future_nats"], best["steps"]],
            "cpu_15min.cfg, the search")


def test_quoted_fewlabel_table_of_real_digits_is_the_measured_one():
    from keras_vidrep.analysis.fewlabel import fewlabel_table

    record = result("fewlabel_digit_real_15min.json")
    assert record["label"] == "digit" and record["pretrained_dir"] == "runs/curve/package_15"
    rows = fewlabel_table(record["runs"], record["labels_per_class"], record["seeds"], record["inits"]).splitlines()
    text = page("docs/quality.md").replace("−", "-")
    for row in rows[2:]:
        assert row in text, f"docs/quality.md: the few-label row {row!r} is not quoted as measured"


def test_quoted_60_minute_search_is_the_measured_one():
    """docs/quality.md's 60-minute table quotes every (rung, trial) the record holds, each as measured."""
    record = result("recipe_search_60.json")
    measured = {(round(r["minutes"], 2), r["trial"]): r for r in record["rows"]}
    text = page("docs/quality.md")
    section = text[text.index("### The 60-minute search"):text.index("## Probes with real digits")]
    quoted_rows = re.findall(r"^\| ([\d.]+) \| (\d) \| ([^|]+) \| ([\d,]+) \| ([\d.]+) \|$", section, re.M)
    assert {(float(m), int(t)) for m, t, *_ in quoted_rows} == set(measured), "the 60-minute table is not the record"
    for minutes, trial, recipe, steps, nats in quoted_rows:
        row = measured[(float(minutes), int(trial))]
        matches([steps, nats], [row["steps"], row["future_nats"]], f"60-minute search, trial {trial} at {minutes} min")
        units = f"{row['recipe']['layers']}×{row['recipe']['units']}, batch {row['recipe']['batch_size']}"
        assert units in recipe and ("bfloat16" in recipe) == (row["recipe"]["precision"] == "mixed_bfloat16"), recipe
    first = sorted((r for r in record["rows"] if r["minutes"] == record["rungs"][0]), key=lambda r: r["future_nats"])
    promoted = quoted("docs/quality.md", r"Promoted to the 20-minute rung: trials (\d), (\d) and (\d)\.")
    assert [int(t) for t in promoted] == [r["trial"] for r in first[:3]]
    fifteen = next(r for r in result("recipe_search_15.json")["rows"] if r["trial"] == 8)
    matches(quoted("docs/quality.md", r"fourth there \(([\d.]+) in ([\d,]+) steps\), leads by ([\d.]+)"),
            [fifteen["future_nats"], fifteen["steps"], first[1]["future_nats"] - first[0]["future_nats"]],
            "docs/quality.md, the 60-minute search's first rung")
    seen = sorted(r["steps"] * r["recipe"]["batch_size"] for r in first if r["recipe"]["units"] == 1024)
    matches(quoted("docs/quality.md", r"the fewest sequences \(([\d,]+)–([\d,]+), against ([\d,]+) for trial 8"),
            [seen[0], seen[-1], first[0]["steps"] * first[0]["recipe"]["batch_size"]], "60-minute search, sequences")
    second = sorted((r for r in record["rows"] if r["minutes"] == record["rungs"][1]), key=lambda r: r["future_nats"])
    places = quoted("configs/cpu_60min.cfg", r"this recipe came (\w+) of 9 at 6\.67 minutes and (\w+) of 3 at 20")
    ordinal = ("first", "second", "third", "fourth")
    assert places == [ordinal[[r["trial"] for r in rung].index(0)] for rung in (first, second)], places
    per_minute = {(r["trial"], r["minutes"]): r["steps"] / r["minutes"] for r in record["rows"]}
    slower = [per_minute[(t, record["rungs"][0])] / per_minute[(t, record["rungs"][1])] for t in (0, 4, 8)]
    matches(quoted("docs/quality.md", r"the incumbent ran ([\d.]+)× fewer steps than in the first rung \(([\d,]+) "
                                      r"against ([\d,]+)\), trial 4 ([\d.]+)× fewer and trial 8 ([\d.]+)× fewer"),
            [slower[0], per_minute[(0, record["rungs"][1])], per_minute[(0, record["rungs"][0])], *slower[1:]],
            "docs/quality.md, the slower machine of the 20-minute rung")
    check = record["machine_speed_checks"][0]
    curve = result("learning_curve.json")["machines"][record["cpu"]]["package_15"]
    assert check["after_rung_minutes"] == record["rungs"][1]
    matches(quoted("docs/quality.md", r"timed the incumbent's recipe at ([\d.]+) steps/s, where the 15-minute run of "
                                      r"the learning curve had averaged (\d+\.\d)"),
            [check["steps_per_second"], curve["steps"] / (curve["minutes"] * 60)], "docs/quality.md, machine speed")
    survivor = quoted("docs/quality.md", r"Trial (\d) \(([\d.]+)\) goes on to the 60-minute rung, ([\d.]+) ahead of "
                                         r"trial (\d)")
    assert [int(survivor[0]), int(survivor[3])] == [r["trial"] for r in second[:2]]
    matches([survivor[1], survivor[2]], [second[0]["future_nats"], second[1]["future_nats"] - second[0]["future_nats"]],
            "docs/quality.md, the 20-minute rung's survivor")
    last = next(r for r in record["rows"] if r["minutes"] == record["rungs"][-1] and r["trial"] == second[0]["trial"])
    incumbent = next(r for r in record["rows"] if r["minutes"] == record["rungs"][-1] and r["trial"] == 0)
    verdict = record["decision"]
    assert verdict == recipe_search.decision(record) and verdict["replace"] is False  # the docs say: keep it
    matches(quoted("docs/quality.md", r"The 60-minute rung: trial 4 reached ([\d.]+) in ([\d,]+) steps, on a machine "
                                      r"that ran the incumbent's recipe at ([\d.]+) steps/s just before; the "
                                      r"incumbent, trained right after it on the same machine \(([\d.]+) steps/s just "
                                      r"before, a factor of ([\d.]+) apart\), reached ([\d.]+) in ([\d,]+) steps\. "
                                      r"\*\*Verdict: keep the incumbent"),
            [last["future_nats"], last["steps"], last["machine_steps_per_second"],
             incumbent["machine_steps_per_second"], verdict["speed_ratio"], incumbent["future_nats"],
             incumbent["steps"]], "docs/quality.md, the 60-minute rung")
    fifteen = result("recipe_search_15.json")["decision"]
    matches(quoted("docs/quality.md", r"\(([\d.]+)× here\).* — ([\d.]+) nats/frame ahead at 60 minutes, "
                                      r"([\d.]+) at 15"),
            [last["steps"] / incumbent["steps"], last["future_nats"] - incumbent["future_nats"],
             fifteen["challenger_nats"] - fifteen["incumbent_nats"]], "docs/quality.md, the 60-minute verdict")
    matches(quoted("configs/cpu_60min.cfg", r"it reached ([\d.]+) nats/frame on the validation sequences, where the "
                                            r"survivor \(1x256, float32, constant 9\.3e-4\) reached ([\d.]+) at 60 "
                                            r"in ([\d.]+)x the steps"),
            [incumbent["future_nats"], last["future_nats"], last["steps"] / incumbent["steps"]],
            "cpu_60min.cfg, the search")


def test_quoted_avx2_search_is_the_measured_one():
    """The AVX2-only search: docs/quality.md's table is the record, row for row; its verdict (replace the incumbent)
    and the numbers cpu_15min_avx2.cfg quotes are the record's, and that config trains the winning recipe."""
    record = result(os.path.join("avx2_only", "recipe_search_15.json"))
    assert "AVX2" in record["cpu"] and "AVX-512" not in record["cpu"]
    assert all(r["recipe"]["precision"] == "float32" for r in record["rows"])
    measured = {(round(r["minutes"], 2), r["trial"]): r for r in record["rows"]}
    text = page("docs/quality.md")
    section = text[text.index("### The 15-minute search on an AVX2-only CPU"):text.index("## Probes with real digits")]
    quoted_rows = re.findall(r"^\| ([\d.]+) \| (\d) \| ([^|]+) \| ([\d,]+) \| ([\d.]+) \| ([\d.]+) \|$", section, re.M)
    assert {(float(m), int(t)) for m, t, *_ in quoted_rows} == set(measured), "the AVX2 table is not the record"
    for minutes, trial, recipe, steps, nats, speed in quoted_rows:
        row = measured[(float(minutes), int(trial))]
        matches([steps, nats, speed], [row["steps"], row["future_nats"], row["machine_steps_per_second"]],
                f"AVX2 search, trial {trial} at {minutes} min")
        assert f"{row['recipe']['layers']}×{row['recipe']['units']}, batch {row['recipe']['batch_size']}" in recipe
    verdict = record["decision"]
    assert verdict == recipe_search.decision(record) and verdict["replace"] is True and verdict["winner"] == 5
    matches(quoted("docs/quality.md", r"at the target it reached ([\d.]+) in ([\d,]+) steps, the incumbent ([\d.]+) "
                                      r"in ([\d,]+) steps\. \*\*Verdict: replace the incumbent"),
            [verdict["winner_nats"], verdict["winner_steps"], verdict["incumbent_nats"], verdict["incumbent_steps"]],
            "docs/quality.md, the AVX2 search's verdict")
    matches(quoted("configs/cpu_15min_avx2.cfg", r"this recipe reached ([\d.]+) nats/frame \(([\d,]+) steps\) "
                                                 r"against ([\d.]+) for cpu_15min.cfg's \(([\d,]+) steps\)"),
            [verdict["winner_nats"], verdict["winner_steps"], verdict["incumbent_nats"], verdict["incumbent_steps"]],
            "cpu_15min_avx2.cfg, the search")
    winner = record["recipes"][verdict["winner"]]
    with open(os.path.join(ROOT, "configs", "cpu_15min_avx2.cfg"), encoding="utf-8") as f:
        flags = dict(line.strip()[2:].split("=", 1) for line in f if line.startswith("--"))
    assert (int(flags["units"]), int(flags["batch_size"]), float(flags["learning_rate"]), flags["precision"]) == \
        (winner["units"], winner["batch_size"], winner["learning_rate"], winner["precision"])
    assert (winner["layers"], winner["learning_rate_schedule"], winner["clipnorm"], winner["conditional_future"]) == \
        (1, "cosine", 0.0, False)  # the rest is cpu_15min.cfg's, which the config reads first


def test_quoted_export_times_are_the_measured_ones():
    record = result("export_speed.json")
    assert record["before"]["commit"] == "75b8245" and record["now"]["cpu"] == record["before"]["cpu"]
    for family, words in (("bouncing", "bouncing: quickstart.cfg"), ("features", "features: an LSTM classifier")):
        matches(quoted("docs/speed.md", rf"\| {words}[^|]*\| ([\d.]+) s \| ([\d.]+) s \|"),
                [record["before"]["families"][family]["median_seconds"],
                 record["now"]["families"][family]["median_seconds"]], f"docs/speed.md, export time of {family}")
    assert "package at commit 75b8245" in page("docs/speed.md")


def test_quoted_curve_speed_is_the_measured_one():
    points = result("learning_curve.json")["machines"][result("recipe_search_60.json")["cpu"]]
    rates = sorted(points[k]["steps"] / ((points[k]["minutes"] - 0.5) * 60) for k in ("package_15", "package_60"))
    search = result("recipe_search_60.json")
    incumbent = next(r for r in search["rows"] if r["minutes"] == 60 and r["trial"] == 0)
    probes = [r["machine_steps_per_second"] for r in search["rows"] if r.get("machine_steps_per_second")]
    checked = search["machine_speed_checks"][0]["steps_per_second"]
    slow = sorted([*probes, checked, incumbent["steps"] / (incumbent["minutes"] * 60)])
    matches(quoted("docs/quality.md", r"trained the recipe at ([\d.]+)–([\d.]+) steps/s, and a later machine of the "
                                      r"same CPU name ran it at ([\d.]+)–([\d.]+)"),
            [rates[0], rates[-1], slow[0], slow[-1]], "docs/quality.md, the curve's machine speed")
